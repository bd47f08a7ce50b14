"""State-space models: Kalman filters, unscented and interacting-multiple-model filters.

The numerics live in pure functions of :mod:`seqmodels.inference`
(:mod:`~seqmodels.inference.kalman` for the linear-Gaussian model,
:mod:`~seqmodels.inference.sigma_points` for the unscented and IMM filters) that run
one recursion over time for all sequences at once; the estimator classes are thin.
"""

from .kalman import KalmanFilter
from .nonlinear import InteractingMultipleModel, UnscentedKalmanFilter

__all__ = ["KalmanFilter", "UnscentedKalmanFilter", "InteractingMultipleModel"]
