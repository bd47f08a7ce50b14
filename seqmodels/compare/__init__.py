"""Comparisons: run a grid of models x datasets x seeds and report it against the oracle."""

from .report import report
from .runner import compare, evaluate
from .suite import builtin_suites, load_suite

__all__ = ["compare", "evaluate", "report", "load_suite", "builtin_suites"]
