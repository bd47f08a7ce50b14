"""Vector autoregressive models, fitted by least squares over all sequences at once.

Forecasting mode, VAR(p) with d features::

    x_t = c + A_1 x_{t-1} + ... + A_p x_{t-p} + e_t,      e_t ~ N(0, Sigma)

Supervised mode, a distributed-lag regression of m targets on the last p inputs::

    y_t = c + B_1 x_t + B_2 x_{t-1} + ... + B_p x_{t-p+1} + e_t,   e_t ~ N(0, Sigma)

The numerical core is a set of pure functions over padded arrays; the estimator
class is a thin wrapper that stores the results.
"""

import numbers

import numpy as np
from scipy import linalg

from .utils.threads import one_blas_thread
from .base import SequenceEstimator

__all__ = ["AutoRegressive"]

_LOG_2PI = np.log(2.0 * np.pi)


# -- pure numerical core --------------------------------------------------------------


def lag_tensor(values, n_lags, offset):
    """Stack past values: ``out[i, t, j] = values[i, t - offset - j]``, zero before the start.

    Parameters
    ----------
    values : ndarray of shape (n_sequences, n_timesteps, n_features)
    n_lags : int
    offset : int
        1 for forecasting (lags 1..p), 0 for supervised (the current step first).

    Returns
    -------
    ndarray of shape (n_sequences, n_timesteps, n_lags * n_features)
        Lag ``j`` (0-based) occupies columns ``j*d:(j+1)*d``.
    """
    n, T, d = values.shape
    clean = np.nan_to_num(values, nan=0.0)
    out = np.zeros((n, T, n_lags, d))
    for j in range(n_lags):
        shift = j + offset
        if shift < T:
            out[:, shift:, j] = clean[:, : T - shift]
    return out.reshape(n, T, n_lags * d)


def effective_orders(n_timesteps, order, offset):
    """Order usable at each step: ``min(t + 1 - offset, order)`` (the history there is)."""
    return np.minimum(np.arange(n_timesteps) + 1 - offset, order).clip(min=0)


def least_squares(design, targets, alpha=0.0, fit_intercept=True):
    """Ridge least squares ``min ||Y - c - Z B'||² + alpha ||B||²`` (intercept unpenalised).

    Parameters
    ----------
    design : ndarray of shape (n_rows, n_columns)
    targets : ndarray of shape (n_rows, n_targets)

    Returns
    -------
    intercept : ndarray of shape (n_targets,)
    coef : ndarray of shape (n_targets, n_columns)
    noise_cov : ndarray of shape (n_targets, n_targets)
        Maximum-likelihood residual covariance ``R'R / n_rows``.
    """
    n_rows, n_cols = design.shape
    Z = np.hstack([np.ones((n_rows, 1)), design]) if fit_intercept else design
    if alpha == 0.0:
        B, *_ = np.linalg.lstsq(Z, targets, rcond=None)
    else:
        penalty = np.full(Z.shape[1], float(alpha))
        if fit_intercept:
            penalty[0] = 0.0
        B = linalg.solve(Z.T @ Z + np.diag(penalty), Z.T @ targets, assume_a="sym")
    residuals = targets - Z @ B
    noise_cov = residuals.T @ residuals / n_rows
    intercept = B[0] if fit_intercept else np.zeros(targets.shape[1])
    coef = (B[1:] if fit_intercept else B).T
    return intercept, coef, _symmetrise(noise_cov)


def _symmetrise(cov):
    """Make a covariance exactly symmetric and strictly positive definite."""
    cov = 0.5 * (cov + cov.T)
    jitter = 1e-12 * max(np.trace(cov) / cov.shape[0], 1e-300)
    return cov + jitter * np.eye(cov.shape[0])


def fit_orders(values, lengths, targets, order, offset, alpha, fit_intercept):
    """Least-squares predictors of every order 0..p on all sequences at once.

    The order-k predictor uses every step that has k past values (so the
    start-up predictors learn from the whole data set, not only the first steps)
    and an observed target.

    Returns
    -------
    list of (intercept, coef, noise_cov)
        Indexed by order; ``coef`` has shape (k, n_targets, n_features).
    """
    n, T, d = values.shape
    lags = lag_tensor(values, order, offset)
    in_sequence = np.arange(T)[None, :] < lengths[:, None]
    has_target = np.isfinite(targets).all(axis=-1) & in_sequence
    history = np.arange(T) + 1 - offset
    predictors = []
    for k in range(order + 1):
        rows = has_target & (history >= k)[None, :]
        design = lags[rows][:, : k * d]
        intercept, coef, cov = least_squares(design, targets[rows], alpha, fit_intercept)
        m = targets.shape[-1]
        predictors.append((intercept, coef.reshape(m, k, d).transpose(1, 0, 2), cov))
    return predictors


def stationary_moments(intercept, coef, noise_cov):
    """Stationary mean and covariance of the companion state of a stable VAR(p).

    With ``s_t = [x_t, ..., x_{t-p+1}]`` and ``s_t = c~ + F s_{t-1} + w_t``, the
    stationary mean is ``mu = (I - F)^{-1} c~`` and the covariance solves the
    discrete Lyapunov equation ``Gamma = F Gamma F' + Q~`` (``Q~`` holds ``Sigma``
    in its top-left block). Block ``(a, b)`` of ``Gamma`` is ``Cov(x_{t-a}, x_{t-b})``.

    Returns
    -------
    mu : ndarray of shape (p * d,)
    gamma : ndarray of shape (p * d, p * d)

    Raises
    ------
    ValueError
        If the VAR is not stable (companion spectral radius >= 1).
    """
    p, d, _ = coef.shape
    F = companion(coef)
    radius = np.max(np.abs(np.linalg.eigvals(F))) if p else 0.0
    if radius >= 1.0:
        raise ValueError(
            f"coef describes an unstable VAR (spectral radius {radius:.4g} >= 1); it has no "
            "stationary distribution."
        )
    c_tilde = np.zeros(p * d)
    c_tilde[:d] = intercept
    Q_tilde = np.zeros((p * d, p * d))
    Q_tilde[:d, :d] = noise_cov
    mu = np.linalg.solve(np.eye(p * d) - F, c_tilde) if p else np.zeros(0)
    gamma = linalg.solve_discrete_lyapunov(F, Q_tilde) if p else np.zeros((0, 0))
    return mu, 0.5 * (gamma + gamma.T)


def stationary_predictors(intercept, coef, noise_cov):
    """Best linear predictors of orders 0..p-1 implied by a stable VAR(p).

    The order-k predictor of ``x_t`` from ``z = (x_{t-1}, ..., x_{t-k})`` is the
    Gaussian conditional of the stationary distribution (:func:`stationary_moments`),
    ``E[x_t | z] = mu_x + Gamma_xz Gamma_zz^{-1} (z - mu_z)`` with variance
    ``Gamma_xx - Gamma_xz Gamma_zz^{-1} Gamma_zx``: the population version of the
    least-squares start-up predictors.
    """
    p, d, _ = coef.shape
    mu, gamma = stationary_moments(intercept, coef, noise_cov)
    predictors = []
    for k in range(p):
        g_xz = gamma[:d, d : (k + 1) * d]
        g_zz = gamma[d : (k + 1) * d, d : (k + 1) * d]
        B = linalg.solve(g_zz, g_xz.T, assume_a="pos").T if k else np.zeros((d, 0))
        cov = gamma[:d, :d] - B @ g_xz.T
        c = mu[:d] - B @ mu[d : (k + 1) * d]
        predictors.append((c, B.reshape(d, k, d).transpose(1, 0, 2), _symmetrise(cov)))
    return predictors


def simulate(intercept, coef, noise_cov, n_sequences, n_timesteps, rng):
    """Draw sequences of a stable VAR(p), started in its stationary distribution.

    The first p values are drawn jointly from ``N(mu, Gamma)``
    (:func:`stationary_moments`), then ``x_t = c + sum_j A_j x_{t-j} + e_t`` runs
    for all sequences at once; an order-0 model draws i.i.d. ``N(c, Sigma)``.

    Returns
    -------
    ndarray of shape (n_sequences, n_timesteps, d)
    """
    intercept = np.asarray(intercept, dtype=float)
    d = intercept.shape[0]
    coef = np.asarray(coef, dtype=float).reshape(-1, d, d)
    p = coef.shape[0]
    chol = np.linalg.cholesky(noise_cov)
    X = np.empty((n_sequences, n_timesteps + p, d))
    if p:
        mu, gamma = stationary_moments(intercept, coef, noise_cov)
        start = mu + rng.standard_normal((n_sequences, p * d)) @ np.linalg.cholesky(gamma).T
        X[:, :p] = start.reshape(n_sequences, p, d)[:, ::-1]
    noise = rng.standard_normal((n_sequences, n_timesteps, d)) @ chol.T
    for t in range(p, n_timesteps + p):
        X[:, t] = intercept + noise[:, t - p]
        for j in range(1, p + 1):
            X[:, t] += X[:, t - j] @ coef[j - 1].T
    return X[:, p:]


def companion(coef):
    """Companion matrix of a VAR(p): first block row ``[A_1 ... A_p]``, shifted identity below."""
    p, d, _ = coef.shape
    F = np.zeros((p * d, p * d))
    if p:
        F[:d] = np.concatenate(list(coef), axis=1)
        F[d:, :-d] = np.eye((p - 1) * d)
    return F


def stack_predictors(predictors, order, n_features):
    """Pad every order's coefficients to ``order`` lags: arrays indexable by order."""
    m = predictors[0][0].shape[0]
    intercepts = np.stack([c for c, _, _ in predictors])
    coefs = np.zeros((len(predictors), m, order * n_features))
    for k, (_, B, _) in enumerate(predictors):
        coefs[k, :, : k * n_features] = B.transpose(1, 0, 2).reshape(m, k * n_features)
    covs = np.stack([S for _, _, S in predictors])
    return intercepts, coefs, covs


def _per_order(orders, array, main):
    """Apply ``main`` (order p) to every step, then redo the start-up steps with their order.

    ``array`` has time on axis 1; ``main(k, part)`` maps a slice to the result for order k.
    Only the first few steps (fewer than p past values) use a lower order, so this costs
    one vectorised pass plus p small ones.
    """
    order = orders.max(initial=0)
    out = main(order, array)
    for t in np.flatnonzero(orders < order):
        out[:, t] = main(orders[t], array[:, t : t + 1])[:, 0]
    return out


@one_blas_thread
def predict_steps(values, stacked, order, offset):
    """Per-step predictive means, and the order used at each step.

    ``mean[i, t] = c_k + sum_{j=1..k} B^(k)_j x[i, t - offset - j + 1]`` with ``k`` the
    effective order at step ``t``. The full-order means are one matrix product per
    lag over the time-flattened array (rows ``i T + t``), with no lag tensor built;
    the first ``p - 1 + offset`` steps of each sequence, whose lags there reach into
    the sequence before, are then recomputed with their start-up predictors. The
    products are thin (``d`` columns) and memory-bound: one BLAS thread (see
    :mod:`seqmodels.utils.threads`).
    """
    intercepts, coefs, _ = stacked
    n, T, d = values.shape
    k = effective_orders(T, order, offset)
    clean = np.nan_to_num(values, nan=0.0) if np.isnan(values).any() else values
    flat = np.ascontiguousarray(clean).reshape(n * T, d)
    mean = np.empty((n * T, intercepts.shape[-1]))
    start = order - 1 + offset                      # first step with the full order
    if order == 0:
        mean[...] = intercepts[0]
    elif n * T > start:
        main, stop = mean[start:], n * T - offset
        B = coefs[order]
        np.matmul(flat[start - offset: stop], B[:, :d].T, out=main)
        for j in range(1, order):
            main += flat[start - offset - j: stop - j] @ B[:, j * d:(j + 1) * d].T
        main += intercepts[order]
    mean = mean.reshape(n, T, -1)
    for t in range(min(start, T)):
        o = k[t]
        window = clean[:, t + 1 - offset - o: t + 1 - offset][:, ::-1].reshape(n, o * d)
        mean[:, t] = intercepts[o] + (window @ coefs[o][:, : o * d].T if o else 0.0)
    return mean, k


@one_blas_thread
def gaussian_log_density(residuals, covs, orders, observed):
    """Sum over observed steps of ``log N(r_t; 0, Sigma_k(t))`` per sequence (Cholesky-based)."""
    m = residuals.shape[-1]
    chol = np.linalg.cholesky(covs)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    inv_chol = np.linalg.inv(chol)
    clean = np.where(observed[..., None], residuals, 0.0)
    z = _per_order(orders, clean, lambda o, part: part @ inv_chol[o].T)
    per_step = -0.5 * (m * _LOG_2PI + logdet[orders][None] + np.sum(z**2, axis=-1))
    return np.where(observed, per_step, 0.0).sum(axis=1)


def forecast_paths(values, lengths, stacked, order, horizon):
    """Mean and covariance of the h-step forecasts of a VAR(p), vectorised over sequences.

    The last p values form the window ``w = (x_{T-1}, ..., x_{T-p})`` with mean known and
    covariance zero. Each step draws ``x = c_k + B_k w + e``, ``e ~ N(0, Sigma_k)``, and
    propagates the window's joint Gaussian::

        E[x] = c_k + B_k E[w],   Var[x] = B_k S B_k' + Sigma_k,   Cov[x, w] = B_k S

    then shifts ``x`` into the window. ``k`` grows with the history (start-up
    predictors for sequences shorter than p).

    Returns
    -------
    mean : ndarray of shape (n_sequences, horizon, d)
    cov : ndarray of shape (n_sequences, horizon, d, d)
    """
    intercepts, coefs, covs = stacked
    n, _, d = values.shape
    q = order * d
    idx = lengths[:, None] - 1 - np.arange(order)[None, :]
    window = np.where(
        (idx >= 0)[..., None], values[np.arange(n)[:, None], idx.clip(min=0)], 0.0
    ).reshape(n, q)
    S = np.zeros((n, q, q))
    means = np.empty((n, horizon, d))
    cov_out = np.empty((n, horizon, d, d))
    for h in range(horizon):
        k = np.minimum(lengths + h, order)
        B = coefs[k]
        mean = intercepts[k] + np.einsum("nmq,nq->nm", B, window)
        BS = np.einsum("nmq,nqr->nmr", B, S)
        var = np.einsum("nmr,nsr->nms", BS, B) + covs[k]
        means[:, h], cov_out[:, h] = mean, var
        if q:
            window = np.concatenate([mean, window[:, : q - d]], axis=1)
            top = np.concatenate([var, BS[:, :, : q - d]], axis=2)
            bottom = np.concatenate(
                [BS[:, :, : q - d].transpose(0, 2, 1), S[:, : q - d, : q - d]], axis=2
            )
            S = np.concatenate([top, bottom], axis=1)
    return means, cov_out


# -- estimator -----------------------------------------------------------------------


class AutoRegressive(SequenceEstimator):
    """Vector autoregressive model VAR(p), or a distributed-lag regression, by least squares.

    Forecasting mode (``fit(X)``)::

        x_t = c + A_1 x_{t-1} + ... + A_p x_{t-p} + e_t,      e_t ~ N(0, Sigma)

    Supervised mode (``fit(X, y)``)::

        y_t = c + B_1 x_t + ... + B_p x_{t-p+1} + e_t,        e_t ~ N(0, Sigma)

    The coefficients minimise ``sum ||target - c - sum_j B_j lag_j||² + alpha sum ||B_j||²``
    over every step of every sequence at once (one stacked lag matrix; the intercept
    is not penalised). ``Sigma`` is the maximum-likelihood residual covariance.

    The first steps of a sequence have fewer than p past values. Step t uses the
    predictor of order ``k = min(t, p)`` (forecasting) or ``min(t + 1, p)``
    (supervised): predictors of every lower order are fitted alongside, on all
    steps with enough history -- so the first prediction is the mean of the data,
    never NaN. When the parameters are given instead of learned, the lower-order
    predictors follow from the stationary distribution of the given VAR.

    Parameters
    ----------
    order : int, default=1
        Number of lags p (0 gives an i.i.d. Gaussian model).
    fit_intercept : bool, default=True
        Whether to learn the constant c (else c = 0).
    alpha : float, default=0.0
        Ridge penalty on the lag coefficients.
    coef : array-like of shape (order, n_features, n_features), optional
        Given ``A_1..A_p``: with ``intercept`` (when ``fit_intercept``) and
        ``noise_cov`` this is a fully specified model -- an oracle -- and ``fit``
        learns nothing. Given without ``noise_cov``, only Sigma is learned.
        Forecasting mode only.
    intercept : array-like of shape (n_features,), optional
        Given c (requires ``coef``).
    noise_cov : array-like of shape (n_features, n_features), optional
        Given Sigma (requires ``coef``).

    Attributes
    ----------
    coef_ : ndarray of shape (order, n_targets, n_features)
        ``coef_[j]`` multiplies lag j+1 (forecasting) or the input j steps back
        (supervised, ``coef_[0]`` multiplies ``x_t``).
    intercept_ : ndarray of shape (n_targets,)
    noise_cov_ : ndarray of shape (n_targets, n_targets)
    startup_ : list of (intercept, coef, noise_cov)
        The lower-order predictors used at the first steps, indexed by order.
    n_params_ : int
        Parameters estimated from the data: ``p d m`` coefficients + ``m`` intercepts +
        ``m (m + 1) / 2`` covariance entries, less those given (0 for an oracle).
    history_ : list
        Empty: the fit is closed-form.

    Examples
    --------
    >>> import numpy as np
    >>> from seqmodels import AutoRegressive
    >>> rng = np.random.default_rng(0)
    >>> X = np.zeros((10, 200, 1))
    >>> for t in range(1, 200):
    ...     X[:, t] = 0.8 * X[:, t - 1] + rng.normal(size=(10, 1))
    >>> model = AutoRegressive(order=1).fit(X)
    >>> round(float(model.coef_[0, 0, 0]), 1)
    0.8
    >>> model.forecast(X, horizon=3).shape
    (10, 3, 1)
    """

    def __init__(self, order=1, fit_intercept=True, alpha=0.0, coef=None, intercept=None,
                 noise_cov=None):
        self.order = order
        self.fit_intercept = fit_intercept
        self.alpha = alpha
        self.coef = coef
        self.intercept = intercept
        self.noise_cov = noise_cov

    @classmethod
    def _unit_test_params(cls):
        return {"order": 2}

    def _min_fit_length(self):
        return self._checked_order() + 1

    def _checked_order(self):
        if isinstance(self.order, bool) or not isinstance(self.order, numbers.Integral):
            raise TypeError(f"order must be a non-negative integer; got {self.order!r}.")
        if self.order < 0:
            raise ValueError(f"order must be a non-negative integer; got {self.order}.")
        return int(self.order)

    def _fit(self, X, y):
        p = self._checked_order()
        if not (isinstance(self.alpha, numbers.Real) and self.alpha >= 0):
            raise ValueError(f"alpha must be a non-negative number; got {self.alpha!r}.")
        if self.classes_ is not None:
            raise ValueError(
                "y holds integers, which means class labels; AutoRegressive is a regression "
                "model. Pass y.astype(float) to regress on the values."
            )
        d = X.n_features
        offset = 1 if y is None else 0
        targets = X.values if y is None else y.values
        m = targets.shape[-1]
        if self.coef is not None:
            predictors = self._given_predictors(X, y, p, d)
        else:
            for name in ("intercept", "noise_cov"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} is given without coef; give coef too.")
            observed = np.isfinite(targets).all(axis=-1) & X.mask
            usable = int(observed[:, max(p - 1 + offset, 0):].sum())
            needed = p * d + int(bool(self.fit_intercept))
            if self.alpha == 0 and usable <= needed:
                raise ValueError(
                    f"X has {usable} usable timestep(s) but AutoRegressive(order={p}) with "
                    f"{d} feature(s) has {needed} coefficients per target; give more or longer "
                    "sequences, a lower order, or alpha > 0."
                )
            predictors = fit_orders(X.values, X.lengths, targets, p, offset, float(self.alpha),
                                    bool(self.fit_intercept))
        self.intercept_, self.coef_, self.noise_cov_ = predictors[p]
        self.startup_ = predictors[:p]
        self.n_params_ = (0 if self.coef is not None else p * d * m
                          + (m if self.fit_intercept else 0)) + (
            0 if self.noise_cov is not None else m * (m + 1) // 2)

    def _given_predictors(self, X, y, p, d):
        if y is not None:
            raise ValueError("coef describes a forecasting model; call fit(X) without y.")
        coef = np.asarray(self.coef, dtype=float)
        if coef.shape != (p, d, d):
            raise ValueError(
                f"coef must have shape (order, n_features, n_features) = {(p, d, d)}; "
                f"got {coef.shape}."
            )
        if self.intercept is not None:
            intercept = np.asarray(self.intercept, dtype=float).reshape(-1)
            if intercept.shape != (d,):
                raise ValueError(f"intercept must have shape ({d},); got {intercept.shape}.")
        elif self.fit_intercept:
            raise ValueError("coef is given with fit_intercept=True; give intercept too "
                             "(or set fit_intercept=False for c = 0).")
        else:
            intercept = np.zeros(d)
        if self.noise_cov is not None:
            noise_cov = np.asarray(self.noise_cov, dtype=float)
            if noise_cov.shape != (d, d):
                raise ValueError(f"noise_cov must have shape ({d}, {d}); got {noise_cov.shape}.")
            if not np.allclose(noise_cov, noise_cov.T) or np.any(
                np.linalg.eigvalsh(0.5 * (noise_cov + noise_cov.T)) <= 0
            ):
                raise ValueError("noise_cov must be symmetric positive definite.")
        else:
            B = coef.transpose(1, 0, 2).reshape(d, p * d)
            mean = intercept + np.einsum("mq,ntq->ntm", B, lag_tensor(X.values, p, 1))
            rows = X.mask & (np.arange(X.max_length) >= p)[None, :]
            resid = (X.values - mean)[rows]
            noise_cov = resid.T @ resid / max(len(resid), 1)
        noise_cov = 0.5 * (noise_cov + noise_cov.T)
        return stationary_predictors(intercept, coef, noise_cov) + [(intercept, coef, noise_cov)]

    def _predictors(self):
        """(stacked predictors of orders 0..p, p, lag offset) of the fitted model."""
        order = self.coef_.shape[0]
        stacked = stack_predictors(self.startup_ + [(self.intercept_, self.coef_, self.noise_cov_)],
                                   order, self.n_features_in_)
        return stacked, order, 1 if self.mode_ == "forecast" else 0

    def _predict(self, X, return_std):
        stacked, order, offset = self._predictors()
        mean, orders = predict_steps(X.values, stacked, order, offset)
        if not return_std:
            return mean
        std = np.sqrt(np.diagonal(stacked[2], axis1=1, axis2=2))[orders]
        return mean, np.broadcast_to(std[None], mean.shape).copy()

    def _log_likelihood(self, X, y):
        stacked, order, offset = self._predictors()
        mean, orders = predict_steps(X.values, stacked, order, offset)
        target = X.values if y is None else y.values
        observed = X.mask & np.isfinite(target).all(axis=-1)
        return gaussian_log_density(target - mean, stacked[2], orders, observed)

    def _forecast(self, X, horizon, return_std):
        stacked, order, _ = self._predictors()
        mean, cov = forecast_paths(X.values, X.lengths, stacked, order, horizon)
        if not return_std:
            return mean
        return mean, np.sqrt(np.diagonal(cov, axis1=2, axis2=3))
