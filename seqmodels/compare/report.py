"""Write comparison results: a CSV of every cell and a Markdown summary with oracle gaps."""

import csv
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..metrics import oracle_gap

__all__ = ["report", "summarise"]

COLUMNS = ["dataset", "seed", "model", "estimator", "score", "rmse", "accuracy", "nll_per_step",
           "fit_seconds", "predict_seconds", "n_params"]


def summarise(rows):
    """Aggregate cells over seeds, with each model's gap to the oracle of the same dataset and seed.

    Returns
    -------
    dict of dataset -> list of dict
        Per model: mean and standard deviation over seeds of every metric, plus
        ``score_gap`` (relative shortfall of the score from the oracle's, see
        :func:`seqmodels.metrics.oracle_gap`) and ``nll_excess`` (NLL per step
        minus the oracle's, nats).
    """
    oracle = {(r["dataset"], r["seed"]): r for r in rows if r["model"] == "oracle"}
    grouped = defaultdict(lambda: defaultdict(list))
    for r in rows:
        cell = grouped[r["dataset"]][r["model"]]
        ref = oracle.get((r["dataset"], r["seed"]))
        extra = {"score_gap": np.nan, "nll_excess": np.nan}
        if ref is not None:
            if ref["score"] != 0:
                extra["score_gap"] = oracle_gap(r["score"], ref["score"])
            extra["nll_excess"] = r["nll_per_step"] - ref["nll_per_step"]
        cell.append({**r, **extra})
    summary = {}
    for dataset, models in grouped.items():
        entries = []
        for model, cells in models.items():
            entry = {"model": model, "estimator": cells[0]["estimator"], "n_seeds": len(cells)}
            for key in ("score", "rmse", "accuracy", "nll_per_step", "score_gap", "nll_excess",
                        "fit_seconds", "predict_seconds", "n_params"):
                values = np.array([c[key] for c in cells], dtype=float)
                finite = values[np.isfinite(values)]
                entry[key] = float(finite.mean()) if finite.size else math.nan
                entry[key + "_std"] = float(finite.std()) if finite.size > 1 else math.nan
            entries.append(entry)
        entries.sort(key=lambda e: (e["model"] != "oracle", -e["score"]))
        summary[dataset] = entries
    return summary


def _fmt(value, std=math.nan):
    """Three significant figures, with ``± std`` when there is one; an en dash for no value."""
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.3g}" + (f" ± {std:.2g}" if np.isfinite(std) else "")


def markdown(summary, title, description=""):
    """The Markdown text of a report: one table per dataset."""
    lines = [f"# {title}", ""]
    if description:
        lines += [description.strip(), ""]
    lines += [
        "Scores are on held-out test sequences, averaged over seeds (± standard deviation). "
        "**score**: R² of the one-step predictions (accuracy for tagging), higher is better. "
        "**gap**: relative shortfall of the score from the oracle's (the same model family "
        "built with the true parameters: the Bayes-optimal yardstick). "
        "**NLL/step**: negative log predictive density per timestep, nats; "
        "**excess**: NLL/step minus the oracle's.",
        "",
    ]
    for dataset, entries in summary.items():
        lines += [f"## {dataset}", "",
                  "| model | estimator | score | gap | RMSE (accuracy) | NLL/step | excess "
                  "| fit s | params |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for e in entries:
            error = e["rmse"] if np.isfinite(e["rmse"]) else e["accuracy"]
            lines.append(
                f"| {e['model']} | {e['estimator']} | {_fmt(e['score'], e['score_std'])} | "
                f"{_fmt(e['score_gap'])} | {_fmt(error)} | {_fmt(e['nll_per_step'])} | "
                f"{_fmt(e['nll_excess'])} | {_fmt(e['fit_seconds'])} | "
                f"{int(e['n_params'])} |"
            )
        lines.append("")
    return "\n".join(lines)


def report(rows, output_dir, title="Comparison", description=""):
    """Write ``results.csv`` (every cell) and ``report.md`` (summary) into ``output_dir``.

    Returns
    -------
    dict
        Paths of the files written, keyed "csv" and "markdown".
    """
    if not rows:
        raise ValueError("rows is empty; there is nothing to report.")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    csv_path = output_dir / "results.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    md_path = output_dir / "report.md"
    md_path.write_text(markdown(summarise(rows), title, description), encoding="utf-8")
    return {"csv": csv_path, "markdown": md_path}
