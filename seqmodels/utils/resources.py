"""Where the shipped files live: ``comparisons/`` and ``data/`` inside the installed package.

A wheel maps the repository's ``comparisons/`` and ``data/`` folders to the packages
``seqmodels._comparisons`` and ``seqmodels._data`` (see pyproject.toml). In a source
checkout imported directly (or an editable install, which cannot map folders without an
``__init__.py``) the folders are read where they are.
"""

import importlib.util
from pathlib import Path

__all__ = ["resource_dir"]

_PACKAGES = {"comparisons": "seqmodels._comparisons", "data": "seqmodels._data"}


def resource_dir(kind):
    """The folder of shipped files of ``kind`` ("comparisons" or "data").

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        If the package was installed without the folder.
    """
    if kind not in _PACKAGES:
        raise ValueError(f"kind must be one of {sorted(_PACKAGES)}; got {kind!r}.")
    # The folders are namespace packages (no __init__.py), so ask for their location
    # rather than importing them.
    spec = importlib.util.find_spec(_PACKAGES[kind])
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    source = Path(__file__).resolve().parents[2] / kind
    if source.is_dir():
        return source
    raise FileNotFoundError(
        f"seqmodels is installed without its {kind}/ files; reinstall it with 'pip install .'."
    )
