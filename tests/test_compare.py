"""The comparison runner, the report writer, suites and the seqcompare command."""

import csv

import numpy as np
import pytest
from scipy import stats

from seqmodels.compare import builtin_suites, compare, load_suite, report
from seqmodels.compare.cli import main
from seqmodels.compare.report import summarise

SMALL_SUITE = """
title = "Small"
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
"""


@pytest.fixture
def small_suite(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SMALL_SUITE)
    return path


def test_default_suite_is_shipped():
    assert "default" in builtin_suites()
    suite = load_suite("default")
    assert suite.models and suite.datasets and suite.seeds


def test_compare_runs_every_cell_and_the_oracle(small_suite):
    rows = compare(small_suite)
    assert len(rows) == 2 * (2 + 1)  # seeds x (models + oracle)
    assert {r["model"] for r in rows} == {"AR(1)", "AR(2)", "oracle"}
    for row in rows:
        assert np.isfinite(row["score"]) and np.isfinite(row["nll_per_step"])
    # The oracle evaluates the same data: its NLL is the yardstick of each seed.
    summary = summarise(rows)["ar"]
    oracle = next(e for e in summary if e["model"] == "oracle")
    assert oracle["nll_excess"] == 0.0 and oracle["score_gap"] == 0.0


def test_parallel_run_gives_the_same_rows(small_suite):
    serial = compare(small_suite, n_jobs=1)
    parallel = compare(small_suite, n_jobs=2)
    for a, b in zip(serial, parallel):
        assert a["model"] == b["model"] and a["score"] == b["score"]


def test_report_writes_csv_and_markdown(small_suite, tmp_path):
    rows = compare(small_suite)
    paths = report(rows, tmp_path / "out", title="Small")
    with paths["csv"].open() as handle:
        read = list(csv.DictReader(handle))
    assert len(read) == len(rows) and read[0]["dataset"] == "ar"
    text = paths["markdown"].read_text()
    assert text.startswith("# Small") and "| oracle |" in text and "| AR(2) |" in text


def test_cli_run_writes_the_report(small_suite, tmp_path, capsys):
    assert main(["run", str(small_suite), "--output", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "report.md").is_file()
    assert (tmp_path / "cli" / "results.csv").is_file()
    assert "6 cells" in capsys.readouterr().out
    assert main(["list"]) == 0
    assert "default" in capsys.readouterr().out


def test_cli_unknown_suite_is_a_clear_error(capsys):
    assert main(["run", "no-such-suite"]) == 2
    assert "unknown suite 'no-such-suite'" in capsys.readouterr().err


@pytest.mark.parametrize("replace, message", [
    ('estimator = "AutoRegressive"\nparams = { order = 1 }', "not registered"),
    ('name = "ar"', "names 'nope'"),
    ("seeds = [0, 1]", "seeds must be"),
    ('title = "Small"', "not valid TOML"),
])
def test_bad_suites_are_refused(tmp_path, replace, message):
    substitutes = {
        "not registered": 'estimator = "os.system"\nparams = { order = 1 }',
        "names 'nope'": 'name = "nope"',
        "seeds must be": "seeds = []",
        "not valid TOML": 'title = "Small',
    }
    path = tmp_path / "bad.toml"
    path.write_text(SMALL_SUITE.replace(replace, substitutes[message], 1))
    with pytest.raises(ValueError, match=message):
        load_suite(path)


def test_history_steps_are_context_not_scored():
    """For a real series only the held-out years count; log-likelihoods use the chain rule."""
    from seqmodels import AutoRegressive
    from seqmodels.compare import evaluate
    from seqmodels.datasets import load
    from seqmodels.metrics import r2_score

    data = load("lynx")
    row = evaluate(AutoRegressive(order=2), data)
    model = AutoRegressive(order=2).fit(data.X_train)
    h = data.n_history
    tail = model.predict(data.X_test)[:, h:]
    assert row["score"] == pytest.approx(r2_score(data.X_test[:, h:], tail))
    # AR(2): log p(x_h..T | x_<h) is the sum of the one-step densities of the scored steps.
    mean, std = model.predict(data.X_test, return_std=True)
    direct = stats.norm(mean[0, h:, 0], std[0, h:, 0]).logpdf(data.X_test[0, h:, 0]).sum()
    assert row["nll_per_step"] == pytest.approx(-direct / (data.X_test.shape[1] - h), rel=1e-9)
