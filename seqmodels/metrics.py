"""Metrics over sequences: pure functions that skip timesteps without a target.

Every function takes targets and predictions in any of the package's container
forms (3-D array, list of 2-D arrays, 1-D array, or the padded internal form) and
pools all timesteps of all sequences. A NaN in ``y_true`` (a negative label in an
integer ``y_true``) means "no target at this step" (padding, or the adding problem's
unlabelled steps) and is skipped.
"""

import numpy as np

__all__ = [
    "rmse",
    "mae",
    "r2_score",
    "accuracy_score",
    "nll_per_step",
    "gaussian_nll",
    "oracle_gap",
    "count_observed",
]


def _pooled(array):
    """Stack any container form into a float array (n_entries, n_features).

    Integer arrays are class labels; a negative label means "no target" and becomes NaN.
    """
    if isinstance(array, (list, tuple)) and len(array) and np.ndim(array[0]) == 2:
        parts = [np.asarray(a) for a in array]
    else:
        parts = [np.asarray(array)]
    pooled = []
    for part in parts:
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
    """
    true, pred, observed = _paired(y_true, y_pred)
    scores = []
    for j in range(true.shape[1]):
        keep = observed[:, j]
        if not keep.any():
            continue
        t, p = true[keep, j], pred[keep, j]
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
