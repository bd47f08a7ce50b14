"""Experiment functions over :func:`~seqmodels.compare.engine.compare`, in the spirit of
scikit-learn's ``learning_curve`` / ``validation_curve``: each varies one axis and returns a
tidy DataFrame (one row per cell, or per cell and horizon), gaps to the oracle included."""

import numpy as np
import pandas as pd

from ..datasets import dataset_parameters
from .engine import compare
from .results import oracle_gaps

__all__ = ["learning_curve", "memory_curve", "horizon_curve", "noise_curve", "restart_spread",
           "NOISE_PARAMETERS"]

#: Dataset parameters that set measurement / observation noise, in order of preference.
NOISE_PARAMETERS = ("measurement_std", "noise_std", "range_std", "process_std")

_ID = ["model", "estimator", "is_oracle", "dataset", "data_seed", "model_seed", "status"]
_METRICS = ["metric", "headline", "oracle_headline", "gap", "gap_relative", "score", "rmse",
            "accuracy", "nll_per_step", "fit_seconds", "predict_seconds", "n_params"]


def _tidy(results, axis_columns):
    frame = oracle_gaps(results)
    return frame[_ID + axis_columns + _METRICS].reset_index(drop=True)


def _single_dataset(dataset):
    if isinstance(dataset, (list, dict)):
        raise TypeError("this experiment varies one dataset; pass a single name, "
                        "(name, params) pair or Dataset.")
    return dataset


def learning_curve(models, dataset, train_sizes, *, seeds=(0, 1, 2), **kwargs):
    """Headline metric against the number of training sequences.

    Every size trains on the first n sequences of the same draw, so the sets are
    nested and the test set is the same for every size.

    Parameters
    ----------
    models : dict of str -> estimator
    dataset : str, (str, dict) or Dataset
        Its training split must hold at least ``max(train_sizes)`` sequences.
    train_sizes : list of int or float
    seeds : list of int
    **kwargs
        Passed to :func:`~seqmodels.compare.compare` (``store``, ``n_jobs``, ...).

    Returns
    -------
    pandas.DataFrame
        One row per cell with ``train_size``, ``headline`` and the gap to the oracle.
    """
    results = compare(models, _single_dataset(dataset), seeds=seeds, train_sizes=train_sizes,
                      **kwargs)
    return _tidy(results, ["train_size", "n_train"])


def _sweep_curve(models, dataset, param, values, seeds, kwargs):
    results = compare(models, _single_dataset(dataset), seeds=seeds, sweep={param: values},
                      **kwargs)
    return _tidy(results, [f"data_{param}"]).rename(columns={f"data_{param}": param})


def memory_curve(models, dataset, values, *, param="lag", seeds=(0, 1, 2), **kwargs):
    """Headline metric against a task parameter that sets how far back memory must reach.

    Parameters
    ----------
    dataset : str or (str, dict)
        A registered memory task (``adding``, ``copy_memory``, ``delayed_xor``, ...).
    values : list
        Values of ``param``.
    param : str, default="lag"
        ``lag`` for copy and delayed XOR; ``length`` for the adding problem and parity.

    Returns
    -------
    pandas.DataFrame
        One row per cell, with a column named ``param``.
    """
    return _sweep_curve(models, dataset, param, values, seeds, kwargs)


def noise_curve(models, dataset, values, *, param=None, seeds=(0, 1, 2), **kwargs):
    """Headline metric against the measurement noise of a dataset.

    ``param`` defaults to the first of :data:`NOISE_PARAMETERS` the dataset accepts
    (``measurement_std`` for tracking, ``noise_std`` for noisy series).
    """
    dataset = _single_dataset(dataset)
    if param is None:
        name = dataset if isinstance(dataset, str) else dataset[0]
        accepted = dataset_parameters(name)
        param = next((p for p in NOISE_PARAMETERS if p in accepted), None)
        if param is None:
            raise ValueError(f"dataset {name!r} has no noise parameter ({NOISE_PARAMETERS}); "
                             "name the one to vary with param=...")
    return _sweep_curve(models, dataset, param, values, seeds, kwargs)


def horizon_curve(models, dataset, horizons, *, seeds=(0, 1, 2), **kwargs):
    """Multi-step forecast error (RMSE) by horizon, from several origins per test sequence.

    Each cell fits once and forecasts ``max(horizons)`` steps from every origin (every
    scored step of a single long series; four origins in the second half of each
    sequence otherwise).

    Returns
    -------
    pandas.DataFrame
        One row per cell and horizon: ``horizon``, ``rmse`` of the h-step forecasts,
        and ``oracle_rmse`` (the oracle's, same draw).
    """
    results = compare(models, _single_dataset(dataset), seeds=seeds, horizons=horizons,
                      **kwargs)
    rows = []
    for _, row in results.iterrows():
        if row["status"] != "ok" or row["horizon_rmse"] is None:
            continue
        for h, value in zip(row["horizons"], row["horizon_rmse"]):
            rows.append({**{c: row[c] for c in _ID}, "horizon": int(h), "rmse": float(value)})
    frame = pd.DataFrame(rows, columns=_ID + ["horizon", "rmse"])
    oracle = frame[frame["is_oracle"]].set_index(["dataset", "data_seed", "horizon"])["rmse"]
    keys = list(zip(frame["dataset"], frame["data_seed"], frame["horizon"]))
    frame["oracle_rmse"] = [oracle.get(k, np.nan) for k in keys]
    return frame


def restart_spread(models, dataset, model_seeds, *, data_seed=0, **kwargs):
    """The spread of results over model seeds (initialisations) on one fixed draw of data.

    Returns
    -------
    pandas.DataFrame
        One row per model seed and model (the oracle once), with ``model_seed``.
    """
    results = compare(models, _single_dataset(dataset), seeds=[data_seed],
                      model_seeds=model_seeds, **kwargs)
    return _tidy(results, [])
