"""The installed package is complete: suites and data ship inside it.

``make test`` installs seqmodels non-editable and sets SEQMODELS_TEST_INSTALLED=1, so
these checks prove that a plain ``pip install .`` gives a working package.
"""

import importlib.util
import os
from pathlib import Path

import pytest

import seqmodels
from seqmodels.utils.resources import resource_dir
from seqmodels.compare import builtin_suites

installed_only = pytest.mark.skipif(
    os.environ.get("SEQMODELS_TEST_INSTALLED") != "1",
    reason="checks the installed wheel; run through 'make test'",
)


@installed_only
def test_tests_import_the_installed_package_not_the_source_tree():
    assert "site-packages" in Path(seqmodels.__file__).parts


@installed_only
def test_suites_and_data_ship_inside_the_package():
    for package in ("seqmodels._comparisons", "seqmodels._data"):
        assert importlib.util.find_spec(package) is not None, package
    assert "site-packages" in str(resource_dir("comparisons"))
    shipped = {p.name for p in resource_dir("data").iterdir()}
    source = Path(__file__).resolve().parent.parent / "data"
    expected = {p.name for p in source.iterdir() if p.suffix in {".csv", ".json", ".md", ".py"}}
    assert expected <= shipped


def test_every_suite_in_the_source_tree_is_listed():
    source = Path(__file__).resolve().parent.parent / "comparisons"
    assert {p.stem for p in source.glob("*.toml")} == set(builtin_suites())


def test_public_names():
    for name in seqmodels.__all__:
        assert hasattr(seqmodels, name)
    assert all(isinstance(name, str) and isinstance(cls, type)
               for name, cls in seqmodels.all_estimators())


def test_every_subpackage_of_the_source_tree_is_in_the_wheel():
    """pyproject.toml lists its packages by hand: a new subpackage missing there would be
    left out of a plain ``pip install .`` (the source tree hides it from a dev run)."""
    import tomllib

    root = Path(__file__).resolve().parent.parent
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())
                 ["tool"]["setuptools"]["packages"])
    source = {".".join(init.parent.relative_to(root).parts)
              for init in (root / "seqmodels").rglob("__init__.py")}
    assert source <= listed, sorted(source - listed)
