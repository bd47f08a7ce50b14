"""Metrics over sequences: pure functions that skip timesteps without a target.

Every function takes targets and predictions in any of the package's container
forms (3-D array, list of 2-D arrays, 1-D array, or the padded internal form) and
pools all timesteps of all sequences. A NaN in ``y_true`` (a negative label in an
integer ``y_true``) means "no target at this step" (padding, or the adding problem's
unlabelled steps) and is skipped.
"""

from dataclasses import dataclass

import numpy as np

from ._validation import split_sequences

__all__ = [
    "Metric",
    "sequence_errors",
    "rmse",
    "mae",
    "r2_score",
    "accuracy_score",
    "nll_per_step",
    "gaussian_nll",
    "oracle_gap",
    "count_observed",
    "value_range",
]


def _pooled(array):
    """Stack any container form into a float array (n_entries, n_features).

    Integer arrays are class labels; a negative label means "no target" and becomes NaN.
    """
    pooled = []
    for part in split_sequences(array):
        values = part.astype(float)
        if part.dtype.kind in "iu":
            values[part < 0] = np.nan
        pooled.append(values.reshape(-1, 1) if values.ndim <= 1 else
                      values.reshape(-1, values.shape[-1]))
    return np.concatenate(pooled, axis=0)


def _paired(y_true, y_pred):
    true, pred = _pooled(y_true), _pooled(y_pred)
    if true.shape != pred.shape:
        raise ValueError(
            f"y_true and y_pred do not match: {true.shape[0]} x {true.shape[1]} entries "
            f"against {pred.shape[0]} x {pred.shape[1]}."
        )
    observed = np.isfinite(true)
    if not observed.any():
        raise ValueError("y_true has no target at any timestep (all NaN).")
    if not np.isfinite(pred[observed]).all():
        raise ValueError("y_pred is not finite where y_true has a target.")
    return true, pred, observed


def rmse(y_true, y_pred):
    """Root mean squared error over every observed target entry.

    ``sqrt(mean((y_true - y_pred)**2))`` pooled over sequences, timesteps and
    features, skipping NaN targets.

    Examples
    --------
    >>> rmse(np.array([1.0, 2.0, np.nan]), np.array([1.0, 4.0, 0.0]))
    1.4142135623730951
    """
    true, pred, observed = _paired(y_true, y_pred)
    return float(np.sqrt(np.mean((true[observed] - pred[observed]) ** 2)))


def mae(y_true, y_pred):
    """Mean absolute error ``mean(|y_true - y_pred|)`` over observed target entries."""
    true, pred, observed = _paired(y_true, y_pred)
    return float(np.mean(np.abs(true[observed] - pred[observed])))


def r2_score(y_true, y_pred):
    """Coefficient of determination pooled over all timesteps, averaged over features.

    For each feature j, over its observed entries,
    ``R²_j = 1 - sum (y - ŷ)² / sum (y - mean(y))²``; the result is the mean of the
    ``R²_j`` (scikit-learn's ``multioutput="uniform_average"``). A constant target
    scores 1.0 when predicted exactly and 0.0 otherwise (scikit-learn's convention).

    R² does not change when targets and predictions are multiplied by one number, so
    each feature is divided by its largest magnitude first: the sums of squares then
    stay finite for data of any finite scale (1e200 squared would overflow).

    Examples
    --------
    >>> round(r2_score(np.array([1.0, 2.0, 3.0]) * 1e200, np.array([1.0, 2.0, 2.0]) * 1e200), 12)
    0.5
    """
    true, pred, observed = _paired(y_true, y_pred)
    scores = []
    for j in range(true.shape[1]):
        keep = observed[:, j]
        if not keep.any():
            continue
        t, p = true[keep, j], pred[keep, j]
        scale = max(np.abs(t).max(), np.abs(p).max())
        if scale > 0:
            t, p = t / scale, p / scale
        ss_res = np.sum((t - p) ** 2)
        ss_tot = np.sum((t - t.mean()) ** 2)
        if ss_tot == 0.0:
            scores.append(1.0 if ss_res == 0.0 else 0.0)
        else:
            scores.append(1.0 - ss_res / ss_tot)
    return float(np.mean(scores))


def accuracy_score(y_true, y_pred):
    """Fraction of observed timesteps whose predicted label equals the true one."""
    true, pred, observed = _paired(y_true, y_pred)
    return float(np.mean(true[observed] == pred[observed]))


def nll_per_step(log_likelihood, n_steps):
    """Negative log-likelihood per observed timestep, in nats.

    ``-sum_i log_likelihood[i] / sum_i n_steps[i]``: the figure that makes
    sequences of different lengths comparable.

    Parameters
    ----------
    log_likelihood : array-like of shape (n_sequences,)
        Per-sequence log predictive densities (``model.log_likelihood(X)``).
    n_steps : array-like of shape (n_sequences,) or int
        Number of timesteps scored in each sequence (or their total).
    """
    total = float(np.sum(np.asarray(n_steps, dtype=float)))
    if total <= 0:
        raise ValueError(f"n_steps must add up to a positive number; got {total}.")
    return float(-np.sum(np.asarray(log_likelihood, dtype=float)) / total)


def gaussian_nll(y_true, mean, std):
    """Mean negative log density of independent Gaussians, per observed entry.

    ``mean( 0.5 log(2 pi std²) + (y - mean)² / (2 std²) )`` over entries with a
    target: the calibration-aware score for models that report ``std``.
    """
    true, pred, observed = _paired(y_true, mean)
    sigma = _pooled(std)
    if sigma.shape != true.shape:
        raise ValueError("std must have the same shape as y_true.")
    s = sigma[observed]
    if not (np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ValueError("std must be positive and finite where y_true has a target.")
    z = (true[observed] - pred[observed]) / s
    return float(np.mean(0.5 * np.log(2 * np.pi) + np.log(s) + 0.5 * z**2))


def count_observed(y_true):
    """Number of timesteps (over all sequences) whose target is fully observed (no NaN)."""
    return int(np.isfinite(_pooled(y_true)).all(axis=1).sum())


def oracle_gap(score, oracle_score):
    """Relative shortfall of a score from the oracle's (Bayes-optimal) score.

    ``(oracle_score - score) / |oracle_score|`` for higher-is-better scores
    (R², accuracy, log-likelihood): 0 means as good as the oracle, 0.05 means 5 %
    short of it; negative means better than the oracle on this sample (chance).
    """
    score, oracle_score = float(score), float(oracle_score)
    if oracle_score == 0.0:
        raise ValueError("oracle_score is 0; the relative gap is undefined.")
    return (oracle_score - score) / abs(oracle_score)


def sequence_errors(y_true, y_pred, columns=None):
    """Per-sequence error sums: the raw material of every metric and of paired tests.

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (n_sequences, n_timesteps, n_targets)
        Padded arrays (NaN in ``y_true``: no target at that step or padding).
    columns : sequence of int, optional
        Target columns to use (all by default).

    Returns
    -------
    dict of str -> ndarray of shape (n_sequences,)
        ``sse`` (sum of squared errors), ``sae`` (sum of absolute errors),
        ``count`` (observed target entries), ``correct`` (entries predicted
        exactly: labels), ``max_abs`` (largest absolute error; NaN for a
        sequence without targets).
    """
    true = np.asarray(y_true, dtype=float)
    pred = np.asarray(y_pred, dtype=float)
    if columns is not None:
        columns = list(columns)
        true, pred = true[..., columns], pred[..., columns]
    observed = np.isfinite(true)
    error = np.where(observed, pred - true, 0.0)
    if not np.isfinite(error).all():
        raise ValueError("y_pred is not finite where y_true has a target.")
    axes = tuple(range(1, true.ndim))
    count = observed.sum(axis=axes)
    abs_error = np.abs(error)
    max_abs = np.where(count > 0, np.where(observed, abs_error, -np.inf).max(axis=axes), np.nan)
    return {
        "sse": (error**2).sum(axis=axes),
        "sae": abs_error.sum(axis=axes),
        "count": count.astype(float),
        "correct": (observed & (error == 0.0)).sum(axis=axes).astype(float),
        "max_abs": max_abs,
    }


_METRICS = {
    # name: (greater_is_better, default label, range of values)
    "rmse": (False, "RMSE", "positive"),
    "mae": (False, "MAE", "positive"),
    "accuracy": (True, "accuracy", "proportion"),
    "success_rate": (True, "success rate", "proportion"),
    "nll_per_step": (False, "NLL per step", "real"),
}


def value_range(name):
    """The range a metric's values lie in: ``"positive"``, ``"proportion"`` or ``"real"``.

    What an interval of the metric must respect: an error is never below 0, a proportion
    never outside [0, 1]; an NLL per step of continuous data can be any real number.
    Unknown names are ``"real"``.

    Examples
    --------
    >>> value_range("rmse"), value_range("accuracy"), value_range("nll_per_step")
    ('positive', 'proportion', 'real')
    """
    return _METRICS[name][2] if name in _METRICS else "real"


@dataclass(frozen=True)
class Metric:
    """A dataset's headline metric: what the gap to the oracle and the ranking use.

    Parameters
    ----------
    name : {"rmse", "mae", "accuracy", "success_rate", "nll_per_step"}
        ``rmse`` / ``mae``: pooled over every observed target entry of ``columns``;
        ``accuracy``: fraction of labelled steps predicted exactly;
        ``success_rate``: fraction of sequences whose largest absolute error over
        ``columns`` is below ``threshold`` (Hochreiter & Schmidhuber's criterion for
        the adding problem); ``nll_per_step``: negative log predictive density per
        scored step, nats.
    columns : tuple of int, optional
        Target columns the metric looks at (tracking: the position columns of the
        state); all by default.
    threshold : float, optional
        Success threshold, required by ``success_rate``.
    label : str, optional
        Display name (e.g. ``"position RMSE"``); defaults to the metric's name.

    Examples
    --------
    >>> Metric("rmse", columns=(0, 2), label="position RMSE").greater_is_better
    False
    """

    name: str
    columns: tuple = None
    threshold: float = None
    label: str = ""

    def __post_init__(self):
        if self.name not in _METRICS:
            raise ValueError(f"Metric name must be one of {sorted(_METRICS)}; got {self.name!r}.")
        if self.name == "success_rate" and not (
            self.threshold is not None and np.isfinite(self.threshold) and self.threshold > 0
        ):
            raise ValueError("Metric 'success_rate' needs a positive finite threshold.")
        if self.columns is not None:
            object.__setattr__(self, "columns", tuple(int(c) for c in self.columns))
        if not self.label:
            object.__setattr__(self, "label", _METRICS[self.name][1])

    @property
    def greater_is_better(self):
        """True for accuracy and success rate, False for errors and NLL."""
        return _METRICS[self.name][0]

    @classmethod
    def default_for(cls, task):
        """The headline metric of a task: accuracy for tagging, RMSE otherwise."""
        return cls("accuracy") if task == "tagging" else cls("rmse")

    def per_sequence(self, errors, log_likelihood=None, n_steps=None):
        """The metric of each sequence alone, from :func:`sequence_errors` of its columns.

        Returns
        -------
        ndarray of shape (n_sequences,)
            NaN for a sequence without targets.
        """
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.name == "rmse":
                return np.sqrt(errors["sse"] / errors["count"])
            if self.name == "mae":
                return errors["sae"] / errors["count"]
            if self.name == "accuracy":
                return errors["correct"] / errors["count"]
            if self.name == "success_rate":
                return np.where(np.isnan(errors["max_abs"]), np.nan,
                                (errors["max_abs"] < self.threshold).astype(float))
            if log_likelihood is None:
                return np.full(len(errors["count"]), np.nan)
            return -np.asarray(log_likelihood, dtype=float) / np.asarray(n_steps, dtype=float)

    def pooled(self, errors, log_likelihood=None, n_steps=None):
        """The metric over all sequences (pooled sums, not a mean of per-sequence values)."""
        count = errors["count"].sum()
        if self.name == "rmse":
            return float(np.sqrt(errors["sse"].sum() / count)) if count else float("nan")
        if self.name == "mae":
            return float(errors["sae"].sum() / count) if count else float("nan")
        if self.name == "accuracy":
            return float(errors["correct"].sum() / count) if count else float("nan")
        if self.name == "success_rate":
            has = ~np.isnan(errors["max_abs"])
            return float(np.mean(errors["max_abs"][has] < self.threshold)) if has.any() \
                else float("nan")
        if log_likelihood is None:
            return float("nan")
        return nll_per_step(log_likelihood, n_steps)
