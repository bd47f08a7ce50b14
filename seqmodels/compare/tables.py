"""The numbers behind a report, one function per section, as pandas DataFrames.

Every function takes the results of :func:`~seqmodels.compare.compare` (one row per
cell) and returns plain numbers, so a notebook gets exactly what the report prints.
Cells are grouped into **panels**: a dataset, and one panel per value when a suite
sweeps a dataset parameter. Summaries, gaps, ranks, costs and calibration use each
panel's largest training size; the curves show the rest.
"""

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .results import oracle_gaps
from ..datasets import dataset_defaults
from ..metrics import value_range
from .stats import (critical_difference, cliques, friedman_test, gradient_decay, holm,
                    mean_interval, metric_interval, paired_t_test, rank_scores)
from .verdicts import judge, rope_width

__all__ = ["panels", "at_full_size", "summarise", "oracle_gap_table", "ranks_across_datasets",
           "cost_growth_table",
           "Ranks", "curve_axes", "curve_table", "cost_table", "calibration_table", "failure_table",
           "fitted_parameter_table", "gradient_table", "attention_table", "attention_examples",
           "recall_layout", "cells_with_array", "warning_table", "baseline_rows",
           "paired_evidence", "SECONDARY_METRICS"]

#: Secondary metric columns a summary may show beside the headline: column -> label.
SECONDARY_METRICS = {"score": "R²", "rmse": "RMSE", "accuracy": "accuracy",
                     "nll_per_step": "NLL per step"}

#: Baseline names (``Dataset.baselines``) -> (result column, transform of the value).
_BASELINE_COLUMNS = {
    "accuracy": ("accuracy", float), "rmse": ("rmse", float), "mse": ("rmse", math.sqrt),
    "mae": ("mae", float), "nll_per_step": ("nll_per_step", float),
    "success_rate": ("success_rate", float),
}


def _na(value):
    return value is None or (not isinstance(value, (list, tuple, np.ndarray)) and pd.isna(value))


def _key(values):
    """A hashable key from column values, NaN / NA as one marker."""
    return tuple("NA" if _na(v) else (float(v) if isinstance(v, (int, float, np.number))
                                      else str(v)) for v in values)


def _sweep_text(sweep):
    """``'{"lag": 5}'`` -> ``'lag=5'``; empty for no sweep."""
    if _na(sweep):
        return ""
    params = json.loads(sweep) if isinstance(sweep, str) else dict(sweep)
    return ", ".join(f"{k}={v}" for k, v in params.items())


def panels(results):
    """Each cell's panel label: the dataset, with the swept parameter's value if any.

    Parameters
    ----------
    results : pandas.DataFrame
        From :func:`~seqmodels.compare.compare`.

    Returns
    -------
    pandas.Series of str
        Aligned with ``results``, e.g. ``"delayed_xor (lag=10)"``.

    Examples
    --------
    >>> frame = pd.DataFrame({"dataset": ["xor", "xor"], "sweep": ['{"lag": 5}', "{}"]})
    >>> panels(frame).tolist()
    ['xor (lag=5)', 'xor']
    """
    labels = [d if not _sweep_text(s) else f"{d} ({_sweep_text(s)})"
              for d, s in zip(results["dataset"], results["sweep"])]
    return pd.Series(labels, index=results.index, dtype=object)


def at_full_size(frame):
    """The cells at the largest training size of their dataset (all cells without sizes).

    Summaries, gaps, ranks, examples and training curves use these; learning curves
    use every size.
    """
    keep = pd.Series(True, index=frame.index)
    for _, group in frame.groupby("dataset", sort=False):
        sizes = group["train_size"]
        if sizes.isna().all():
            continue
        ok = group[group["status"] == "ok"]
        if ok.empty or ok["n_train"].isna().all():
            largest = sizes.max()
        else:
            largest = ok.loc[ok["n_train"].astype(float).idxmax(), "train_size"]
        keep[group.index] = np.isclose(sizes.astype(float), float(largest))
    return frame[keep]


def cells_with_array(results, column):
    """The finished cells at full size that recorded the array ``column`` (more than one
    number), with a ``panel`` column; empty when none did.

    What the per-cell diagnostics (``gradient_norms``, ``attention_weights``) read.
    """
    frame = results.copy()
    frame["panel"] = panels(frame)
    frame = at_full_size(frame[frame["status"] == "ok"])
    if column not in frame:
        return frame.iloc[:0]
    return frame[frame[column].map(lambda a: a is not None and np.size(a) > 1)]


def _prepared(results):
    """Gaps added, panel labels, the cells of the summary condition."""
    frame = oracle_gaps(results)
    frame["panel"] = panels(frame)
    return at_full_size(frame)


def _panel_metric(group):
    """(metric label, greater_is_better) of a panel, from its finished cells."""
    ok = group[group["status"] == "ok"]
    source = ok if len(ok) else group
    label = source["metric_label"].dropna()
    better = source["greater_is_better"].dropna()
    return (str(label.iloc[0]) if len(label) else "score",
            bool(better.iloc[0]) if len(better) else False)


def baseline_rows(group):
    """Reference rows for a panel from its ``baselines`` column (chance-level predictors).

    Returns
    -------
    list of dict
        ``model`` (e.g. ``"baseline: mse"``), ``kind="baseline"`` and the baseline's
        value in the column it belongs to (an MSE becomes an RMSE; a name such as
        ``mse_one_value_remembered`` counts as an MSE), plus ``headline`` when that
        column is the panel's headline metric.
    """
    if "baselines" not in group:
        return []
    texts = group["baselines"].dropna()
    if texts.empty:
        return []
    metric = group["metric"].dropna()
    metric = metric.iloc[0] if len(metric) else None
    rows = []
    for name, value in json.loads(texts.iloc[0]).items():
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        row = {"model": f"baseline: {name.replace('_', ' ')} = {value:.3g}", "kind": "baseline",
               "baseline": name, "baseline_value": float(value)}
        key = name if name in _BASELINE_COLUMNS else next(
            (k for k in _BASELINE_COLUMNS if name.startswith(k + "_")), None)  # mse_one_value_...
        column, transform = _BASELINE_COLUMNS.get(key, (None, None))
        if column is not None:
            row[column] = transform(value)
            if column == metric:
                row["headline"] = transform(value)
        rows.append(row)
    return rows


def _pair_keys(group):
    return [_key(v) for v in group[["data_seed", "model_seed", "train_size"]].itertuples(
        index=False)]


def _metric_name(group):
    names = group["metric"].dropna() if "metric" in group else ()
    return str(names.iloc[0]) if len(names) else "rmse"


def paired_evidence(cells, reference, keys, reference_keys, greater_is_better):
    """Per-seed evidence of ``cells`` against ``reference`` on the cells both have.

    Parameters
    ----------
    cells, reference : pandas.DataFrame
        Finished cells of the model and of its reference (the best model, the oracle).
    keys, reference_keys : list
        Join keys of the rows of each (the same seed and training size match).
    greater_is_better : bool

    Returns
    -------
    per_sequence : list of ndarray
        For each shared cell, the per-sequence differences of the headline metric on the
        same test sequences (positive: worse); empty where the sequences do not match.
    seed_differences : ndarray
        For each shared cell, the difference of the pooled headline metric (positive: worse).
    """
    sign = -1.0 if greater_is_better else 1.0
    by_key = dict(zip(reference_keys, (row for _, row in reference.iterrows())))
    per_sequence, seeds = [], []
    for key, (_, cell) in zip(keys, cells.iterrows()):
        ref = by_key.get(key)
        if ref is None or not (np.isfinite(cell["headline"]) and np.isfinite(ref["headline"])):
            continue
        mine, theirs = cell["seq_headline"], ref["seq_headline"]
        if mine is None or theirs is None or len(mine) != len(theirs):
            per_sequence.append(np.empty(0))
        else:
            per_sequence.append(sign * (np.asarray(mine, float) - np.asarray(theirs, float)))
        seeds.append(sign * (float(cell["headline"]) - float(ref["headline"])))
    return per_sequence, np.asarray(seeds, dtype=float)


def _judge_all(evidence, reference_value, metric, rope, alpha, confidence):
    """Verdicts for several comparisons against one reference, p-values Holm-adjusted."""
    raw = {name: paired_t_test(seeds, np.zeros(len(seeds))).p_value if len(seeds) > 1
           else np.nan for name, (_, seeds) in evidence.items()}
    adjusted = dict(zip(raw, holm(list(raw.values())))) if raw else {}
    width = rope_width(metric, reference_value, rope)
    return {name: judge(per_sequence, seeds, width, adjusted[name], alpha, confidence)
            for name, (per_sequence, seeds) in evidence.items()}


def _versus_best(models, greater_is_better, metric, alpha, confidence, rope):
    """Rank models by mean headline; judge each against the best (:mod:`.verdicts`)."""
    means = {m: np.nanmean(g["headline"]) if g["headline"].notna().any() else np.nan
             for m, g in models.items()}
    ranked = sorted((m for m in means if np.isfinite(means[m])),
                    key=lambda m: -means[m] if greater_is_better else means[m])
    empty = {"rank": np.nan, "vs_best": "no result", "vs_best_note": "", "p_value": np.nan,
             "rope": np.nan}
    out = {m: dict(empty) for m in models}
    if not ranked:
        return out
    best = ranked[0]
    best_keys = _pair_keys(models[best])
    evidence = {m: paired_evidence(models[m], models[best], _pair_keys(models[m]), best_keys,
                                   greater_is_better) for m in ranked[1:]}
    verdicts = _judge_all(evidence, means[best], metric, rope, alpha, confidence)
    for position, model in enumerate(ranked, start=1):
        out[model]["rank"] = position
        if model == best:
            out[model].update(vs_best="best", rope=rope_width(metric, means[best], rope))
            continue
        verdict = verdicts[model]
        out[model].update(vs_best=verdict.verdict, vs_best_note=verdict.note,
                          p_value=verdict.p_value, rope=verdict.rope)
    return out


def summarise(results, confidence=0.95, alpha=0.05, rope=None):
    """One row per panel and model: the headline metric over seeds, and a verdict against the best.

    For each model the headline metric's mean and sample standard deviation
    (``ddof=1``) over its finished cells (seeds), and a ``confidence`` interval of the
    mean that respects the metric's range (:func:`~seqmodels.compare.stats.metric_interval`:
    log scale for errors, logit scale for proportions; none from fewer than 3 seeds).
    Models are ranked by the mean (1 = best); each other model is judged against the
    best by the rule of :mod:`seqmodels.compare.verdicts` (per-seed paired
    differences on the shared test sequences, and the spread over seeds, Holm-adjusted
    over the panel's models): ``vs_best`` is ``"worse"``, ``"tied"`` (practically
    equivalent within the ROPE, from 3 seeds on), ``"can't tell"``, ``"better"`` or
    ``"untested"``, with the evidence in words in ``vs_best_note``. The oracle and the
    dataset's chance baselines come first as reference rows.

    Parameters
    ----------
    results : pandas.DataFrame
        From :func:`~seqmodels.compare.compare`.
    confidence : float, default=0.95
    alpha : float, default=0.05
    rope : dict, optional
        Regions of practical equivalence by metric name, overriding
        :data:`~seqmodels.compare.verdicts.DEFAULT_ROPE`.

    Returns
    -------
    pandas.DataFrame
        Columns ``panel``, ``dataset``, ``model``, ``estimator``, ``kind`` (``oracle``,
        ``baseline`` or ``model``), ``n`` (finished cells), ``n_diverged`` (training
        diverged: a measured outcome), ``n_failed`` (errors and timeouts), ``headline``,
        ``headline_std``, ``ci_low``, ``ci_high``, ``rank``, ``vs_best``,
        ``vs_best_note``, ``p_value`` (seed-level, Holm-adjusted), ``rope`` (its
        half-width in the metric's units), the means of ``score``, ``rmse``,
        ``accuracy``, ``nll_per_step``, ``mae``, ``gap``, ``gap_relative``,
        ``fit_seconds``, ``predict_seconds``, ``n_params``, and ``metric``,
        ``metric_label``, ``greater_is_better``.
    """
    frame = _prepared(results)
    rows = []
    for panel, group in frame.groupby("panel", sort=False):
        label, better = _panel_metric(group)
        metric = _metric_name(group)
        dataset = group["dataset"].iloc[0]
        ok = group[group["status"] == "ok"]
        models = {m: g for m, g in ok[~ok["is_oracle"]].groupby("model", sort=False)}
        verdicts = _versus_best(models, better, metric, alpha, confidence, rope)
        common = {"panel": panel, "dataset": dataset, "metric": metric, "metric_label": label,
                  "greater_is_better": better}
        panel_rows = [{**common, **row} for row in baseline_rows(group)]
        for model, cells in group.groupby("model", sort=False):
            done = cells[cells["status"] == "ok"]
            diverged = int((cells["status"] == "diverged").sum())
            oracle = bool(cells["is_oracle"].iloc[0])
            interval = metric_interval(done["headline"].to_numpy(dtype=float),
                                       value_range(metric), confidence)
            row = {**common, "model": model, "kind": "oracle" if oracle else "model",
                   "estimator": cells["estimator"].dropna().iloc[0]
                   if cells["estimator"].notna().any() else None,
                   "n": len(done), "n_diverged": diverged,
                   "n_failed": len(cells) - len(done) - diverged,
                   "headline": interval.mean, "headline_std": interval.std,
                   "ci_low": interval.low, "ci_high": interval.high,
                   **verdicts.get(model, {"rank": np.nan, "vs_best": "", "vs_best_note": "",
                                          "p_value": np.nan, "rope": np.nan})}
            for column in ("score", "rmse", "mae", "accuracy", "nll_per_step", "gap",
                           "gap_relative", "fit_seconds", "predict_seconds", "n_params"):
                values = done[column].to_numpy(dtype=float)
                row[column] = values[np.isfinite(values)].mean() if np.isfinite(values).any() \
                    else np.nan
            panel_rows.append(row)
        order = {"oracle": 0, "baseline": 1, "model": 2}
        panel_rows.sort(key=lambda r: (order[r["kind"]], r.get("rank", np.nan)
                                       if np.isfinite(r.get("rank", np.nan)) else np.inf))
        rows.extend(panel_rows)
    columns = ["panel", "dataset", "model", "estimator", "kind", "n", "n_diverged", "n_failed",
               "headline", "headline_std", "ci_low", "ci_high", "rank", "vs_best",
               "vs_best_note", "p_value", "rope", "score", "rmse", "accuracy", "nll_per_step",
               "mae", "gap", "gap_relative", "fit_seconds", "predict_seconds", "n_params",
               "metric", "metric_label", "greater_is_better"]
    return pd.DataFrame(rows, columns=columns)


def oracle_gap_table(results, confidence=0.95, alpha=0.05, rope=None):
    """Each model's gap to the oracle per panel: absolute, relative, paired, and its verdict.

    The gap is positive where the model is worse than the oracle (see
    :func:`~seqmodels.compare.oracle_gaps`). ``gap`` and ``gap_relative`` are means
    over the seeds of the gap of the pooled headline metric. The paired interval pools
    the per-sequence differences ``model - oracle`` over every test sequence of every
    seed, the same sequences for both: how far the test draw alone could move the gap,
    for the models as fitted. The ``verdict`` is the same rule as the summary's
    (:mod:`seqmodels.compare.verdicts`), with the oracle as the reference: per-seed
    paired intervals and the spread over seeds, Holm-adjusted over the panel's models.

    Returns
    -------
    pandas.DataFrame
        ``panel``, ``model``, ``n`` (cells), ``oracle_headline``, ``headline``, ``gap``,
        ``gap_std`` (over seeds), ``gap_relative``, ``paired_gap``, ``paired_low``,
        ``paired_high``, ``n_sequences``, ``verdict`` (``"worse"``, ``"better"``,
        ``"tied"``, ``"can't tell"``, ``"untested"``), ``note`` (the evidence in words),
        ``metric_label``, ``greater_is_better``. Panels without an oracle have no rows.
    """
    frame = _prepared(results)
    rows = []
    for panel, group in frame.groupby("panel", sort=False):
        label, better = _panel_metric(group)
        metric = _metric_name(group)
        finished = group[group["status"] == "ok"]
        oracle = finished[finished["is_oracle"]]
        ok = finished[~finished["is_oracle"] & finished["gap"].notna()]
        if oracle.empty or ok.empty:
            continue
        oracle_keys = [_key(v) for v in oracle[["data_seed", "train_size"]].itertuples(
            index=False)]
        models = {m: g for m, g in ok.groupby("model", sort=False)}
        evidence = {m: paired_evidence(g, oracle, [_key(v) for v in g[
            ["data_seed", "train_size"]].itertuples(index=False)], oracle_keys, better)
            for m, g in models.items()}
        verdicts = _judge_all(evidence, float(oracle["headline"].mean()), metric, rope, alpha,
                              confidence)
        for model, cells in models.items():
            differences = [d for d in evidence[model][0] if d.size]
            pooled = mean_interval(np.concatenate(differences) if differences else [], confidence)
            gaps = mean_interval(cells["gap"].to_numpy(dtype=float), confidence)
            verdict = verdicts[model]
            rows.append({"panel": panel, "model": model, "n": len(cells),
                         "oracle_headline": cells["oracle_headline"].mean(),
                         "headline": cells["headline"].mean(), "gap": gaps.mean,
                         "gap_std": gaps.std, "gap_relative": cells["gap_relative"].mean(),
                         "paired_gap": pooled.mean, "paired_low": pooled.low,
                         "paired_high": pooled.high, "n_sequences": pooled.n,
                         "verdict": verdict.verdict, "note": verdict.note,
                         "metric_label": label, "greater_is_better": better})
    columns = ["panel", "model", "n", "oracle_headline", "headline", "gap", "gap_std",
               "gap_relative", "paired_gap", "paired_low", "paired_high", "n_sequences",
               "verdict", "note", "metric_label", "greater_is_better"]
    table = pd.DataFrame(rows, columns=columns)
    order = {p: i for i, p in enumerate(table["panel"].unique())}
    table = table.assign(_order=table["panel"].map(order))
    return table.sort_values(["_order", "gap"], kind="stable").drop(columns="_order") \
        .reset_index(drop=True)


@dataclass(frozen=True)
class Ranks:
    """Models ranked across panels (datasets): Demšar's (2006) procedure.

    Attributes
    ----------
    scores : pandas.DataFrame
        Mean headline metric over seeds, panels x models (complete models only).
    ranks : pandas.DataFrame
        Rank of each model in each panel (1 = best, ties share their mean rank).
    mean_ranks : pandas.Series
        Sorted best first.
    friedman : Friedman
        The Friedman test (chi-squared and Iman-Davenport F).
    cd : float
        Nemenyi's critical difference at ``alpha``.
    alpha : float
    cliques : list of tuple of str
        Maximal groups of models not significantly different (ranks within < cd).
    excluded : list of str
        Models left out because a ranked panel has no result for them.
    excluded_panels : list of str
        Panels left out because fewer than 3 models have a result there.
    """

    scores: pd.DataFrame
    ranks: pd.DataFrame
    mean_ranks: pd.Series
    friedman: object
    cd: float
    alpha: float
    cliques: list
    excluded: list
    excluded_panels: list


def ranks_across_datasets(results, alpha=0.05):
    """Mean ranks, Friedman test and Nemenyi critical difference over panels.

    Each panel (dataset) is a block; each model's score in it is its mean headline
    metric over seeds. Panels where fewer than 3 models have a result are left out,
    then models without a result in every remaining panel (the oracle never takes
    part). Needs at least 2 panels and 3 such models.

    Returns
    -------
    Ranks or None
        None where there are too few panels or models to rank.
    """
    frame = _prepared(results)
    ok = frame[(frame["status"] == "ok") & ~frame["is_oracle"] & frame["headline"].notna()]
    scores = ok.pivot_table(index="panel", columns="model", values="headline", aggfunc="mean",
                            sort=False)
    if scores.empty:
        return None
    # panels where fewer than 3 models have a result cannot rank; then complete models only
    scores = scores[scores.notna().sum(axis=1) >= 3]
    complete = scores.columns[scores.notna().all(axis=0)]
    excluded = [m for m in frame.loc[~frame["is_oracle"], "model"].unique() if m not in complete]
    scores = scores[complete]
    if scores.shape[0] < 2 or scores.shape[1] < 3:
        return None
    better = [_panel_metric(frame[frame["panel"] == p])[1] for p in scores.index]
    result = friedman_test(scores.to_numpy(), better)
    ranks = pd.DataFrame(rank_scores(scores.to_numpy(), better), index=scores.index,
                         columns=scores.columns)
    mean_ranks = pd.Series(result.mean_ranks, index=scores.columns).sort_values(kind="stable")
    cd = critical_difference(scores.shape[1], scores.shape[0], alpha)
    groups = [tuple(scores.columns[i] for i in g) for g in cliques(result.mean_ranks, cd)]
    left_out = [p for p in frame["panel"].unique() if p not in scores.index]
    return Ranks(scores, ranks, mean_ranks, result, cd, alpha, groups, excluded, left_out)


def curve_axes(results):
    """The experiment axes of a run: ``(dataset, axis)`` pairs with more than one value.

    ``axis`` is ``"n_train"`` (learning curve), ``"data_<param>"`` (a swept dataset
    parameter: memory, noise) or ``"horizon"`` (forecast horizons).
    """
    out = []
    ok = results[results["status"] == "ok"]
    for dataset, group in ok.groupby("dataset", sort=False):
        if group["train_size"].notna().any() and group["n_train"].nunique() > 1:
            out.append((dataset, "n_train"))
        swept = set()
        for text in group["sweep"].dropna():
            swept.update(json.loads(text))
        for param in sorted(swept):
            column = f"data_{param}"
            if column in group and group[column].nunique() > 1 \
                    and pd.api.types.is_numeric_dtype(group[column]):
                out.append((dataset, column))
        if any(h is not None and len(h) > 1 for h in group["horizons"]):
            out.append((dataset, "horizon"))
    return out


def curve_table(results, dataset, axis):
    """Mean and sample standard deviation over seeds of each model along one axis.

    Parameters
    ----------
    results : pandas.DataFrame
    dataset : str
    axis : str
        As :func:`curve_axes` names it. For ``"horizon"`` the value is the RMSE of the
        h-step forecasts; otherwise the headline metric. Axes other than ``"n_train"``
        use the largest training size.

    Returns
    -------
    pandas.DataFrame
        ``model``, ``is_oracle``, ``x``, ``mean``, ``std``, ``n``, sorted by model and x.
    """
    ok = results[(results["status"] == "ok") & (results["dataset"] == dataset)]
    if axis != "n_train":
        ok = at_full_size(ok)
    if axis == "horizon":
        rows = []
        for _, row in ok.iterrows():
            if row["horizons"] is None or row["horizon_rmse"] is None:
                continue
            for h, value in zip(row["horizons"], row["horizon_rmse"]):
                rows.append({"model": row["model"], "is_oracle": row["is_oracle"], "x": float(h),
                             "value": float(value)})
        long = pd.DataFrame(rows, columns=["model", "is_oracle", "x", "value"])
    else:
        if axis not in ok:
            raise ValueError(f"axis {axis!r} is not a column of the results.")
        long = pd.DataFrame({"model": ok["model"], "is_oracle": ok["is_oracle"],
                             "x": ok[axis].astype(float), "value": ok["headline"]})
    out = []
    for (model, oracle, x), group in long.groupby(["model", "is_oracle", "x"], sort=False):
        interval = mean_interval(group["value"].to_numpy(dtype=float))
        out.append({"model": model, "is_oracle": oracle, "x": x, "mean": interval.mean,
                    "std": interval.std, "n": interval.n})
    table = pd.DataFrame(out, columns=["model", "is_oracle", "x", "mean", "std", "n"])
    order = {m: i for i, m in enumerate(long["model"].unique())}
    return table.sort_values(["model", "x"], key=lambda c: c.map(order) if c.name == "model"
                             else c, kind="stable").reset_index(drop=True)


def cost_table(results):
    """Parameters and seconds per panel and model, beside the relative gap to the oracle.

    Returns
    -------
    pandas.DataFrame
        ``panel``, ``model``, ``kind``, ``n``, ``n_params``, ``fit_seconds``,
        ``predict_seconds`` (means per cell), ``gap_relative``.
    """
    summary = summarise(results)
    summary = summary[(summary["kind"] != "baseline") & (summary["n"] > 0)]
    return summary[["panel", "model", "kind", "n", "n_params", "fit_seconds", "predict_seconds",
                    "gap_relative"]].reset_index(drop=True)


def _mean_steps(steps):
    """Mean scored steps per test sequence of a cell (its ``seq_steps`` array), or NaN."""
    if steps is None or np.size(steps) == 0:
        return np.nan
    return float(np.mean(steps))


def _growth_exponent(lengths, seconds):
    """Least-squares slope ``b`` of ``log seconds = a + b log length`` (NaN if undefined)."""
    keep = np.isfinite(seconds) & (seconds > 0)
    if np.unique(lengths[keep]).size < 2:
        return np.nan
    return float(np.polyfit(np.log(lengths[keep]), np.log(seconds[keep]), 1)[0])


def cost_growth_table(results, min_ratio=1.5):
    """How each model's cost grows with the sequence length, where the suite varies it.

    Cost per sequence: ``fit_seconds / n_train`` and ``predict_seconds / n_test``;
    length: the mean number of scored steps per test sequence (``seq_steps``). The
    growth exponent ``b`` of ``seconds ~ length^b`` is the least-squares slope on the
    log-log points of every finished cell of the model on the dataset (all seeds and
    swept values, the largest training size): about 1 for a recurrence or windowed
    attention, up to 2 for full attention once its T^2 part dominates (at short lengths
    the per-step work, linear in T, hides it). Only datasets whose lengths span a
    factor of at least ``min_ratio`` are listed.

    Returns
    -------
    pandas.DataFrame
        ``dataset``, ``model``, ``n``, ``shortest``, ``longest`` (mean steps),
        ``fit_short``, ``fit_long``, ``predict_short``, ``predict_long`` (mean seconds
        per sequence at the shortest and longest length), ``fit_exponent``,
        ``predict_exponent``.
    """
    columns = ["dataset", "model", "n", "shortest", "longest", "fit_short", "fit_long",
               "predict_short", "predict_long", "fit_exponent", "predict_exponent"]
    if "seq_steps" not in results:
        return pd.DataFrame(columns=columns)
    frame = at_full_size(results[(results["status"] == "ok") & ~results["is_oracle"].astype(bool)])
    rows = []
    for (dataset, model), cells in frame.groupby(["dataset", "model"], sort=False):
        length = cells["seq_steps"].map(_mean_steps).to_numpy(dtype=float)
        fit = (cells["fit_seconds"] / cells["n_train"]).to_numpy(dtype=float)
        predict = (cells["predict_seconds"] / cells["n_test"]).to_numpy(dtype=float)
        keep = np.isfinite(length) & (length > 0)
        if not keep.any() or length[keep].max() < min_ratio * length[keep].min():
            continue
        length, fit, predict = length[keep], fit[keep], predict[keep]
        short, long = length == length.min(), length == length.max()
        rows.append({"dataset": dataset, "model": model, "n": int(keep.sum()),
                     "shortest": length.min(), "longest": length.max(),
                     "fit_short": float(np.nanmean(fit[short])),
                     "fit_long": float(np.nanmean(fit[long])),
                     "predict_short": float(np.nanmean(predict[short])),
                     "predict_long": float(np.nanmean(predict[long])),
                     "fit_exponent": _growth_exponent(length, fit),
                     "predict_exponent": _growth_exponent(length, predict)})
    return pd.DataFrame(rows, columns=columns)


def calibration_table(results, confidence=0.95):
    """Coverage of the nominal 90 % interval and mean squared z-score per probabilistic model.

    A calibrated Gaussian predictive distribution covers 90 % of the targets with
    ``mean ± 1.645 std`` and has a mean squared z-score ``((y - mean) / std)²`` of 1:
    below 1 the model is under-confident, above 1 over-confident.

    Returns
    -------
    pandas.DataFrame
        ``panel``, ``model``, ``kind``, ``n``, ``coverage_90``, ``coverage_90_std``,
        ``mean_sq_z``, ``mean_sq_z_std``; only models that give a standard deviation.
    """
    frame = _prepared(results)
    ok = frame[(frame["status"] == "ok") & frame["coverage_90"].notna()]
    rows = []
    for (panel, model), cells in ok.groupby(["panel", "model"], sort=False):
        coverage = mean_interval(cells["coverage_90"].to_numpy(dtype=float), confidence)
        z = mean_interval(cells["mean_sq_z"].to_numpy(dtype=float), confidence)
        rows.append({"panel": panel, "model": model,
                     "kind": "oracle" if cells["is_oracle"].iloc[0] else "model",
                     "n": len(cells), "coverage_90": coverage.mean,
                     "coverage_90_std": coverage.std, "mean_sq_z": z.mean,
                     "mean_sq_z_std": z.std})
    return pd.DataFrame(rows, columns=["panel", "model", "kind", "n", "coverage_90",
                                       "coverage_90_std", "mean_sq_z", "mean_sq_z_std"])


def warning_table(results):
    """Finished cells whose fit warned (ConvergenceWarning: stopped at its iteration limit).

    Returns
    -------
    pandas.DataFrame
        ``model``, ``panel``, ``data_seed``, ``model_seed``, ``train_size``, ``warnings``
        (the distinct messages, one per line); empty when no cell warned.
    """
    columns = ["model", "panel", "data_seed", "model_seed", "train_size", "warnings"]
    if "warnings" not in results:
        return pd.DataFrame(columns=columns)
    warned = results[(results["status"] == "ok")
                     & results["warnings"].map(lambda w: isinstance(w, str) and bool(w))].copy()
    warned["panel"] = panels(warned)
    return warned[columns].reset_index(drop=True)


def failure_table(results):
    """The cells that failed or timed out, with their error text and traceback."""
    failed = results[results["status"] != "ok"].copy()
    failed["panel"] = panels(failed)
    columns = ["status", "model", "panel", "data_seed", "model_seed", "train_size", "error",
               "traceback"]
    return failed[columns].reset_index(drop=True)


#: Models with more fitted numbers than this are left out of the fitted-parameter table
#: (a network's standardisation constants say nothing a reader can check).
MAX_FITTED_NUMBERS = 12


def fitted_parameter_table(results):
    """The small fitted parameters of each dataset and model, averaged over its cells.

    Reads the ``fitted_params`` column (scikit-learn's trailing-underscore attributes of at
    most 16 numbers each), at each dataset's largest training size; a model whose
    parameters add up to more than
    :data:`MAX_FITTED_NUMBERS` numbers, or that learned nothing (an oracle), is left out.

    Returns
    -------
    pandas.DataFrame
        ``dataset``, ``model``, ``parameter``, ``value`` (the mean over cells, as an
        array), ``std`` (over cells) and ``n`` (cells).
    """
    frame = at_full_size(results)
    frame = frame[(frame["status"] == "ok") & ~frame["is_oracle"]]
    rows = []
    for (dataset, model), group in frame.groupby(["dataset", "model"], sort=False):
        decoded = [json.loads(text) for text in group["fitted_params"] if isinstance(text, str)]
        if not decoded or int(group["n_params"].fillna(0).max()) == 0:
            continue
        names = sorted(set.intersection(*(set(d) for d in decoded)))
        shapes = {name: {np.shape(d[name]) for d in decoded} for name in names}
        names = [name for name in names if len(shapes[name]) == 1]
        if not names or sum(int(np.size(decoded[0][n])) for n in names) > MAX_FITTED_NUMBERS:
            continue
        for name in names:
            values = np.array([d[name] for d in decoded], dtype=float)
            rows.append({"dataset": dataset, "model": model, "parameter": name,
                         "value": values.mean(axis=0), "std": values.std(axis=0, ddof=1)
                         if len(values) > 1 else np.full(values.shape[1:], np.nan),
                         "n": len(values)})
    return pd.DataFrame(rows, columns=["dataset", "model", "parameter", "value", "std", "n"])


def gradient_table(results):
    """How fast each model's hidden-state gradients decay with the lag (``gradient_norms``).

    Per panel and model, over its cells at the largest training size: the mean
    :func:`~seqmodels.compare.stats.gradient_decay` rate (nats per step) and its sd,
    the factor ``exp(-rate)`` by which one step back scales the norm, and
    ``log10`` of the norm at the longest lag over the norm at lag 0 (the mean over
    cells of each cell's ratio of its own curve).

    Returns
    -------
    pandas.DataFrame
        ``panel``, ``model``, ``n``, ``rate``, ``rate_std``, ``factor``, ``max_lag``,
        ``log10_ratio``; empty when no cell recorded gradient norms.
    """
    columns = ["panel", "model", "n", "rate", "rate_std", "factor", "max_lag", "log10_ratio"]
    frame = cells_with_array(results, "gradient_norms")
    rows = []
    for (panel, model), group in frame.groupby(["panel", "model"], sort=False):
        norms = [np.asarray(g, dtype=float) for g in group["gradient_norms"]]
        rates = np.array([gradient_decay(g) for g in norms])
        # a norm that underflowed to 0 has no finite log ratio: left out
        ratios = np.array([np.log10(g[-1] / g[0]) if g[0] > 0 and g[-1] > 0 else np.nan
                           for g in norms])
        rate = float(np.nanmean(rates)) if np.isfinite(rates).any() else np.nan
        rows.append({"panel": panel, "model": model, "n": len(norms), "rate": rate,
                     "rate_std": float(np.nanstd(rates, ddof=1)) if len(rates) > 1 else np.nan,
                     "factor": float(np.exp(-rate)), "max_lag": int(min(len(g) for g in norms)) - 1,
                     "log10_ratio": float(np.nanmean(ratios)) if np.isfinite(ratios).any()
                     else np.nan})
    return pd.DataFrame(rows, columns=columns)


def _copy_memory_layout(params, steps):
    n_recall, lag = int(params["n_recall"]), int(params["lag"])
    if steps != 2 * n_recall + lag:  # not the whole sequence (or not this layout)
        return None
    return slice(steps - n_recall, steps), slice(0, n_recall)


#: Datasets whose layout is known: name -> f(parameters, T) -> (recall steps, positions of
#: what they recall) as row and column slices of the (T, T) attention weights, or None.
#: copy_memory is tagged in supervised mode (position s holds x_s): in both forms the
#: symbols are x_0 .. x_{n_recall - 1} and the last n_recall steps recall them in order.
_RECALL_LAYOUTS = {"copy_memory": _copy_memory_layout}


def recall_layout(row, steps):
    """(recall rows, stored columns) of a cell's (``steps`` x ``steps``) attention weights.

    Known for the registered ``copy_memory`` dataset (the last ``n_recall`` steps recall
    the symbols shown at positions ``0 .. n_recall - 1``) when the weights cover the whole
    sequence; None for every other dataset.
    """
    name = row.get("dataset_name")
    layout = _RECALL_LAYOUTS.get(name)
    if layout is None:
        return None
    try:
        params = {**dataset_defaults(name), **json.loads(row.get("dataset_params") or "{}")}
        return layout(params, int(steps))
    except (KeyError, TypeError, ValueError):
        return None


def _recall_share(weights, layout):
    """Mean over the recall rows of the weight each puts on the stored positions."""
    rows, columns = layout
    return float(np.asarray(weights, dtype=float)[rows, columns].sum(axis=1).mean())


def _first_cell(group):
    """The cell a figure shows: the longest sequences (for a swept dataset, the last of
    the longest panels in the results' order), then the first data and model seed."""
    steps = group["attention_weights"].map(lambda weights: _heads(weights).shape[-1])
    longest = group[steps == steps.max()]
    longest = longest[longest["panel"] == longest["panel"].iloc[-1]]
    return longest.sort_values(["data_seed", "model_seed"], kind="stable").iloc[0]


def attention_examples(results, model=None, panel=None):
    """The cell whose attention weights the report draws, one per dataset and model.

    Among the cells that recorded ``attention_weights`` (at the largest training size):
    the panel with the longest sequences (for a swept dataset its last value in the
    results' order, e.g. the longest lag), then the first data seed and model seed.

    Parameters
    ----------
    results : pandas.DataFrame
    model, panel : str, optional
        Only this model's cells, only this panel's.

    Returns
    -------
    pandas.DataFrame
        ``dataset``, ``panel``, ``model``, ``task``, ``data_seed``, ``model_seed``,
        ``steps``, ``weights`` (the heads' mean, (T, T)), ``heads`` ((n_heads, T, T)) and
        ``layout`` (:func:`recall_layout`).
    """
    columns = ["dataset", "panel", "model", "task", "data_seed", "model_seed", "steps",
               "weights", "heads", "layout"]
    frame = cells_with_array(results, "attention_weights")
    if model is not None:
        frame = frame[frame["model"] == model]
    if panel is not None:
        frame = frame[frame["panel"] == panel]
    rows = []
    for (dataset, label), group in frame.groupby(["dataset", "model"], sort=False):
        cell = _first_cell(group)
        heads = _heads(cell["attention_weights"])
        rows.append({"dataset": dataset, "panel": cell["panel"], "model": label,
                     "task": cell["task"], "data_seed": cell["data_seed"],
                     "model_seed": cell["model_seed"], "steps": heads.shape[-1],
                     "weights": heads.mean(axis=0), "heads": heads,
                     "layout": recall_layout(cell, heads.shape[-1])})
    return pd.DataFrame(rows, columns=columns)


def _heads(weights):
    """A cell's recorded weights as ``(n_heads, T, T)`` (a store written before per-head
    recording holds the heads' mean, ``(T, T)``: one "head")."""
    weights = np.asarray(weights, dtype=float)
    return weights[None] if weights.ndim == 2 else weights


def attention_table(results):
    """Where each attention model's recall steps look, on datasets with a known layout.

    Per panel and model, over its cells at the largest training size that recorded
    ``attention_weights`` on a dataset of known layout (``copy_memory``,
    :func:`recall_layout`): the share of each recall step's weight that falls on the
    positions of the stored symbols (mean over the recall steps, then mean and sd over
    cells), and the share that attention spread evenly over every position s <= t
    would give.

    Returns
    -------
    pandas.DataFrame
        ``panel``, ``model``, ``n``, ``steps``, ``n_recall``, ``recall_share`` (heads
        averaged), ``recall_share_std``, ``best_head_share`` (the head that puts most
        weight there, mean over cells), ``uniform_share``; empty when no cell qualifies.
    """
    columns = ["panel", "model", "n", "steps", "n_recall", "recall_share", "recall_share_std",
               "best_head_share", "uniform_share"]
    frame = cells_with_array(results, "attention_weights")
    rows = []
    for (panel, model), group in frame.groupby(["panel", "model"], sort=False):
        known = [(heads, recall_layout(cell, heads.shape[-1]))
                 for cell, heads in ((cell, _heads(cell["attention_weights"]))
                                     for _, cell in group.iterrows())]
        known = [(heads, layout) for heads, layout in known if layout is not None]
        if not known:
            continue
        shares = [_recall_share(heads.mean(axis=0), layout) for heads, layout in known]
        best = [max(_recall_share(head, layout) for head in heads) for heads, layout in known]
        steps, layout = known[0][0].shape[-1], known[0][1]
        uniform = np.tril(np.ones((steps, steps))) / np.arange(1, steps + 1)[:, None]
        rows.append({"panel": panel, "model": model, "n": len(shares), "steps": steps,
                     "n_recall": layout[1].stop - layout[1].start,
                     "recall_share": float(np.mean(shares)),
                     "recall_share_std": float(np.std(shares, ddof=1)) if len(shares) > 1
                     else np.nan,
                     "best_head_share": float(np.mean(best)),
                     "uniform_share": _recall_share(uniform, layout)})
    return pd.DataFrame(rows, columns=columns)
