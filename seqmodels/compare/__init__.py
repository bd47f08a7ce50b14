"""Comparisons: grids of models x datasets x seeds x axes, run into a resumable store.

``compare`` is the Python entry point (``seqcompare`` the command); the experiment
functions vary one axis each; ``report`` writes the summary; ``load_results`` reads a
store back.
"""

from .engine import RunInterrupted, compare
from .evaluation import evaluate
from .experiments import (horizon_curve, learning_curve, memory_curve, noise_curve,
                          restart_spread)
from .report import report, summarise
from .results import oracle_gaps
from .store import ResultsStore, load_results
from .suite import Suite, SuiteError, builtin_suites, load_suite

__all__ = [
    "compare", "evaluate", "report", "summarise", "oracle_gaps", "load_results",
    "ResultsStore", "RunInterrupted", "learning_curve", "memory_curve", "horizon_curve",
    "noise_curve", "restart_spread", "load_suite", "builtin_suites", "Suite", "SuiteError",
]
