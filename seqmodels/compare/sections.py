"""The content of a report: sections of headings, text, tables and figures, format-free.

:func:`build_sections` turns results into a list of :class:`Section`; the writers in
:mod:`seqmodels.compare.report` render the same list as HTML and as Markdown. A
section is present only when the run has the data for it. Text here is plain: the
HTML template escapes it, the Markdown writer escapes what Markdown would interpret.
"""

import math
import re
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import plots
from .stats import MIN_INTERVAL_VALUES
from .verdicts import DEFAULT_ROPE, MIN_SEEDS
from .tables import (attention_examples, attention_table, calibration_table, cost_growth_table,
                     cost_table, curve_axes, failure_table, fitted_parameter_table,
                     gradient_table, oracle_gap_table, ranks_across_datasets, summarise,
                     warning_table)

__all__ = ["Section", "Paragraph", "Bullets", "Heading", "Table", "Plot", "Details",
           "build_sections", "SECTION_TITLES"]

#: Section id -> title, in the order a report shows them.
SECTION_TITLES = {
    "summary": "Summary per dataset",
    "oracle-gap": "Gap to the oracle",
    "ranks": "Across datasets",
    "curves": "Curves",
    "trajectories": "Example trajectories",
    "training": "Training curves",
    "gradients": "Gradient flow",
    "attention": "Attention",
    "cost": "Cost",
    "fitted": "Fitted parameters",
    "calibration": "Calibration",
    "failures": "Cells without a result",
    "warnings": "Fits that stopped short",
    "run": "Run",
}


@dataclass
class Paragraph:
    text: str
    kind: str = "paragraph"


@dataclass
class Bullets:
    items: list
    kind: str = "bullets"


@dataclass
class Heading:
    text: str
    kind: str = "heading"


@dataclass
class Table:
    """Rows of already formatted cells; ``align`` is ``"l"`` or ``"r"`` per column;
    ``row_classes`` marks rows (``"reference"``, ``"best"``, ``"tied"``)."""

    columns: list
    rows: list
    align: list = None
    row_classes: list = None
    nowrap: tuple = ()
    kind: str = "table"

    def __post_init__(self):
        self.align = self.align or ["l"] * len(self.columns)
        self.row_classes = self.row_classes or [""] * len(self.rows)

    def cell_class(self, j):
        """CSS classes of column ``j``: its alignment, and ``nowrap`` where asked."""
        return self.align[j] + (" nowrap" if j in self.nowrap else "")


@dataclass
class Plot:
    """A figure: ``draw(figure)`` fills a matplotlib Figure of ``size`` inches."""

    name: str
    caption: str
    size: tuple
    draw: Callable
    kind: str = "plot"


@dataclass
class Details:
    """Collapsible preformatted text (a traceback)."""

    summary: str
    text: str
    kind: str = "details"


@dataclass
class Section:
    id: str
    title: str
    blocks: list = field(default_factory=list)


# -- formatting ---------------------------------------------------------------------------


def _ok(value):
    return value is not None and isinstance(value, (int, float, np.number)) \
        and math.isfinite(value)


def num(value, digits=3):
    """Three significant figures; an en dash for no value."""
    if not _ok(value):
        return "–"
    if float(value).is_integer() and abs(value) < 1e6:
        return f"{int(value)}"
    return f"{value:.{digits}g}"


def pm(mean, std):
    """``mean ± std`` (the std to two significant figures)."""
    if not _ok(mean):
        return "–"
    return num(mean) + (f" ± {std:.2g}" if _ok(std) else "")


def interval(low, high):
    return f"[{num(low)}, {num(high)}]" if _ok(low) and _ok(high) else "–"


def _interval_cell(row):
    """The summary's interval, or why there is none."""
    if _ok(row["ci_low"]) and _ok(row["ci_high"]):
        return interval(row["ci_low"], row["ci_high"])
    if row["kind"] != "baseline" and _ok(row["n"]) and 0 < row["n"] < MIN_INTERVAL_VALUES:
        return f"– ({num(row['n'])} seed{'s' if row['n'] != 1 else ''}: too few)"
    return "–"


def percent(fraction, signed=True):
    if not _ok(fraction):
        return "–"
    value = 100 * fraction
    return (f"{value:+.3g} %" if signed else f"{value:.3g} %")


def p_text(p):
    if not _ok(p):
        return "–"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def seconds(value):
    return "–" if not _ok(value) else f"{value:.3g} s"


def slug(text):
    """A file-name and anchor-safe form of any label."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:50] or "x"


def _direction(greater_is_better):
    return "higher is better" if greater_is_better else "lower is better"


# -- sections -------------------------------------------------------------------------------

_SECONDARY = (("accuracy", "accuracy"), ("rmse", "RMSE"), ("score", "R²"),
              ("nll_per_step", "NLL per step"))


def _repeats(values, other):
    """Whether ``values`` adds nothing to ``other``: equal wherever it has a value."""
    mine = np.isfinite(values)
    return bool(np.isfinite(other[mine]).all()
                and np.allclose(values[mine], other[mine], rtol=1e-9, atol=0))


def _secondary_columns(rows):
    """Secondary metrics worth a column: some value, and not a repeat of one shown already."""
    shown = [rows["headline"].to_numpy(dtype=float)]
    keep = []
    for column, label in _SECONDARY:
        values = rows[column].to_numpy(dtype=float)
        if not np.isfinite(values).any():
            continue
        if any(_repeats(values, other) for other in shown):
            continue
        if column == "rmse" and rows["metric_label"].iloc[0] != "RMSE":
            label = "RMSE, all targets"
        shown.append(values)
        keep.append((column, label))
    return keep


def _verdict(row):
    if row["kind"] != "model":
        return "reference"
    if not _ok(row["headline"]):
        diverged, failed = int(row["n_diverged"] or 0), int(row["n_failed"] or 0)
        parts = ([f"{diverged} diverged"] if diverged else []) + \
            ([f"{failed} failed"] if failed else [])
        return f"no result ({', '.join(parts)})" if parts else "no result"
    if row["vs_best"] == "best":
        return "best"
    if row["vs_best"] in ("worse", "better", "tied", "can't tell", "untested"):
        return _with_note(row["vs_best"], row["vs_best_note"])
    return row["vs_best"] or "–"


def _names(rows, verdict):
    return rows.loc[rows["vs_best"] == verdict, "model"].tolist()


def _summary_line(panel, models):
    """One sentence per panel; it names every model by the verdict of the table below."""
    best = models[models["vs_best"] == "best"]
    if best.empty:
        return f"{panel}: no model finished."
    best = best.iloc[0]
    text = f"{panel}: best {best['model']} ({best['metric_label']} {num(best['headline'])})"
    others = models[models["vs_best"] != "best"]
    groups = [("tied with it (practically equivalent)", "tied"),
              ("can't tell from it", "can't tell"),
              ("worse", "worse"), ("better on the seeds' test sets", "better"),
              ("not compared (no shared seed)", "untested")]
    said = [f"{words}: {', '.join(_names(others, verdict))}" for words, verdict in groups
            if _names(others, verdict)]
    if said:
        text += "; " + "; ".join(said)
    n_seeds = int(best["n"])
    if n_seeds < MIN_SEEDS and len(others):
        text += (f" ({n_seeds} seed{'s' if n_seeds != 1 else ''}: too few to measure training "
                 "variability, so no model can be called tied)")
    if _ok(best["gap_relative"]):
        text += f"; its gap to the oracle {percent(best['gap_relative'])}"
    return text + "."


def _model_cell(row):
    if row["kind"] == "oracle":
        estimator = f"{row['estimator']}, " if isinstance(row["estimator"], str) else ""
        return f"oracle ({estimator}true parameters)"
    if row["kind"] == "baseline":
        return row["model"].replace("baseline: ", "chance baseline: ")
    return row["model"]


def _rope_text(rows):
    best = rows[rows["vs_best"] == "best"]
    if best.empty or not _ok(best["rope"].iloc[0]):
        return ""
    kind, width = DEFAULT_ROPE.get(best["metric"].iloc[0], ("relative", 0.05))
    share = f" ({100 * width:g} %)" if kind == "relative" else ""
    return f"; ROPE ±{num(best['rope'].iloc[0])}{share}"


def _summary_section(summary, alpha, confidence):
    section = Section("summary", SECTION_TITLES["summary"])
    level = int(round(confidence * 100))
    findings = []
    for panel, rows in summary.groupby("panel", sort=False):
        findings.append(_summary_line(panel, rows[rows["kind"] == "model"]))
    section.blocks.append(Bullets(findings))
    section.blocks.append(Paragraph(
        "Scores are on held-out test sequences. Each row gives the mean ± sample standard "
        "deviation (ddof = 1) of the dataset's headline metric over the model's n finished "
        f"cells (data and model seeds) and a {level} % interval of that mean that respects "
        "the metric's range (log scale for errors, logit scale for proportions; none from "
        f"fewer than {MIN_SEEDS} seeds). Models are ranked by the mean, and every other model "
        "is judged against the best with two kinds of evidence: on each seed, the paired "
        "per-sequence differences on the same test sequences (a Student-t interval: 'worse on "
        "this seed's test set' when it lies above zero), and over the seeds, a paired t-test, "
        f"Holm-adjusted over the dataset's models. 'worse': worse on every seed's test set, or "
        f"over seeds at adjusted p < {alpha:g}. 'tied': from {MIN_SEEDS} seeds on, the "
        f"{level} % interval of the difference lies inside the region of practical "
        "equivalence (ROPE: 5 % of the best's value for errors, one percentage point for "
        "proportions, 0.02 nats for NLL per step; Benavoli et al. 2017): the evidence could "
        "have seen a difference of that size and saw none. 'can't tell': neither, with the "
        "reason (seeds that disagree, too few seeds to measure training variability, an "
        "interval wider than the ROPE). Reference rows: the oracle and chance-level baselines "
        "(predictors that ignore the input)."))
    for panel, rows in summary.groupby("panel", sort=False):
        label = rows["metric_label"].iloc[0]
        n_seeds = rows.loc[rows["kind"] == "model", "n"].max()
        section.blocks.append(Heading(
            f"{panel} — {label}, {_direction(rows['greater_is_better'].iloc[0])}, "
            f"{num(n_seeds)} seed(s){_rope_text(rows)}"))
        secondary = _secondary_columns(rows)
        columns = ["#", "model", "n", f"{label} (mean ± sd)", f"{level} % interval", "vs best"]
        columns += [name for _, name in secondary]
        table_rows, classes = [], []
        for _, row in rows.iterrows():
            failed = sum(int(row[c]) for c in ("n_failed", "n_diverged") if _ok(row[c]))
            n = "–" if row["kind"] == "baseline" else \
                f"{num(row['n'])} of {num(row['n'] + failed)}" if failed else num(row["n"])
            cells = [num(row["rank"]) if row["kind"] == "model" else "–", _model_cell(row), n,
                     pm(row["headline"], row["headline_std"]), _interval_cell(row),
                     _verdict(row)]
            cells += [num(row[column]) for column, _ in secondary]
            table_rows.append(cells)
            classes.append("reference" if row["kind"] != "model" else
                           "best" if row["vs_best"] == "best" else
                           "tied" if row["vs_best"] == "tied" else "")
        section.blocks.append(Table(columns, table_rows,
                                    ["r", "l", "r", "r", "r", "l"] + ["r"] * len(secondary),
                                    classes))
    return section


_ORACLE_TEXT = (
    "The oracle is the process that generated the data, run with its true parameters. Its "
    "predictions minimise the expected loss over all draws of the data (Bayes-optimal): no "
    "model beats it on average. On one finite test set a model can still score above it by "
    "chance; a negative gap whose interval covers zero is that chance, not a better model. "
    "Where the generating process is nonlinear (some tracking scenarios) the oracle is an "
    "approximate filter with the true parameters: a strong reference, not a bound.")


def _with_note(verdict, note):
    """``verdict: note``, or the note alone where it starts with the verdict's word."""
    if not (isinstance(note, str) and note):
        return verdict
    return note if note.startswith(verdict) else f"{verdict}: {note}"


def _gap_reading(row):
    text = _with_note(row["verdict"], row["note"])
    if row["verdict"] == "better":
        text += " (chance: the oracle is optimal in expectation)"
    return text


def _gap_section(gaps, results, confidence):
    section = Section("oracle-gap", SECTION_TITLES["oracle-gap"])
    level = int(round(confidence * 100))
    section.blocks.append(Paragraph(_ORACLE_TEXT))
    section.blocks.append(Paragraph(
        "A gap is positive where the model is worse than the oracle: in the headline metric "
        "(mean ± sd over seeds) and relative to the oracle's value. The paired interval pools "
        "the per-sequence differences between the model and the oracle on the same test "
        f"sequences of every seed ({level} % Student-t): it shows how much the test draw "
        "alone could move the gap, for the models as fitted; the seed-to-seed spread is the "
        "± sd. The reading is the summary's rule with the oracle in place of the best model "
        "(each seed's test set, and the spread over seeds)."))
    for panel, rows in gaps.groupby("panel", sort=False):
        label = rows["metric_label"].iloc[0]
        section.blocks.append(Heading(f"{panel} — {label}, oracle "
                                      f"{num(rows['oracle_headline'].iloc[0])}"))
        table_rows = [[row["model"], num(row["n"]), num(row["headline"]),
                       pm(row["gap"], row["gap_std"]), percent(row["gap_relative"]),
                       f"{interval(row['paired_low'], row['paired_high'])} "
                       f"({num(row['n_sequences'])} seq.)", _gap_reading(row)]
                      for _, row in rows.iterrows()]
        section.blocks.append(Table(
            ["model", "n", label, "gap (mean ± sd)", "relative gap",
             f"paired {level} % interval", "reading"], table_rows,
            ["l", "r", "r", "r", "r", "r", "l"]))
        section.blocks.append(Plot(
            f"gap-{slug(panel)}", f"{panel}: relative gap to the oracle with the paired "
            f"{level} % interval; the dashed line is the oracle.", (8.0, 1.3 + 0.42 * len(rows)),
            lambda figure, p=panel: plots.plot_oracle_gap(results, p, figure.add_subplot(),
                                                          confidence)))
    return section


def _joined_but_worse(ranks, summary):
    """Models a bar joins to the top-ranked model that each dataset's summary calls worse."""
    top = ranks.mean_ranks.index[0]
    joined = {m for group in ranks.cliques if top in group for m in group if m != top}
    rows = summary[(summary["kind"] == "model") & summary["panel"].isin(ranks.scores.index)]
    out = []
    for model in ranks.mean_ranks.index:
        verdicts = rows.loc[rows["model"] == model, "vs_best"]
        if model in joined and len(verdicts) == len(ranks.scores.index) \
                and (verdicts == "worse").all():
            out.append(model)
    return out


def _ranks_section(ranks, results, results_summary=None):
    section = Section("ranks", SECTION_TITLES["ranks"])
    f = ranks.friedman
    k, n = f.n_models, f.n_blocks
    verdict = ("the models' ranks differ by more than chance would explain"
               if f.f_p_value < ranks.alpha else
               "no evidence that the models differ overall; the diagram is for orientation")
    section.blocks.append(Paragraph(
        f"Demšar's (2006) procedure: each dataset is a block (N = {n}), each of the k = {k} "
        "models that have a result on every dataset a treatment, its score the mean headline "
        "metric over seeds; models are ranked within each dataset (1 = best, ties share "
        f"their mean rank). Friedman's test: χ² = {f.statistic:.3g} on {k - 1} df, "
        f"{p_text(f.p_value)}; Iman–Davenport's F = {f.f_statistic:.3g} on ({k - 1}, "
        f"{(k - 1) * (n - 1)}) df, {p_text(f.f_p_value)}: {verdict}. In the diagram, models "
        "joined by a bar have mean ranks closer than Nemenyi's critical difference "
        f"CD = {ranks.cd:.3g} (α = {ranks.alpha:g}) and are not significantly different."
        + (" With so few datasets the test has little power." if n < 5 else "")
        + " The diagram answers a different question from the summaries above: it ranks "
        "models across datasets, ignoring by how much and how surely each dataset's "
        "comparison was won; a bar means the ranks alone cannot separate the models."))
    worse = _joined_but_worse(ranks, results_summary) if results_summary is not None else []
    if worse:
        section.blocks.append(Paragraph(
            f"Joined by a bar to {ranks.mean_ranks.index[0]} although the summary finds them "
            f"worse than each dataset's best on every dataset: {', '.join(worse)}. Their "
            "per-dataset verdicts stand; the bar only says that "
            f"{n} datasets are too few for ranks to show it."))
    if ranks.excluded or ranks.excluded_panels:
        left = []
        if ranks.excluded:
            left.append("models without a result on every ranked dataset: "
                        + ", ".join(ranks.excluded))
        if ranks.excluded_panels:
            left.append("datasets with fewer than 3 models: " + ", ".join(ranks.excluded_panels))
        section.blocks.append(Paragraph("Left out — " + "; ".join(left) + "."))
    panels = list(ranks.ranks.index)
    rows = [[model, f"{rank:.2f}"] + [num(ranks.ranks.at[p, model]) for p in panels]
            for model, rank in ranks.mean_ranks.items()]
    section.blocks.append(Table(["model", "mean rank"] + panels, rows,
                                ["l", "r"] + ["r"] * len(panels)))
    section.blocks.append(Plot(
        "critical-difference", f"Critical-difference diagram: mean ranks over {n} datasets.",
        (8.0, 1.3 + 0.32 * ((k + 1) // 2)),
        lambda figure: plots.plot_critical_difference(results, figure.add_subplot(),
                                                      ranks.alpha)))
    return section


_CURVE_TEXT = {
    "n_train": "Learning curve: the headline metric against the number of training sequences "
               "(nested subsets of each draw, one test set).",
    "horizon": "Forecast horizon: RMSE of the h-step-ahead forecasts from several origins per "
               "test sequence.",
}


def _curves_section(axes, results):
    section = Section("curves", SECTION_TITLES["curves"])
    section.blocks.append(Paragraph(
        "Each point is the mean over seeds, the band ± one sample standard deviation; the "
        "oracle is dashed where the dataset has one. An axis that spans a decade or more is "
        "logarithmic."))
    for dataset, axis in axes:
        text = _CURVE_TEXT.get(axis, f"The headline metric against the dataset parameter "
                                     f"{axis.removeprefix('data_')}.")
        section.blocks.append(Plot(
            f"curve-{slug(dataset)}-{slug(axis)}", f"{dataset}: {text}", (9.0, 4.2),
            lambda figure, d=dataset, a=axis: plots.plot_curve(results, d, a,
                                                               figure.add_subplot())))
    return section


def _trajectory_section(datasets, results):
    section = Section("trajectories", SECTION_TITLES["trajectories"])
    section.blocks.append(Paragraph(
        "The first test sequence of each dataset (first data seed), one panel per model: the "
        "truth in black, the input in grey where it is in the target's units, the oracle "
        "dashed, and the model's estimate with a ± 2 standard deviation band where the model "
        "gives one (ellipses every few steps on x-y paths). Tracking data is drawn as x-y "
        "paths."))
    for dataset in datasets:
        models = plots.example_models(results, dataset)
        if not models:
            continue
        xy = plots.is_xy(results, dataset)
        columns = min(len(models), 3 if xy else 2)
        rows = -(-len(models) // columns)

        def draw(figure, d=dataset, models=models, columns=columns, rows=rows):
            axes = figure.subplots(rows, columns, squeeze=False, sharex=True, sharey=True)
            for i, ax in enumerate(axes.ravel()):
                if i < len(models):
                    plots.plot_trajectory(results, d, 0, ax, models=[models[i]], legend=i == 0)
                    ax.label_outer()
                else:
                    ax.set_visible(False)

        size = (9.0, 0.4 + 3.1 * rows) if xy else (9.0, 0.5 + 2.1 * rows)
        section.blocks.append(Plot(f"trajectory-{slug(dataset)}",
                                   f"{dataset}: the first test sequence, one panel per model.",
                                   size, draw))
    return section


def _training_section(kinds, results):
    section = Section("training", SECTION_TITLES["training"])
    section.blocks.append(Paragraph(
        "The objective each model recorded while fitting (its history_): the training "
        "log-likelihood per EM iteration, which EM never decreases, beside the training loss "
        "per epoch of gradient-trained models. One line per seed. Closed-form fits (least "
        "squares, counting) have no history."))
    for dataset, present in kinds.items():
        def draw(figure, d=dataset, present=present):
            axes = figure.subplots(1, len(present), squeeze=False)[0]
            for ax, kind in zip(axes, present):
                plots.plot_training_curves(results, d, kind, ax)

        section.blocks.append(Plot(f"training-{slug(dataset)}", f"{dataset}: training curves.",
                                   (9.0 if len(present) > 1 else 8.0, 3.8), draw))
    return section


def _gradient_section(table, results):
    section = Section("gradients", SECTION_TITLES["gradients"])
    section.blocks.append(Paragraph(
        "How far back the error signal reaches: the norm of the gradient of the loss at the "
        "last scored step T with respect to the first layer's hidden state h_t, against the "
        "lag T - t, relative to its value at lag 0 (the mean over the first test sequences). "
        "A straight falling line on this log scale is exponential decay, the vanishing "
        "gradient of Bengio, Simard & Frasconi (1994). The rate is the least-squares slope "
        "of the log norm against the lag, in nats per step; the factor exp(-rate) is what one "
        "step back multiplies the norm by. Mean ± sd over cells."))
    rows = [[row["panel"], row["model"], num(row["n"]), pm(row["rate"], row["rate_std"]),
             num(row["factor"]), num(row["max_lag"]), num(row["log10_ratio"], 2)]
            for _, row in table.iterrows()]
    section.blocks.append(Table(["dataset", "model", "n", "decay rate (nats/step)",
                                 "factor per step", "longest lag",
                                 "log10 norm ratio (longest lag / lag 0)"], rows,
                                ["l", "l", "r", "r", "r", "r", "r"]))
    for panel in table["panel"].unique():
        section.blocks.append(Plot(
            f"gradients-{slug(panel)}", f"{panel}: gradient norm against the lag.", (8.5, 4.0),
            lambda figure, p=panel: plots.plot_gradient_norms(results, p, figure.add_subplot())))
    return section


def _attention_section(examples, shares, results):
    section = Section("attention", SECTION_TITLES["attention"])
    section.blocks.append(Paragraph(
        "Where each attention model looks, one figure per model and dataset (the heads' "
        "mean, then each head: heads often split the work, and a pattern one head carries "
        "can be faint in the mean): the first test "
        "sequence of its first data seed and model seed, at the largest training size, and "
        "for a swept dataset only its last swept value with the longest sequences (the "
        "longest delay, where attention has the most to do; one panel keeps the section "
        "short). Row t is the step whose estimate is made, and its colours are the weights "
        "that estimate gives to the positions s <= t (a transformer's last layer; colours "
        "on a square-root scale, so small weights show): each row sums to 1, "
        "and nothing lies above the diagonal, since no step looks ahead. On tagging and "
        "regression datasets (fit(X, y)) position s holds the input x_s; on forecasting ones "
        "(fit(X)) it holds x_{s-1}, and position 0 the start value. A bright diagonal is a "
        "model that reads mostly the present step; a bright column, a position every later "
        "step reads."))
    if examples["layout"].map(lambda layout: layout is not None).any():
        section.blocks.append(Paragraph(
            "On the copy task (copy_memory) the last n_recall rows are the recall steps and "
            "the first n_recall positions hold the symbols to recall (the dashed box): a model "
            "that recalls through attention puts the recall rows' weight inside the box, and "
            "in order, a diagonal running from its top-left to its bottom-right corner (the "
            "k-th recall step on the k-th symbol). Weight on the blanks between them is "
            "attention that carries nothing to recall."))
    if not shares.empty:
        section.blocks.append(Paragraph(
            "The share of each recall step's weight that falls on the stored symbols' "
            "positions, the mean over the recall steps (then mean ± sd over cells), for the "
            "heads' mean and for the head that puts most weight there, beside the share that "
            "attention spread evenly over every earlier position would put there. Near 1: the "
            "recall steps read the symbols; near the even share: they do not single them "
            "out."))
        rows = [[row["panel"], row["model"], num(row["n"]), num(row["steps"]),
                 num(row["n_recall"]), pm(row["recall_share"], row["recall_share_std"]),
                 num(row["best_head_share"]), num(row["uniform_share"])]
                for _, row in shares.iterrows()]
        section.blocks.append(Table(["dataset", "model", "n", "steps T", "n_recall",
                                     "on the symbols: heads' mean", "best head",
                                     "spread evenly"], rows,
                                    ["l", "l", "r", "r", "r", "r", "r", "r"]))
    for _, row in examples.iterrows():
        n_maps = 1 + (len(row["heads"]) > 1) * min(len(row["heads"]), plots.MAX_HEADS_DRAWN)
        section.blocks.append(Plot(
            f"attention-{slug(row['panel'])}-{slug(row['model'])}",
            f"{row['model']} on {row['panel']}: attention weights on the first test sequence "
            "(the heads' mean, then each head).",
            plots.attention_figure_size(n_maps, row["layout"] is not None),
            lambda figure, m=row["model"], p=row["panel"]: plots.plot_attention_weights(
                results, m, p, figure)))
    return section


def _cost_section(results, has_gaps):
    section = Section("cost", SECTION_TITLES["cost"])
    table = cost_table(results)
    section.blocks.append(Paragraph(
        "Seconds per cell (mean over seeds) to fit on the training split and to predict the "
        "test split, on the machine named under Run, and the number of parameters estimated "
        "from the data (an oracle estimates none)."
        + (" The scatter puts cost against the gap to the oracle: the lower left buys "
           "accuracy cheaply." if has_gaps else "")))
    rows = [[row["panel"], "oracle" if row["kind"] == "oracle" else row["model"],
             num(row["n_params"]), seconds(row["fit_seconds"]), seconds(row["predict_seconds"]),
             percent(row["gap_relative"]) if row["kind"] == "model" else "–"]
            for _, row in table.iterrows()]
    classes = ["reference" if k == "oracle" else "" for k in table["kind"]]
    section.blocks.append(Table(["dataset", "model", "parameters", "fit", "predict",
                                 "gap to the oracle"], rows, ["l", "l", "r", "r", "r", "r"],
                                classes))
    growth = cost_growth_table(results)
    if not growth.empty:
        section.blocks.append(Paragraph(
            "Cost against the sequence length, where the suite varies it: seconds per "
            "sequence to fit (fit seconds / training sequences) and to predict, at the "
            "shortest and the longest length (mean scored steps per test sequence), and "
            "the growth exponent b of seconds ~ length^b, the least-squares slope on the "
            "log-log points of every cell (all seeds). A recurrence costs the same per "
            "step (b about 1, less where a fixed cost per call still weighs); full "
            "attention compares every step with every earlier one, b up to 2 once that "
            "T^2 part outweighs the per-step work; attention within a window is linear "
            "again. Timings move with the machine's load (Run); the exponents far less."))
        section.blocks.append(Table(
            ["dataset", "model", "lengths", "fit per sequence", "fit exponent",
             "predict per sequence", "predict exponent"],
            [[row["dataset"], row["model"], f"{num(row['shortest'])} - {num(row['longest'])}",
              f"{seconds(row['fit_short'])} - {seconds(row['fit_long'])}",
              num(row["fit_exponent"], 2),
              f"{seconds(row['predict_short'])} - {seconds(row['predict_long'])}",
              num(row["predict_exponent"], 2)] for _, row in growth.iterrows()],
            ["l", "l", "r", "r", "r", "r", "r"]))
    if has_gaps:
        n_models = table.loc[table["kind"] == "model", "model"].nunique()
        section.blocks.append(Plot(
            "cost", "Fit seconds against the relative gap to the oracle.",
            (8.5, max(3.8, 1.2 + 0.22 * n_models)),
            lambda figure: plots.plot_cost(results, figure.add_subplot())))
    return section


def _array_text(values, digits=5):
    """A fitted value as text: a number, or a bracketed list for a small array."""
    values = np.asarray(values, dtype=float)
    if values.size == 1:
        return num(float(values.ravel()[0]), digits)
    return "[" + ", ".join(num(float(v), digits) for v in values.ravel()) + "]"


def _fitted_section(table):
    section = Section("fitted", SECTION_TITLES["fitted"])
    section.blocks.append(Paragraph(
        "What each model learned, where that is a handful of numbers (scikit-learn's "
        "trailing-underscore attributes: e.g. an autoregression's coef_, a Kalman filter's "
        "noise covariances Q_ and R_), at the largest training size: the mean over cells, "
        "± sd where there are several. These are the figures to set beside published fits."))
    rows = [[row["dataset"], row["model"], row["parameter"], _array_text(row["value"]),
             _array_text(row["std"]) if row["n"] > 1 else "–", num(row["n"])]
            for _, row in table.iterrows()]
    section.blocks.append(Table(["dataset", "model", "parameter", "value", "sd", "n"], rows,
                                ["l", "l", "l", "r", "r", "r"]))
    return section


def _calibration_section(table, results):
    section = Section("calibration", SECTION_TITLES["calibration"])
    section.blocks.append(Paragraph(
        "For models that give a predictive standard deviation: the fraction of test targets "
        "inside the nominal 90 % interval mean ± 1.645 std (0.90 when calibrated), and the mean "
        "squared z-score ((y - mean) / std)² (1 when calibrated; above 1 the model is "
        "over-confident, its intervals too narrow; below 1 under-confident). Mean ± sd over "
        "seeds."))
    rows = [[row["panel"], "oracle" if row["kind"] == "oracle" else row["model"], num(row["n"]),
             pm(row["coverage_90"], row["coverage_90_std"]),
             pm(row["mean_sq_z"], row["mean_sq_z_std"])] for _, row in table.iterrows()]
    classes = ["reference" if k == "oracle" else "" for k in table["kind"]]
    section.blocks.append(Table(["dataset", "model", "n", "coverage of 90 % interval",
                                 "mean z²"], rows, ["l", "l", "r", "r", "r"], classes))
    n_points = table["model"].nunique() + table["panel"].nunique()
    section.blocks.append(Plot(
        "calibration", "Coverage against mean squared z-score; the cross-hair marks a "
        "calibrated model.", (8.5, max(3.8, 1.2 + 0.22 * n_points)),
        lambda figure: plots.plot_calibration(results, figure.add_subplot())))
    return section


def _where(cells):
    """The data seeds a group of cells hit, and their training sizes where they have them."""
    seeds = sorted({int(c["data_seed"]) for c in cells if _ok(c["data_seed"])})
    sizes = sorted({int(c["train_size"]) if float(c["train_size"]).is_integer()
                    else c["train_size"] for c in cells if _ok(c["train_size"])})
    return ", ".join(str(v) for v in seeds) + \
        (f" (training sizes {', '.join(str(v) for v in sizes)})" if sizes else "")


def _warning_section(warned):
    section = Section("warnings", SECTION_TITLES["warnings"])
    section.blocks.append(Paragraph(
        f"{len(warned)} cell(s) finished, but their fit stopped at its iteration limit before "
        "meeting its tolerance (a ConvergenceWarning): their figures are those of a model "
        "short of its maximum likelihood. Raise the model's n_iter (or loosen tol) to let it "
        "converge. Each distinct message is listed once, with the seeds it hit."))
    groups = {}
    for _, row in warned.iterrows():
        for message in str(row["warnings"]).splitlines():
            groups.setdefault((row["model"], row["panel"], message), []).append(row)
    rows = []
    for (model, panel, message), cells in groups.items():
        rows.append([model, panel, str(len(cells)), _where(cells), message])
    section.blocks.append(Table(["model", "dataset", "cells", "data seeds", "warning"], rows,
                                ["l", "l", "r", "l", "l"]))
    return section


def _failure_section(failures):
    section = Section("failures", SECTION_TITLES["failures"])
    diverged = int((failures["status"] == "diverged").sum())
    broken = len(failures) - diverged
    said = []
    if diverged:
        said.append(f"{diverged} training run(s) diverged (status 'diverged'): the loss became "
                    "NaN or infinite, or ended far above the mean predictor's. That is a "
                    "measured outcome of the model and its settings, not a broken run: the "
                    "model has no score for that seed, and rerunning gives the same result.")
    if broken:
        said.append(f"{broken} cell(s) broke (status 'error' or 'timeout'): "
                    "'seqcompare run --retry-failed' runs them again.")
    section.blocks.append(Paragraph(
        " ".join(said) + " A model without a result on a seed is left out of that seed's "
        "comparisons. Each distinct message is listed once, with the seeds it hit."))
    groups = {}
    for _, row in failures.iterrows():
        key = (row["status"], row["model"], row["panel"], str(row["error"]))
        groups.setdefault(key, []).append(row)
    rows = []
    for (status, model, panel, error), cells in groups.items():
        rows.append([status, model, panel, str(len(cells)), _where(cells), error])
    section.blocks.append(Table(["status", "model", "dataset", "cells", "data seeds", "error"],
                                rows, ["l", "l", "l", "r", "l", "l"]))
    for (status, model, panel, error), cells in groups.items():
        trace = cells[0]["traceback"]
        if isinstance(trace, str) and trace.strip():
            section.blocks.append(Details(f"Traceback: {model} on {panel} ({status})", trace))
    return section


def _when(stamp):
    if not _ok(stamp):
        return "–"
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(stamp))


def _duration(start, end):
    if not (_ok(start) and _ok(end)):
        return "–"
    total = end - start
    minutes, secs = divmod(total, 60)
    hours, minutes = divmod(int(minutes), 60)
    return (f"{hours} h {minutes} min" if hours else f"{minutes} min {secs:.0f} s" if minutes
            else f"{secs:.1f} s")


def _run_section(results, runs):
    section = Section("run", SECTION_TITLES["run"])
    counts = results["status"].value_counts().to_dict()
    rows = [["cells", ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))]]
    last = runs[-1] if runs else None
    if last is not None:
        meta = last.get("metadata") or {}
        versions = meta.get("versions") or {}
        machine = meta.get("machine") or {}
        suite = meta.get("suite")
        if suite:
            rows.append(["suite", f"{suite}" + (" (quick)" if meta.get("quick") else "")])
        rows += [["command", str(meta.get("command", "–"))],
                 ["started", _when(last.get("started_at"))],
                 ["duration", _duration(last.get("started_at"), last.get("finished_at"))
                  + f" ({last.get('status', '?')})"]]
        if len(runs) > 1:
            first = runs[0]
            rows.append(["runs on this store", f"{len(runs)}; the first started "
                                               f"{_when(first.get('started_at'))}"])
        if versions:
            rows.append(["Python", str(versions.get("python", "–"))])
            rows.append(["packages", ", ".join(f"{k} {v}" for k, v in versions.items()
                                               if k != "python")])
        if machine:
            rows.append(["machine", ", ".join(f"{k} {v}" for k, v in machine.items())])
    else:
        section.blocks.append(Paragraph(
            "No results store was given, so the run's command, machine and package versions "
            "are unknown; the times below come from the cells."))
        rows += [["first cell started", _when(results["started_at"].min())],
                 ["last cell finished", _when(results["finished_at"].max())],
                 ["seqmodels", ", ".join(sorted(set(results["version"].dropna())))]]
    rows.append(["report written", _when(time.time())])
    section.blocks.append(Table(["", ""], rows, ["l", "l"]))
    return section


def build_sections(results, runs=(), confidence=0.95, alpha=0.05):
    """The sections of a report on ``results``, each only where the run has its data.

    Parameters
    ----------
    results : pandas.DataFrame
        From :func:`~seqmodels.compare.compare`.
    runs : list of dict
        The store's runs (:meth:`~seqmodels.compare.ResultsStore.runs`), oldest first.
    confidence : float, default=0.95
    alpha : float, default=0.05

    Returns
    -------
    list of Section
    """
    sections = []
    summary = summarise(results, confidence, alpha)
    if (summary["kind"] == "model").any() or (summary["kind"] == "oracle").any():
        sections.append(_summary_section(summary, alpha, confidence))
    gaps = oracle_gap_table(results, confidence, alpha)
    if not gaps.empty:
        sections.append(_gap_section(gaps, results, confidence))
    ranks = ranks_across_datasets(results, alpha)
    if ranks is not None:
        sections.append(_ranks_section(ranks, results, summary))
    axes = curve_axes(results)
    if axes:
        sections.append(_curves_section(axes, results))
    ok = results[results["status"] == "ok"]
    examples = [dataset for dataset, group in ok.groupby("dataset", sort=False)
                if any(a is not None and len(a) for a in group["example_mean"])]
    if examples:
        sections.append(_trajectory_section(examples, results))
    kinds = {}
    for _, row in ok[~ok["is_oracle"]].iterrows():
        kind = plots.history_kind(row["history"]) if row["history"] is not None else None
        if kind is not None:
            present = kinds.setdefault(row["dataset"], [])
            if kind not in present:
                present.append(kind)
    if kinds:
        kinds = {d: sorted(k) for d, k in kinds.items()}  # log-likelihood before loss
        sections.append(_training_section(kinds, results))
    gradients = gradient_table(results)
    if not gradients.empty:
        sections.append(_gradient_section(gradients, results))
    attention = attention_examples(results)
    if not attention.empty:
        sections.append(_attention_section(attention, attention_table(results), results))
    if len(ok):
        sections.append(_cost_section(results, not gaps.empty))
    fitted = fitted_parameter_table(results)
    if not fitted.empty:
        sections.append(_fitted_section(fitted))
    calibration = calibration_table(results, confidence)
    if not calibration.empty:
        sections.append(_calibration_section(calibration, results))
    warned = warning_table(results)
    if not warned.empty:
        sections.append(_warning_section(warned))
    failures = failure_table(results)
    if not failures.empty:
        sections.append(_failure_section(failures))
    sections.append(_run_section(results, list(runs)))
    return sections
