"""Reports: the statistics against scipy / statsmodels / Demšar's published numbers, the
tables against the cells they summarise, and the files against what a reader needs."""

import json
import re
import subprocess
import sys
from pathlib import Path
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from seqmodels import AutoRegressive, HiddenMarkovModel, KalmanFilter
from seqmodels.compare import compare, load_results, report
from seqmodels.compare import stats as cstats
from seqmodels.compare import tables
from seqmodels.compare.cli import main
from seqmodels.compare.markdown import escape, table
from seqmodels.compare.sections import SECTION_TITLES, build_sections
from seqmodels.compare.verdicts import judge, seed_test

from _estimators import LastValue, Raises  # tests/_estimators.py, on sys.path via conftest

EVIL = "<script>alert(1)</script> \"q\" 'x'"

MODELS = {"AR(1)": AutoRegressive(order=1), "AR(2)": AutoRegressive(order=2),
          "Kalman CV": KalmanFilter(model="constant_velocity", n_iter=10),
          "last value": LastValue(), EVIL: Raises(EVIL)}  # its message has markup and quotes
DATASETS = {"ar": ("ar", {"n_train": 8, "n_test": 4, "n_timesteps": 60}),
            "cv": ("constant_velocity", {"n_dims": 2, "n_train": 12, "n_test": 4,
                                         "n_timesteps": 40})}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small real run with a failing model, stored, and its report."""
    store = tmp_path_factory.mktemp("run")
    results = compare(MODELS, DATASETS, seeds=[0, 1, 2], store=store, progress=False)
    paths = report(store, store)
    return results, store, paths


# -- statistics against references -----------------------------------------------------------


def test_mean_interval_is_scipys_student_t_interval():
    values = np.array([1.3, 0.7, 2.2, 1.9, np.nan])
    interval = cstats.mean_interval(values, 0.9)
    finite = values[np.isfinite(values)]
    low, high = stats.t.interval(0.9, len(finite) - 1, loc=finite.mean(), scale=stats.sem(finite))
    assert interval.n == 4 and interval.std == pytest.approx(finite.std(ddof=1))
    assert (interval.low, interval.high) == pytest.approx((low, high))
    one = cstats.mean_interval([2.0])
    assert one.mean == 2.0 and np.isnan(one.std) and np.isnan(one.low)
    with pytest.raises(ValueError, match="confidence"):
        cstats.mean_interval([1.0, 2.0], confidence=95)


def test_paired_t_test_is_scipys_with_exact_degenerate_answers():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=7), rng.normal(size=7) + 0.4
    test = cstats.paired_t_test(a, b)
    reference = stats.ttest_rel(a, b)
    assert test.p_value == pytest.approx(reference.pvalue)
    assert test.statistic == pytest.approx(reference.statistic)
    assert test.difference == pytest.approx(np.mean(a - b))
    assert cstats.paired_t_test([1.0, 2.0], [1.0, 2.0]).p_value == 1.0  # identical
    assert cstats.paired_t_test([2.0, 3.0], [1.0, 2.0]).p_value == 0.0  # constant shift
    assert np.isnan(cstats.paired_t_test([1.0], [2.0]).p_value)          # untestable
    assert cstats.paired_t_test([1.0, np.nan, 3.0], [0.0, 1.0, 1.0]).n == 2
    with pytest.raises(ValueError, match="paired"):
        cstats.paired_t_test([1.0, 2.0], [1.0])


def test_holm_matches_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.005, np.nan])
    expected = multitest.multipletests(p[:5], method="holm")[1]
    adjusted = cstats.holm(p)
    assert adjusted[:5] == pytest.approx(expected) and np.isnan(adjusted[5])


def test_ranks_orient_by_metric_and_share_ties():
    scores = [[0.9, 0.7, 0.9], [1.0, 3.0, 2.0]]
    ranks = cstats.rank_scores(scores, greater_is_better=[True, False])
    assert ranks.tolist() == [[1.5, 3.0, 1.5], [1.0, 3.0, 2.0]]
    with pytest.raises(ValueError, match="finite"):
        cstats.rank_scores([[1.0, np.nan, 2.0]], True)


def test_friedman_matches_scipy_and_demsars_example():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(8, 4)) + np.array([0.0, 0.3, 0.6, 1.2])
    result = cstats.friedman_test(scores, greater_is_better=False)
    reference = stats.friedmanchisquare(*scores.T)
    assert result.statistic == pytest.approx(reference.statistic)
    assert result.p_value == pytest.approx(reference.pvalue)
    # without ties scipy's statistic is Demšar's closed form from the mean ranks
    chi2, _, f, p_f = cstats.friedman_from_ranks(result.mean_ranks, 8)
    assert chi2 == pytest.approx(result.statistic)
    assert f == pytest.approx(result.f_statistic) and p_f == pytest.approx(result.f_p_value)
    # Demšar (2006), section 3.2.2: four C4.5 variants on 14 data sets
    chi2, _, f, _ = cstats.friedman_from_ranks([3.143, 2.000, 2.893, 1.964], 14)
    assert chi2 == pytest.approx(9.28, abs=0.01) and f == pytest.approx(3.69, abs=0.01)
    assert stats.f.ppf(0.95, 3, 39) == pytest.approx(2.85, abs=0.01)  # his critical value
    with pytest.raises(ValueError, match="3 models"):
        cstats.friedman_test(scores[:, :2], False)


def test_nemenyi_critical_values_are_demsars_table():
    # Demšar (2006), Table 5(a): q_0.05 and q_0.10 for k = 2..10 classifiers
    q05 = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]
    q10 = [1.645, 2.052, 2.291, 2.459, 2.589, 2.693, 2.780, 2.855, 2.920]
    for k, (a, b) in enumerate(zip(q05, q10), start=2):
        assert cstats.nemenyi_q(k, 0.05) == pytest.approx(a, abs=2e-3)
        assert cstats.nemenyi_q(k, 0.10) == pytest.approx(b, abs=2e-3)
    assert cstats.critical_difference(4, 14) == pytest.approx(1.25, abs=0.005)
    with pytest.raises(ValueError, match="n_models"):
        cstats.nemenyi_q(1)


def test_nemenyi_critical_difference_agrees_with_scikit_posthocs():
    """A pair of models is significantly different by scikit-posthocs' Nemenyi test exactly
    where their mean ranks differ by at least our critical difference."""
    posthocs = pytest.importorskip("scikit_posthocs")
    for seed in range(4):
        rng = np.random.default_rng(seed)
        scores = rng.normal(size=(12, 5)) + np.linspace(0, 2.5, 5)  # blocks x models
        ranks = cstats.rank_scores(scores, greater_is_better=False).mean(axis=0)
        cd = cstats.critical_difference(5, 12)
        p = posthocs.posthoc_nemenyi_friedman(scores).to_numpy()
        for i in range(5):
            for j in range(i + 1, 5):
                gap = abs(ranks[i] - ranks[j])
                if abs(gap - cd) > 1e-6:
                    assert (p[i, j] < 0.05) == (gap > cd), (seed, i, j, gap, cd, p[i, j])


def test_cliques_are_maximal_groups_within_the_critical_difference():
    assert cstats.cliques([1.0, 1.5, 3.0, 3.2], 1.0) == [(0, 1), (2, 3)]
    assert cstats.cliques([2.0, 1.0, 1.4, 1.8], 1.0) == [(1, 2, 3), (2, 3, 0)]  # 2 - 1 = CD
    assert cstats.cliques([1.9, 1.0, 1.4, 1.8], 1.0) == [(1, 2, 3, 0)]
    assert cstats.cliques([1.0, 2.0, 3.0], 0.5) == []
    assert cstats.cliques([1.0, 1.6, 2.2], 1.0) == [(0, 1), (1, 2)]


# -- tables against the cells --------------------------------------------------------------


def test_summary_is_mean_sample_std_and_t_interval_over_seeds(run):
    results, _, _ = run
    summary = tables.summarise(results)
    row = summary[(summary["panel"] == "cv") & (summary["model"] == "AR(2)")].iloc[0]
    cells = results[(results["dataset"] == "cv") & (results["model"] == "AR(2)")]
    values = cells["headline"].to_numpy()
    assert row["n"] == 3 and row["headline"] == pytest.approx(values.mean())
    assert row["headline_std"] == pytest.approx(values.std(ddof=1))
    # an RMSE's interval is Student-t on the log scale (delta method): never below zero
    half = stats.t.ppf(0.975, 2) * stats.sem(values) / values.mean()
    expected = values.mean() * np.exp(-half), values.mean() * np.exp(half)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(expected)
    # tracking's headline is position RMSE, not the R² the score column holds
    assert row["metric_label"] == "position RMSE" and row["headline"] != row["score"]


def test_best_is_marked_and_others_are_tested_against_it_paired_over_seeds(run):
    results, _, _ = run
    summary = tables.summarise(results)
    ar = summary[(summary["panel"] == "ar") & (summary["kind"] == "model")]
    finished = ar[ar["n"] > 0]
    best = finished.loc[finished["headline"].idxmin()]
    assert best["vs_best"] == "best" and best["rank"] == 1
    assert list(finished.sort_values("rank")["model"]) == \
        list(finished.sort_values("headline")["model"])
    ok = results[(results["dataset"] == "ar") & (results["status"] == "ok")
                 & ~results["is_oracle"]]
    by_seed = ok.pivot(index="data_seed", columns="model", values="headline")
    others = [m for m in finished["model"] if m != best["model"]]
    raw = [stats.ttest_rel(by_seed[m], by_seed[best["model"]]).pvalue for m in others]
    expected = pytest.importorskip("statsmodels.stats.multitest").multipletests(
        raw, method="holm")[1]
    got = finished.set_index("model").loc[others, "p_value"].to_numpy()
    assert got == pytest.approx(expected)
    best_cells = ok[ok["model"] == best["model"]].set_index("data_seed")
    for model, p in zip(others, expected):
        # the rule of seqmodels.compare.verdicts, from the cells by hand
        mine = ok[ok["model"] == model].set_index("data_seed")
        per_sequence = [mine.at[s, "seq_headline"] - best_cells.at[s, "seq_headline"]
                        for s in mine.index]
        seeds = (mine["headline"] - best_cells.loc[mine.index, "headline"]).to_numpy()
        verdict = judge(per_sequence, seeds, 0.05 * best["headline"], p)
        row = finished.set_index("model").loc[model]
        assert (row["vs_best"], row["vs_best_note"]) == (verdict.verdict, verdict.note)
        if all(seed_test(d) == 1 for d in per_sequence) or p < 0.05:
            assert row["vs_best"] == "worse"
    failed = summary[summary["model"] == EVIL]
    assert (failed["n"] == 0).all() and (failed["n_failed"] == 3).all()
    oracle = summary[summary["kind"] == "oracle"]
    assert set(oracle["panel"]) == {"ar", "cv"} and oracle["rank"].isna().all()


def test_gap_interval_pools_paired_per_sequence_differences(run):
    results, _, _ = run
    gaps = tables.oracle_gap_table(results)
    row = gaps[(gaps["panel"] == "cv") & (gaps["model"] == "AR(1)")].iloc[0]
    cv = results[results["dataset"] == "cv"]
    differences = []
    for seed in (0, 1, 2):
        mine = cv[(cv["model"] == "AR(1)") & (cv["data_seed"] == seed)]["seq_headline"].iloc[0]
        oracle = cv[cv["is_oracle"] & (cv["data_seed"] == seed)]["seq_headline"].iloc[0]
        differences.append(mine - oracle)
    d = np.concatenate(differences)
    low, high = stats.t.interval(0.95, d.size - 1, loc=d.mean(), scale=stats.sem(d))
    assert row["n_sequences"] == d.size == 12
    assert (row["paired_low"], row["paired_high"]) == pytest.approx((low, high))
    model = cv[(cv["model"] == "AR(1)")].sort_values("data_seed")["headline"].to_numpy()
    oracle = cv[cv["is_oracle"]].sort_values("data_seed")["headline"].to_numpy()
    assert row["gap"] == pytest.approx(np.mean(model - oracle))
    assert row["gap_relative"] == pytest.approx(np.mean((model - oracle) / oracle))
    per_seed = [seed_test(d) for d in differences]
    if all(r == 1 for r in per_seed):
        assert row["verdict"] == "worse"
    assert row["verdict"] in ("worse", "better", "tied", "can't tell")


def test_ranks_across_datasets_use_complete_models_and_scipys_friedman(run):
    results, _, _ = run
    ranks = tables.ranks_across_datasets(results)
    assert set(ranks.scores.columns) == {"AR(1)", "AR(2)", "Kalman CV"}
    assert set(ranks.excluded) == {"last value", EVIL}
    ok = results[(results["status"] == "ok") & ~results["is_oracle"]]
    means = ok.groupby(["dataset", "model"])["headline"].mean().unstack()[ranks.scores.columns]
    reference = stats.friedmanchisquare(*means.to_numpy().T)
    assert ranks.friedman.statistic == pytest.approx(reference.statistic)
    assert ranks.cd == pytest.approx(cstats.critical_difference(3, 2))
    assert ranks.mean_ranks.is_monotonic_increasing


def test_cost_growth_exponent_is_the_log_log_slope_of_seconds_per_sequence():
    rows = []
    for length in (30, 60, 120):
        for seed in (0, 1):
            for model, power in (("quadratic", 2.0), ("linear", 1.0)):
                rows.append(dict(status="ok", is_oracle=False, dataset="copy", model=model,
                                 train_size=np.nan, data_seed=seed, n_train=50, n_test=10,
                                 fit_seconds=50 * 1e-4 * length ** power,
                                 predict_seconds=10 * 2e-5 * length ** power,
                                 seq_steps=np.full(10, length)))
            rows.append(dict(rows[-1], dataset="fixed length", seq_steps=np.full(10, 40)))
    rows.append(dict(rows[0], status="error", fit_seconds=np.nan, seq_steps=None))
    growth = tables.cost_growth_table(pd.DataFrame(rows)).set_index("model")
    assert list(growth.index) == ["quadratic", "linear"]      # one length: no exponent
    assert growth.loc["quadratic", "fit_exponent"] == pytest.approx(2.0)
    assert growth.loc["linear", "predict_exponent"] == pytest.approx(1.0)
    assert growth.loc["quadratic", "fit_long"] == pytest.approx(1e-4 * 120 ** 2)
    assert growth.loc["linear", "n"] == 6 and growth.loc["linear", "shortest"] == 30


def test_baselines_are_reference_rows_and_tagging_shows_accuracy_once(tmp_path):
    results = compare({"HMM, label states": HiddenMarkovModel()},
                      ("delayed_xor", {"n_train": 40, "n_test": 10, "length": 20, "lag": 2}),
                      seeds=[0, 1], progress=False)
    assert json.loads(results["baselines"].iloc[0]) == {"accuracy": 0.5}
    summary = tables.summarise(results)
    baseline = summary[summary["kind"] == "baseline"].iloc[0]
    assert baseline["headline"] == 0.5 and baseline["accuracy"] == 0.5
    paths = report(results, tmp_path)
    text = paths["markdown"].read_text()
    header = next(line for line in text.splitlines() if line.startswith("| #"))
    assert header.count("accuracy") == 1 and "R²" not in header and "RMSE" not in header
    assert "chance baseline: accuracy = 0.5" in text


def test_columns_without_values_are_left_out(tmp_path):
    results = compare({"last value": LastValue()}, DATASETS["ar"], seeds=[0, 1],
                      oracle=False, progress=False)
    paths = report(results, tmp_path)
    text = paths["markdown"].read_text()
    header = next(line for line in text.splitlines() if line.startswith("| #"))
    assert "NLL" not in header and "R²" in header and "RMSE (mean" in header
    ids = [s.id for s in build_sections(results)]
    assert ids == ["summary", "trajectories", "cost", "run"]  # no oracle, no std, no history


# -- the files ----------------------------------------------------------------------------------


def test_report_writes_three_files_and_one_png_per_figure(run):
    results, store, paths = run
    assert {p.name for p in store.iterdir()} >= {"report.html", "report.md", "results.csv",
                                                 "figures"}
    html = paths["html"].read_text()
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert len(sources) == len(paths["figures"]) >= 7
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    for figure in paths["figures"]:
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({figure.relative_to(store).as_posix()})" in paths["markdown"].read_text()
    csv = pd.read_csv(paths["csv"])
    assert len(csv) == len(results) and {"gap", "gap_relative", "traceback"} <= set(csv.columns)


def test_html_is_self_contained_and_escapes_labels_and_errors(run):
    _, _, paths = run
    html = paths["html"].read_text()
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &#34;q&#34; &#39;x&#39;" in html
    assert not re.search(r'(src|href)="(?!data:|#)', html)  # nothing fetched, no links out
    assert "<link" not in html and "@import" not in html and "url(" not in html


def test_html_has_every_section_the_run_has_data_for(run):
    results, _, paths = run
    html = paths["html"].read_text()
    expected = ["summary", "oracle-gap", "ranks", "trajectories", "training", "cost", "fitted",
                "calibration", "warnings", "failures", "run"]
    assert [s.id for s in build_sections(results)] == expected
    positions = [html.index(f'<section id="{s}">') for s in expected]
    assert positions == sorted(positions)
    assert 'id="curves"' not in html  # no axis was varied
    for section in expected:
        assert f'href="#{section}"' in html  # in the table of contents


def test_run_metadata_comes_from_the_store(run):
    _, _, paths = run
    html = paths["html"].read_text()
    for text in ("command", "Python", f"{sys.version_info.major}.{sys.version_info.minor}",
                 "numpy", "cores", "duration"):
        assert text in html


def test_markdown_reads_as_plain_text(run):
    _, _, paths = run
    text = paths["markdown"].read_text()
    assert not re.search(r"(?<!\\)<(?=[A-Za-z/!?])", text)  # every tag-like < is escaped
    assert r"\<script>alert(1)\</script>" in text
    blocks = re.findall(r"((?:^\|.*\n)+)", text, flags=re.M)
    assert len(blocks) >= 6
    for block in blocks:  # every table's columns line up in a fixed-width font
        lines = block.splitlines()
        assert len({len(line) for line in lines}) == 1, lines[0]
        assert re.fullmatch(r"\|(-+:?\|)+", lines[1])
    assert max(len(line) for line in text.splitlines() if not line.startswith(("|", "!"))) <= 100


def test_markdown_helpers_escape_and_align():
    assert escape("a|b <i>*c*</i>\n[d] p < 1") == r"a\|b \<i>\*c\*\</i> [d] p < 1"
    assert escape("[x](http://e.com)") == r"\[x\](http://e.com)"
    assert table(["x", "value"], [["a", "1"], ["bb", "22"]], ["l", "r"]).splitlines() == [
        "| x   | value |", "|-----|------:|", "| a   |     1 |", "| bb  |    22 |"]


def test_seqcompare_report_rewrites_the_report_from_the_store(run, capsys):
    _, store, paths = run
    paths["html"].unlink()
    assert main(["report", str(store)]) == 0
    out = capsys.readouterr().out
    assert "report.html" in out and paths["html"].is_file()
    assert load_results(store).shape[0] == len(run[0])


def test_results_must_be_a_frame_or_a_store(tmp_path):
    with pytest.raises(TypeError, match="results must be"):
        report(42, tmp_path)
    with pytest.raises(ValueError, match="no results store"):
        report(tmp_path / "nothing", tmp_path)
    with pytest.raises(ValueError, match="empty"):
        report(pd.DataFrame(columns=["status"]), tmp_path)


def test_importing_seqmodels_does_not_import_matplotlib():
    code = ("import sys, seqmodels, seqmodels.compare; "
            "print('matplotlib' in sys.modules, 'jinja2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_a_suite_description_renders_its_markdown_safely(tmp_path):
    results = compare({"AR(1)": AutoRegressive(order=1)},
                      ("ar", {"n_train": 4, "n_test": 2, "n_timesteps": 40}), progress=False)
    description = ("First <b>paragraph</b>.\n\n* **bold** point\n  continued\n"
                   "* `code` <script>alert(2)</script>")
    paths = report(results, tmp_path, title="T <i>", description=description)
    html = paths["html"].read_text()
    assert "<li><strong>bold</strong> point continued</li>" in html
    assert "<code>code</code> &lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "<b>" not in html and "<title>T &lt;i&gt;</title>" in html
    # The Markdown subset stays as the author wrote it; HTML in it shows as text.
    assert ("First \\<b>paragraph\\</b>.\n\n* **bold** point\n  continued\n"
            "* `code` \\<script>alert(2)\\</script>") in paths["markdown"].read_text()


def test_mse_baselines_become_rmse_reference_values():
    frame = pd.DataFrame({"baselines": ['{"mse": 0.25, "mse_one_value_remembered": 0.04}'],
                          "metric": ["success_rate"]})
    rows = tables.baseline_rows(frame)
    assert [r["rmse"] for r in rows] == pytest.approx([0.5, 0.2])
    assert all("headline" not in r for r in rows)  # the headline is a success rate
    frame["metric"] = ["rmse"]
    assert [r["headline"] for r in tables.baseline_rows(frame)] == pytest.approx([0.5, 0.2])


def test_fitted_parameters_section_shows_small_learned_parameters(tmp_path):
    """A local level's Q_ and R_ appear as fitted; a model with many numbers does not."""
    from seqmodels import AutoRegressive, KalmanFilter
    from seqmodels.compare import compare, report
    from seqmodels.compare.tables import fitted_parameter_table

    results = compare({"level": KalmanFilter(model="local_level", method="mle"),
                       "AR(2)": AutoRegressive(order=2),
                       "KF(4)": KalmanFilter(n_dim_state=4, n_iter=3)},
                      ("nile", {"in_sample": True}), progress=False)
    table = fitted_parameter_table(results)
    level = table[table["model"] == "level"].set_index("parameter")["value"]
    assert float(level["Q_"].ravel()[0]) == pytest.approx(1469.1, rel=0.002)
    assert float(level["R_"].ravel()[0]) == pytest.approx(15099, rel=0.002)
    assert set(table["model"]) == {"level", "AR(2)"}  # KF(4) learned dozens of numbers
    paths = report(results, tmp_path)
    text = paths["markdown"].read_text()
    assert "## Fitted parameters" in text and "1469.2" in text


# -- hostile text -------------------------------------------------------------------------------

HOSTILE_TITLE = "<script>alert(1)</script> \"quotes' & <img src=x onerror=alert(1)> #"
HOSTILE_DESCRIPTION = """\
Intro <script>alert(2)</script> and <img src=x onerror=alert(2)> &lt;b&gt;.

# Not a heading
> not a quote
[click](javascript:alert(2)) and ![pixel](http://tracker.example/p.png)
<div onmouseover="alert(2)">hover</div>
~~~
not a fence
| not | a table |
|-----|---------|

* **bold** stays, `code <b>` stays
* [ref]: javascript:alert(2)
1. not a numbered list
"""
HOSTILE_MODELS = ["<script>alert(3)</script>", "<img src=x onerror=alert(3)> \"q' &amp;",
                  "[x](javascript:alert(3)) *em* _u_ ~~s~~ $m$ | pipe",
                  "line\n# heading\n> quote\n- item"]
HOSTILE_DATASETS = ["<img src=x onerror=alert(4)> ar", "[d](javascript:alert(4)) ../../evil"]
# A registered model whose error message repeats a hostile parameter value.
HOSTILE_ERROR = "got '<img src=x onerror=alert(5)>'"

# What the report template itself emits: any other tag or attribute came from the data.
_TEMPLATE_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "header", "h1", "p",
                  "div", "ul", "li", "strong", "em", "code", "nav", "h2", "ol", "a", "section",
                  "h3", "table", "thead", "tr", "th", "tbody", "td", "figure", "img",
                  "figcaption", "details", "summary", "pre"}
_TEMPLATE_ATTRIBUTES = {"lang", "charset", "name", "content", "class", "id", "href", "src", "alt",
                        "aria-label"}


def _hostile_suite(tmp_path):
    def toml(value):
        return json.dumps(value)  # a JSON string is a TOML basic string

    models = "".join(f'[[models]]\nlabel = {toml(label)}\nestimator = "AutoRegressive"\n'
                     f"params = {{ order = {i + 1} }}\n\n"
                     for i, label in enumerate(HOSTILE_MODELS))
    models += ('[[models]]\nlabel = "HMM with a bad emission"\nestimator = "HiddenMarkovModel"\n'
               'params = { emission = "<img src=x onerror=alert(5)>" }\n')
    datasets = "".join(f'[[datasets]]\nname = "ar"\nlabel = {toml(label)}\n'
                       f"params = {{ n_train = 4, n_test = 3, n_timesteps = {40 + 10 * i} }}\n\n"
                       for i, label in enumerate(HOSTILE_DATASETS))
    path = tmp_path / "hostile.toml"
    path.write_text(f"title = {toml(HOSTILE_TITLE)}\ndescription = {toml(HOSTILE_DESCRIPTION)}\n"
                    f"seeds = [0, 1]\n\n{datasets}{models}")
    return path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A suite whose every text is hostile, run and reported by seqcompare."""
    folder = tmp_path_factory.mktemp("hostile")
    suite = _hostile_suite(folder)
    output = folder / "out"
    assert main(["run", str(suite), "--output", str(output), "--progress", "none"]) == 1
    return folder, output


class _Elements(HTMLParser):
    """Every element of a page with its attributes, and its text as a browser shows it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def test_hostile_suite_text_reaches_report_html_only_as_text(hostile):
    _, output = hostile
    page = _Elements()
    page.feed((output / "report.html").read_text())
    tags = [tag for tag, _ in page.elements]
    assert set(tags) <= _TEMPLATE_TAGS, set(tags) - _TEMPLATE_TAGS
    assert "script" not in tags and tags.count("style") == 1 and tags.count("title") == 1
    for tag, attributes in page.elements:
        assert set(attributes) <= _TEMPLATE_ATTRIBUTES, (tag, attributes)
        assert not any(name.startswith("on") for name in attributes), (tag, attributes)
        if "href" in attributes:
            assert attributes["href"].startswith("#"), attributes
        if tag == "img":
            assert attributes["src"].startswith("data:image/png;base64,"), attributes
    # the description's Markdown subset, and nothing else, became markup
    assert [a.get("class") for t, a in page.elements if t == "div"].count("description") == 1
    assert tags.count("strong") == 1 and tags.count("em") == 0
    text = "".join(page.text)
    for hostile_text in [HOSTILE_TITLE, HOSTILE_ERROR, *HOSTILE_MODELS, *HOSTILE_DATASETS,
                         "<script>alert(2)</script>", "[click](javascript:alert(2))",
                         '<div onmouseover="alert(2)">', "&lt;b&gt;", "# Not a heading"]:
        shown = " ".join(hostile_text.split())
        assert shown in " ".join(text.split()), f"{hostile_text!r} is not shown as text"


def _markdown_tokens(text):
    markdown_it = pytest.importorskip("markdown_it")
    parser = markdown_it.MarkdownIt("commonmark", {"html": True}).enable(
        ["table", "strikethrough"])
    tokens = []
    for token in parser.parse(text):
        tokens.append(token)
        tokens.extend(token.children or [])
    return tokens


def _shown(inline):
    """The text a reader sees of an inline token (escapes resolved)."""
    return "".join(" " if child.type in ("softbreak", "hardbreak") else child.content
                   for child in inline.children or [])


def test_hostile_suite_text_reaches_report_md_only_as_text(hostile):
    """report.md parsed by a CommonMark parser (GitHub's tables and strikethrough on, raw
    HTML allowed): no HTML, link, image, heading, quote, list or fence comes from the data."""
    _, output = hostile
    text = (output / "report.md").read_text()
    tokens = _markdown_tokens(text)
    kinds = {token.type for token in tokens}
    for forbidden in ("html_block", "html_inline", "fence", "code_block", "blockquote_open",
                      "hr", "s_open", "em_open"):
        assert forbidden not in kinds, forbidden
    assert [t.type for t in tokens].count("ordered_list_open") == 1  # the contents
    links = [t.attrs["href"] for t in tokens if t.type == "link_open"]
    assert links and all(href.startswith("#") for href in links)  # the table of contents
    images = [t.attrs["src"] for t in tokens if t.type == "image"]
    assert images and all(re.fullmatch(r"figures/\d{2}-[a-z0-9-]+\.png", s) for s in images)
    headings = [(t.tag, _shown(tokens[i + 1])) for i, t in enumerate(tokens)
                if t.type == "heading_open"]
    assert [content for tag, content in headings if tag == "h1"] == [HOSTILE_TITLE]
    assert {content for tag, content in headings if tag == "h2"} <= set(SECTION_TITLES.values())
    assert [t.content for t in tokens if t.type == "code_inline"] == ["code <b>"]
    strong = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "strong_open"]
    assert strong == ["bold"]
    shown = " ".join(" ".join(_shown(t) for t in tokens if t.type == "inline").split())
    for hostile_text in [HOSTILE_TITLE, HOSTILE_ERROR, *HOSTILE_MODELS, *HOSTILE_DATASETS,
                         "<script>alert(2)</script>", "[click](javascript:alert(2))",
                         "# Not a heading", "> not a quote", "1. not a numbered list"]:
        assert " ".join(hostile_text.split()) in shown, f"{hostile_text!r} is not shown as text"


def test_hostile_labels_write_no_file_outside_the_output_folder(hostile):
    folder, output = hostile
    assert {p.name for p in folder.iterdir()} == {"hostile.toml", "out"}
    figures = [p for p in (output / "figures").iterdir() if p.name != ".report-figures"]
    assert figures and all(re.fullmatch(r"\d{2}-[a-z0-9-]+\.png", p.name) for p in figures)
    written = {p.name for p in output.iterdir()}
    assert {"results.sqlite", "results.csv", "report.html", "report.md", "figures"} <= written
    assert written <= {"results.sqlite", "results.sqlite-wal", "results.sqlite-shm",
                       "results.csv", "report.html", "report.md", "figures"}


_MARKDOWN_PIECES = ["<script>", "<b>", "</b>", "<div onmouseover=x>", "<http://e.x>", "&lt;",
                    "`", "``", "\\", "*", "**", "_", "~~", "[", "]", "(", ")", ":", "!", "|",
                    "#", "> ", "- ", "* ", "+ ", "1. ", "2) ", "---", "===", "~~~", "```",
                    "[^1]: ", "a", "x y", " ", "   ", "\n", "\n\n", "\n  ", "\t", "\r",
                    "\u00a0", "\u2028", "\x0c"]


def test_description_markdown_lets_only_its_subset_through():
    """Random Markdown through description_markdown, parsed as CommonMark with raw HTML on:
    only paragraphs, bullets, bold, emphasis and code spans come out, never a tag, link,
    image, heading, quote, numbered list, fence, rule or table."""
    hypothesis = pytest.importorskip("hypothesis")
    strategies = hypothesis.strategies
    from seqmodels.compare.markdown import description_markdown

    allowed = {"paragraph_open", "paragraph_close", "bullet_list_open", "bullet_list_close",
               "list_item_open", "list_item_close", "inline", "text", "softbreak", "hardbreak",
               "strong_open", "strong_close", "em_open", "em_close", "code_inline",
               "code_block"}  # an indented block shows its text literally

    @hypothesis.settings(max_examples=400, deadline=None, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(strategies.lists(strategies.sampled_from(_MARKDOWN_PIECES), max_size=30))
    @hypothesis.example(["`a\n<div onmouseover=x>\nb`"])  # blocks come before code spans
    @hypothesis.example(["\\\\`x` <b> `y`"])  # an escaped backslash, then a real code span
    @hypothesis.example(["`<b>``"])  # runs of different lengths do not pair
    @hypothesis.example(["``a`<b>`"])
    @hypothesis.example(["`a\n\n<b>`"])  # no code span across paragraphs
    @hypothesis.example(["`a | <b>\n|--|--|\nb`"])  # nor a table in one
    @hypothesis.example(["* `a\n* <b>`"])  # nor across list items
    @hypothesis.example(["`a\u2028* b` <b> `c`"])  # not a line end for Markdown
    @hypothesis.example(["`a\n\u00a0\nb` <b> `c`"])  # nor a blank line
    def check(pieces):
        text = "".join(pieces)
        tokens = _markdown_tokens(description_markdown(text))
        kinds = {token.type for token in tokens}
        assert kinds <= allowed, (text, kinds - allowed)

    check()


def test_report_text_shows_literally_in_markdown_whatever_it_holds():
    """Random text as a title, paragraph, bullet, heading and table cell of report.md:
    CommonMark (raw HTML on) shows each exactly as written, whitespace collapsed, and
    builds nothing from it (the contents list and the table are the writer's own)."""
    hypothesis = pytest.importorskip("hypothesis")
    strategies = hypothesis.strategies
    from seqmodels.compare.markdown import render_markdown
    from seqmodels.compare.sections import Bullets, Heading, Paragraph, Section, Table

    pieces = [p for p in _MARKDOWN_PIECES if p.strip()] + ["p < 0.05", "[0.1, 0.2]", "n_train",
                                                           "&amp;", "$x$", "–"]
    allowed = {"heading_open", "heading_close", "paragraph_open", "paragraph_close", "inline",
               "text", "softbreak", "bullet_list_open", "bullet_list_close", "list_item_open",
               "list_item_close", "ordered_list_open", "ordered_list_close", "link_open",
               "link_close", "table_open", "table_close", "thead_open", "thead_close",
               "tbody_open", "tbody_close", "tr_open", "tr_close", "th_open", "th_close",
               "td_open", "td_close"}

    @hypothesis.settings(max_examples=150, deadline=None, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(strategies.lists(strategies.sampled_from(pieces), min_size=1,
                                       max_size=40).map(" ".join))
    @hypothesis.example("# a\n> b\n- c\n1. d\n```\n<b>\n---\n===\n[e]: f")
    def check(text):
        section = Section("s", "S", [Paragraph(text * 3), Bullets([text * 3]), Heading(text),
                                     Table(["c"], [[text]])])
        tokens = _markdown_tokens(render_markdown(text, "", [section], {}))
        assert {t.type for t in tokens} <= allowed, (text, {t.type for t in tokens} - allowed)
        assert [t.type for t in tokens].count("link_open") == 1  # the contents' own link
        shown = [" ".join(_shown(t).split()) for t in tokens if t.type == "inline"]
        expected = " ".join(text.split())
        assert shown == [expected, "Contents:", "S", "S", " ".join((text * 3).split()),
                         " ".join((text * 3).split()), expected, "c", expected], text

    check()


def test_a_report_removes_only_its_own_old_figures_and_defuses_spreadsheet_formulas(tmp_path):
    from seqmodels import AutoRegressive
    from seqmodels.compare import compare, report

    results = compare({"=HYPERLINK(\"x\")": AutoRegressive(order=1),
                       "-AR": AutoRegressive(order=2)},
                      ("ar", {"n_train": 4, "n_test": 2, "n_timesteps": 30}), seeds=[0, 1],
                      progress=False, store=tmp_path / "s")
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    mine = out / "figures" / "01-my-own-chart.png"
    mine.write_bytes(b"not the report's")
    first = report(results, out)
    assert mine.read_bytes() == b"not the report's"          # a user's file stays
    second = report(results, out)
    assert mine.exists() and sorted(second["figures"]) == sorted(first["figures"])
    written = {p.name for p in (out / "figures").glob("*.png")}
    assert written == {p.name for p in map(Path, second["figures"])} | {mine.name}
    import csv

    with open(first["csv"], newline="") as handle:
        models = {row["model"] for row in csv.DictReader(handle)}
    assert "'=HYPERLINK(\"x\")" in models and "'-AR" in models and "oracle" in models
