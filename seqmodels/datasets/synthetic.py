"""Synthetic processes with a known generator and an oracle built from the truth."""

import numbers

import numpy as np

from ..autoregressive import AutoRegressive
from ..inference.autoregressive import companion, simulate
from ..metrics import Metric
from .checks import (STD_RANGE, VALUE_BOUND, check_array, check_int, check_probability,
                     check_random_state, check_real, check_size, check_split_sizes,
                     check_std)
from ._record import Dataset
from ._registry import register

__all__ = ["var", "ar"]

# A stable bivariate VAR(2) with correlated noise (companion spectral radius 0.73).
DEFAULT_VAR = {
    "coef": [[[0.5, 0.1], [-0.2, 0.4]], [[0.2, -0.1], [0.1, 0.1]]],
    "intercept": [0.5, -1.0],
    "noise_cov": [[1.0, 0.3], [0.3, 0.5]],
}


# Limits of the VAR / AR generators (documented in their docstrings).
COEF_BOUND = 100.0
MAX_COMPANION = 200  # order * n_features: the stationary moments cost its cube
MAX_DIM = 100  # state and observation dimensions of the linear-Gaussian generators


def _var_dataset(name, coef, intercept, noise_cov, n_train, n_test, n_timesteps, random_state,
                 description, params):
    """``coef``, ``intercept`` and ``noise_cov`` are checked arrays of shape (p, d, d), (d,)
    and (d, d); checks the rest, simulates, and builds the record."""
    p, d = coef.shape[0], intercept.shape[0]
    n_train, n_test, n_timesteps = check_split_sizes(n_train, n_test, n_timesteps, d)
    if n_timesteps <= p:
        raise ValueError(f"n_timesteps must exceed the number of lags in coef ({p}); got "
                         f"{n_timesteps}.")
    rng = check_random_state(random_state)
    radius = np.max(np.abs(np.linalg.eigvals(companion(coef)))) if p else 0.0
    if radius >= 1.0:
        raise ValueError(
            f"coef describes an unstable process (spectral radius {radius:.4g} >= 1); it has no "
            "stationary distribution.")
    try:
        X = simulate(intercept, coef, noise_cov, n_train + n_test, n_timesteps, rng)
    except np.linalg.LinAlgError:
        raise ValueError(
            f"coef (spectral radius {radius:.6g}) and the noise covariance give a stationary "
            "covariance that is not numerically positive definite; move coef's roots away from "
            "the unit circle.") from None
    X_train, X_test = X[:n_train], X[n_train:]
    oracle = AutoRegressive(order=coef.shape[0], coef=coef, intercept=intercept,
                            noise_cov=noise_cov).fit(X_train)
    truth = {"coef": coef, "intercept": intercept, "noise_cov": noise_cov}
    return Dataset(name=name, X_train=X_train, y_train=None, X_test=X_test, y_test=None,
                   task="forecast", truth=truth, oracle=oracle, description=description,
                   params=params)


def _check_covariance(value, name, d):
    """A symmetric positive definite (d, d) matrix with eigenvalues in STD_RANGE squared."""
    cov = check_array(value, name, ndim=2, bound=STD_RANGE[1] ** 2)
    if cov.shape != (d, d):
        raise ValueError(f"{name} must have shape ({d}, {d}), {d} being the length of "
                         f"intercept; got {cov.shape}.")
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=0.0):
        raise ValueError(f"{name} must be symmetric.")
    eigenvalues = np.linalg.eigvalsh(cov)
    low, high = STD_RANGE[0] ** 2, STD_RANGE[1] ** 2
    if eigenvalues.min() < low or eigenvalues.max() > high:
        raise ValueError(f"{name} must be positive definite with eigenvalues in [{low:g}, "
                         f"{high:g}]; its eigenvalues span [{eigenvalues.min():g}, "
                         f"{eigenvalues.max():g}].")
    return cov


@register("var", oracle=True)
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
        ``A_1..A_p`` (must be stable: companion spectral radius < 1). Entries within
        ±100, ``1 <= p`` and ``p * d <= 200``.
    intercept : array-like of shape (d,), optional
        Entries within ±1e12.
    noise_cov : array-like of shape (d, d), optional
        Symmetric, eigenvalues in ``[1e-24, 1e24]`` (standard deviations in
        ``[1e-12, 1e12]``).
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    Returns
    -------
    Dataset
        Task "forecast"; X arrays of shape (n, n_timesteps, d).
    """
    intercept = check_array(DEFAULT_VAR["intercept"] if intercept is None else intercept,
                            "intercept", ndim=1, max_size=MAX_COMPANION)
    d = intercept.shape[0]
    coef = check_array(DEFAULT_VAR["coef"] if coef is None else coef, "coef", ndim=3,
                       bound=COEF_BOUND)
    if coef.shape[1:] != (d, d):
        raise ValueError(f"coef must have shape (p, {d}, {d}), {d} being the length of "
                         f"intercept; got {coef.shape}.")
    if coef.shape[0] * d > MAX_COMPANION:
        raise ValueError(f"coef's order times the number of features must be at most "
                         f"{MAX_COMPANION}; got shape {coef.shape}.")
    noise_cov = _check_covariance(DEFAULT_VAR["noise_cov"] if noise_cov is None else noise_cov,
                                  "noise_cov", d)
    params = dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps,
                  random_state=random_state)
    description = (
        f"Stationary VAR({coef.shape[0]}) with {d} features. "
        "The oracle is AutoRegressive with the true coefficients and noise covariance: "
        "its one-step predictions are Bayes-optimal."
    )
    return _var_dataset("var", coef, intercept, noise_cov, n_train, n_test, n_timesteps,
                        random_state, description, params)


@register("ar", oracle=True)
def ar(n_train=20, n_test=10, n_timesteps=200, coef=(0.6, -0.3), intercept=0.0, noise_std=1.0,
       random_state=None):
    """Stationary univariate autoregression AR(p); oracle: AutoRegressive with the true parameters.

    ``x_t = c + phi_1 x_{t-1} + ... + phi_p x_{t-p} + e_t``, ``e_t ~ N(0, noise_std²)``.

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sequences.
    n_timesteps : int
        Length of every sequence (> p).
    coef : float or sequence of float
        ``phi_1..phi_p`` (must be stable), each within ±100, ``1 <= p <= 200``.
    intercept : float
        Within ±1e12.
    noise_std : float
        Innovation standard deviation, in ``[1e-12, 1e12]``.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    Returns
    -------
    Dataset
        Task "forecast"; X arrays of shape (n, n_timesteps, 1).
    """
    noise_std = check_std(noise_std, "noise_std")
    intercept = check_real(intercept, "intercept", -VALUE_BOUND, VALUE_BOUND)
    phi = check_array((coef,) if isinstance(coef, numbers.Real) else coef, "coef", ndim=1,
                      max_size=MAX_COMPANION, bound=COEF_BOUND)
    params = dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps, coef=tuple(phi),
                  intercept=intercept, noise_std=noise_std, random_state=random_state)
    description = (
        f"Stationary AR({phi.size}) with coefficients {tuple(float(c) for c in phi)} and noise "
        f"std {noise_std}. The oracle is AutoRegressive with the true parameters."
    )
    return _var_dataset("ar", phi.reshape(-1, 1, 1), np.array([intercept]),
                        np.array([[noise_std**2]]), n_train, n_test, n_timesteps, random_state,
                        description, params)


def _rng_seed(rng):
    """An integer seed drawn from the RandomState ``rng`` (for estimators' ``sample``)."""
    return int(rng.randint(np.iinfo(np.int32).max))


def _split_forecast(name, X, n_train, truth, oracle, description, params, metric=None,
                    n_history=0):
    """The forecasting record of sequences ``X``, the first ``n_train`` for training;
    ``oracle``: fitted already, or None; the first ``n_history`` test steps are context."""
    X_train, X_test = X[:n_train], X[n_train:]
    return Dataset(name=name, X_train=X_train, y_train=None, X_test=X_test, y_test=None,
                   task="forecast", truth=truth, oracle=oracle, description=description,
                   params=params, metric=metric, n_history=n_history)


def exact_kalman_oracle(truth, n_obs, n_state=None):
    """A KalmanFilter with the true parameters and nothing to learn (``learn="none"``), fitted.

    Nothing is learned from data, so it is fitted on a placeholder of two zero steps
    (with zero targets of ``n_state`` columns in supervised mode): fitting it on the
    training split would give the same filter, but would first run the generic PCA
    initialisation, whose values the true parameters replace and which breaks down
    numerically on a few steps of data with a large scale.
    """
    from ..state_space import KalmanFilter

    placeholder = np.zeros((1, 2, n_obs))
    targets = None if n_state is None else np.zeros((1, 2, n_state))
    return KalmanFilter(**truth, learn="none").fit(placeholder, targets)


def random_stable_lds(n_dim_state, n_dim_obs, spectral_radius, rng):
    """A random linear dynamical system whose transition has the given spectral radius.

    ``F = spectral_radius * U`` with ``U`` a random orthogonal matrix (every eigenvalue
    on the circle of that radius: slowly decaying oscillations); ``H`` has standard
    normal entries scaled by ``1/sqrt(n_dim_state)``.
    """
    U, _ = np.linalg.qr(rng.standard_normal((n_dim_state, n_dim_state)))
    F = spectral_radius * U
    H = rng.standard_normal((n_dim_obs, n_dim_state)) / np.sqrt(n_dim_state)
    return F, H


@register("lds", oracle=True)
def lds(n_train=50, n_test=20, n_timesteps=100, n_dim_state=4, n_dim_obs=2,
        spectral_radius=0.95, process_std=0.3, measurement_std=0.5, random_state=None):
    """Random stable linear dynamical system; oracle: KalmanFilter with the true F, H, Q, R.

    ``x_t = F x_{t-1} + w_t``, ``w_t ~ N(0, process_std² I)``;
    ``z_t = H x_t + v_t``, ``v_t ~ N(0, measurement_std² I)``; ``x_0 ~ N(0, I)``.
    The Kalman filter with the true parameters gives the exact predictive density.

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sequences.
    n_timesteps : int
        Length of every sequence (>= 2: a filter needs two steps to fit).
    n_dim_state, n_dim_obs : int
        Dimensions of the hidden state and of the observations, each in ``[1, 100]``.
    spectral_radius : float
        Modulus of every eigenvalue of F, in ``(0, 1)``.
    process_std, measurement_std : float
        Noise standard deviations, in ``[1e-12, 1e12]``.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    Returns
    -------
    Dataset
        Task "forecast"; X arrays of shape (n, n_timesteps, n_dim_obs); ``truth``
        holds F, H, Q, R, x0, P0 and the true states.
    """
    k = check_int(n_dim_state, "n_dim_state", maximum=MAX_DIM)
    d = check_int(n_dim_obs, "n_dim_obs", maximum=MAX_DIM)
    n_train, n_test, n_timesteps = check_split_sizes(n_train, n_test, n_timesteps, k + d,
                                                     min_timesteps=2)
    spectral_radius = check_real(spectral_radius, "spectral_radius", 0.0, 1.0,
                                 include_low=False, include_high=False)
    process_std = check_std(process_std, "process_std")
    measurement_std = check_std(measurement_std, "measurement_std")
    rng = check_random_state(random_state)
    F, H = random_stable_lds(k, d, spectral_radius, rng)
    truth = {"n_dim_state": k, "F": F, "H": H, "Q": process_std**2 * np.eye(k),
             "R": measurement_std**2 * np.eye(d), "x0": np.zeros(k), "P0": np.eye(k)}
    X, states = exact_kalman_oracle(truth, d).sample(n_train + n_test, n_timesteps,
                                                     random_state=_rng_seed(rng))
    params = dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps, n_dim_state=k,
                  n_dim_obs=d, spectral_radius=spectral_radius, process_std=process_std,
                  measurement_std=measurement_std, random_state=random_state)
    return _split_forecast(
        "lds", X, n_train, {**truth, "states": states}, exact_kalman_oracle(truth, d),
        f"Random stable LDS, {k}-D state observed through {d} noisy channels. The oracle is "
        "the Kalman filter with the true parameters (exact).", params)


@register("noisy_sine", oracle=True)
def noisy_sine(n_train=50, n_test=20, n_timesteps=100, period=20.0, amplitude=1.0,
               noise_std=0.3, random_state=None):
    """Sine waves of random phase and amplitude in white noise; oracle: the exact Kalman filter.

    A sine of known period is a rotation of a 2-D state:
    ``s_t = R(2 pi / period) s_{t-1}``, ``x_t = s_t[0] + v_t``, ``v_t ~ N(0, noise_std²)``.
    Drawing ``s_0 ~ N(0, amplitude² I)`` gives each sequence a uniform phase and a
    Rayleigh amplitude, and makes the process linear-Gaussian, so the Kalman filter
    with these matrices (and no process noise) is Bayes-optimal.

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sequences.
    n_timesteps : int
        Length of every sequence (>= 2: a filter needs two steps to fit).
    period : float
        In steps, in ``[2, 1e12]``: a shorter period is aliased (sampled, it looks
        like a longer one).
    amplitude : float
        Scale of the random amplitude, in ``[1e-12, 1e12]``.
    noise_std : float
        Measurement noise standard deviation, in ``[1e-12, 1e12]``.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    Returns
    -------
    Dataset
        Task "forecast"; X arrays of shape (n, n_timesteps, 1).
    """
    n_train, n_test, n_timesteps = check_split_sizes(n_train, n_test, n_timesteps, 1,
                                                     min_timesteps=2)
    period = check_real(period, "period", 2.0, STD_RANGE[1])
    amplitude = check_std(amplitude, "amplitude")
    noise_std = check_std(noise_std, "noise_std")
    angle = 2 * np.pi / period
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    truth = {"n_dim_state": 2, "F": rotation, "H": np.array([[1.0, 0.0]]), "Q": np.zeros((2, 2)),
             "R": np.array([[noise_std**2]]), "x0": np.zeros(2),
             "P0": amplitude**2 * np.eye(2)}
    rng = check_random_state(random_state)
    X, _ = exact_kalman_oracle(truth, 1).sample(n_train + n_test, n_timesteps,
                                                random_state=_rng_seed(rng))
    params = dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps, period=period,
                  amplitude=amplitude, noise_std=noise_std, random_state=random_state)
    return _split_forecast(
        "noisy_sine", X, n_train, truth, exact_kalman_oracle(truth, 1),
        f"Sines of period {period} with random phase and amplitude in noise of std "
        f"{noise_std}. The oracle is the Kalman filter of the rotating 2-D state (exact).",
        params)


@register("hmm_regimes", oracle=True)
def hmm_regimes(n_train=50, n_test=20, n_timesteps=200, means=(-2.0, 0.0, 2.0),
                stds=(0.5, 0.5, 0.5), stay_probability=0.95, random_state=None):
    """Regime switching: a Gaussian hidden Markov model; oracle: HiddenMarkovModel with the truth.

    The hidden regime follows a Markov chain that stays with ``stay_probability`` and
    otherwise jumps uniformly to another regime; the observation is
    ``N(means[s], stds[s]²)``; the first regime is uniform.

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sequences.
    n_timesteps : int
        Length of every sequence.
    means : sequence of float
        One mean per regime (2 to 100 regimes), each within ±1e12.
    stds : sequence of float
        One standard deviation per regime, each in ``[1e-12, 1e12]``.
    stay_probability : float
        Probability of keeping the regime at each step, in ``(0, 1)``.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    Returns
    -------
    Dataset
        Task "forecast"; X arrays of shape (n, n_timesteps, 1); ``truth`` holds the
        parameters and the true regimes.
    """
    from ..hmm import HiddenMarkovModel

    n_train, n_test, n_timesteps = check_split_sizes(n_train, n_test, n_timesteps, 2)
    means = check_array(means, "means", ndim=1, min_size=2, max_size=MAX_DIM)
    stds = check_array(stds, "stds", ndim=1, bound=STD_RANGE[1])
    if stds.shape != means.shape:
        raise ValueError(f"stds must have one entry per regime, as means has: {means.size}; "
                         f"got {stds.size}.")
    if stds.min() < STD_RANGE[0]:
        raise ValueError(f"stds must lie in [{STD_RANGE[0]:g}, {STD_RANGE[1]:g}]; got "
                         f"{stds.min():g}.")
    stay_probability = check_probability(stay_probability, "stay_probability")
    n = means.size
    transmat = np.full((n, n), (1 - stay_probability) / (n - 1))
    np.fill_diagonal(transmat, stay_probability)
    truth = {"startprob": np.full(n, 1.0 / n), "transmat": transmat,
             "means": means[:, None], "covars": (stds**2)[:, None, None]}

    def make():
        return HiddenMarkovModel(n_states=n, covariance_type="full", **truth)

    rng = check_random_state(random_state)
    sampler = make().fit(np.zeros((1, 2, 1)))
    X, regimes = sampler.sample(n_train + n_test, n_timesteps, random_state=_rng_seed(rng))
    params = dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps,
                  means=tuple(means), stds=tuple(stds), stay_probability=stay_probability,
                  random_state=random_state)
    return _split_forecast(
        "hmm_regimes", X, n_train, {**truth, "states": regimes}, make().fit(X[:n_train]),
        f"{n}-regime Gaussian HMM (means {tuple(means)}, stay probability {stay_probability}). "
        "The oracle is the HMM with the true parameters (exact forward filter). The headline "
        "metric is the NLL per step: the one-step predictive density is a mixture, which a "
        "point forecast's RMSE cannot judge.", params, metric=Metric("nll_per_step"))


def _steps_per(interval, h, name):
    """How many integration steps ``h`` make ``interval``; ValueError if not a whole number."""
    steps = int(round(interval / h))
    if steps < 1 or abs(steps * h - interval) > 1e-9 * interval:
        raise ValueError(f"{name} must be a multiple of the integration step {h:g} (e.g. "
                         f"{h:g}, {2 * h:g}, {10 * h:g}); got {interval!r}.")
    return steps


def _rk4(derivative, state, dt):
    k1 = derivative(state)
    k2 = derivative(state + 0.5 * dt * k1)
    k3 = derivative(state + 0.5 * dt * k2)
    k4 = derivative(state + dt * k3)
    return state + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def lorenz_derivative(state, sigma=10.0, rho=28.0, beta=8.0 / 3.0):
    """Lorenz-63 vector field ``(sigma (y - x), x (rho - z) - y, x y - beta z)``, per row."""
    x, y, z = np.moveaxis(state, -1, 0)
    return np.stack([sigma * (y - x), x * (rho - z) - y, x * y - beta * z], axis=-1)


@register("lorenz")
def lorenz(n_train=50, n_test=20, n_timesteps=200, sample_every=0.05, noise_std=0.5,
           random_state=None):
    """Lorenz-63 chaos observed in noise; no oracle (no tractable exact filter).

    ``dx/dt = 10 (y - x)``, ``dy/dt = x (28 - z) - y``, ``dz/dt = x y - 8/3 z``, integrated
    with 4th-order Runge-Kutta (step 0.005) from random points after a transient of 20
    time units, sampled every ``sample_every``, plus ``N(0, noise_std²)`` noise.

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sequences.
    n_timesteps : int
        Length of every sequence.
    sample_every : float
        Time between samples: a multiple of the integration step 0.005, at most 1.
    noise_std : float
        Observation noise standard deviation: 0 or in ``[1e-12, 1e12]``.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    Returns
    -------
    Dataset
        Task "forecast"; X arrays of shape (n, n_timesteps, 3).
    """
    n_train, n_test, n_timesteps = check_split_sizes(n_train, n_test, n_timesteps, 6)
    h = 0.005
    substeps = _steps_per(check_real(sample_every, "sample_every", h, 1.0), h, "sample_every")
    noise_std = check_std(noise_std, "noise_std", allow_zero=True)
    rng = check_random_state(random_state)
    n = n_train + n_test
    state = rng.normal(scale=5.0, size=(n, 3)) + [0.0, 0.0, 25.0]
    for _ in range(int(20.0 / h)):
        state = _rk4(lorenz_derivative, state, h)
    X = np.empty((n, n_timesteps, 3))
    for t in range(n_timesteps):
        for _ in range(substeps):
            state = _rk4(lorenz_derivative, state, h)
        X[:, t] = state
    clean = X.copy()
    X = X + noise_std * rng.standard_normal(X.shape)
    params = dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps,
                  sample_every=sample_every, noise_std=noise_std, random_state=random_state)
    return _split_forecast(
        "lorenz", X, n_train, {"clean": clean, "sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0},
        None, "Lorenz-63 attractor sampled every "
        f"{sample_every} time units with noise std {noise_std}. Chaotic: no oracle.", params)


@register("mackey_glass")
def mackey_glass(n_train=20, n_test=10, n_timesteps=300, tau=17.0, noise_std=0.01,
                 random_state=None):
    """Mackey-Glass delay-differential chaos (tau = 17); no oracle.

    ``dx/dt = 0.2 x(t - tau) / (1 + x(t - tau)^10) - 0.1 x(t)``, integrated with Euler
    steps of 0.1 from random constant histories near 1.2, sampled every time unit after
    a transient of 500, plus ``N(0, noise_std²)`` noise.

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sequences.
    n_timesteps : int
        Length of every sequence. The integration keeps
        ``(n_train + n_test) * (10 tau + 5001 + 10 n_timesteps)`` values, at most 1e8.
    tau : float
        The delay: a multiple of the Euler step 0.1, at most 1000.
    noise_std : float
        Observation noise standard deviation: 0 or in ``[1e-12, 1e12]``.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    Returns
    -------
    Dataset
        Task "forecast"; X arrays of shape (n, n_timesteps, 1); ``n_history = 1``: the
        first test step, guessed from nothing, is context, not scored.
    """
    n_train, n_test, n_timesteps = check_split_sizes(n_train, n_test, n_timesteps, 2)
    h = 0.1
    lag = _steps_per(check_real(tau, "tau", h, 1000.0), h, "tau")
    noise_std = check_std(noise_std, "noise_std", allow_zero=True)
    n = n_train + n_test
    per_sample = int(round(1.0 / h))
    transient = int(500 / h)
    total = transient + n_timesteps * per_sample
    check_size(n * (lag + total + 1), "n_train + n_test, n_timesteps and tau")
    rng = check_random_state(random_state)
    history = np.empty((n, lag + total + 1))
    history[:, : lag + 1] = 1.2 + 0.1 * rng.standard_normal((n, 1))
    for i in range(lag, lag + total):
        delayed = history[:, i - lag]
        history[:, i + 1] = history[:, i] + h * (0.2 * delayed / (1 + delayed**10)
                                                 - 0.1 * history[:, i])
    clean = history[:, lag + 1 + transient:][:, ::per_sample][:, :n_timesteps, None]
    X = clean + noise_std * rng.standard_normal(clean.shape)
    params = dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps, tau=tau,
                  noise_std=noise_std, random_state=random_state)
    return _split_forecast(
        "mackey_glass", X, n_train, {"clean": clean, "tau": tau}, None,
        f"Mackey-Glass series (tau = {tau}) sampled every time unit, noise std {noise_std}. "
        "Chaotic: no oracle. The first step of each test sequence is context, not scored: "
        "a guess from nothing, it would outweigh every later one-step error.",
        params, n_history=1)


#: Steps run and dropped before each NARMA-10 sequence starts, from y = 0.
NARMA_WASHOUT = 200


def _narma10_outputs(u):
    """The NARMA-10 outputs ``y_1..y_T`` driven by ``u_0..u_{T-1}`` (rows of ``u``), y = 0 before.

    ``y_{t+1} = 0.3 y_t + 0.05 y_t sum_{i=0}^{9} y_{t-i} + 1.5 u_{t-9} u_t + 0.1``, with
    ``y_t = 0`` and ``u_t = 0`` for ``t < 0``; one recursion for all rows at once.
    """
    n, T = u.shape
    y = np.zeros((n, T + 11))                    # y[:, k + 10] is y_k, k = -10..T
    padded = np.concatenate([np.zeros((n, 9)), u], axis=1)    # padded[:, t + 9] is u_t
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(T):
            y_t = y[:, t + 10]
            window = y[:, t + 1:t + 11].sum(axis=1)           # y_{t-9} .. y_t
            y[:, t + 11] = (0.3 * y_t + 0.05 * y_t * window
                            + 1.5 * padded[:, t] * padded[:, t + 9] + 0.1)
    return y[:, 11:]


@register("narma10")
def narma10(n_train=20, n_test=10, n_timesteps=500, random_state=None):
    """NARMA-10: a nonlinear system of order 10 to identify from its input; no oracle.

    The standard reservoir benchmark (Atiya & Parlos 2000, IEEE Trans. Neural Networks
    11(3):697-709; Jaeger 2003, "Adaptive nonlinear system identification with echo state
    networks", NIPS 15). An i.i.d. input ``u_t ~ U[0, 0.5]`` drives::

        y_{t+1} = 0.3 y_t + 0.05 y_t sum_{i=0}^{9} y_{t-i} + 1.5 u_{t-9} u_t + 0.1

    from ``y = 0``; the first 200 steps are run and dropped, so every sequence starts in
    the system's stationary regime. ``X[:, t] = u_t`` and ``y[:, t] = y_{t+1}``, the
    output the input up to ``u_t`` determines: supervised mode estimates ``y[:, t]`` from
    ``X[:, :t+1]``, and the task needs a memory of the last 10 inputs and a product of
    two of them. The system is deterministic, so a perfect model has error 0; no model
    of this package represents it, so there is no oracle. Predicting the mean scores the
    MSE in ``baselines["mse"]`` (the test targets' variance). reservoirpy's
    ``datasets.narma`` sums ``y_{t-10}..y_{t-1}`` and multiplies ``u_{t-10} u_t``
    instead (one step further back); this is Atiya & Parlos' and Jaeger's form.

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sequences.
    n_timesteps : int
        Length of every sequence.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator
        Draws the inputs.

    Returns
    -------
    Dataset
        Task "regression"; X of shape (n, n_timesteps, 1), y of shape (n, n_timesteps, 1).

    Examples
    --------
    >>> from seqmodels.datasets import load
    >>> data = load("narma10", n_train=2, n_test=1, n_timesteps=50, random_state=0)
    >>> data.X_train.shape, data.y_train.shape, data.task
    ((2, 50, 1), (2, 50, 1), 'regression')
    """
    n_train, n_test, n_timesteps = check_split_sizes(n_train, n_test, n_timesteps, 2)
    n = n_train + n_test
    check_size(n * (NARMA_WASHOUT + n_timesteps + 11) * 2, "n_train + n_test and n_timesteps")
    rng = check_random_state(random_state)
    u = rng.uniform(0.0, 0.5, size=(n, NARMA_WASHOUT + n_timesteps))
    y = _narma10_outputs(u)
    for _ in range(100):        # NARMA-10 diverges on rare inputs: draw those sequences again
        bad = ~(np.isfinite(y).all(axis=1) & (np.abs(y) < 10.0).all(axis=1))
        if not bad.any():
            break
        u[bad] = rng.uniform(0.0, 0.5, size=(int(bad.sum()), u.shape[1]))
        y[bad] = _narma10_outputs(u[bad])
    X = u[:, NARMA_WASHOUT:, None]
    Y = y[:, NARMA_WASHOUT:, None]
    params = dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps,
                  random_state=random_state)
    return Dataset(
        name="narma10", X_train=X[:n_train], y_train=Y[:n_train], X_test=X[n_train:],
        y_test=Y[n_train:], task="regression",
        truth={"coef": (0.3, 0.05, 1.5, 0.1), "order": 10, "input_range": (0.0, 0.5),
               "washout": NARMA_WASHOUT},
        oracle=None, baselines={"mse": float(np.var(Y[n_train:]))},
        description=("NARMA-10 system identification (Atiya & Parlos 2000): inputs "
                     "u ~ U[0, 0.5], targets y_{t+1} = 0.3 y_t + 0.05 y_t sum_{i=0..9} y_{t-i} "
                     "+ 1.5 u_{t-9} u_t + 0.1, after a washout of 200 steps. Deterministic: a "
                     "perfect model scores 0; predicting the mean scores the targets' "
                     "variance."),
        params=params)
