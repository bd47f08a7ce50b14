"""The estimator contract (DESIGN.md sections 2-4), run over every registered estimator.

The checks live in :mod:`seqmodels.utils.estimator_checks`, public so that a user's own
estimator can be held to the same contract. Each estimator may define
``_unit_test_params()`` (small, fast hyperparameters) and ``_unit_test_targets()`` (the
kind of ``y`` its supervised mode takes: "continuous", "labels", or None for no
supervised mode). Nothing here is family-specific: an estimator added to
``seqmodels.all_estimators()`` runs these checks unchanged.
"""

import seqmodels
from seqmodels.utils import parametrize_with_checks


@parametrize_with_checks([cls() for _, cls in seqmodels.all_estimators()])
def test_estimator_contract(estimator, check):
    check(estimator)
