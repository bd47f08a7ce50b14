"""Write comparison results: a CSV of every cell and a Markdown summary with oracle gaps."""

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .results import ARRAY_COLUMNS, oracle_gaps

__all__ = ["report", "summarise"]


def _results_frame(results):
    if isinstance(results, pd.DataFrame):
        return results
    if isinstance(results, (str, Path)):
        from .store import load_results

        return load_results(results)
    raise TypeError(
        "results must be the DataFrame from compare() or a store path; got "
        f"{type(results).__name__}."
    )


def summarise(results):
    """Mean, sample standard deviation and count over cells, per dataset and model.

    Parameters
    ----------
    results : pandas.DataFrame
        From :func:`~seqmodels.compare.compare`.

    Returns
    -------
    pandas.DataFrame
        One row per (dataset, model) of the cells that finished: ``n_cells``, the
        mean and sample standard deviation (``_std``, ddof=1) of the headline metric,
        of the gap to the oracle, of the score and of the times; the oracle first,
        then the models best first on the headline metric.
    """
    frame = oracle_gaps(results)
    frame = frame[frame["status"] == "ok"]
    rows = []
    for (dataset, model), group in frame.groupby(["dataset", "model"], sort=False):
        row = {"dataset": dataset, "model": model, "estimator": group["estimator"].iloc[0],
               "is_oracle": bool(group["is_oracle"].iloc[0]), "n_cells": len(group),
               "metric_label": group["metric_label"].iloc[0],
               "greater_is_better": bool(group["greater_is_better"].iloc[0])}
        for column in ("headline", "gap", "gap_relative", "score", "nll_per_step",
                       "fit_seconds", "predict_seconds", "n_params"):
            values = group[column].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            row[column] = values.mean() if values.size else math.nan
            row[column + "_std"] = values.std(ddof=1) if values.size > 1 else math.nan
        rows.append(row)
    summary = pd.DataFrame(rows)
    if summary.empty:
        return summary
    order = np.where(summary["greater_is_better"], -summary["headline"], summary["headline"])
    summary = summary.assign(_order=order, _oracle=~summary["is_oracle"])
    summary = summary.sort_values(["dataset", "_oracle", "_order"], kind="stable")
    return summary.drop(columns=["_order", "_oracle"]).reset_index(drop=True)


def _fmt(value, std=math.nan):
    """Three significant figures, with ``± std`` when there is one; an en dash for no value."""
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.3g}" + (f" ± {std:.2g}" if np.isfinite(std) else "")


def _cell_text(text):
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(results, title, description=""):
    """The Markdown text of a report: one table per dataset, then the failed cells."""
    summary = summarise(results)
    lines = [f"# {title}", ""]
    if description:
        lines += [description.strip(), ""]
    lines += [
        "Scores are on held-out test sequences: mean ± sample standard deviation over the "
        "cells (data and model seeds, axis values). **headline**: the dataset's headline "
        "metric. **gap**: how much worse than the oracle (the same model family built with the "
        "true parameters), on the same test sequences; the oracle is optimal in expectation, "
        "so on a finite test set a small negative gap is chance. **R²**: one-step R² "
        "(accuracy for tagging).",
        "",
    ]
    for dataset, rows in summary.groupby("dataset", sort=False):
        label = rows["metric_label"].iloc[0]
        lines += [f"## {dataset}", "",
                  f"| model | estimator | cells | {label} | gap | R² | NLL/step | fit s | params |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for _, r in rows.iterrows():
            params = "–" if not np.isfinite(r["n_params"]) else str(int(r["n_params"]))
            lines.append(
                f"| {_cell_text(r['model'])} | {r['estimator']} | {r['n_cells']} | "
                f"{_fmt(r['headline'], r['headline_std'])} | {_fmt(r['gap'], r['gap_std'])} | "
                f"{_fmt(r['score'], r['score_std'])} | {_fmt(r['nll_per_step'])} | "
                f"{_fmt(r['fit_seconds'])} | {params} |")
        lines.append("")
    failed = results[results["status"] != "ok"]
    if len(failed):
        lines += ["## Failed cells", "", "| status | model | dataset | seed | error |",
                  "|---|---|---|---|---|"]
        for _, r in failed.iterrows():
            lines.append(f"| {r['status']} | {_cell_text(r['model'])} | {_cell_text(r['dataset'])}"
                         f" | {r['data_seed']} | {_cell_text(r['error'])} |")
        lines.append("")
    return "\n".join(lines)


def report(results, output_dir, title="Comparison", description=""):
    """Write ``results.csv`` (every cell) and ``report.md`` (summary) into ``output_dir``.

    Parameters
    ----------
    results : pandas.DataFrame or path
        From :func:`~seqmodels.compare.compare`, or a results store to read.
    output_dir : str or Path

    Returns
    -------
    dict
        Paths of the files written, keyed "csv" and "markdown".
    """
    frame = _results_frame(results)
    if frame.empty:
        raise ValueError("results is empty; there is nothing to report.")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    csv_path = output_dir / "results.csv"
    frame.drop(columns=list(ARRAY_COLUMNS)).to_csv(csv_path, index=False)
    md_path = output_dir / "report.md"
    md_path.write_text(markdown(frame, title, description), encoding="utf-8")
    return {"csv": csv_path, "markdown": md_path}
