"""Utilities for people who write their own sequence estimators.

:func:`check_estimator` and :func:`parametrize_with_checks` hold any estimator to the
contract every seqmodels estimator follows (the container forms, the alignment of the
two modes, causality, cloning, pickling, errors, determinism), as
``sklearn.utils.estimator_checks`` does for scikit-learn estimators. The checks
themselves live in :mod:`seqmodels.utils.estimator_checks`.
"""

from .estimator_checks import check_estimator, parametrize_with_checks

__all__ = ["check_estimator", "parametrize_with_checks"]
