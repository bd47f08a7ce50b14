"""Stand-ins for a user's own models, shared by the engine, report and crash-safety tests.

They are deliberately bare ``BaseEstimator`` subclasses (not ``SequenceEstimator``): the
comparison engine must take a user's model that only has ``fit`` and ``predict``. Import
them as ``from _estimators import LastValue, Raises``; ``tests/conftest.py`` puts this
directory on ``sys.path`` (pytest runs with ``--import-mode=importlib``, which does not).
"""

import os
import signal

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


class Diverges(BaseEstimator):
    """A user's own model whose training diverges on odd model seeds (a measured outcome)."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y=None):
        from seqmodels.exceptions import TrainingDiverged

        if self.random_state is not None and self.random_state % 2:
            raise TrainingDiverged("training diverged: the loss became NaN in epoch 2")
        self.fitted_ = True
        return self

    def predict(self, X):
        return X


class KillsItsWorker(BaseEstimator):
    """A user's own model whose ``fit`` ends the process running it, as a crash would.

    ``how="exit"``: ``os._exit(1)`` (no clean-up, like a C extension calling exit);
    ``how="sigkill"``: SIGKILL to itself (what the kernel's out-of-memory killer sends).
    ``spare`` is the pid of the test process: a fit there (a serial run) raises instead
    of killing pytest.
    """

    def __init__(self, how="exit", spare=None):
        self.how = how
        self.spare = spare

    def fit(self, X, y=None):
        if os.getpid() == self.spare:
            raise RuntimeError("KillsItsWorker refuses to kill the test process itself")
        if self.how == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(1)

    def predict(self, X):
        return X
