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

_hypothesis_settings.register_profile("deep", max_examples=1000, deadline=None)
_hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Outcome counts of tests/test_bad_input.py, when it ran."""
    counts = getattr(config, "_seqmodels_bad_input", None)
    if counts:
        total = sum(counts.values())
        parts = ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items()))
        terminalreporter.write_sep("-", f"bad-input cases: {total} ({parts})")
