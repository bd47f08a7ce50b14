"""Evaluate one fitted model on one dataset through the public contract only.

No family gets a special case: the model is asked for ``fit``, ``predict`` (with
``return_std=True`` where it has a predictive distribution), ``log_likelihood`` and
``forecast`` where it has them (``hasattr``), exactly as a user's own estimator would be.
"""

import json
import time
import warnings

import numpy as np

from .._validation import check_sequences, check_targets, n_sequences, subset_sequences
from ..metrics import accuracy_score, r2_score, sequence_errors

__all__ = ["evaluate", "fitted_parameters", "Z_90"]

#: Two-sided 90 % standard-normal quantile: ``|z| <= Z_90`` for 90 % of a calibrated model.
Z_90 = 1.6448536269514722


def _padded(container, name):
    return check_sequences(container, name, allow_nan=True).values


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    out = function(*args, **kwargs)
    return out, time.perf_counter() - start


def _predict(model, X):
    """Mean and (where the model has a predictive distribution) std, with the call's time."""
    if hasattr(model, "log_likelihood"):
        try:
            (mean, std), seconds = _timed(model.predict, X, return_std=True)
            return mean, std, seconds
        except (TypeError, ValueError):
            pass
    mean, seconds = _timed(model.predict, X)
    return mean, None, seconds


#: Fitted attributes every estimator has; the rest of the small numeric ones are the
#: family's learned parameters.
_BOOKKEEPING = {"history_", "n_features_in_", "n_targets_", "n_params_", "classes_",
                "n_iter_", "converged_"}
_MAX_PARAMETER_SIZE = 16


def fitted_parameters(model):
    """The model's small numeric fitted attributes (scikit-learn's trailing ``_``), as lists.

    Scalars and arrays of at most 16 numbers, e.g. a local-level filter's ``Q_`` and
    ``R_`` or an AR(2)'s ``coef_``: the figures a lesson compares with published fits.
    """
    out = {}
    for name, value in sorted(vars(model).items()):
        if not name.endswith("_") or name.startswith("_") or name in _BOOKKEEPING:
            continue
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float, np.integer, np.floating)):
            value = np.asarray(value)
        if isinstance(value, np.ndarray) and value.dtype.kind in "iuf" \
                and value.size <= _MAX_PARAMETER_SIZE and np.isfinite(value).all():
            out[name] = value.tolist()
    return out


#: Test sequences whose hidden-state gradients are measured (``gradient_norms=True``).
GRADIENT_SEQUENCES = 64
#: Steps of the first test sequence whose attention weights are kept
#: (``attention_weights=True``), and at most this many numbers in all: the (n_heads, T, T)
#: float32 array is at most 4 MiB (fewer steps for many heads).
ATTENTION_STEPS = 512
ATTENTION_NUMBERS = 2**20


def evaluate(model, data, *, fit=True, horizons=(), n_examples=3, gradient_norms=False,
             attention_weights=False):
    """Fit ``model`` on the training split of ``data`` and measure it on the test split.

    The first ``data.n_history`` steps of each test sequence are context and are not
    scored; the scored part's log-likelihood is ``log p(all) - log p(context)`` (the
    chain rule, exact for causal models).

    Parameters
    ----------
    model : estimator
        Any object honouring the contract (``fit``, ``predict``; optionally
        ``log_likelihood``, ``predict(return_std=True)``, ``forecast``).
    data : Dataset
    fit : bool, default=True
        False evaluates ``model`` as it is (an oracle that is already fitted).
    horizons : tuple of int
        Forecast horizons to measure (forecasting datasets and models with
        ``forecast``): from several origins per test sequence, the RMSE of the
        h-step-ahead forecast for each h.
    n_examples : int
        Test sequences whose inputs, targets and predictions are kept for plots.
    gradient_norms : bool, default=False
        For models with a ``gradient_norms`` method (recurrent networks): the mean
        over the first ``GRADIENT_SEQUENCES`` test sequences of
        ``||d loss_T / d h_{T-k}||`` for every lag k, as the array ``gradient_norms``.
    attention_weights : bool, default=False
        For models with an ``attention_weights`` method (attention networks): each
        head's weights on the first test sequence, an (n_heads, T, T) float32 array
        ``attention_weights`` (row t: the weights step t gives to positions s <= t).
        Only its first ``ATTENTION_STEPS`` steps on longer sequences (the same rows:
        the weights are causal). A model whose method is absent or raises records none;
        the cell is not failed for it.

    Returns
    -------
    scalars : dict
        ``score`` (R², or accuracy for tagging), ``rmse``, ``mae``, ``accuracy``,
        ``nll_per_step``, ``coverage_90`` (fraction of targets inside the nominal
        90 % interval ``mean ± 1.645 std``), ``mean_sq_z`` (mean of
        ``((y - mean) / std)²``: 1 when calibrated), ``headline`` (the dataset's
        headline metric), ``fit_seconds``, ``predict_seconds``, ``score_seconds``
        (the other model calls), ``n_params``, ``n_train``, ``n_test``; NaN where a
        metric does not apply; ``fitted_params``: :func:`fitted_parameters`
        as JSON.
    arrays : dict of str -> ndarray
        ``history``; per test sequence ``seq_headline``, ``seq_sse``, ``seq_count``,
        ``seq_max_abs`` (over the headline columns), ``seq_correct``, ``seq_loglik``,
        ``seq_steps``; ``horizons`` and ``horizon_rmse``; ``example_X``,
        ``example_target``, ``example_mean``, ``example_std`` (padded with NaN);
        ``gradient_norms`` and ``attention_weights`` when asked for.
    """
    fit_seconds = 0.0
    if fit:
        _, fit_seconds = _timed(model.fit, data.X_train, data.y_train)
    mean, std, predict_seconds = _predict(model, data.X_test)

    X_values = _padded(data.X_test, "X_test")
    if data.y_test is None:
        target = X_values.copy()
    else:
        X_batch = check_sequences(data.X_test, "X_test", allow_nan=True)
        target = check_targets(data.y_test, X_batch, "y_test")[0].values.copy()
    target[:, : data.n_history] = np.nan  # context, not scored
    prediction = _padded(mean, "prediction")
    if prediction.shape != target.shape:
        raise ValueError(
            f"{type(model).__name__}.predict returned {prediction.shape[1:]} per sequence where "
            f"the targets are {target.shape[1:]}."
        )
    std_values = None if std is None else _padded(std, "std")

    metric = data.metric
    errors = sequence_errors(target, prediction)
    headline_errors = errors if metric.columns is None else \
        sequence_errors(target, prediction, metric.columns)
    scored = np.isfinite(target)
    n_test = target.shape[0]
    out = {"rmse": np.nan, "mae": np.nan, "accuracy": np.nan, "nll_per_step": np.nan,
           "coverage_90": np.nan, "mean_sq_z": np.nan}
    total = errors["count"].sum()
    if data.task == "tagging":
        out["score"] = out["accuracy"] = accuracy_score(target, prediction)
    else:
        out["score"] = r2_score(target, prediction)
        out["rmse"] = float(np.sqrt(errors["sse"].sum() / total))
        out["mae"] = float(errors["sae"].sum() / total)

    score_seconds = 0.0
    loglik = np.full(n_test, np.nan)
    steps = scored.all(axis=-1).sum(axis=1).astype(float)
    if hasattr(model, "log_likelihood"):
        (loglik, seconds) = _timed(model.log_likelihood, data.X_test, data.y_test)
        score_seconds += seconds
        h = data.n_history
        if h:
            context, seconds = _timed(model.log_likelihood, subset_sequences(data.X_test, h),
                                      subset_sequences(data.y_test, h))
            score_seconds += seconds
            loglik = loglik - context
        loglik = np.asarray(loglik, dtype=float)
        if not np.isfinite(loglik).all():
            raise ValueError(f"{type(model).__name__}.log_likelihood returned a non-finite value.")
        out["nll_per_step"] = float(-loglik.sum() / steps.sum())
    if std_values is not None and data.task != "tagging":
        positive = scored & (std_values > 0)
        if positive.any():
            z = (target[positive] - prediction[positive]) / std_values[positive]
            out["coverage_90"] = float(np.mean(np.abs(z) <= Z_90))
            out["mean_sq_z"] = float(np.mean(z**2))

    out["headline"] = metric.pooled(headline_errors, loglik, steps)
    arrays = {
        "seq_headline": metric.per_sequence(headline_errors, loglik, steps),
        "seq_sse": headline_errors["sse"],
        "seq_count": headline_errors["count"],
        "seq_max_abs": headline_errors["max_abs"],
        "seq_correct": errors["correct"],
        "seq_loglik": loglik,
        "seq_steps": steps,
        "history": np.asarray(getattr(model, "history_", []) or [], dtype=float).ravel(),
    }
    if horizons and data.task == "forecast" and hasattr(model, "forecast"):
        rmse_by_h, seconds = _horizon_rmse(model, data, horizons)
        score_seconds += seconds
        arrays["horizons"] = np.asarray(horizons, dtype=float)
        arrays["horizon_rmse"] = rmse_by_h
    if gradient_norms and hasattr(model, "gradient_norms"):
        k = min(GRADIENT_SEQUENCES, n_test)
        first = range(k) if n_sequences(data.X_test) > 1 else None
        (norms, seconds) = _timed(model.gradient_norms,
                                  subset_sequences(data.X_test, index=first),
                                  subset_sequences(data.y_test, index=first))
        score_seconds += seconds
        arrays["gradient_norms"] = np.asarray(norms, dtype=float)
    if attention_weights and hasattr(model, "attention_weights"):
        weights, seconds = _timed(_first_attention, model, data.X_test)
        score_seconds += seconds
        if weights is not None:
            arrays["attention_weights"] = weights
    if n_examples:
        k = min(n_examples, n_test)
        arrays["example_X"] = X_values[:k]
        arrays["example_target"] = target[:k]
        arrays["example_mean"] = prediction[:k]
        if std_values is not None:
            arrays["example_std"] = std_values[:k]
    out.update(fitted_params=json.dumps(fitted_parameters(model), sort_keys=True),
               fit_seconds=fit_seconds, predict_seconds=predict_seconds,
               score_seconds=score_seconds, n_params=float(getattr(model, "n_params_", np.nan)),
               n_train=n_sequences(data.X_train), n_test=n_test)
    return out, arrays


def _first_attention(model, X):
    """Per-head ``(n_heads, T, T)`` attention weights of X's first sequence (at most its
    first ``ATTENTION_STEPS`` steps, fewer when the heads would hold more than
    ``ATTENTION_NUMBERS`` numbers), float32; None where the model gives none."""
    first = subset_sequences(X, ATTENTION_STEPS, index=[0] if n_sequences(X) > 1 else None)
    try:
        weights = model.attention_weights(first, per_head=True)
    except (AttributeError, NotImplementedError):  # a model built without attention
        return None
    except Exception as error:  # a diagnostic never fails the measured cell
        warnings.warn(f"{type(model).__name__}.attention_weights failed, so no attention "
                      f"weights are recorded for this cell: {type(error).__name__}: {error}",
                      UserWarning, stacklevel=2)
        return None
    weights = np.asarray(weights[0] if isinstance(weights, (list, tuple)) else weights,
                         dtype=np.float32)
    if weights.ndim == 4 and len(weights) == 1:   # a batch of one sequence
        weights = weights[0]
    if weights.ndim != 3 or weights.shape[1] != weights.shape[2]:
        return None
    steps = min(weights.shape[1], int(np.sqrt(ATTENTION_NUMBERS / len(weights))))
    return np.ascontiguousarray(weights[:, :steps, :steps])


def _origins(length, n_history, single):
    """Forecast origins in one test sequence: every scored step of a single long series,
    else four evenly spaced origins in its second half (none in its context)."""
    if single and n_history:
        return list(range(n_history, length))
    last = length - 1
    first = max(1, n_history, length // 2)
    if last < first:
        return [max(1, last)] if length > 1 else []
    return sorted(set(np.linspace(first, last, 4).round().astype(int).tolist()))


def _horizon_rmse(model, data, horizons):
    """RMSE of h-step forecasts for each h, from every origin, in one forecast call."""
    batch = check_sequences(data.X_test, "X_test", allow_nan=True)
    values, lengths = batch.values, batch.lengths
    H = max(horizons)
    prefixes, truths = [], []
    for i, length in enumerate(lengths):
        for origin in _origins(int(length), data.n_history, len(lengths) == 1):
            prefixes.append(values[i, :origin])
            truth = np.full((H, values.shape[2]), np.nan)
            stop = min(int(length), origin + H)
            truth[: stop - origin] = values[i, origin:stop]
            truths.append(truth)
    if not prefixes:
        return np.full(len(horizons), np.nan), 0.0
    forecast, seconds = _timed(model.forecast, prefixes, H)
    forecast = np.stack([np.asarray(f, dtype=float).reshape(H, -1) for f in forecast])
    truth = np.stack(truths)
    squared = (forecast - truth) ** 2
    rmse_by_h = []
    for h in horizons:
        step = squared[:, h - 1]
        step = step[np.isfinite(truth[:, h - 1])]
        rmse_by_h.append(float(np.sqrt(step.mean())) if step.size else np.nan)
    return np.asarray(rmse_by_h), seconds
