"""The report's figures, one function each, for notebooks too.

Every function takes the results DataFrame of :func:`~seqmodels.compare.compare` and
an optional matplotlib ``Axes``, draws one figure's content on it and returns the
``Axes``; without one it makes a new figure with pyplot. matplotlib is imported
inside the functions, so ``import seqmodels`` never loads it. Colours follow the order
in which models first appear in the results; the oracle is drawn in black, dashed.

Examples
--------
>>> from seqmodels import AutoRegressive
>>> from seqmodels.compare import compare
>>> from seqmodels.compare.plots import plot_oracle_gap
>>> from matplotlib.figure import Figure
>>> results = compare({"AR(1)": AutoRegressive(order=1), "AR(2)": AutoRegressive(order=2)},
...                   ("ar", {"n_train": 5, "n_test": 3, "n_timesteps": 60}),
...                   seeds=[0, 1], progress=False)
>>> ax = plot_oracle_gap(results, ax=Figure().add_subplot())
>>> [t.get_text() for t in ax.get_yticklabels()]
['AR(2)', 'AR(1)']
"""

import json
from functools import lru_cache

import numpy as np

from .tables import (at_full_size, attention_examples, calibration_table, cells_with_array,
                     cost_table, curve_table, oracle_gap_table, panels, ranks_across_datasets)

__all__ = ["plot_oracle_gap", "plot_critical_difference", "plot_curve", "plot_trajectory",
           "plot_training_curves", "plot_gradient_norms", "plot_attention_weights", "plot_cost",
           "plot_calibration",
           "model_colors",
           "history_kind", "example_models", "is_xy"]

ORACLE_STYLE = {"color": "black", "linestyle": "--", "linewidth": 1.4}
_AXIS_LABELS = {"n_train": "training sequences", "horizon": "forecast horizon (steps)"}
_MARKERS = "osD^vP*Xh<>"


def _axes(ax, figsize=(7.0, 4.0)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize, layout="constrained")[1]


def _text(label):
    """A label as matplotlib shows it literally: ``$`` does not start mathtext, and a
    leading underscore does not hide it from the legend."""
    label = str(label).replace("$", r"\$")
    return " " + label if label.startswith("_") else label


def model_colors(results):
    """Model label -> colour: tab10 (tab20 beyond ten models) in order of appearance."""
    from matplotlib import colormaps

    models = [m for m in dict.fromkeys(results.loc[~results["is_oracle"], "model"])]
    cmap = colormaps["tab10" if len(models) <= 10 else "tab20"]
    colors = {m: cmap(i % cmap.N) for i, m in enumerate(models)}
    colors.update({m: "black" for m in results.loc[results["is_oracle"], "model"].unique()})
    return colors


def _spans_decades(values, ratio=10.0):
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return values.size > 1 and (values > 0).all() and values.max() / values.min() >= ratio


def _percent_scale(ax, values, axis="x"):
    """Linear in percent, or symmetric-log beyond ±1 % where a gap exceeds 100 %."""
    values = np.abs(np.asarray(values, dtype=float))
    if np.isfinite(values).any() and np.nanmax(values) > 100.0:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("symlog", linthresh=1.0)


def _first_panel(table, panel):
    if table.empty:
        raise ValueError("the results hold nothing to plot here (no finished cells with this "
                         "measure).")
    if panel is None:
        return table["panel"].iloc[0]
    if panel not in set(table["panel"]):
        raise ValueError(f"panel {panel!r} not in the results; choose one of "
                         f"{list(dict.fromkeys(table['panel']))}.")
    return panel


def plot_oracle_gap(results, panel=None, ax=None, confidence=0.95):
    """Bars of each model's relative gap to the oracle, with the paired interval.

    The bar is the gap of the headline metric in percent of the oracle's value
    (positive: worse than the oracle), the whisker the ``confidence`` interval of the
    paired per-sequence gap; the oracle is the line at zero.

    Parameters
    ----------
    results : pandas.DataFrame
    panel : str, optional
        A dataset (``"name (param=value)"`` for swept ones); the first with an oracle by
        default.
    ax : matplotlib.axes.Axes, optional
    confidence : float, default=0.95

    Returns
    -------
    matplotlib.axes.Axes
    """
    table = oracle_gap_table(results, confidence)
    panel = _first_panel(table, panel)
    rows = table[table["panel"] == panel]
    ax = _axes(ax, (7.0, 0.9 + 0.38 * len(rows)))
    colors = model_colors(results)
    scale = 100.0 / rows["oracle_headline"].abs().to_numpy()
    values = rows["gap_relative"].to_numpy() * 100.0
    low = rows["paired_low"].to_numpy() * scale
    high = rows["paired_high"].to_numpy() * scale
    centre = rows["paired_gap"].to_numpy() * scale
    error = np.vstack([np.clip(centre - low, 0, None), np.clip(high - centre, 0, None)])
    position = np.arange(len(rows))[::-1]
    ax.barh(position, values, color=[colors[m] for m in rows["model"]], height=0.65)
    ax.errorbar(centre, position, xerr=np.nan_to_num(error), fmt="none", ecolor="0.2",
                capsize=3, linewidth=1)
    ax.axvline(0.0, **ORACLE_STYLE, label="oracle")
    for y, value, hi in zip(position, values, high):  # the value right of bar and whisker
        ax.annotate(f"{value:+.3g} %", (np.nanmax([value, hi, 0.0]), y), xytext=(5, 0),
                    textcoords="offset points", ha="left", va="center", fontsize="x-small")
    ax.set_yticks(position, [_text(m) for m in rows["model"]])
    label = rows["metric_label"].iloc[0]
    ax.set_xlabel(f"gap to the oracle, % of its {label} (positive: worse)")
    ax.set_title(_text(f"{panel}: gap to the oracle ({int(confidence * 100)} % paired interval)"),
                 fontsize="medium")
    _percent_scale(ax, np.concatenate([values, low, high]))
    ax.margins(x=0.12)
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_critical_difference(results, ax=None, alpha=0.05):
    """Demšar's critical-difference diagram of mean ranks across datasets.

    Models sit on a rank axis (1 = best, at the left); a bar joins every maximal group
    whose mean ranks differ by less than Nemenyi's critical difference (drawn above
    the axis), i.e. models that are not significantly different at ``alpha``.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        With fewer than 2 datasets or 3 models that have results on all of them.
    """
    ranks = ranks_across_datasets(results, alpha)
    if ranks is None:
        raise ValueError("a critical-difference diagram needs at least 2 datasets and 3 models "
                         "with a result on each.")
    mean_ranks = ranks.mean_ranks
    k = len(mean_ranks)
    half = (k + 1) // 2
    ax = _axes(ax, (7.5, 1.3 + 0.3 * half))
    bottom = -0.3 - 0.3 * (half - 1) - 0.15
    ax.set_xlim(0.4, k + 0.6)
    ax.set_ylim(bottom, 0.75)
    ax.axis("off")
    ax.hlines(0.0, 1, k, color="black", linewidth=1)
    for r in range(1, k + 1):
        ax.vlines(r, 0.0, 0.07, color="black", linewidth=1)
        ax.text(r, 0.1, str(r), ha="center", va="bottom", fontsize="small")
    # the critical difference, as a bar above the axis
    ax.hlines(0.5, 1, 1 + ranks.cd, color="black", linewidth=1.5)
    for end in (1, 1 + ranks.cd):
        ax.vlines(end, 0.46, 0.54, color="black", linewidth=1.5)
    ax.text(1 + ranks.cd / 2, 0.57, f"CD = {ranks.cd:.2f} (Nemenyi, α = {alpha:g}); "
            "axis: mean rank, 1 = best", ha="center", va="bottom", fontsize="small")
    colors = model_colors(results)
    for i, (model, rank) in enumerate(mean_ranks.items()):
        left = i < half
        row = i if left else k - 1 - i
        y = -0.3 - 0.3 * row
        x_end = 0.45 if left else k + 0.55
        ax.plot([rank, rank, x_end], [0.0, y, y], color=colors.get(model, "0.3"), linewidth=1)
        ax.text(x_end, y + 0.02, _text(f"{model} ({rank:.2f})"), ha="left" if left else "right",
                va="bottom", fontsize="small")
    for j, group in enumerate(ranks.cliques):
        values = mean_ranks[list(group)]
        ax.hlines(-0.08 - 0.07 * j, values.min() - 0.03, values.max() + 0.03, color="black",
                  linewidth=4)
    return ax


def plot_curve(results, dataset, axis, ax=None):
    """A model's score along an experiment axis, mean ± sample std band over seeds.

    Parameters
    ----------
    results : pandas.DataFrame
    dataset : str
    axis : str
        ``"n_train"`` (learning curve), ``"data_<param>"`` (memory, noise: a swept
        dataset parameter) or ``"horizon"`` (forecast RMSE by horizon); see
        :func:`~seqmodels.compare.tables.curve_axes`.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Log axes where the values span a decade or more; the oracle dashed.
    """
    table = curve_table(results, dataset, axis)
    if table.empty:
        raise ValueError(f"no finished cells of dataset {dataset!r} along {axis!r}.")
    ax = _axes(ax)
    colors = model_colors(results)
    for (model, oracle), rows in table.groupby(["model", "is_oracle"], sort=False):
        x, mean, std = rows["x"].to_numpy(), rows["mean"].to_numpy(), rows["std"].to_numpy()
        style = ORACLE_STYLE if oracle else {"color": colors.get(model), "linewidth": 1.6}
        ax.plot(x, mean, marker="o", markersize=3.5, label=_text(model), **style)
        band = np.isfinite(std)
        if band.any() and not oracle:
            ax.fill_between(x[band], (mean - std)[band], (mean + std)[band],
                            color=style["color"], alpha=0.15, linewidth=0)
    subset = results[(results["dataset"] == dataset) & (results["status"] == "ok")]
    metric = subset["metric_label"].dropna()
    if axis == "horizon":
        ylabel = "RMSE of the h-step forecast"
    else:
        ylabel = metric.iloc[0] if len(metric) else "headline"
    name = _AXIS_LABELS.get(axis, axis.removeprefix("data_"))
    ax.set_xlabel(name)
    ax.set_ylabel(ylabel)
    if _spans_decades(table["x"]):
        from matplotlib.ticker import NullFormatter

        ax.set_xscale("log")
        values = np.unique(table["x"])
        if values.size <= 12:  # label the values measured, not powers of ten
            ax.set_xticks(values, [f"{v:g}" for v in values])
            ax.xaxis.set_minor_formatter(NullFormatter())
    better = subset["greater_is_better"].dropna()
    if not (len(better) and bool(better.iloc[0])) and _spans_decades(table["mean"]):
        ax.set_yscale("log")
    ax.set_title(_text(f"{dataset}: {ylabel} against {name} (mean ± std over seeds)"),
                 fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


@lru_cache(maxsize=32)
def _position_columns(name, params):
    """The columns of the headline metric of a registered dataset (tracking: the positions),
    from a one-sequence draw; None where that is not possible."""
    from ..datasets import dataset_parameters, load

    try:
        accepted = dataset_parameters(name)
        given = {k: v for k, v in json.loads(params).items() if k in accepted}
        given.update({k: 1 for k in ("n_train", "n_test") if k in accepted})
        columns = load(name, **given).metric.columns
    except Exception:  # a user's dataset, or one that cannot be drawn this small
        return None
    return None if columns is None else tuple(columns)


def _example_cells(results, dataset, seed):
    frame = at_full_size(results[(results["dataset"] == dataset) & (results["status"] == "ok")])
    frame = frame[frame["example_mean"].map(lambda a: a is not None)]
    if frame.empty:
        raise ValueError(f"no finished cells of dataset {dataset!r} kept example predictions.")
    frame = frame[panels(frame) == panels(frame).iloc[0]]
    seed = frame["data_seed"].min() if seed is None else seed
    frame = frame[frame["data_seed"] == seed]
    return frame.drop_duplicates("model")


def plot_trajectory(results, dataset, sequence=0, ax=None, seed=None, feature=0, models=None,
                    legend=True):
    """A test sequence: the truth, the input and each model's estimate with ± 2 std.

    Tracking data (a headline metric over two or more position columns) is drawn as
    an x-y path with ± 2 std ellipses every few steps; other data against time, for
    the target column ``feature``. For supervised data the input is shown where it
    is in the units of the target. The oracle, where there is one, is always drawn
    (dashed) as the reference.

    Parameters
    ----------
    results : pandas.DataFrame
    dataset : str
    sequence : int, default=0
        Which of the kept example sequences (``compare(n_examples=...)``).
    ax : matplotlib.axes.Axes, optional
    seed : int, optional
        Data seed; the smallest by default.
    feature : int, default=0
    models : list of str, optional
        Model labels to draw (default: all); with many models one panel per model
        reads better than one crowded panel.
    legend : bool, default=True

    Returns
    -------
    matplotlib.axes.Axes
    """
    cells = _example_cells(results, dataset, seed)
    if models is not None:
        unknown = sorted(set(models) - set(cells["model"]))
        if unknown:
            raise ValueError(f"models {unknown} have no example predictions on {dataset!r}; "
                             f"choose from {cells.loc[~cells['is_oracle'], 'model'].tolist()}.")
        cells = cells[cells["is_oracle"] | cells["model"].isin(models)]
    first = cells.iloc[0]
    if not 0 <= sequence < len(first["example_target"]):
        raise ValueError(f"sequence must be in [0, {len(first['example_target'])}); "
                         f"got {sequence}.")
    target = np.asarray(first["example_target"][sequence], dtype=float)
    inputs = np.asarray(first["example_X"][sequence], dtype=float)
    if first["task"] == "forecast":  # the series is the target (context steps included)
        target = inputs
    columns = _position_columns(first["dataset_name"], first["dataset_params"])
    colors = model_colors(results)
    ax = _axes(ax)
    if columns is not None and len(columns) >= 2 and target.shape[1] > max(columns[:2]):
        _xy_paths(ax, cells, sequence, target, inputs, columns[:2], colors)
    else:
        _time_series(ax, cells, sequence, target, inputs, feature, colors, first["task"])
    title = f"{dataset}: test sequence {sequence}, data seed {first['data_seed']}"
    if models is not None and len(models) == 1:
        title = models[0]
    ax.set_title(_text(title), fontsize="medium")
    if legend:
        ax.legend(fontsize="x-small", loc="best")
    return ax


def example_models(results, dataset):
    """The models (not the oracle) with example predictions on ``dataset``, in order."""
    cells = _example_cells(results, dataset, None)
    return cells.loc[~cells["is_oracle"], "model"].tolist()


def is_xy(results, dataset):
    """Whether :func:`plot_trajectory` draws ``dataset`` as x-y paths (tracking)."""
    cells = _example_cells(results, dataset, None)
    first = cells.iloc[0]
    columns = _position_columns(first["dataset_name"], first["dataset_params"])
    width = np.asarray(first["example_target"]).shape[-1]
    return columns is not None and len(columns) >= 2 and width > max(columns[:2])


def _xy_paths(ax, cells, sequence, target, inputs, columns, colors):
    from matplotlib.patches import Ellipse

    cx, cy = columns
    steps = np.isfinite(target[:, cx]) & np.isfinite(target[:, cy])
    if inputs.shape[1] == 2:
        gap = np.sqrt(np.nanmean((inputs[steps] - target[steps][:, [cx, cy]]) ** 2))
        spread = np.nanstd(target[steps][:, [cx, cy]])
        if gap < 0.5 * spread:  # the inputs are noisy positions
            ax.scatter(inputs[:, 0], inputs[:, 1], s=6, color="0.6", label="measurements",
                       zorder=1)
    ax.plot(target[steps, cx], target[steps, cy], color="black", linewidth=2.2, label="truth",
            zorder=2)
    every = max(1, int(steps.sum()) // 12)
    for _, cell in cells.iterrows():
        mean = np.asarray(cell["example_mean"][sequence], dtype=float)
        oracle = bool(cell["is_oracle"])
        style = ORACLE_STYLE if oracle else {"color": colors.get(cell["model"]), "linewidth": 1.4}
        ax.plot(mean[steps, cx], mean[steps, cy], label=_text(cell["model"]), zorder=3, **style)
        std = cell["example_std"]
        if std is not None and not oracle:
            std = np.asarray(std[sequence], dtype=float)
            for t in np.flatnonzero(steps)[::every]:
                if np.isfinite(std[t, [cx, cy]]).all():
                    ax.add_patch(Ellipse((mean[t, cx], mean[t, cy]), 4 * std[t, cx],
                                         4 * std[t, cy], color=style["color"], alpha=0.15,
                                         linewidth=0, label=None if t else "± 2 std"))
    x, y = target[steps, cx], target[steps, cy]
    if x.size:  # a square window around the true path, equal scales
        half = 0.6 * max(np.ptp(x), np.ptp(y), 1e-9)
        ax.set_xlim(x.min() + np.ptp(x) / 2 - half, x.min() + np.ptp(x) / 2 + half)
        ax.set_ylim(y.min() + np.ptp(y) / 2 - half, y.min() + np.ptp(y) / 2 + half)
    ax.set_xlabel(f"x (target column {cx})")
    ax.set_ylabel(f"y (target column {cy})")
    ax.set_aspect("equal", adjustable="box")
    ax.grid(alpha=0.3)


def _time_series(ax, cells, sequence, target, inputs, feature, colors, task):
    if not 0 <= feature < target.shape[1]:
        raise ValueError(f"feature must be in [0, {target.shape[1]}); got {feature}.")
    t = np.arange(target.shape[0])
    if task != "forecast" and inputs.shape[1] == target.shape[1]:
        ax.plot(t, inputs[:, feature], color="0.65", linewidth=0.8, marker=".", markersize=2,
                label="input")
    observed = np.isfinite(target[:, feature])
    few = observed.sum() <= 3
    steps = {"drawstyle": "steps-mid"} if task == "tagging" else {}
    ax.plot(t[observed], target[observed, feature], color="black", linewidth=2.0,
            marker="o" if few else None, label="truth", **steps)
    for _, cell in cells.iterrows():
        mean = np.asarray(cell["example_mean"][sequence], dtype=float)[:, feature]
        oracle = bool(cell["is_oracle"])
        style = ORACLE_STYLE if oracle else {"color": colors.get(cell["model"]), "linewidth": 1.2}
        shown = observed if few else np.isfinite(mean)
        ax.plot(t[shown], mean[shown], label=_text(cell["model"]), marker="o" if few else None,
                **style, **steps)
        std = cell["example_std"]
        if std is not None and not oracle and not few:
            std = np.asarray(std[sequence], dtype=float)[:, feature]
            ax.fill_between(t, mean - 2 * std, mean + 2 * std, color=style["color"], alpha=0.18,
                            linewidth=0, label="± 2 std")
    _limits(ax, target[observed, feature], "y", margin=0.6 if few else 0.35)
    ax.set_xlabel("time step")
    ax.set_ylabel(f"target column {feature}")
    ax.grid(alpha=0.3)


def _limits(ax, truth, axis, margin=0.25):
    """Limits around the truth, so that one wild estimate or band does not flatten the rest."""
    truth = np.asarray(truth, dtype=float)
    truth = truth[np.isfinite(truth)]
    if truth.size == 0:
        return
    low, high = truth.min(), truth.max()
    pad = margin * (high - low) if high > low else max(1.0, abs(high))
    (ax.set_xlim if axis == "x" else ax.set_ylim)(low - pad, high + pad)


def history_kind(history):
    """``"log_likelihood"`` for an objective that rose (EM), ``"loss"`` for one that fell."""
    history = np.asarray(history, dtype=float)
    history = history[np.isfinite(history)]
    if history.size < 2:
        return None
    return "log_likelihood" if history[-1] >= history[0] else "loss"


def plot_training_curves(results, dataset=None, kind="log_likelihood", ax=None):
    """Training histories (``history_``): EM log-likelihood per iteration, or loss per epoch.

    A history whose last value is above its first is an objective being maximised
    (EM's log-likelihood); one that fell is a loss. One line per cell (seed) at the
    largest training size, one colour per model.

    Parameters
    ----------
    results : pandas.DataFrame
    dataset : str, optional
        The first dataset with such histories by default.
    kind : {"log_likelihood", "loss"}
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if kind not in ("log_likelihood", "loss"):
        raise ValueError(f"kind must be 'log_likelihood' or 'loss'; got {kind!r}.")
    ok = at_full_size(results[(results["status"] == "ok") & ~results["is_oracle"]])
    chosen = ok[ok["history"].map(lambda h: h is not None and history_kind(h) == kind)]
    if dataset is not None:
        chosen = chosen[chosen["dataset"] == dataset]
    elif len(chosen):
        chosen = chosen[chosen["dataset"] == chosen["dataset"].iloc[0]]
    if chosen.empty:
        raise ValueError(f"no training history of kind {kind!r}"
                         + (f" on dataset {dataset!r}." if dataset else "."))
    ax = _axes(ax)
    colors = model_colors(results)
    seen = set()
    for _, cell in chosen.iterrows():
        history = np.asarray(cell["history"], dtype=float)
        label = None if cell["model"] in seen else _text(cell["model"])
        seen.add(cell["model"])
        ax.plot(np.arange(1, history.size + 1), history, color=colors.get(cell["model"]),
                linewidth=1.1, alpha=0.8, label=label)
    name = chosen["dataset"].iloc[0]
    if kind == "log_likelihood":
        ax.set_xlabel("EM iteration")
        ax.set_ylabel("training log-likelihood")
        ax.set_title(_text(f"{name}: EM log-likelihood per iteration"), fontsize="medium")
    else:
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss")
        ax.set_title(_text(f"{name}: training loss per epoch"), fontsize="medium")
        if _spans_decades(np.concatenate([np.asarray(h, float) for h in chosen["history"]])):
            ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_cost(results, ax=None, cost="fit_seconds"):
    """Cost against accuracy: seconds per cell against the relative gap to the oracle.

    One point per model and dataset (mean over seeds): the lower left buys accuracy
    cheaply. Colours are models, markers datasets.

    Parameters
    ----------
    results : pandas.DataFrame
    ax : matplotlib.axes.Axes, optional
    cost : {"fit_seconds", "predict_seconds", "n_params"}

    Returns
    -------
    matplotlib.axes.Axes
    """
    if cost not in ("fit_seconds", "predict_seconds", "n_params"):
        raise ValueError(f"cost must be 'fit_seconds', 'predict_seconds' or 'n_params'; "
                         f"got {cost!r}.")
    table = cost_table(results)
    table = table[(table["kind"] == "model") & table["gap_relative"].notna()
                  & table[cost].notna()]
    if table.empty:
        raise ValueError("no model has both a cost and a gap to the oracle.")
    ax = _axes(ax)
    colors = model_colors(results)
    markers = {p: _MARKERS[i % len(_MARKERS)] for i, p in enumerate(table["panel"].unique())}
    for _, row in table.iterrows():
        ax.scatter(max(row[cost], 1e-6), row["gap_relative"] * 100, s=40,
                   color=colors.get(row["model"]), marker=markers[row["panel"]],
                   edgecolor="black", linewidth=0.4, zorder=3)
    ax.axhline(0.0, **ORACLE_STYLE)
    ax.set_xscale("log")
    _percent_scale(ax, table["gap_relative"] * 100, axis="y")
    ax.set_xlabel({"fit_seconds": "fit seconds per cell", "predict_seconds":
                   "predict seconds per cell", "n_params": "fitted parameters"}[cost])
    ax.set_ylabel("gap to the oracle (%)")
    ax.set_title("Cost against gap to the oracle (dashed: the oracle)", fontsize="medium")
    ax.grid(alpha=0.3)
    _scatter_legend(ax, table, colors, markers)
    return ax


def _scatter_legend(ax, table, colors, markers):
    """One entry per model (colour) and, with several datasets, per dataset (marker)."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], linestyle="", marker="o", color=colors.get(m), label=_text(m))
               for m in dict.fromkeys(table["model"])]
    if len(markers) > 1:
        handles += [Line2D([], [], linestyle="", marker=mk, color="0.4", label=_text(p))
                    for p, mk in markers.items()]
    ax.legend(handles=handles, fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))


def plot_calibration(results, ax=None):
    """Coverage of the nominal 90 % interval against the mean squared z-score.

    A calibrated model sits at (1, 0.90), marked by the cross-hair: to the right and
    below it is over-confident (intervals too narrow), to the left and above
    under-confident. One point per model and dataset (mean over seeds).

    Returns
    -------
    matplotlib.axes.Axes
    """
    table = calibration_table(results)
    if table.empty:
        raise ValueError("no model in the results gives a predictive standard deviation.")
    ax = _axes(ax)
    colors = model_colors(results)
    markers = {p: _MARKERS[i % len(_MARKERS)] for i, p in enumerate(table["panel"].unique())}
    for _, row in table.iterrows():
        ax.scatter(row["mean_sq_z"], row["coverage_90"], s=40, color=colors.get(row["model"]),
                   marker=markers[row["panel"]], edgecolor="black", linewidth=0.4, zorder=3)
    ax.axvline(1.0, color="0.3", linewidth=0.8)
    ax.axhline(0.9, color="0.3", linewidth=0.8)
    if _spans_decades(table["mean_sq_z"]):
        ax.set_xscale("log")
    ax.set_xlabel("mean squared z-score (1 = calibrated)")
    ax.set_ylabel("coverage of the nominal 90 % interval")
    ax.set_title("Calibration (cross-hair: a calibrated model)", fontsize="medium")
    ax.grid(alpha=0.3)
    _scatter_legend(ax, table, colors, markers)
    return ax


def plot_gradient_norms(results, panel=None, ax=None):
    """Hidden-state gradient norm against the lag, relative to lag 0, on a log scale.

    ``||d loss_T / d h_{T-k}|| / ||d loss_T / d h_T||`` for each model (the mean over
    its cells of each cell's normalised curve), from cells run with
    ``gradient_norms=True``. A straight falling line is exponential decay
    (vanishing gradients); a flat one carries the error signal back undiminished.

    Parameters
    ----------
    results : pandas.DataFrame
    panel : str, optional
        A panel label (:func:`~seqmodels.compare.tables.panels`); the first panel
        with gradient norms by default.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    frame = cells_with_array(results, "gradient_norms")
    if panel is not None:
        frame = frame[frame["panel"] == panel]
    elif len(frame):
        frame = frame[frame["panel"] == frame["panel"].iloc[0]]
    if frame.empty:
        where = f" on panel {panel!r}." if panel else "; run with gradient_norms=True."
        raise ValueError("no gradient norms recorded" + where)
    ax = _axes(ax)
    colors = model_colors(results)
    for model, group in frame.groupby("model", sort=False):
        curves = [np.asarray(g, dtype=float) for g in group["gradient_norms"]]
        lags = min(len(c) for c in curves)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.log(np.stack([c[:lags] / c[0] for c in curves]))
        # a norm that underflowed to 0 (or a curve whose lag-0 norm is 0) has no log
        usable = np.isfinite(relative)
        counts = usable.sum(axis=0)
        mean = np.full(lags, np.nan)
        mean[counts > 0] = np.exp(np.where(usable, relative, 0.0).sum(axis=0)[counts > 0]
                                  / counts[counts > 0])
        ax.plot(np.arange(lags), mean, color=colors.get(model), linewidth=1.4,
                label=_text(model))
    ax.set_yscale("log")
    ax.set_xlabel("lag T - t (steps back from the scored step)")
    ax.set_ylabel("||dL_T / dh_t|| relative to lag 0")
    ax.set_title(_text(f"{frame['panel'].iloc[0]}: gradient norm against the lag"),
                 fontsize="medium")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


#: Most heads drawn beside the heads' mean in an attention figure.
MAX_HEADS_DRAWN = 8


def plot_attention_weights(results, model=None, panel=None, figure=None):
    """One cell's attention weights as heatmaps: the heads' mean, then each head.

    The cell is the one :func:`~seqmodels.compare.tables.attention_examples` picks (the
    longest sequences, first data seed and model seed) from cells run with
    ``attention_weights=True``; its first test sequence. In each panel x is the attended
    position s, y the step t, the colour the weight (on a square-root scale, so that the
    small weights of long rows show); every row sums to 1 and nothing lies above the
    diagonal. Heads often split the work, so a pattern that one head carries can be faint
    in the mean. On a dataset of known layout (``copy_memory``) a dashed box marks the
    recall steps against the positions of the symbols they recall.

    Parameters
    ----------
    results : pandas.DataFrame
    model : str, optional
        A model label; the first model with attention weights by default.
    panel : str, optional
        A panel label; by default the one with the longest sequences.
    figure : matplotlib.figure.Figure, optional
        Drawn into (a new figure by default); one panel for the mean and one per head,
        at most :data:`MAX_HEADS_DRAWN` heads.

    Returns
    -------
    matplotlib.figure.Figure
    """
    examples = attention_examples(results, model, panel)
    if examples.empty:
        asked = ", ".join(f"{k}={v!r}" for k, v in (("model", model), ("panel", panel))
                          if v is not None)
        raise ValueError("no attention weights recorded" + (f" for {asked}" if asked else "")
                         + "; run with attention_weights=True and a model that has them.")
    cell = examples.iloc[0]
    heads = cell["heads"][:MAX_HEADS_DRAWN]
    maps = [("heads averaged" if len(cell["heads"]) > 1 else "weights", cell["weights"])]
    if len(cell["heads"]) > 1:
        maps += [(f"head {h + 1}", head) for h, head in enumerate(heads)]
    layout = cell["layout"]
    if figure is None:
        import matplotlib.pyplot as plt

        figure = plt.figure(figsize=attention_figure_size(len(maps), layout is not None))
    from matplotlib.colors import PowerNorm
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import MaxNLocator

    grid = figure.subplots(2 if layout is not None else 1, len(maps), squeeze=False,
                           gridspec_kw={"height_ratios": [3, 1]} if layout is not None else None)
    # square-root colours: the early rows (row 0 is all on one position) would otherwise
    # leave a long row's weights of 1 / t in the dark
    norm = PowerNorm(0.5, vmin=0.0, vmax=max(float(cell["heads"].max()), 1e-12))
    for ax, (title, weights) in zip(grid[0], maps):
        image = ax.imshow(weights, cmap="viridis", interpolation="nearest", norm=norm)
        ax.set_title(title, fontsize="medium")
        if layout is not None:
            rows, columns = layout
            ax.add_patch(Rectangle((columns.start - 0.5, rows.start - 0.5),
                                   columns.stop - columns.start, rows.stop - rows.start,
                                   fill=False, edgecolor="red", linestyle="--", linewidth=1.2,
                                   label="recall steps x stored symbols"))
        ax.set_xlabel("attended position s")
    if layout is not None:
        # the recall rows, enlarged: the k-th recall step on the k-th stored symbol is
        # the diagonal of the dashed box (the symbols and as many positions after them)
        rows, columns = layout
        shown = slice(columns.start, min(columns.stop + (columns.stop - columns.start),
                                         cell["steps"]))
        for ax, (_, weights) in zip(grid[1], maps):
            ax.imshow(weights[rows, shown], cmap="viridis", interpolation="nearest", norm=norm,
                      extent=(shown.start - 0.5, shown.stop - 0.5, rows.stop - 0.5,
                              rows.start - 0.5))
            ax.add_patch(Rectangle((columns.start - 0.5, rows.start - 0.5),
                                   columns.stop - columns.start, rows.stop - rows.start,
                                   fill=False, edgecolor="red", linestyle="--", linewidth=1.2))
            ax.set_xlabel("attended position s (first steps)", fontsize="small")
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        grid[1][0].set_ylabel("recall steps", fontsize="small")
        grid[0][0].legend(fontsize="x-small", loc="upper right")
    position = "x_{s-1}; 0: start value" if cell["task"] == "forecast" else "x_s"
    grid[0][0].set_ylabel("step t (row: where the estimate at t looks)")
    figure.colorbar(image, ax=list(grid.ravel()), label="attention weight", shrink=0.9)
    figure.suptitle(_text(f"{cell['model']} on {cell['panel']}: attention weights\n(first "
                          f"test sequence, data seed {cell['data_seed']}; position s holds "
                          f"{position})"), fontsize="medium")
    return figure


def attention_figure_size(n_maps, recall_rows=False):
    """Inches for an attention figure of ``n_maps`` heatmaps in a row (and a row of
    enlarged recall steps below them when ``recall_rows``)."""
    return (min(3.6 * n_maps + 1.2, 22.0),
            (4.4 if n_maps > 1 else 5.0) + (1.6 if recall_rows else 0.0))
