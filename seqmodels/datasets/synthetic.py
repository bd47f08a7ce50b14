"""Synthetic processes with a known generator and an oracle built from the truth."""

import numpy as np
from sklearn.utils import check_random_state

from ..autoregressive import AutoRegressive, simulate
from ._record import Dataset
from ._registry import register

__all__ = ["var", "ar"]

# A stable bivariate VAR(2) with correlated noise (companion spectral radius 0.73).
DEFAULT_VAR = {
    "coef": [[[0.5, 0.1], [-0.2, 0.4]], [[0.2, -0.1], [0.1, 0.1]]],
    "intercept": [0.5, -1.0],
    "noise_cov": [[1.0, 0.3], [0.3, 0.5]],
}


def _check_size(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _var_dataset(name, coef, intercept, noise_cov, n_train, n_test, n_timesteps, random_state,
                 description, params):
    coef = np.asarray(coef, dtype=float)
    intercept = np.asarray(intercept, dtype=float)
    noise_cov = np.asarray(noise_cov, dtype=float)
    d = intercept.shape[0]
    if coef.ndim != 3 or coef.shape[1:] != (d, d):
        raise ValueError(f"coef must have shape (order, {d}, {d}); got {coef.shape}.")
    if noise_cov.shape != (d, d):
        raise ValueError(f"noise_cov must have shape ({d}, {d}); got {noise_cov.shape}.")
    n_train = _check_size("n_train", n_train)
    n_test = _check_size("n_test", n_test)
    n_timesteps = _check_size("n_timesteps", n_timesteps, minimum=coef.shape[0] + 1)
    rng = check_random_state(random_state)
    X = simulate(intercept, coef, noise_cov, n_train + n_test, n_timesteps, rng)
    X_train, X_test = X[:n_train], X[n_train:]
    oracle = AutoRegressive(order=coef.shape[0], coef=coef, intercept=intercept,
                            noise_cov=noise_cov).fit(X_train)
    truth = {"coef": coef, "intercept": intercept, "noise_cov": noise_cov}
    return Dataset(name=name, X_train=X_train, y_train=None, X_test=X_test, y_test=None,
                   task="forecast", truth=truth, oracle=oracle, description=description,
                   params=params)


@register("var")
def var(n_train=20, n_test=10, n_timesteps=200, coef=None, intercept=None, noise_cov=None,
        random_state=None):
    """Stationary vector autoregression VAR(p); oracle: AutoRegressive with the true parameters.

    ``x_t = c + A_1 x_{t-1} + ... + A_p x_{t-p} + e_t``, ``e_t ~ N(0, Sigma)``, each
    sequence started in the stationary distribution. Defaults to a stable bivariate
    VAR(2) with correlated noise.

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sequences.
    n_timesteps : int
        Length of every sequence.
    coef : array-like of shape (p, d, d), optional
        ``A_1..A_p`` (must be stable).
    intercept : array-like of shape (d,), optional
    noise_cov : array-like of shape (d, d), optional
    random_state : int, RandomState instance or None

    Returns
    -------
    Dataset
        Task "forecast"; X arrays of shape (n, n_timesteps, d).
    """
    coef = DEFAULT_VAR["coef"] if coef is None else coef
    intercept = DEFAULT_VAR["intercept"] if intercept is None else intercept
    noise_cov = DEFAULT_VAR["noise_cov"] if noise_cov is None else noise_cov
    params = dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps,
                  random_state=random_state)
    description = (
        f"Stationary VAR({np.shape(coef)[0]}) with {np.shape(intercept)[0]} features. "
        "The oracle is AutoRegressive with the true coefficients and noise covariance: "
        "its one-step predictions are Bayes-optimal."
    )
    return _var_dataset("var", coef, intercept, noise_cov, n_train, n_test, n_timesteps,
                        random_state, description, params)


@register("ar")
def ar(n_train=20, n_test=10, n_timesteps=200, coef=(0.6, -0.3), intercept=0.0, noise_std=1.0,
       random_state=None):
    """Stationary univariate autoregression AR(p); oracle: AutoRegressive with the true parameters.

    ``x_t = c + phi_1 x_{t-1} + ... + phi_p x_{t-p} + e_t``, ``e_t ~ N(0, noise_std²)``.

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sequences.
    n_timesteps : int
        Length of every sequence.
    coef : sequence of float
        ``phi_1..phi_p`` (must be stable).
    intercept : float
    noise_std : float
        Innovation standard deviation (> 0).
    random_state : int, RandomState instance or None

    Returns
    -------
    Dataset
        Task "forecast"; X arrays of shape (n, n_timesteps, 1).
    """
    if not np.isfinite(noise_std) or noise_std <= 0:
        raise ValueError(f"noise_std must be a positive number; got {noise_std!r}.")
    phi = np.atleast_1d(np.asarray(coef, dtype=float))
    params = dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps, coef=tuple(phi),
                  intercept=intercept, noise_std=noise_std, random_state=random_state)
    description = (
        f"Stationary AR({phi.size}) with coefficients {tuple(float(c) for c in phi)} and noise "
        f"std {noise_std}. The oracle is AutoRegressive with the true parameters."
    )
    return _var_dataset("ar", phi.reshape(-1, 1, 1), [float(intercept)], [[noise_std**2]],
                        n_train, n_test, n_timesteps, random_state, description, params)
