"""One convergence monitor for every iterative fit of the package.

Expectation-maximisation (``KalmanFilter(method="em")``, ``HiddenMarkovModel`` through
hmmlearn) and likelihood optimisers (``KalmanFilter(method="mle")``,
``UnscentedKalmanFilter``, ``InteractingMultipleModel``, all ``scipy.optimize.minimize``
with L-BFGS-B) record the objective they maximise -- the training log-likelihood --
once per iteration in a :class:`ConvergenceMonitor`. At the end it yields what every
such estimator exposes:

* ``history_``: the objective per iteration;
* ``n_iter_``: the number of iterations run;
* ``converged_``: True only when the convergence test was met, never because the
  iteration limit was reached.

A fit that stops at its limit emits :class:`sklearn.exceptions.ConvergenceWarning`
naming the estimator, the limit and the last change of the objective, and what to do.

**The tolerance rule** (EM). With ``L_k`` the log-likelihood after iteration ``k`` of a
fit to ``n_obs`` observations (observed timesteps, summed over the sequences)::

    converged at iteration k  <=>  L_k - L_{k-1} < tol * n_obs

that is, when one iteration raises the log-likelihood by less than ``tol`` nats per
observation (a decrease, which EM should never make, stops it too). Per observation, so
that one ``tol`` means the same for 100 or 100,000 observations. hmmlearn's own ``tol``
is the same test on the *total* gain (``L_k - L_{k-1} < tol``), so the HMM passes
``tol * n_obs`` to hmmlearn and its history gives the same verdict here.

**Optimisers** stop on their own tests (L-BFGS-B: relative reduction of the objective
below ``ftol`` or projected gradient below ``gtol``); the monitor takes their verdict
(``result.success``) and records ``-result.fun`` per iteration.
"""

import os
import sys
import warnings
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning

__all__ = ["ConvergenceMonitor", "ConvergenceResult", "ConvergenceWarning"]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class ConvergenceResult(NamedTuple):
    """What a finished iterative fit reports (the estimator's fitted attributes)."""

    history: list    # history_: objective per iteration
    n_iter: int      # n_iter_: iterations run
    converged: bool  # converged_: the convergence test was met


class ConvergenceMonitor:
    """Record the objective of an iterative fit and decide whether it converged.

    Parameters
    ----------
    estimator : str
        Name of the estimator class, for the warning.
    n_iter : int
        The iteration limit (the estimator's ``n_iter``).
    tol : float or None, default=None
        Tolerance per observation of the rule above; None when an optimiser's own
        tests decide (pass its verdict to :meth:`finish`).
    n_obs : int, default=1
        Number of observations the objective sums over.
    method : str, default="EM"
        What iterates, for the warning ("EM", "the L-BFGS-B optimiser").

    Examples
    --------
    >>> import warnings
    >>> monitor = ConvergenceMonitor("Example", n_iter=10, tol=1e-3, n_obs=100)
    >>> [monitor.record(v) for v in (-250.0, -200.0, -199.95)]
    [False, False, True]
    >>> monitor.finish()
    ConvergenceResult(history=[-250.0, -200.0, -199.95], n_iter=3, converged=True)
    """

    def __init__(self, estimator, *, n_iter, tol=None, n_obs=1, method="EM"):
        self.estimator = estimator
        self.n_iter = int(n_iter)
        self.tol = None if tol is None else float(tol)
        self.n_obs = max(int(n_obs), 1)
        self.method = method
        self.history = []
        self.converged = False

    @property
    def last_change(self):
        """``L_k - L_{k-1}`` of the last iteration (NaN before two iterations)."""
        if len(self.history) < 2:
            return float("nan")
        return self.history[-1] - self.history[-2]

    def record(self, value):
        """Append one iteration's objective; return True once the tolerance rule is met."""
        self.history.append(float(value))
        if self.tol is not None and len(self.history) >= 2 and not self.converged:
            # NaN (a failed iteration) is not convergence
            self.converged = bool(self.last_change < self.tol * self.n_obs)
        return self.converged

    def record_all(self, values):
        """Record a whole history (e.g. hmmlearn's ``monitor_.history``); return the verdict."""
        for value in values:
            self.record(value)
        return self.converged

    def finish(self, *, converged=None, n_iter=None, reason=None):
        """End the fit: warn unless it converged, and return its :class:`ConvergenceResult`.

        Parameters
        ----------
        converged : bool, optional
            An optimiser's own verdict (``result.success``); by default the rule's.
        n_iter : int, optional
            Iterations run, when the optimiser counts them (``result.nit``); by default
            the number recorded.
        reason : str, optional
            The optimiser's message (``result.message``), quoted in the warning.
        """
        if converged is not None:
            self.converged = bool(converged)
        count = len(self.history) if n_iter is None else int(n_iter)
        if not self.converged:
            _warn(self._message(count, reason))
        return ConvergenceResult(list(self.history), count, self.converged)

    def _message(self, count, reason):
        change = self.last_change
        if np.isfinite(change):
            last = (f"the last iteration changed the log-likelihood by {change:+.3g} "
                    f"({change / self.n_obs:+.2g} per observation)")
        else:
            last = "fewer than two iterations were recorded"
        at_limit = count >= self.n_iter
        stopped = (f"stopped at its iteration limit n_iter={self.n_iter}" if at_limit
                   else f"stopped after {count} of n_iter={self.n_iter} iterations")
        text = f"{self.estimator}: {self.method} {stopped} before converging"
        if reason:
            text += f" (optimiser: {reason!s})"
        text += f"; {last}"
        if self.tol is not None:
            text += f", against tol={self.tol:g} per observation"
        remedy = "raise n_iter" + (" or loosen tol" if self.tol is not None else "")
        if not at_limit:
            remedy = "check the data and starting values, or " + remedy
        return f"{text}. The fitted parameters are not the maximum-likelihood ones: {remedy}."


def _warn(message):
    """ConvergenceWarning attributed to the first caller outside the package."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, ConvergenceWarning, stacklevel=level)
