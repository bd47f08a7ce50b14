"""The network estimators' former home, kept so that existing imports keep working.

The code lives in :mod:`.base` (the shared :class:`_NeuralNetwork`), :mod:`.recurrent`,
:mod:`.feedforward` and :mod:`.transformer`; this module re-exports their names (and
``_KerasBlob``, which pickles written before the move name here).
"""

from .base import _TRAINING_CONSTRAINTS  # noqa: F401
from .base import (AUTO_BATCH_MAX, AUTO_BATCH_MIN, AUTO_MIN_UPDATES,  # noqa: F401
                   MAX_FINAL_LOSS, MAX_NETWORK_HORIZON, MAX_STANDARDISED, OPTIMIZERS, OUTPUTS,
                   _KerasBlob, _NeuralNetwork, _networks, auto_batch_size)
from .feedforward import FeedForwardNetwork
from .recurrent import CELLS, RecurrentNetwork  # noqa: F401

__all__ = ["RecurrentNetwork", "FeedForwardNetwork"]
