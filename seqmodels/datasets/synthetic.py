"""Synthetic processes with a known generator and an oracle built from the truth."""

import numpy as np
from sklearn.utils import check_random_state

from ..autoregressive import AutoRegressive, simulate
from ..metrics import Metric
from ._checks import check_count
from ._record import Dataset
from ._registry import register

__all__ = ["var", "ar"]

# A stable bivariate VAR(2) with correlated noise (companion spectral radius 0.73).
DEFAULT_VAR = {
    "coef": [[[0.5, 0.1], [-0.2, 0.4]], [[0.2, -0.1], [0.1, 0.1]]],
    "intercept": [0.5, -1.0],
    "noise_cov": [[1.0, 0.3], [0.3, 0.5]],
}


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
    n_train = check_count("n_train", n_train)
    n_test = check_count("n_test", n_test)
    n_timesteps = check_count("n_timesteps", n_timesteps, minimum=coef.shape[0] + 1)
    rng = check_random_state(random_state)
    X = simulate(intercept, coef, noise_cov, n_train + n_test, n_timesteps, rng)
    X_train, X_test = X[:n_train], X[n_train:]
    oracle = AutoRegressive(order=coef.shape[0], coef=coef, intercept=intercept,
                            noise_cov=noise_cov).fit(X_train)
    truth = {"coef": coef, "intercept": intercept, "noise_cov": noise_cov}
    return Dataset(name=name, X_train=X_train, y_train=None, X_test=X_test, y_test=None,
                   task="forecast", truth=truth, oracle=oracle, description=description,
                   params=params)


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


def _rng_seed(random_state):
    """An integer seed drawn from ``random_state`` (for estimators' ``sample``)."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _split_forecast(name, X, n_train, truth, oracle, description, params, metric=None):
    X_train, X_test = X[:n_train], X[n_train:]
    if oracle is not None:
        oracle.fit(X_train)
    return Dataset(name=name, X_train=X_train, y_train=None, X_test=X_test, y_test=None,
                   task="forecast", truth=truth, oracle=oracle, description=description,
                   params=params, metric=metric)


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

    Returns
    -------
    Dataset
        Task "forecast"; X arrays of shape (n, n_timesteps, n_dim_obs); ``truth``
        holds F, H, Q, R, x0, P0 and the true states.
    """
    from ..state_space import KalmanFilter

    n_train, n_test = check_count("n_train", n_train), check_count("n_test", n_test)
    n_timesteps = check_count("n_timesteps", n_timesteps)
    k, d = check_count("n_dim_state", n_dim_state), check_count("n_dim_obs", n_dim_obs)
    if not 0 < spectral_radius < 1:
        raise ValueError(f"spectral_radius must lie in (0, 1); got {spectral_radius!r}.")
    for name, value in (("process_std", process_std), ("measurement_std", measurement_std)):
        if not value > 0:
            raise ValueError(f"{name} must be positive; got {value!r}.")
    rng = check_random_state(random_state)
    F, H = random_stable_lds(k, d, spectral_radius, rng)
    truth = {"n_dim_state": k, "F": F, "H": H, "Q": process_std**2 * np.eye(k),
             "R": measurement_std**2 * np.eye(d), "x0": np.zeros(k), "P0": np.eye(k)}
    oracle = KalmanFilter(**truth, learn="none").fit(np.zeros((1, 2, d)))
    states, X = oracle.sample(n_train + n_test, n_timesteps, random_state=_rng_seed(rng))
    params = dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps, n_dim_state=k,
                  n_dim_obs=d, spectral_radius=spectral_radius, process_std=process_std,
                  measurement_std=measurement_std, random_state=random_state)
    return _split_forecast(
        "lds", X, n_train, {**truth, "states": states}, KalmanFilter(**truth, learn="none"),
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

    Returns
    -------
    Dataset
        Task "forecast"; X arrays of shape (n, n_timesteps, 1).
    """
    from ..state_space import KalmanFilter

    n_train, n_test = check_count("n_train", n_train), check_count("n_test", n_test)
    n_timesteps = check_count("n_timesteps", n_timesteps)
    for name, value in (("period", period), ("amplitude", amplitude), ("noise_std", noise_std)):
        if not value > 0:
            raise ValueError(f"{name} must be positive; got {value!r}.")
    angle = 2 * np.pi / period
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    truth = {"n_dim_state": 2, "F": rotation, "H": np.array([[1.0, 0.0]]), "Q": np.zeros((2, 2)),
             "R": np.array([[noise_std**2]]), "x0": np.zeros(2),
             "P0": amplitude**2 * np.eye(2)}
    rng = check_random_state(random_state)
    oracle = KalmanFilter(**truth, learn="none").fit(np.zeros((1, 2, 1)))
    _, X = oracle.sample(n_train + n_test, n_timesteps, random_state=_rng_seed(rng))
    params = dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps, period=period,
                  amplitude=amplitude, noise_std=noise_std, random_state=random_state)
    return _split_forecast(
        "noisy_sine", X, n_train, truth, KalmanFilter(**truth, learn="none"),
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

    Returns
    -------
    Dataset
        Task "forecast"; X arrays of shape (n, n_timesteps, 1); ``truth`` holds the
        parameters and the true regimes.
    """
    from ..hmm import HiddenMarkovModel

    n_train, n_test = check_count("n_train", n_train), check_count("n_test", n_test)
    n_timesteps = check_count("n_timesteps", n_timesteps)
    means = np.asarray(means, dtype=float)
    stds = np.asarray(stds, dtype=float)
    if means.ndim != 1 or means.shape != stds.shape or means.size < 2:
        raise ValueError("means and stds must be 1-D of the same length >= 2.")
    if not (np.all(stds > 0) and 0 < stay_probability < 1):
        raise ValueError("stds must be positive and stay_probability in (0, 1).")
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
        "hmm_regimes", X, n_train, {**truth, "states": regimes}, make(),
        f"{n}-regime Gaussian HMM (means {tuple(means)}, stay probability {stay_probability}). "
        "The oracle is the HMM with the true parameters (exact forward filter). The headline "
        "metric is the NLL per step: the one-step predictive density is a mixture, which a "
        "point forecast's RMSE cannot judge.", params, metric=Metric("nll_per_step"))


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

    Returns
    -------
    Dataset
        Task "forecast"; X arrays of shape (n, n_timesteps, 3).
    """
    n_train, n_test = check_count("n_train", n_train), check_count("n_test", n_test)
    n_timesteps = check_count("n_timesteps", n_timesteps)
    if not (sample_every > 0 and noise_std >= 0):
        raise ValueError("sample_every must be positive and noise_std non-negative.")
    rng = check_random_state(random_state)
    n = n_train + n_test
    h = 0.005
    substeps = max(1, int(round(sample_every / h)))
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

    Returns
    -------
    Dataset
        Task "forecast"; X arrays of shape (n, n_timesteps, 1).
    """
    n_train, n_test = check_count("n_train", n_train), check_count("n_test", n_test)
    n_timesteps = check_count("n_timesteps", n_timesteps)
    if not (tau > 0 and noise_std >= 0):
        raise ValueError("tau must be positive and noise_std non-negative.")
    rng = check_random_state(random_state)
    n, h = n_train + n_test, 0.1
    lag = int(round(tau / h))
    per_sample = int(round(1.0 / h))
    transient = int(500 / h)
    total = transient + n_timesteps * per_sample
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
        "Chaotic: no oracle.", params)
