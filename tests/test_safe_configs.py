"""Suites are data: they cannot import or execute code, and names in them stay names.

A suite names registered estimators and datasets only; every key is checked when the file
is read. Here the hostile cases: module paths and Python expressions where a name is
expected, tables where a string is expected, dunder keys at every level, strings where a
callable is expected, and built-in suite names or suite file names with ``..`` in them.
Reports escaping hostile text are tested in test_report.py.
"""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from seqmodels.compare import SuiteError, builtin_suites, compare, load_suite
from seqmodels.compare.cli import default_output, main

BASE = """
seeds = [0]

[[datasets]]
name = "ar"
params = { n_train = 3, n_test = 2, n_timesteps = 30 }

[[models]]
label = "AR(1)"
estimator = "AutoRegressive"
params = { order = 1 }

[quick]
seeds = [1]
"""

HOSTILE = [
    # (replace, with, the message: the key path first)
    ('estimator = "AutoRegressive"', 'estimator = "os.system"',
     "models[0].estimator: 'os.system' is not a registered estimator"),
    ('estimator = "AutoRegressive"', "estimator = \"__import__('os').system('id')\"",
     "models[0].estimator: \"__import__('os').system('id')\" is not a registered estimator"),
    ('estimator = "AutoRegressive"', 'estimator = "seqmodels.autoregressive.AutoRegressive"',
     "models[0].estimator: 'seqmodels.autoregressive.AutoRegressive' is not a registered"),
    ('estimator = "AutoRegressive"', 'estimator = "subprocess:Popen"',
     "models[0].estimator: 'subprocess:Popen' is not a registered estimator"),
    ('estimator = "AutoRegressive"', 'estimator = { module = "os", name = "system" }',
     "models[0].estimator: expected the name of a registered estimator, got a table"),
    ('estimator = "AutoRegressive"', 'estimator = ["os", "system"]',
     "models[0].estimator: expected the name of a registered estimator, got a list"),
    ('estimator = "AutoRegressive"\n', '',
     "models[0].estimator: expected the name of a registered estimator, got nothing"),
    ('name = "ar"', 'name = "seqmodels.datasets.synthetic.ar"',
     "datasets[0].name: 'seqmodels.datasets.synthetic.ar' is not a registered dataset"),
    ('name = "ar"', 'name = "os.path"', "datasets[0].name: 'os.path' is not a registered"),
    ('name = "ar"', 'name = "../data/nile"', "datasets[0].name: '../data/nile' is not a"),
    ('name = "ar"', 'name = { module = "os" }',
     "datasets[0].name: a table is not a registered dataset"),
    ('seeds = [0]', 'seeds = [0]\n__class__ = "os.system"', "__class__: unknown key"),
    ('seeds = [0]', 'seeds = [0]\n__builtins__ = { eval = "x" }', "__builtins__: unknown key"),
    ('label = "AR(1)"', 'label = "AR(1)"\n__init__ = "os.system"',
     "models[0].__init__: unknown key"),
    ('name = "ar"', 'name = "ar"\n__reduce__ = "os.system"', "datasets[0].__reduce__: unknown"),
    ('params = { order = 1 }', 'params = { order = 1, __class__ = "os.system" }',
     "models[0].params.__class__: AutoRegressive has no parameter '__class__'"),
    ('params = { order = 1 }', 'params = { __dict__ = { coef_ = [1.0] } }',
     "models[0].params.__dict__: AutoRegressive has no parameter '__dict__'"),
    ('n_test = 2,', 'n_test = 2, __globals__ = 1,',
     "datasets[0].params.__globals__: ar has no parameter '__globals__'"),
    ('seeds = [1]', 'seeds = [1]\n__import__ = "os"', "quick.__import__: unknown key"),
    ('seeds = [1]', 'seeds = [1]\nmodel_params = { __class__ = "os.system" }',
     "quick.model_params.__class__: unknown key"),
    ('seeds = [1]', 'seeds = [1]\ndataset_params = { __file__ = "/etc/passwd" }',
     "quick.dataset_params.__file__: unknown key"),
    ('seeds = [0]', 'seeds = [0]\n[sweep]\ndataset_param = "__class__"\nvalues = [1]',
     "sweep.dataset_param: dataset 'ar' has no parameter '__class__'"),
    ('seeds = [0]', 'seeds = [0]\n[sweep]\ndataset_param = "noise_std"\nvalues = [1.0]\n'
     '__call__ = "os.system"', "sweep.__call__: unknown key"),
    ('params = { order = 1 }', 'params = { order = 1 }\nimpute = "os.system"',
     "models[0].impute: expected one of ['last', 'mean'], got the string 'os.system'"),
    ('estimator = "AutoRegressive"', 'estimator = "ImputeMissing"',
     "models[0].estimator: ImputeMissing wraps another model"),
]


@pytest.mark.parametrize("old, new, message", HOSTILE)
def test_a_suite_cannot_name_code_or_smuggle_keys(tmp_path, monkeypatch, old, new, message):
    """Each refusal is a SuiteError naming the file and the key path."""
    assert old in BASE
    path = tmp_path / "hostile.toml"
    path.write_text(BASE.replace(old, new, 1))
    monkeypatch.setattr(os, "system", lambda *a: pytest.fail("os.system was called"))
    with pytest.raises(SuiteError) as refused:
        load_suite(path)
    text = str(refused.value)
    assert text.startswith(f"{path.resolve()}: ") and message in text, text


def test_the_cli_reports_a_table_in_place_of_a_name_in_one_line(tmp_path, capsys):
    """(Was: "seqcompare: unhashable type: 'dict'", no file, no key path.)"""
    path = tmp_path / "hostile.toml"
    path.write_text(BASE.replace('estimator = "AutoRegressive"',
                                 'estimator = { module = "os", name = "system" }'))
    assert main(["run", str(path), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "hostile.toml: models[0].estimator: expected the name of a registered estimator" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "out").exists()


def test_strings_where_callables_are_expected_are_never_resolved(tmp_path, monkeypatch):
    """A suite can give fx / hx only as TOML strings: the model refuses them when it is fitted
    (a failed cell), and nothing named by them is looked up or called."""
    path = tmp_path / "callables.toml"
    path.write_text(BASE.replace(
        'estimator = "AutoRegressive"\nparams = { order = 1 }',
        'estimator = "UnscentedKalmanFilter"\nparams = { fx = "os.system", hx = "os.system" }'))
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    results = compare(load_suite(path), progress=False)
    failed = results[~results["is_oracle"]]
    assert failed["status"].tolist() == ["error"]
    assert "fx must be None or a callable; got 'os.system'" in failed["error"].iloc[0]
    assert calls == []


@pytest.mark.parametrize("name", ["../comparisons/default", "default/../default",
                                  "comparisons/default", "./default", "default.toml",
                                  "/default", "..", "/", "", "~", "$HOME"])
def test_builtin_suite_names_are_names_not_paths(tmp_path, monkeypatch, name):
    """Only a name builtin_suites() lists reads a built-in suite; a name with '..' or a
    folder in it is never joined onto the package's folder, and a folder is refused."""
    monkeypatch.chdir(tmp_path)  # nothing of these names exists here
    with pytest.raises(SuiteError, match=r"unknown suite|does not exist|is a folder"):
        load_suite(name)


def test_a_folder_does_not_hide_the_builtin_suite_of_its_name(tmp_path, monkeypatch):
    """(Was: "suite file 'default' does not exist" when ./default was a folder, such as
    the output folder of an earlier run started from reports/.)"""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").mkdir()
    assert load_suite("default").source == "default"
    assert "default" in builtin_suites()
    (tmp_path / "mine").mkdir()
    with pytest.raises(SuiteError, match=r"'mine' is a folder, not a suite file"):
        load_suite("mine")


def test_a_suite_file_is_read_as_toml_and_nothing_else(tmp_path):
    """A path to any file is read as TOML: a file that is not a suite fails to parse, and
    the message quotes the parser, not the file's contents."""
    secret = tmp_path / "secret"
    secret.write_text("root:x:0:0:secret-token:/root:/bin/bash\n")
    with pytest.raises(SuiteError, match="not valid TOML") as refused:
        load_suite(secret)
    assert "secret-token" not in str(refused.value)


@pytest.mark.parametrize("name", ["default", "my suite", "..", ".", "...", "a/../..", "../x",
                                  "..\\..", "/", "/etc", " .. ", ""])
def test_the_default_output_folder_stays_inside_reports(name):
    folder = Path(default_output(name))
    assert folder.parent == Path("reports") and folder.name not in ("", ".", "..")
    assert default_output("default") == "reports/default" and default_output("..") == \
        "reports/suite"


def test_seqcompare_run_of_a_file_named_dot_dot_writes_inside_reports(tmp_path, monkeypatch):
    """(Was: a suite file named '...toml' has the name '..', so its default output folder
    'reports/..' was the working folder itself, and the report replaced its figures/.)"""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "...toml").write_text(BASE)
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "01-mine.png").write_bytes(b"a figure of the user's")
    assert main(["run", "...toml", "--progress", "none"]) == 0
    assert (tmp_path / "reports" / "suite" / "results.sqlite").is_file()
    assert (tmp_path / "figures" / "01-mine.png").is_file()
    assert {p.name for p in tmp_path.iterdir()} == {"...toml", "figures", "reports"}


def test_a_stores_recorded_suite_path_is_only_read_as_a_suite(tmp_path, capsys):
    """`seqcompare report` reloads the suite a store names. A store from elsewhere may name
    any path: it is read as a suite or ignored (the stored title is used, escaped)."""
    path = tmp_path / "suite.toml"
    path.write_text(BASE)
    output = tmp_path / "out"
    assert main(["run", str(path), "--output", str(output), "--progress", "none"]) == 0
    secret = tmp_path / "secret"
    secret.write_text("token = 'secret-token'\n")
    for source in (str(secret), str(tmp_path), "../../etc/passwd", "/nonexistent/x.toml"):
        with sqlite3.connect(output / "results.sqlite") as db:
            db.execute("UPDATE runs SET metadata = ?", (json.dumps(
                {"suite": "x", "suite_source": source, "title": "<script>alert(1)</script>"}),))
        db.close()
        capsys.readouterr()
        assert main(["report", str(output)]) == 0, capsys.readouterr().err
        html = (output / "report.html").read_text()
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
        assert "secret-token" not in html


def test_seqcompare_refuses_a_hostile_suite_from_the_command_line(tmp_path):
    """End to end, as a user runs it: exit 2, one line, nothing written, nothing run."""
    path = tmp_path / "hostile.toml"
    marker = tmp_path / "ran"
    path.write_text(BASE.replace('estimator = "AutoRegressive"',
                                 f"estimator = \"__import__('os').system('touch {marker}')\""))
    root = str(Path(__file__).resolve().parent.parent)  # the working tree, not an install
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    run = subprocess.run([sys.executable, "-m", "seqmodels.compare.cli", "run", str(path),
                          "--output", str(tmp_path / "out")], capture_output=True, text=True,
                         env=env, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "models[0].estimator" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not marker.exists() and not (tmp_path / "out").exists()
