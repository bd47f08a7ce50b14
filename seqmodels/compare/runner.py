"""Run a comparison grid: every cell fits a clone and evaluates it through the contract only."""

import time

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone

from ..datasets import dataset_parameters, load
from ..metrics import accuracy_score, count_observed, nll_per_step, r2_score, rmse
from .suite import load_suite

__all__ = ["compare", "evaluate"]

ORACLE = "oracle"


def _after(container, start):
    """Timesteps ``start:`` of every sequence, in the same container form."""
    if container is None or start == 0:
        return container
    if isinstance(container, list):
        return [seq[start:] for seq in container]
    return container[start:] if np.ndim(container) == 1 else container[:, start:]


def _before(container, start):
    if container is None:
        return None
    if isinstance(container, list):
        return [seq[:start] for seq in container]
    return container[:start] if np.ndim(container) == 1 else container[:, :start]


def evaluate(model, data):
    """Fit ``model`` on the training split of ``data`` and score it on the test split.

    Uses only the public contract (``fit``, ``predict``, and ``log_likelihood`` where
    the model has it), so every family is treated alike. The first
    ``data.n_history`` steps of each test sequence are context and are not scored;
    the scored part's log-likelihood is ``log p(all) - log p(context)`` (the chain
    rule, exact for causal models).

    Returns
    -------
    dict
        ``score`` (R² over the scored steps, as ``model.score``; accuracy for
        tagging), ``rmse`` (regression / forecasting) or ``accuracy`` (tagging),
        ``nll_per_step`` (nats, probabilistic models only), ``fit_seconds``,
        ``predict_seconds``, ``n_params``.
    """
    start = time.perf_counter()
    model.fit(data.X_train, data.y_train)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    prediction = model.predict(data.X_test)
    predict_seconds = time.perf_counter() - start
    h = data.n_history
    target = _after(data.X_test if data.y_test is None else data.y_test, h)
    prediction = _after(prediction, h)
    row = {
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "n_params": int(model.n_params_),
        "rmse": np.nan,
        "accuracy": np.nan,
        "nll_per_step": np.nan,
    }
    if data.task == "tagging":
        row["score"] = row["accuracy"] = accuracy_score(target, prediction)
    else:
        row["score"] = r2_score(target, prediction)
        row["rmse"] = rmse(target, prediction)
    if hasattr(model, "log_likelihood"):
        log_likelihood = model.log_likelihood(data.X_test, data.y_test)
        if h:
            log_likelihood = log_likelihood - model.log_likelihood(
                _before(data.X_test, h), _before(data.y_test, h))
        row["nll_per_step"] = nll_per_step(log_likelihood, count_observed(target))
    return row


def _run_cell(label, model, dataset_spec, seed):
    params = dict(dataset_spec.params)
    if "random_state" in dataset_parameters(dataset_spec.name):
        params["random_state"] = seed  # each seed draws a new data set; real data stays put
    data = load(dataset_spec.name, **params)
    if label == ORACLE:
        if data.oracle is None:
            return None
        model = data.oracle
    elif "random_state" in model.get_params():
        model = clone(model).set_params(random_state=seed)
    else:
        model = clone(model)
    row = {"dataset": dataset_spec.name, "seed": seed, "model": label,
           "estimator": type(model).__name__}
    row.update(evaluate(model, data))
    return row


def compare(suite="default", n_jobs=1):
    """Run every cell of a suite: models (and the dataset's oracle) x datasets x seeds.

    Parameters
    ----------
    suite : str, path or Suite
        A built-in suite name, a TOML file, or a loaded :class:`~seqmodels.compare.suite.Suite`.
    n_jobs : int
        Cells run in parallel with joblib (processes).

    Returns
    -------
    list of dict
        One row per cell: dataset, seed, model, estimator and the metrics of
        :func:`evaluate`. The oracle's rows have model ``"oracle"`` (none for
        datasets without an oracle).
    """
    if isinstance(suite, str) or hasattr(suite, "__fspath__"):
        suite = load_suite(suite)
    cells = []
    for dataset_spec in suite.datasets:
        for seed in suite.seeds:
            for spec in suite.models:
                cells.append((spec.label, spec.build(), dataset_spec, seed))
            cells.append((ORACLE, None, dataset_spec, seed))
    rows = Parallel(n_jobs=n_jobs)(delayed(_run_cell)(*cell) for cell in cells)
    return [row for row in rows if row is not None]
