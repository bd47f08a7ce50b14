"""Test support shared by the test modules.

pytest runs with ``--import-mode=importlib`` (pyproject.toml), which leaves ``sys.path``
alone, so a test module cannot import a helper module beside it. This directory is put
at the end of ``sys.path`` once, here, so that ``from _estimators import LastValue``
works from a clean clone however pytest is started.
"""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)
