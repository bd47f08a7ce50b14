"""Stand-ins for a user's own models, shared by the comparison-engine and report tests.

They are deliberately bare ``BaseEstimator`` subclasses (not ``SequenceEstimator``): the
comparison engine must take a user's model that only has ``fit`` and ``predict``. Import
them as ``from _estimators import LastValue, Raises``; ``tests/conftest.py`` puts this
directory on ``sys.path`` (pytest runs with ``--import-mode=importlib``, which does not).
"""

import numpy as np
from sklearn.base import BaseEstimator


class LastValue(BaseEstimator):
    """A user's own forecaster: the previous value, 0 at the first step.

    No ``random_state``, no likelihood, no standard deviation; 3-D input only.
    """

    def fit(self, X, y=None):
        self.n_params_ = 0
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        out = np.zeros_like(X)
        out[:, 1:] = X[:, :-1]
        return out


class Raises(BaseEstimator):
    """A user's own model whose ``fit`` always raises ``RuntimeError(message)``."""

    def __init__(self, message="this model always fails <b>badly</b>"):
        self.message = message

    def fit(self, X, y=None):
        raise RuntimeError(self.message)

    def predict(self, X):
        return X
