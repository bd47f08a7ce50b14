"""Test support shared by the test modules.

pytest runs with ``--import-mode=importlib`` (pyproject.toml), which leaves ``sys.path``
alone, so a test module cannot import a helper module beside it. This directory is put
at the end of ``sys.path`` once, here, so that ``from _estimators import LastValue``
works from a clean clone however pytest is started.
"""

import os
import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)

# Hypothesis profiles. The default profile is hypothesis' own; the property suites that
# scale their examples with it (tests/test_bad_input.py multiplies each test's examples by
# max_examples / 100) run ten times deeper under HYPOTHESIS_PROFILE=deep:
#
#     HYPOTHESIS_PROFILE=deep pytest tests/test_bad_input.py
from hypothesis import settings as _hypothesis_settings  # noqa: E402

# No per-example deadline in either profile: the suite runs on two xdist workers of a
# two-core machine (the Makefile), where a 200 ms deadline measures the load, not the code.
_hypothesis_settings.register_profile("seqmodels", deadline=None)
_hypothesis_settings.register_profile("deep", max_examples=1000, deadline=None)
_hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "seqmodels"))


def pytest_testnodedown(node, error):
    """pytest-xdist: add a worker's bad-input counts to the controller's (summary below)."""
    counts = getattr(node, "workeroutput", {}).get("seqmodels_bad_input")
    if counts:
        total = getattr(node.config, "_seqmodels_bad_input", None) or {}
        for kind, count in counts.items():
            total[kind] = total.get(kind, 0) + count
        node.config._seqmodels_bad_input = total


def pytest_sessionfinish(session, exitstatus):
    """pytest-xdist worker: hand the bad-input counts to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    counts = getattr(session.config, "_seqmodels_bad_input", None)
    if workeroutput is not None and counts:
        workeroutput["seqmodels_bad_input"] = counts


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Outcome counts of tests/test_bad_input.py, when it ran."""
    counts = getattr(config, "_seqmodels_bad_input", None)
    if counts:
        total = sum(counts.values())
        parts = ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items()))
        terminalreporter.write_sep("-", f"bad-input cases: {total} ({parts})")
