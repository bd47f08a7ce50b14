"""State-space models: Kalman filters, unscented, extended and interacting-multiple-model
filters.

The numerics live in pure functions of :mod:`seqmodels.inference`
(:mod:`~seqmodels.inference.kalman` for the linear-Gaussian model,
:mod:`~seqmodels.inference.sigma_points` for the unscented and IMM filters,
:mod:`~seqmodels.inference.extended` for the extended Kalman filter) that run
one recursion over time for all sequences at once; the estimator classes are thin.
"""

from .kalman import KalmanFilter
from .nonlinear import ExtendedKalmanFilter, InteractingMultipleModel, UnscentedKalmanFilter

__all__ = ["KalmanFilter", "UnscentedKalmanFilter", "ExtendedKalmanFilter",
           "InteractingMultipleModel"]
