"""Vector autoregressive models, fitted by least squares over all sequences at once.

Forecasting mode, VAR(p) with d features::

    x_t = c + A_1 x_{t-1} + ... + A_p x_{t-p} + e_t,      e_t ~ N(0, Sigma)

Supervised mode, a distributed-lag regression of m targets on the last p inputs::

    y_t = c + B_1 x_t + B_2 x_{t-1} + ... + B_p x_{t-p+1} + e_t,   e_t ~ N(0, Sigma)

A thin estimator over the pure functions of :mod:`seqmodels.inference.autoregressive`.
"""

import numpy as np

from ._parameters import Integer, Real
from .base import SequenceEstimator
from .inference.autoregressive import (fit_orders, forecast_paths, gaussian_log_density,
                                       lag_tensor, predict_steps, stack_predictors,
                                       stationary_predictors)

__all__ = ["AutoRegressive"]


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

    target_kinds = ("values",)
    _parameter_constraints = {
        "order": [Integer(0)],
        "fit_intercept": ["boolean"],
        "alpha": [Real(0.0, None)],
        "coef": [None, "array-like"],
        "intercept": [None, "array-like"],
        "noise_cov": [None, "array-like"],
    }

    @classmethod
    def _unit_test_params(cls):
        return {"order": 2}

    def _min_fit_length(self):
        return int(self.order) + 1

    def _fit(self, X, y):
        p = int(self.order)
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
