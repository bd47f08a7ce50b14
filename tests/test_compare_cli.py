"""The seqcompare command: suites, exit codes, and runs that are killed, interrupted or doubled."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from seqmodels.compare import builtin_suites, load_results, load_suite
from seqmodels.compare.cli import main

SMALL_SUITE = """
title = "Small"
description = "Two autoregressions on a known AR(2)."
seeds = [0, 1]

[[datasets]]
name = "ar"
params = { n_train = 4, n_test = 3, n_timesteps = 60 }

[[models]]
label = "AR(1)"
estimator = "AutoRegressive"
params = { order = 1 }

[[models]]
label = "AR(2)"
estimator = "AutoRegressive"
params = { order = 2 }

[quick]
seeds = [0]
dataset_params = { n_timesteps = 30 }
"""

# Cells of about 0.2 s each: long enough for a kill to land in the middle of a run.
SLOW_SUITE = """
title = "Kalman EM on linear dynamical systems"
seeds = [0, 1, 2, 3, 4, 5]

[[datasets]]
name = "lds"
params = { n_train = 10, n_test = 5, n_timesteps = 100 }

[[models]]
label = "KF(2)"
estimator = "KalmanFilter"
params = { n_dim_state = 2, n_iter = 40 }

[[models]]
label = "KF(3)"
estimator = "KalmanFilter"
params = { n_dim_state = 3, n_iter = 40 }

[[models]]
label = "AR(2)"
estimator = "AutoRegressive"
params = { order = 2 }
"""
SLOW_CELLS = 6 * (3 + 1)


def _write(tmp_path, text, name="suite.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# A seqcompare process that logs every cell it starts (to tell finished work from redone work).
SHIM = """
import os, sys
from seqmodels.compare import execution
original = execution.run_cell
def logged(cell, limit):
    if os.environ.get("CELL_LOG"):
        with open(os.environ["CELL_LOG"], "a") as log:
            log.write(cell.key + "\\n"); log.flush(); os.fsync(log.fileno())
    return original(cell, limit)
execution.run_cell = logged
from seqmodels.compare.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _seqcompare(args, log=None, **kwargs):
    env = {**os.environ, "CELL_LOG": str(log or ""), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", SHIM, *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _stored(output):
    file = Path(output) / "results.sqlite"
    if not file.exists():
        return set()
    with sqlite3.connect(f"file:{file}?mode=ro", uri=True, timeout=30) as db:
        try:
            return {k for (k,) in db.execute("SELECT key FROM cells")}
        except sqlite3.OperationalError:  # schema not there yet
            return set()


def _logged(log):
    return Path(log).read_text().split() if Path(log).exists() else []


def test_run_writes_store_report_and_csv(tmp_path, capsys):
    suite = _write(tmp_path, SMALL_SUITE)
    assert main(["run", str(suite), "--output", str(tmp_path / "out"), "--progress", "lines"]) == 0
    out, err = capsys.readouterr()
    assert "6 cells (6 ok)" in out and "[6/6] ok" in err
    for name in ("results.sqlite", "results.csv", "report.md"):
        assert (tmp_path / "out" / name).is_file()
    assert main(["status", str(tmp_path / "out")]) == 0
    assert "6 done, 0 pending, 0 failed" in capsys.readouterr().out
    (tmp_path / "out" / "report.md").unlink()
    assert main(["report", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    assert text.startswith("# Small") and "| oracle |" in text and "| AR(2) |" in text
    assert main(["run", str(suite), "--output", str(tmp_path / "out"), "--progress", "none"]) == 0
    assert "6 cells (6 ok)" in capsys.readouterr().out


def test_quick_applies_the_overrides(tmp_path, capsys):
    suite = _write(tmp_path, SMALL_SUITE)
    assert main(["show", str(suite), "--quick"]) == 0
    assert "3 cells" in capsys.readouterr().out
    assert main(["run", str(suite), "--quick", "-o", str(tmp_path / "q"), "--progress", "none"]
                ) == 0
    results = load_results(tmp_path / "q")
    assert len(results) == 3 and set(results["data_n_timesteps"]) == {30}


def test_list_and_show(capsys):
    assert main(["list"]) == 0
    assert "default" in capsys.readouterr().out
    assert main(["list", "models"]) == 0
    assert "RecurrentNetwork" in capsys.readouterr().out
    assert main(["list", "datasets"]) == 0
    listing = capsys.readouterr().out
    assert "constant_velocity      oracle" in listing and "nile" in listing
    assert main(["show", "default"]) == 0
    assert "cells (" in capsys.readouterr().out


def test_version():
    result = subprocess.run([sys.executable, "-m", "seqmodels.compare.cli", "--version"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("seqcompare 0.")


def test_every_builtin_suite_loads_with_its_quick_variant():
    for name in builtin_suites():
        suite = load_suite(name)
        assert suite.cells() and suite.quick().cells()


BAD_SUITES = [
    # (replace, with, the key path the error must name)
    ('params = { order = 2 }', 'param = { order = 2 }', "models[1].param: unknown key"),
    ('title = "Small"', 'title = "Small"\nseed = [1]', "seed: unknown key"),
    ('name = "ar"', 'name = "ar"\nlable = "x"', "datasets[0].lable: unknown key"),
    ('params = { order = 2 }', 'params = { order = "two" }',
     "models[1].params.order: expected an integer, got the string 'two'"),
    ('params = { order = 2 }', 'params = { ordre = 2 }',
     "models[1].params.ordre: AutoRegressive has no parameter 'ordre'"),
    ('n_test = 3,', 'n_test = 3.5,', "datasets[0].params.n_test: expected an integer"),
    ('n_test = 3,', 'n_tset = 3,', "datasets[0].params.n_tset: ar has no parameter"),
    ('estimator = "AutoRegressive"\nparams = { order = 2 }',
     'estimator = "os.system"\nparams = { order = 2 }', "models[1].estimator: 'os.system'"),
    ('label = "AR(2)"', 'label = "oracle"', "models[1].label: 'oracle' is reserved"),
    ('label = "AR(2)"', 'label = "AR(1)"', "labels must be unique"),
    ("seeds = [0, 1]", "seeds = [0, -1]", "seeds[1]: expected an integer >= 0"),
    ("seeds = [0]", "seeds = [0]\nmodels = 3", "quick.models: unknown key"),
    ("dataset_params = { n_timesteps = 30 }", "dataset_params = { n_steps = 30 }",
     "quick.dataset_params.n_steps: unknown key"),
    ('name = "ar"', 'name = "nope"', "datasets[0].name: 'nope' is not a registered dataset"),
    ('title = "Small"', 'title = "Small', "not valid TOML"),
    ("seeds = [0, 1]", "seeds = [0, 1]\ntrain_sizes = [2, 8]", "raise its n_train"),
    ("seeds = [0, 1]", 'seeds = [0, 1]\n[sweep]\ndataset_param = "lag"\nvalues = [1]',
     "sweep.dataset_param: dataset 'ar' has no parameter 'lag'"),
]


@pytest.mark.parametrize("old, new, message", BAD_SUITES)
def test_bad_suites_fail_in_one_line_before_any_cell(tmp_path, capsys, old, new, message):
    assert old in SMALL_SUITE
    suite = _write(tmp_path, SMALL_SUITE.replace(old, new, 1), "bad.toml")
    output = tmp_path / "never"
    assert main(["run", str(suite), "--output", str(output)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "bad.toml" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert not output.exists()


def test_bad_usage_exits_2(tmp_path, capsys):
    suite = _write(tmp_path, SMALL_SUITE)
    with pytest.raises(SystemExit) as stop:
        main(["run", str(suite), "-j", "0"])
    assert stop.value.code == 2 and "positive integer" in capsys.readouterr().err
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["run", str(suite), "--output", str(blocker / "out")]) == 2
    assert "cannot create the folder" in capsys.readouterr().err
    assert main(["run", "no-such-suite"]) == 2
    assert "unknown suite 'no-such-suite'" in capsys.readouterr().err
    assert main(["status", str(tmp_path / "nothing")]) == 2


@pytest.mark.parametrize("args, shown", [
    (["-j", "0"], "0"), (["--jobs", "-1"], "-1"), (["-j", "2.5"], "'2.5'"),
    (["--jobs=abc"], "'abc'"), (["-j", ""], "''"), (["--cluster", "local:0"], "0"),
])
def test_bad_jobs_are_one_argparse_error_line_not_a_traceback(tmp_path, capsys, args, shown):
    """Issue #14: no joblib traceback; exit 2 before any cell, the option and its allowed
    values named on one error line (after argparse's usage)."""
    suite = _write(tmp_path, SMALL_SUITE)
    output = tmp_path / "out"
    with pytest.raises(SystemExit) as stop:
        main(["run", str(suite), "--output", str(output), *args])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert stop.value.code == 2 and "Traceback" not in err and len(errors) == 1
    option = "--cluster" if "--cluster" in args else "--jobs"
    assert option in errors[0] and "positive integer" in errors[0], errors
    assert errors[0].endswith(f"got {shown}"), errors
    assert not output.exists()


def test_failing_and_timed_out_cells_exit_1_and_are_reported(tmp_path):
    too_long = SMALL_SUITE.replace('params = { order = 1 }', 'params = { order = 200 }')
    suite = _write(tmp_path, too_long + """
[[models]]
label = "EM that never ends"
estimator = "KalmanFilter"
params = { n_iter = 100000, tol = 0.0 }
""")
    start = time.perf_counter()
    run = _seqcompare(["run", suite, "-o", tmp_path / "out", "--timeout", "1.5", "--progress",
                       "lines"])
    out, err = run.communicate(timeout=120)
    assert run.returncode == 1, err
    assert time.perf_counter() - start < 60
    assert "8 cells (2 error, 4 ok, 2 timeout)" in out, err
    report = (tmp_path / "out" / "report.md").read_text()
    assert "AutoRegressive needs at least 201" in report
    assert "ran past its time limit of 1.5 s" in report


def test_sigkill_at_random_points_then_resume_loses_and_redoes_nothing(tmp_path):
    suite = _write(tmp_path, SLOW_SUITE)
    output, log = tmp_path / "out", tmp_path / "cells.log"
    rng = random.Random(20261122)
    kills = []  # (cells stored at the kill, log length at the kill)
    for attempt in range(12):
        run = _seqcompare(["run", suite, "-o", output, "--progress", "none"], log=log)
        if len(kills) < 3:
            before = len(_stored(output))
            deadline = time.monotonic() + 90
            while len(_stored(output)) == before and run.poll() is None:
                assert time.monotonic() < deadline, "no cell finished"
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.6))
            if run.poll() is None:
                run.send_signal(signal.SIGKILL)
                run.wait()
                kills.append((_stored(output), len(_logged(log))))
                continue
        run.communicate(timeout=300)
        assert run.returncode == 0
        break
    assert len(kills) >= 3
    results = load_results(output)
    assert len(results) == SLOW_CELLS and results["key"].is_unique
    assert (results["status"] == "ok").all()
    logged = _logged(log)
    for done, position in kills:
        redone = done & set(logged[position:])
        assert not redone, f"{len(redone)} finished cell(s) computed again"
    assert len(logged) <= SLOW_CELLS + len(kills)  # at most the cell in flight at each kill


def test_two_runs_on_one_folder_share_the_work(tmp_path):
    suite = _write(tmp_path, SLOW_SUITE)
    output, log = tmp_path / "out", tmp_path / "cells.log"
    runs = [_seqcompare(["run", suite, "-o", output, "--progress", "lines"], log=log)
            for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode == 0, err
        assert f"{SLOW_CELLS} cells ({SLOW_CELLS} ok)" in out
    results = load_results(output)
    assert len(results) == SLOW_CELLS and results["key"].is_unique
    logged = _logged(log)
    assert len(logged) == len(set(logged)) == SLOW_CELLS  # every cell computed exactly once
    assert results["worker"].nunique() == 2  # both runs did part of the work


@pytest.mark.parametrize("jobs", [1, 2])
def test_sigterm_stops_cleanly_and_says_how_to_resume(tmp_path, jobs):
    suite = _write(tmp_path, SLOW_SUITE)
    output = tmp_path / "out"
    run = _seqcompare(["run", suite, "-o", output, "-j", jobs, "--progress", "none"])
    deadline = time.monotonic() + 120
    while len(_stored(output)) < 2:
        assert run.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 143, err
    assert "Run the same command again to resume" in err and "Traceback" not in err
    results = load_results(output)
    assert 2 <= len(results) < SLOW_CELLS
    workers = {int(w.rsplit(":", 1)[1]) for w in results["worker"]}
    time.sleep(1.0)
    for pid in workers:  # no worker process outlives the run
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    rerun = _seqcompare(["run", suite, "-o", output, "-j", jobs, "--progress", "none"])
    rerun.communicate(timeout=300)
    assert rerun.returncode == 0 and len(load_results(output)) == SLOW_CELLS


def test_the_format_examples_in_the_suites_readme_load(tmp_path):
    """Every TOML example of comparisons/README.md is a valid suite (or completes one)."""
    import re

    from seqmodels.utils.resources import resource_dir

    text = (resource_dir("comparisons") / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 7
    datasets = {"lag": "delayed_xor", "measurement_std": "constant_velocity"}
    for i, block in enumerate(blocks):
        if "[[models]]" in block:
            suite = block
        else:
            name = next((d for key, d in datasets.items() if key in block), "var")
            top, tables = (re.split(r"^(?=\[)", block, maxsplit=1, flags=re.M) + [""])[:2]
            # (the quick example's model_params need a model with epochs)
            models = ["AutoRegressive"] + ["FeedForwardNetwork"] * ("epochs" in block)
            suite = (f'{top}\n[[datasets]]\nname = "{name}"\nparams = {{ n_train = 1000 }}\n'
                     + "".join(f'[[models]]\nestimator = "{m}"\n' for m in models) + tables)
        path = tmp_path / f"example{i}.toml"
        path.write_text(suite)
        assert load_suite(path).cells(), block


def test_workers_do_not_outlive_a_parent_killed_with_sigkill(tmp_path):
    import psutil

    suite = _write(tmp_path, SLOW_SUITE)
    output = tmp_path / "out"
    run = _seqcompare(["run", suite, "-o", output, "-j", 2, "--progress", "none"])
    deadline = time.monotonic() + 120
    while len(_stored(output)) < 2:
        assert run.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    workers = {int(w.rsplit(":", 1)[1]) for w in load_results(output)["worker"]}
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 10
    for pid in workers:
        while time.monotonic() < deadline:
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    break  # dead, waiting only for init to reap it
            except psutil.NoSuchProcess:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"worker {pid} outlived its killed parent")
