"""The estimator contract (DESIGN.md sections 2-4), run over every registered estimator.

The checks live in :mod:`seqmodels.utils.estimator_checks`, public so that a user's own
estimator can be held to the same contract. Each estimator may define
``_unit_test_params()`` (small, fast hyperparameters) and ``_unit_test_targets()`` (the
kind of ``y`` its supervised mode takes: "continuous", "labels", or None for no
supervised mode). Nothing here is family-specific: an estimator added to
``seqmodels.all_estimators()`` runs these checks unchanged.
"""

import inspect

import seqmodels
from seqmodels.utils import parametrize_with_checks


def _instance(cls):
    """``cls()``; a meta-estimator's required arguments come from its _unit_test_params()."""
    required = [p.name for p in inspect.signature(cls).parameters.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    params = cls._unit_test_params() if required else {}
    return cls(**{key: params[key] for key in required})


@parametrize_with_checks([_instance(cls) for _, cls in seqmodels.all_estimators()])
def test_estimator_contract(estimator, check):
    check(estimator)
