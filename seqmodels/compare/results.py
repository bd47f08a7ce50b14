"""Results as a tidy pandas DataFrame: one row per cell, and gaps to the oracle."""

import json

import numpy as np
import pandas as pd

__all__ = ["to_frame", "oracle_gaps", "RESULT_COLUMNS", "ARRAY_COLUMNS"]

#: The scalar columns of a results frame, in order (``data_<param>`` columns follow
#: ``train_size``: one per dataset parameter, swept or fixed).
RESULT_COLUMNS = (
    "key", "status", "model", "estimator", "is_oracle", "dataset", "dataset_name", "task",
    "data_seed", "model_seed", "train_size",
    "metric", "metric_label", "greater_is_better", "headline", "baselines",
    "score", "rmse", "mae", "accuracy", "nll_per_step", "coverage_90", "mean_sq_z",
    "n_params", "n_train", "n_test",
    "fit_seconds", "predict_seconds", "score_seconds", "cell_seconds", "worker_peak_rss_mb",
    "error", "traceback", "warnings", "model_params", "fitted_params", "dataset_params", "sweep",
    "worker", "started_at", "finished_at", "version",
)

#: Array-valued columns (numpy arrays, or None where the cell has none).
ARRAY_COLUMNS = (
    "history", "horizons", "horizon_rmse",
    "seq_headline", "seq_sse", "seq_count", "seq_max_abs", "seq_correct", "seq_loglik",
    "seq_steps", "example_X", "example_target", "example_mean", "example_std",
    "gradient_norms", "attention_weights",
)

_FLOAT_COLUMNS = ("headline", "score", "rmse", "mae", "accuracy", "nll_per_step", "coverage_90",
                  "mean_sq_z", "n_params", "fit_seconds", "predict_seconds", "score_seconds",
                  "cell_seconds", "worker_peak_rss_mb", "started_at", "finished_at")


def to_frame(records):
    """Cell records (as :func:`~seqmodels.compare.worker.run_cell` returns them) -> DataFrame.

    Returns
    -------
    pandas.DataFrame
        One row per cell: the columns of :data:`RESULT_COLUMNS` (NaN where a metric
        does not apply), one ``data_<param>`` column per dataset parameter, and the
        array columns of :data:`ARRAY_COLUMNS`.
    """
    rows, param_names = [], []
    for record in records:
        row = {c: record.get(c) for c in RESULT_COLUMNS}
        params = json.loads(record.get("dataset_params") or "{}")
        for name, value in params.items():
            column = f"data_{name}"
            if column not in param_names:
                param_names.append(column)
            row[column] = value if not isinstance(value, (list, dict)) else json.dumps(value)
        arrays = record.get("arrays") or {}
        for c in ARRAY_COLUMNS:
            row[c] = arrays.get(c)
        rows.append(row)
    columns = list(RESULT_COLUMNS[:11]) + param_names + list(RESULT_COLUMNS[11:]) \
        + list(ARRAY_COLUMNS)
    frame = pd.DataFrame(rows, columns=columns)
    for c in _FLOAT_COLUMNS:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    for c in ("data_seed", "n_train", "n_test"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("Int64")
    frame["model_seed"] = pd.to_numeric(frame["model_seed"], errors="coerce").astype("Int64")
    frame["train_size"] = pd.to_numeric(frame["train_size"], errors="coerce")
    frame["is_oracle"] = frame["is_oracle"].astype(bool)
    return frame


def _join_key(frame):
    """What a model's cell shares with its oracle's: dataset draw and experiment axes."""
    columns = ("dataset", "data_seed", "train_size", "sweep")
    keys = [tuple(repr(v) if not pd.isna(v) else "NA" for v in row)
            for row in frame[list(columns)].itertuples(index=False)]
    return pd.Series(keys, index=frame.index, dtype=object)


def oracle_gaps(results):
    """Each cell's gap to the oracle of the same dataset draw, on the headline metric.

    The gap is oriented so that positive means worse than the oracle:
    ``headline - oracle`` for errors and NLL, ``oracle - headline`` for accuracy and
    success rate. ``gap_relative`` divides by ``|oracle|``. The paired columns compare
    the two on the same test sequences: ``gap_paired`` is the mean over sequences of
    the per-sequence gap and ``gap_paired_se`` its standard error. The oracle is
    Bayes-optimal in expectation, so on a finite test set a model can score slightly
    above it; a gap inside about two standard errors is no evidence either way.

    Parameters
    ----------
    results : pandas.DataFrame
        As :func:`seqmodels.compare.compare` returns it.

    Returns
    -------
    pandas.DataFrame
        ``results`` with ``oracle_headline``, ``gap``, ``gap_relative``, ``gap_paired``
        and ``gap_paired_se`` added (NaN without an oracle, and on the oracle's own rows
        0).
    """
    frame = results.copy()
    key = _join_key(frame)
    ok = frame["status"] == "ok"
    oracle = frame[ok & frame["is_oracle"]]
    oracle_by_key = dict(zip(key[oracle.index], oracle.index))
    columns = {c: np.full(len(frame), np.nan) for c in
               ("oracle_headline", "gap", "gap_relative", "gap_paired", "gap_paired_se")}
    for position, (index, row) in enumerate(frame.iterrows()):
        ref = oracle_by_key.get(key[index])
        if ref is None or row["status"] != "ok":
            continue
        sign = -1.0 if row["greater_is_better"] else 1.0
        reference = frame.at[ref, "headline"]
        gap = sign * (row["headline"] - reference)
        columns["oracle_headline"][position] = reference
        columns["gap"][position] = gap
        if reference != 0:
            columns["gap_relative"][position] = gap / abs(reference)
        mine, theirs = row["seq_headline"], frame.at[ref, "seq_headline"]
        if mine is not None and theirs is not None and len(mine) == len(theirs):
            diff = sign * (np.asarray(mine, float) - np.asarray(theirs, float))
            diff = diff[np.isfinite(diff)]
            if diff.size:
                columns["gap_paired"][position] = diff.mean()
                if diff.size > 1:
                    columns["gap_paired_se"][position] = diff.std(ddof=1) / np.sqrt(diff.size)
    for name, values in columns.items():
        frame[name] = values
    return frame
