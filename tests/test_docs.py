"""Every example in the docstrings runs and prints what it says (on the installed package)."""

import doctest
import importlib
import pkgutil

import pytest

import seqmodels

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(seqmodels.__path__, prefix="seqmodels.")
    if not info.name.rsplit(".", 1)[-1].startswith("_comparisons")
    and not info.name.rsplit(".", 1)[-1].startswith("_data")
)


@pytest.mark.parametrize("name", ["seqmodels"] + MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_readme_example_runs():
    """The README's Python example, executed as written."""
    import re
    from pathlib import Path

    readme = Path(__file__).resolve().parent.parent / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


@pytest.mark.parametrize("name, cls", seqmodels.all_estimators())
def test_every_estimator_has_an_example_and_states_its_equations(name, cls):
    doc = cls.__doc__ or ""
    assert ">>>" in doc, f"{name} has no example"
    assert "Parameters" in doc and "Attributes" in doc
