"""seqmodels: classical and neural sequence models behind one scikit-learn contract.

Every estimator takes sequences as a 3-D array ``(n_sequences, n_timesteps,
n_features)``, a list of 2-D arrays, or a 1-D array, and follows one contract:
``fit`` / ``predict`` / ``forecast`` / ``score`` / ``log_likelihood``.
"""

from .autoregressive import AutoRegressive
from .base import SequenceEstimator
from .counting import ContextCounter
from .hmm import HiddenMarkovModel
from .imputation import ImputeMissing
from .neural import FeedForwardNetwork, RecurrentNetwork, Seq2SeqNetwork, TransformerNetwork
from .reservoir import EchoStateNetwork
from .state_space import (ExtendedKalmanFilter, InteractingMultipleModel, KalmanFilter,
                          UnscentedKalmanFilter)

__version__ = "0.1.0"

__all__ = [
    "AutoRegressive",
    "ContextCounter",
    "EchoStateNetwork",
    "ExtendedKalmanFilter",
    "FeedForwardNetwork",
    "HiddenMarkovModel",
    "ImputeMissing",
    "InteractingMultipleModel",
    "KalmanFilter",
    "RecurrentNetwork",
    "Seq2SeqNetwork",
    "SequenceEstimator",
    "TransformerNetwork",
    "UnscentedKalmanFilter",
    "all_estimators",
]

# name -> class, in the order reports list them.  A family registers here when it lands.
_REGISTRY = {
    "AutoRegressive": AutoRegressive,
    "HiddenMarkovModel": HiddenMarkovModel,
    "KalmanFilter": KalmanFilter,
    "UnscentedKalmanFilter": UnscentedKalmanFilter,
    "ExtendedKalmanFilter": ExtendedKalmanFilter,
    "InteractingMultipleModel": InteractingMultipleModel,
    "ContextCounter": ContextCounter,
    "RecurrentNetwork": RecurrentNetwork,
    "FeedForwardNetwork": FeedForwardNetwork,
    "TransformerNetwork": TransformerNetwork,
    "Seq2SeqNetwork": Seq2SeqNetwork,
    "EchoStateNetwork": EchoStateNetwork,
    "ImputeMissing": ImputeMissing,
}


def all_estimators():
    """Every public estimator of the package.

    Returns
    -------
    list of (name, class)
        Sorted as reports list them; the common contract tests run over this list.

    Examples
    --------
    >>> from seqmodels import all_estimators
    >>> dict(all_estimators())["AutoRegressive"].__name__
    'AutoRegressive'
    """
    return list(_REGISTRY.items())
