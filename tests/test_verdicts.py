"""One rule for 'worse', 'tied' and 'can't tell' (seqmodels/compare/verdicts.py), and the
report's sections telling one story with it. Runs are built cell by cell, so each case
is exactly the situation it names."""

import json

import numpy as np
import pytest

from seqmodels.compare import tables
from seqmodels.compare.results import to_frame
from seqmodels.compare.sections import build_sections
from seqmodels.compare.stats import metric_interval
from seqmodels.compare.verdicts import judge, rope_width, seed_test
from seqmodels.metrics import value_range

N_SEQ = 40


def _cell(model, seed, per_sequence, *, metric="rmse", dataset="d", oracle=False,
          status="ok"):
    """A finished cell whose per-sequence headline is ``per_sequence``."""
    per_sequence = np.asarray(per_sequence, dtype=float)
    better = metric in ("accuracy", "success_rate")
    headline = float(np.sqrt(np.mean(per_sequence ** 2))) if metric == "rmse" \
        else float(per_sequence.mean())
    record = {"key": f"{model}-{seed}-{dataset}", "status": status, "model": model,
              "estimator": "X", "is_oracle": oracle, "dataset": dataset,
              "dataset_name": dataset, "task": "forecast", "data_seed": seed,
              "model_seed": None if oracle else seed, "train_size": None, "metric": metric,
              "metric_label": metric, "greater_is_better": better,
              "headline": headline if status == "ok" else None,
              "baselines": "{}", "sweep": "{}", "dataset_params": json.dumps({}),
              "n_params": 3, "fit_seconds": 0.1, "predict_seconds": 0.01,
              "arrays": {"seq_headline": per_sequence} if status == "ok" else {}}
    return record


def _run(spec, seeds, metric="rmse", dataset="d", oracle=None):
    """``spec``: model -> function(seed, rng) -> per-sequence values."""
    records = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        base = rng.uniform(0.8, 1.2, N_SEQ)
        if oracle is not None:
            records.append(_cell("oracle", seed, oracle(base, rng), metric=metric,
                                 dataset=dataset, oracle=True))
        for model, make in spec.items():
            values = make(base, rng, seed)
            status = "ok"
            if isinstance(values, str):
                status, values = values, base
            records.append(_cell(model, seed, values, metric=metric, dataset=dataset,
                                 status=status))
    return to_frame(records)


def _row(summary, model):
    return summary.set_index("model").loc[model]


# -- the rule ---------------------------------------------------------------------------------


def test_a_model_worse_on_every_seeds_test_set_is_never_tied_even_on_two_wild_seeds():
    # the default suite's networks: several times the best's error on each seed, but the
    # two seeds far apart (a paired t-test over 2 seeds cannot see it: p ~ 0.2)
    for shift in range(5):  # several draws of the situation, not one picked to pass
        spec = {"good": lambda b, r, s: b,
                "bad": lambda b, r, s, k=shift: b * (5 + 20 * s + k) + r.normal(0, 0.3, N_SEQ)}
        results = _run(spec, seeds=[10 * shift, 10 * shift + 1])
        summary = tables.summarise(results)
        bad = _row(summary, "bad")
        assert bad["vs_best"] == "worse"
        assert "each of the 2 seeds' test sets" in bad["vs_best_note"]
        assert "cannot measure training variability" in bad["vs_best_note"]
        line = build_sections(results)[0].blocks[0].items[0]
        assert "tied with it" not in line and "worse: bad" in line


def test_two_equal_models_on_five_seeds_are_tied_and_on_two_cannot_be_told():
    spec = {"a": lambda b, r, s: b * (1 + 0.001 * r.standard_normal(N_SEQ)),
            "b": lambda b, r, s: b * (1 + 0.001 * r.standard_normal(N_SEQ))}
    five = tables.summarise(_run(spec, seeds=range(5)))
    other = five[five["vs_best"] != "best"].iloc[0]
    assert other["vs_best"] == "tied" and "within ±" in other["vs_best_note"]
    two = tables.summarise(_run(spec, seeds=range(2)))
    other = two[two["vs_best"] != "best"].iloc[0]
    assert other["vs_best"] == "can't tell"
    assert "2 seeds cannot measure training variability" in other["vs_best_note"]


def test_a_practical_difference_hidden_by_noise_is_cant_tell_not_tied():
    # 10 % worse on average but with seed-to-seed noise far larger than that
    spec = {"a": lambda b, r, s: b,
            "b": lambda b, r, s: b * (1.1 + 0.5 * np.sin(3.0 * s)) + r.normal(0, 0.5, N_SEQ)}
    summary = tables.summarise(_run(spec, seeds=range(6)))
    other = summary[(summary["kind"] == "model") & (summary["vs_best"] != "best")].iloc[0]
    assert other["vs_best"] in ("can't tell", "worse")
    assert other["vs_best"] != "tied"


def test_identical_models_are_tied_on_any_number_of_seeds():
    spec = {"a": lambda b, r, s: b, "b": lambda b, r, s: b}
    summary = tables.summarise(_run(spec, seeds=[0, 1]))
    assert set(summary["vs_best"]) == {"best", "tied"}


def test_judge_and_seed_test_by_hand():
    assert seed_test([0.5, 0.6, 0.4]) == 1 and seed_test([-0.5, -0.6, -0.4]) == -1
    assert seed_test([0.1]) == 0                     # one sequence: no interval
    verdict = judge([np.ones(5) * 2 + np.arange(5) * 0.1] * 3, [2.2, 2.1, 2.3], rope=0.1)
    assert verdict.verdict == "worse" and verdict.n_worse == 3
    assert verdict.low > 0 and verdict.n_seeds == 3
    single = judge([[0.3], [0.2], [0.4]], [0.3, 0.2, 0.4], rope=0.01)  # one sequence a seed
    assert single.verdict == "worse" and "one test sequence per seed" in single.note
    assert "test sets" not in single.note
    untested = judge([], [], rope=0.1)
    assert untested.verdict == "untested"
    assert rope_width("rmse", 2.0) == pytest.approx(0.1)
    assert rope_width("rmse", 2.0, {"rmse": ("absolute", 0.3)}) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="rope for 'rmse'"):
        rope_width("rmse", 2.0, {"rmse": ("percent", 5)})


# -- intervals inside their metric's range ---------------------------------------------------


@pytest.mark.parametrize("metric", ["rmse", "mae", "accuracy", "success_rate", "nll_per_step"])
def test_every_summary_interval_lies_in_its_metrics_range(metric):
    rng = np.random.default_rng(3)
    if value_range(metric) == "proportion":
        spec = {"a": lambda b, r, s: (r.random(N_SEQ) < 0.97).astype(float),
                "b": lambda b, r, s: (r.random(N_SEQ) < [0.05, 0.9, 0.5, 0.99][s]).astype(float)}
    else:
        spec = {"a": lambda b, r, s: b * 0.1,
                "b": lambda b, r, s: b * [0.05, 40.0, 0.2, 3.0][s]}
    results = _run(spec, seeds=range(4), metric=metric)
    summary = tables.summarise(results)
    rows = summary[summary["kind"] == "model"]
    assert rows["ci_low"].notna().all()
    if value_range(metric) == "positive":
        assert (rows["ci_low"] > 0).all()
    if value_range(metric) == "proportion":
        assert ((rows["ci_low"] >= 0) & (rows["ci_high"] <= 1)).all()
    assert ((rows["ci_low"] <= rows["headline"]) & (rows["headline"] <= rows["ci_high"])).all()
    del rng


def test_every_interval_in_the_report_of_a_mixed_run_lies_in_its_metrics_range():
    """One run, four datasets with four headline metrics; wild seeds push a Student-t
    interval below 0 or above 1, which the report must not show."""
    import pandas as pd

    def proportions(rates):
        return {"sure": lambda b, r, s: (r.random(N_SEQ) < 0.98).astype(float),
                "erratic": lambda b, r, s: (r.random(N_SEQ) < rates[s]).astype(float)}

    errors = {"good": lambda b, r, s: b * 0.1, "erratic": lambda b, r, s: b * [0.05, 30.0, 0.1][s]}
    nll = {"good": lambda b, r, s: b - 3.0, "erratic": lambda b, r, s: b * [-5.0, 8.0, 1.0][s]}
    frames = [_run(errors, range(3), metric="rmse", dataset="errors"),
              _run(nll, range(3), metric="nll_per_step", dataset="nll"),
              _run(proportions([0.02, 0.95, 0.9]), range(3), metric="success_rate",
                   dataset="success"),
              _run(proportions([0.99, 0.1, 0.97]), range(3), metric="accuracy",
                   dataset="accuracy")]
    results = pd.concat(frames, ignore_index=True)
    summary = build_sections(results)[0]
    tables_shown = [b for b in summary.blocks if getattr(b, "kind", "") == "table"]
    assert len(tables_shown) == 4
    ranges = {"errors": (0, np.inf), "nll": (-np.inf, np.inf), "success": (0, 1),
              "accuracy": (0, 1)}
    checked = 0
    for block, name in zip(tables_shown, ["errors", "nll", "success", "accuracy"]):
        low_bound, high_bound = ranges[name]
        for row in block.rows:
            cell = row[4]
            if not cell.startswith("["):
                continue
            low, high = (float(v) for v in cell.strip("[]").split(", "))
            assert low_bound <= low <= high <= high_bound, (name, row)
            checked += 1
    assert checked >= 8


def test_two_seeds_give_no_interval_and_say_why():
    spec = {"a": lambda b, r, s: b, "b": lambda b, r, s: b * [1.0, 30.0][s]}
    results = _run(spec, seeds=[0, 1])
    summary = tables.summarise(results)
    assert summary.loc[summary["kind"] == "model", "ci_low"].isna().all()
    table = build_sections(results)[0].blocks[3]
    assert any("2 seeds: too few" in cell for row in table.rows for cell in row)


def test_metric_interval_scales():
    positive = metric_interval([0.1, 10.0, 30.0], "positive")
    assert 0 < positive.low < positive.mean < positive.high
    assert np.isfinite(metric_interval([1.0, 2.0, 3.0], "real").low)
    proportion = metric_interval([0.0, 0.5, 1.0], "proportion")
    assert 0 < proportion.low < 0.5 < proportion.high < 1
    exact = metric_interval([1.0, 1.0, 1.0], "proportion")
    assert exact.low == exact.high == 1.0
    with pytest.raises(ValueError, match="value_range"):
        metric_interval([1.0, 2.0, 3.0], "percent")


# -- the sections tell one story ------------------------------------------------------------


def test_summary_gap_section_and_table_agree_on_one_run():
    oracle = lambda b, r: b                                          # noqa: E731
    spec = {"near": lambda b, r, s: b * (1 + 0.002 * r.standard_normal(N_SEQ)),
            "lucky": lambda b, r, s: b * 0.97,                       # better than the oracle
            "bad": lambda b, r, s: b * [4.0, 40.0][s]}
    results = _run(spec, seeds=[0, 1], oracle=oracle)
    sections = build_sections(results)
    summary = tables.summarise(results)
    gaps = tables.oracle_gap_table(results).set_index("model")
    line = sections[0].blocks[0].items[0]
    assert "best lucky" in line and "tied with it" not in line
    worse = [part for part in line.split("; ") if part.startswith("worse: ")][0]
    assert "bad" in worse and "near" in worse          # 3 % behind on every sequence
    assert "too few to measure training variability" in line
    # the summary table says what the line says, model by model
    table = sections[0].blocks[3]
    shown = {row[1]: row[5] for row in table.rows}
    for model in ("near", "bad"):
        assert shown[model].startswith(_row(summary, model)["vs_best"])
    # the gap section: the model that beat the oracle did so on each test set, by chance
    assert gaps.at["bad", "verdict"] == "worse"
    assert gaps.at["lucky", "verdict"] == "better"
    gap_rows = {row[0]: row[-1] for row in sections[1].blocks[3].rows}
    assert "chance" in gap_rows["lucky"] and gap_rows["bad"].startswith("worse")


# -- a diverged fit is a measured outcome ------------------------------------------------------


def test_a_diverged_fit_is_stored_as_such_kept_on_retry_and_shown_in_the_report(tmp_path):
    from seqmodels import AutoRegressive
    from seqmodels.compare import compare, report
    from seqmodels.compare.store import ResultsStore

    from _estimators import Diverges, Raises  # tests/_estimators.py

    models = {"AR(1)": AutoRegressive(order=1), "diverges": Diverges(), "raises": Raises()}
    data = ("ar", {"n_train": 4, "n_test": 3, "n_timesteps": 30})
    results = compare(models, data, seeds=[0, 1, 2], store=tmp_path, progress=False)
    status = results.groupby("model")["status"].agg(lambda s: sorted(set(s)))
    assert status["diverges"] == ["diverged", "ok"] and status["raises"] == ["error"]
    summary = tables.summarise(results).set_index("model")
    assert summary.at["diverges", "n_diverged"] == 1 and summary.at["diverges", "n"] == 2
    assert summary.at["raises", "n_failed"] == 3 and summary.at["raises", "n_diverged"] == 0
    store = ResultsStore(tmp_path)
    before = store.done_keys({"diverged"})
    assert len(before) == 1 and not store.claim(next(iter(before)), retry_failed=True)
    store.close()
    paths = report(tmp_path, tmp_path)
    text = paths["markdown"].read_text()
    assert "1 training run(s) diverged" in text and "3 cell(s) broke" in text
