"""Echo-state networks: a fixed random reservoir and a linear readout fitted in closed form.

A thin estimator over the pure functions of :mod:`seqmodels.inference.reservoir`.
"""

import numpy as np

from ._parameters import Integer, Real
from ._validation import check_random_state
from .base import SequenceEstimator
from .inference.reservoir import (Reservoir, fit_readout, forecast_paths,
                                  gaussian_log_density, random_reservoir, readout_steps)
from .inference.reservoir import _floor_covariance

__all__ = ["EchoStateNetwork"]


class EchoStateNetwork(SequenceEstimator):
    """Echo-state network (Jaeger 2001): a random leaky tanh reservoir, a ridge readout.

    The reservoir of ``units`` neurons reads the inputs ``u_t`` (the features of ``X``)::

        x_t = (1 - a) x_{t-1} + a tanh(W x_{t-1} + W_in u_t + b),      x_{-1} = 0

    ``W`` is a sparse random matrix (a fraction ``connectivity`` of normal weights)
    rescaled to the spectral radius ``spectral_radius``; ``W_in`` holds ``±input_scaling``
    at a fraction ``input_connectivity`` of its entries; ``b`` is ``±bias_scaling``;
    ``a`` is the ``leak_rate``. None of them is learned. Only the readout is::

        target_t = c + A z_t + e_t,   e_t ~ N(0, Sigma),   z_t = x_t  (or [x_t, u_t])

    by ridge regression in closed form over every step of every sequence at once, the
    first ``warmup`` states of each sequence left out (their transient still remembers
    the zero start), the intercept unpenalised: reservoirpy's ``Reservoir >> Ridge``.

    Forecasting mode (``fit(X)``): the readout of ``z_{t-1}`` predicts ``x_t``, so
    ``predict(X)[:, t]`` uses ``X[:, :t]`` only; step 0, before any input, is predicted
    from the prior (the training data's mean and covariance). ``forecast`` runs the
    network freely, each prediction fed back as the next input. Supervised mode
    (``fit(X, y)``): the readout of ``z_t`` estimates ``y_t``. ``return_std`` and
    ``log_likelihood`` use the Gaussian residuals of the readout (``Sigma``, the
    maximum-likelihood residual covariance on the fitted rows, at every step); forecast
    standard deviations propagate it through the fed-back inputs to first order.

    Parameters
    ----------
    units : int, default=100
        Reservoir size N.
    spectral_radius : float, default=0.9
        Largest absolute eigenvalue of the drawn ``W`` (below 1 for the echo-state
        property on small inputs).
    leak_rate : float in (0, 1], default=1.0
        ``a``; small values make slow units (a long memory).
    input_scaling : float or array-like of shape (n_features,), default=1.0
        Scale of ``W_in``'s entries (one per input feature, as reservoirpy allows).
    bias_scaling : float, default=0.0
        Scale of the reservoir bias ``b`` (reservoirpy 0.4 draws none by default).
    connectivity : float in (0, 1], default=0.1
        Fraction of non-zero entries of ``W`` (reservoirpy's ``rc_connectivity``).
    input_connectivity : float in (0, 1], default=0.1
        Fraction of non-zero entries of ``W_in``.
    ridge : float, default=1e-6
        Penalty added to the centred Gram matrix of the readout's features (reservoirpy's
        ``ridge``, not divided by the number of rows). With 0, the minimum-norm least
        squares.
    warmup : int, default=0
        States left out of the readout fit at the start of every sequence (reservoirpy's
        ``warmup``); they are still predicted.
    input_to_readout : bool, default=False
        Whether the readout also sees the current input (``z_t = [x_t, u_t]``, reservoirpy's
        ``ESN(input_to_readout=True)``).
    W : array-like of shape (units, units), optional
        A given recurrent matrix, used as given (``spectral_radius`` and ``connectivity``
        do not apply to it), so that a run can be reproduced elsewhere.
    W_in : array-like of shape (units, n_features), optional
        A given input matrix, used as given.
    bias : float or array-like of shape (units,), optional
        A given reservoir bias, used as given.
    random_state : None, int, RandomState or Generator, default=None
        Draws the matrices that are not given.

    Attributes
    ----------
    W_ : ndarray of shape (units, units)
    W_in_ : ndarray of shape (units, n_features)
    bias_ : ndarray of shape (units,)
        The reservoir, drawn or given.
    coef_ : ndarray of shape (n_targets, units) or (n_targets, units + n_features)
        The readout ``A`` (reservoirpy's ``Wout.T``): the states' columns first, then
        the inputs' with ``input_to_readout``.
    intercept_ : ndarray of shape (n_targets,)
        The readout's ``c`` (reservoirpy's readout ``bias``).
    noise_cov_ : ndarray of shape (n_targets, n_targets)
        ``Sigma``, floored at 1e-12 times the targets' mean variance.
    prior_mean_, prior_cov_ : ndarray or None
        The step-0 predictive distribution in forecasting mode (None when supervised).
    n_readout_rows_ : int
        Steps the readout was fitted on.
    n_params_ : int
        What is learned, the readout: ``m F`` weights, ``m`` intercepts and the
        ``m (m + 1) / 2`` entries of ``Sigma`` (the reservoir is not learned).
    history_ : list
        Empty: the fit is closed-form.

    Examples
    --------
    >>> import numpy as np
    >>> from seqmodels import EchoStateNetwork
    >>> t = np.arange(300)
    >>> X = np.sin(0.2 * t + np.arange(4)[:, None])[..., None]
    >>> model = EchoStateNetwork(units=50, warmup=20, random_state=0).fit(X)
    >>> model.W_.shape, model.coef_.shape
    ((50, 50), (1, 50))
    >>> bool(np.abs(model.predict(X) - X)[:, 20:].max() < 0.01)
    True
    >>> model.forecast(X, horizon=5).shape
    (4, 5, 1)
    """

    def __init__(self, units=100, spectral_radius=0.9, leak_rate=1.0, input_scaling=1.0,
                 bias_scaling=0.0, connectivity=0.1, input_connectivity=0.1, ridge=1e-6,
                 warmup=0, input_to_readout=False, W=None, W_in=None, bias=None,
                 random_state=None):
        self.units = units
        self.spectral_radius = spectral_radius
        self.leak_rate = leak_rate
        self.input_scaling = input_scaling
        self.bias_scaling = bias_scaling
        self.connectivity = connectivity
        self.input_connectivity = input_connectivity
        self.ridge = ridge
        self.warmup = warmup
        self.input_to_readout = input_to_readout
        self.W = W
        self.W_in = W_in
        self.bias = bias
        self.random_state = random_state

    target_kinds = ("values",)
    _parameter_constraints = {
        "units": [Integer(1)],
        "spectral_radius": [Real(0.0, None)],
        "leak_rate": [Real(0.0, 1.0, closed="right")],
        "input_scaling": ["array-like"],
        "bias_scaling": [Real(0.0, None)],
        "connectivity": [Real(0.0, 1.0, closed="right")],
        "input_connectivity": [Real(0.0, 1.0, closed="right")],
        "ridge": [Real(0.0, None)],
        "warmup": [Integer(0)],
        "input_to_readout": ["boolean"],
        "W": [None, "array-like"],
        "W_in": [None, "array-like"],
        "bias": [None, "array-like"],
        "random_state": ["random_state"],
    }

    @classmethod
    def _unit_test_params(cls):
        return {"units": 20, "warmup": 2}

    # -- fitting ----------------------------------------------------------------------------

    def _reservoir(self, d):
        """The reservoir: the given matrices, the others drawn from ``random_state``."""
        N = int(self.units)
        given = {}
        for name, shape in (("W", (N, N)), ("W_in", (N, d))):
            value = getattr(self, name)
            if value is None:
                continue
            array = np.asarray(value, dtype=float)
            if array.shape != shape:
                raise ValueError(
                    f"{name} must have shape {shape} (units={N}, n_features={d}); got "
                    f"{array.shape}. Set units to the size of the given matrices.")
            given[name] = array
        if self.bias is not None:
            array = np.asarray(self.bias, dtype=float)
            if array.ndim == 0:
                array = np.full(N, float(array))
            if array.shape != (N,):
                raise ValueError(f"bias must be a number or have shape ({N},) (units={N}); "
                                 f"got {array.shape}.")
            given["bias"] = array
        for name, array in given.items():
            if not np.isfinite(array).all() or np.abs(array).max(initial=0.0) > 1e100:
                raise ValueError(f"{name} must hold finite values (at most 1e100 in magnitude).")
        scaling = np.asarray(self.input_scaling, dtype=float)
        if scaling.ndim > 1 or scaling.size not in (1, d) or not np.isfinite(scaling).all() \
                or (scaling < 0).any():
            raise ValueError(
                f"input_scaling must be a non-negative number or one per input feature "
                f"(shape ({d},)); got {self.input_scaling!r}.")
        if len(given) < 3:
            drawn = random_reservoir(N, d, float(self.spectral_radius), scaling,
                                     float(self.bias_scaling), float(self.connectivity),
                                     float(self.input_connectivity),
                                     check_random_state(self.random_state))
        else:
            drawn = Reservoir(None, None, None, None)
        return Reservoir(given.get("W", drawn.W), given.get("W_in", drawn.W_in),
                         given.get("bias", drawn.bias), float(self.leak_rate))

    def _fit(self, X, y):
        d = X.n_features
        reservoir = self._reservoir(d)
        offset = 1 if y is None else 0
        targets = X.values if y is None else y.values
        m = targets.shape[-1]
        with np.errstate(over="ignore", invalid="ignore"):
            readout, n_rows = fit_readout(X.values, X.lengths, targets, reservoir, offset,
                                          int(self.warmup), float(self.ridge),
                                          bool(self.input_to_readout))
        n_features_readout = int(self.units) + (d if self.input_to_readout else 0)
        if n_rows == 0:
            needed = int(self.warmup) + 1 + offset
            what = ("the warmup, then a state and the step it predicts" if offset
                    else "the warmup, then a step with a target")
            raise ValueError(
                f"X has no step for the readout to fit: with warmup={self.warmup} a sequence "
                f"needs at least {needed} timesteps ({what}); give longer sequences or a "
                "smaller warmup.")
        if readout is None:
            raise ValueError(
                f"X {_scale(X)} overflows the readout's sums of squares; rescale X (e.g. "
                "standardise it).")
        if self.ridge == 0 and n_rows <= n_features_readout:
            raise ValueError(
                f"X has {n_rows} usable timestep(s) but the readout has "
                f"{n_features_readout + 1} coefficients per target; give more or longer "
                "sequences, fewer units, or ridge > 0.")
        if y is None:
            values = X.values[X.mask]
            with np.errstate(over="ignore", invalid="ignore"):
                prior_mean = values.mean(axis=0)
                centred = values - prior_mean
                prior_cov = centred.T @ centred / len(values)
            if not np.isfinite(prior_cov).all():
                raise ValueError(f"X {_scale(X)} overflows its variance; rescale X (e.g. "
                                 "standardise it).")
            self.prior_mean_ = prior_mean
            self.prior_cov_ = _floor_covariance(prior_cov, prior_cov)
        else:
            self.prior_mean_ = self.prior_cov_ = None
        self.W_, self.W_in_, self.bias_ = reservoir.W, reservoir.W_in, reservoir.bias
        self.coef_, self.intercept_, self.noise_cov_ = readout
        self.n_readout_rows_ = int(n_rows)
        self.n_params_ = m * n_features_readout + m + m * (m + 1) // 2

    # -- prediction -------------------------------------------------------------------------

    def _fitted_reservoir(self):
        return Reservoir(self.W_, self.W_in_, self.bias_, float(self.leak_rate))

    def _offset(self):
        return 1 if self.mode_ == "forecast" else 0

    def _means(self, X):
        with np.errstate(over="ignore", invalid="ignore"):
            return readout_steps(X.values, self._fitted_reservoir(),
                                 (self.coef_, self.intercept_, self.noise_cov_),
                                 self._offset(), bool(self.input_to_readout),
                                 first=self.prior_mean_)

    def _predict(self, X, return_std):
        mean = self._means(X)
        if not return_std:
            return mean
        std = np.broadcast_to(np.sqrt(np.diag(self.noise_cov_)), mean.shape).copy()
        if self._offset():
            std[:, 0] = np.sqrt(np.diag(self.prior_cov_))
        return mean, std

    def _log_likelihood(self, X, y):
        mean = self._means(X)
        target = X.values if y is None else y.values
        observed = X.mask & np.isfinite(target).all(axis=-1)
        which = np.zeros(X.max_length, dtype=int)
        covs = [self.noise_cov_]
        if self._offset():
            covs.append(self.prior_cov_)
            which[0] = 1
        with np.errstate(over="ignore", invalid="ignore"):
            return gaussian_log_density(target - mean, np.stack(covs), which, observed)

    def _forecast(self, X, horizon, return_std):
        with np.errstate(over="ignore", invalid="ignore"):
            out = forecast_paths(X.values, X.lengths, self._fitted_reservoir(),
                                 (self.coef_, self.intercept_, self.noise_cov_), horizon,
                                 bool(self.input_to_readout), return_cov=return_std)
        if not return_std:
            return out
        mean, cov = out
        with np.errstate(invalid="ignore"):
            return mean, np.sqrt(np.diagonal(cov, axis1=2, axis2=3))


def _scale(X):
    values = X.values[X.mask]
    finite = values[np.isfinite(values)]
    return f"(values up to {np.abs(finite).max(initial=0.0):.3g} in magnitude)"
