"""Tracking scenarios: noisy measurements in, true positions and velocities out.

Every scenario is a supervised ("regression") data set: ``X`` holds the measurements,
``y`` the true state at each step in filterpy's ``order_by_dim`` layout
``[x, x', (x''), y, y', ...]``. Linear scenarios have an exact oracle (the Kalman
filter with the true matrices); nonlinear ones an approximate one (unscented or
interacting-multiple-model filter with the true parameters), which the description
says.
"""

from functools import partial

import numpy as np
from scipy import special

from ..metrics import Metric
from .checks import (check_int, check_interval, check_random_state,
                     check_real, check_split_sizes, check_std)
from ._record import Dataset
from ._registry import register

# The state rows are [x, vx, y, vy, ...]: tracking is judged on the position columns.
POSITION_RMSE = Metric("rmse", columns=(0, 2), label="position RMSE")

__all__ = ["constant_velocity", "constant_acceleration", "maneuvering", "projectile", "orbit"]

# Limits of the tracking scenarios' parameters (documented in each docstring).
DT_RANGE = (1e-6, 1e6)


def _check_sizes(n_train, n_test, n_timesteps, values_per_step):
    """The three sizes and the record's size; a filter needs two steps to fit."""
    return check_split_sizes(n_train, n_test, n_timesteps, values_per_step, min_timesteps=2)


def _diverged(name, parameters):
    """The ValueError for a simulation that left the floating-point range."""
    return ValueError(
        f"the simulated {name} paths overflowed (not finite) with "
        + ", ".join(f"{k}={v!r}" for k, v in parameters.items())
        + ": the integration step is too long for these dynamics; lower dt or the noise.")


def _fit_oracle(oracle, X, states, parameters):
    """Fit an approximate (sigma-point) oracle on the training split.

    Its filter needs positive definite covariances at every step; with scales far
    apart (metres of noise against kilometres per step) rounding breaks that, and the
    ValueError names the parameters that set the scales.
    """
    try:
        return oracle.fit(X, states)
    except np.linalg.LinAlgError:
        raise ValueError(
            "the oracle's filter loses positive definiteness (rounding) on these data with "
            + ", ".join(f"{k}={v!r}" for k, v in parameters.items())
            + ": their scales are too far apart; bring them closer to the defaults.") from None


def _kinematic(name, model, n_dims, dt, noise, noise_label, measurement_std, initial_speed,
               missing_fraction, n_train, n_test, n_timesteps, random_state):
    from ..state_space.motion import motion_model
    from .synthetic import exact_kalman_oracle

    n_dims = check_int(n_dims, "n_dims", maximum=3)
    per_axis = 2 if model == "constant_velocity" else 3
    n_train, n_test, n_timesteps = _check_sizes(n_train, n_test, n_timesteps,
                                                n_dims * (1 + per_axis))
    dt = check_real(dt, "dt", *DT_RANGE)
    noise = check_std(noise, noise_label)
    measurement_std = check_std(measurement_std, "measurement_std")
    initial_speed = check_std(initial_speed, "initial_speed")
    missing_fraction = check_real(missing_fraction, "missing_fraction", 0.0, 1.0,
                                  include_high=False)
    F, H, template, _ = motion_model(model, n_dims, dt=dt)
    k = F.shape[0]
    # Prior: position near the origin, velocity of a few initial_speed, acceleration 0-ish.
    prior_std = np.tile([10.0 * measurement_std, initial_speed, noise][:per_axis], n_dims)
    truth = {"model": model, "dt": dt, "Q": noise**2 * template,
             "R": measurement_std**2 * np.eye(n_dims), "x0": np.zeros(k),
             "P0": np.diag(prior_std**2)}
    rng = check_random_state(random_state)
    seed = int(rng.randint(np.iinfo(np.int32).max))
    X, states = exact_kalman_oracle(truth, n_dims).sample(n_train + n_test, n_timesteps,
                                                          random_state=seed)
    if missing_fraction > 0:
        # drawn after the paths, so the measurements that remain are those of fraction 0
        X[rng.random_sample(X.shape[:2]) < missing_fraction] = np.nan
    oracle = exact_kalman_oracle(truth, n_dims, k)
    missing = (f" {missing_fraction:.0%} of the measurement steps are missing (NaN)."
               if missing_fraction > 0 else "")
    return Dataset(
        name=name, X_train=X[:n_train], y_train=states[:n_train], X_test=X[n_train:],
        y_test=states[n_train:], task="regression", truth={**truth, "F": F, "H": H},
        oracle=oracle, metric=Metric("rmse", columns=np.flatnonzero(H.any(axis=0)),
                                     label="position RMSE"),
        description=(
            f"{model.replace('_', ' ').capitalize()} motion in {n_dims}-D, dt = {dt}, "
            f"{noise_label} {noise}, measurement noise std {measurement_std}: X are noisy "
            "positions, y the true state (positions and their derivatives per axis)."
            f"{missing} The oracle is the Kalman filter with the true matrices (exact)."),
        params=dict(n_dims=n_dims, dt=dt, **{noise_label: noise},
                    measurement_std=measurement_std, initial_speed=initial_speed,
                    missing_fraction=missing_fraction,
                    n_train=n_train, n_test=n_test, n_timesteps=n_timesteps,
                    random_state=random_state),
    )


@register("constant_velocity", oracle=True)
def constant_velocity(n_dims=2, dt=1.0, acceleration_std=0.5, measurement_std=5.0,
                      initial_speed=10.0, missing_fraction=0.0, n_train=200, n_test=50,
                      n_timesteps=100, random_state=None):
    """Constant-velocity targets in 1-3 D (white-noise acceleration); oracle: the exact filter.

    Per axis, state ``(p, v)``: ``p_t = p_{t-1} + dt v_{t-1} + w``, ``v_t = v_{t-1} + w'`` with
    the discrete white-noise-acceleration covariance ``acceleration_std² Q(dt)``
    (filterpy ``Q_discrete_white_noise``); measurements ``z_t = p_t + N(0, measurement_std²)``.

    Parameters
    ----------
    n_dims : int
        1, 2 or 3 axes.
    dt : float
        Time step, in ``[1e-6, 1e6]``.
    acceleration_std : float
        Process noise standard deviation, in ``[1e-12, 1e12]``.
    measurement_std : float
        Position measurement noise standard deviation, in ``[1e-12, 1e12]``.
    initial_speed : float
        Prior standard deviation of the initial velocity, in ``[1e-12, 1e12]``.
    missing_fraction : float
        Probability, in ``[0, 1)``, that a step's measurement is missing (every
        coordinate NaN in X, independently per step; y keeps the true state). The
        Kalman filters skip missing updates; other models need
        :class:`~seqmodels.imputation.ImputeMissing`.
    n_train, n_test : int
        Number of training and test sequences.
    n_timesteps : int
        Length of every sequence (>= 2: a filter needs two steps to fit);
        ``(n_train + n_test) * n_timesteps`` times the values per step (measurements
        and state) is at most 1e8.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    Returns
    -------
    Dataset
        Task "regression"; X (n, n_timesteps, n_dims), y (n, n_timesteps, 2 n_dims).
    """
    return _kinematic("constant_velocity", "constant_velocity", n_dims, dt, acceleration_std,
                      "acceleration_std", measurement_std, initial_speed, missing_fraction,
                      n_train, n_test, n_timesteps, random_state)


@register("constant_acceleration", oracle=True)
def constant_acceleration(n_dims=2, dt=1.0, jerk_std=0.1, measurement_std=5.0,
                          initial_speed=10.0, missing_fraction=0.0, n_train=200, n_test=50,
                          n_timesteps=100, random_state=None):
    """Constant-acceleration targets in 1-3 D (white-noise jerk); oracle: the exact filter.

    Per axis, state ``(p, v, a)`` with the discrete white-noise-jerk covariance
    ``jerk_std² Q(dt)``; measurements ``z_t = p_t + N(0, measurement_std²)``.

    Parameters
    ----------
    n_dims : int
        1, 2 or 3 axes.
    dt : float
        Time step, in ``[1e-6, 1e6]``.
    jerk_std : float
        Process noise standard deviation, in ``[1e-12, 1e12]``.
    measurement_std : float
        Position measurement noise standard deviation, in ``[1e-12, 1e12]``.
    initial_speed : float
        Prior standard deviation of the initial velocity, in ``[1e-12, 1e12]``.
    missing_fraction : float
        Probability, in ``[0, 1)``, that a step's measurement is missing (every
        coordinate NaN in X, independently per step; y keeps the true state). The
        Kalman filters skip missing updates; other models need
        :class:`~seqmodels.imputation.ImputeMissing`.
    n_train, n_test : int
        Number of training and test sequences.
    n_timesteps : int
        Length of every sequence (>= 2: a filter needs two steps to fit);
        ``(n_train + n_test) * n_timesteps`` times the values per step (measurements
        and state) is at most 1e8.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    Returns
    -------
    Dataset
        Task "regression"; X (n, n_timesteps, n_dims), y (n, n_timesteps, 3 n_dims).
    """
    return _kinematic("constant_acceleration", "constant_acceleration", n_dims, dt, jerk_std,
                      "jerk_std", measurement_std, initial_speed, missing_fraction, n_train,
                      n_test, n_timesteps, random_state)


def _white_noise_acceleration(acceleration_std, dt, n, rng):
    """Discrete white-noise acceleration on ``[x, vx, y, vy]``: ``a ~ N(0, std²)`` per axis moves
    the position by ``a dt²/2`` and the velocity by ``a dt`` (filterpy's
    ``Q_discrete_white_noise`` covariance)."""
    a = acceleration_std * rng.standard_normal((n, 2))
    return np.stack([0.5 * dt**2 * a[:, 0], dt * a[:, 0], 0.5 * dt**2 * a[:, 1], dt * a[:, 1]],
                    axis=-1)


def position_xy(states):
    """Measurement function: the planar position ``(x, y)`` of ``[x, vx, y, vy, ...]`` rows."""
    return states[..., [0, 2]]


def _coordinated_turn_paths(n, n_timesteps, dt, speed_range, turn_rate, switch_probability,
                            acceleration_std, rng):
    """Targets that switch between straight flight and coordinated turns (a Markov chain).

    Mode 0 flies straight (omega = 0); modes 1 and 2 turn at +turn_rate and -turn_rate.
    At each step the mode is kept with probability ``1 - switch_probability`` and
    otherwise jumps uniformly to another mode.

    Returns
    -------
    states : ndarray of shape (n, n_timesteps, 5)
        ``[x, vx, y, vy, omega]`` after each step.
    modes : ndarray of int of shape (n, n_timesteps)
    """
    from ..state_space.motion import coordinated_turn_transition

    heading = rng.uniform(0, 2 * np.pi, size=n)
    speed = rng.uniform(*speed_range, size=n)
    state = np.stack([np.zeros(n), speed * np.cos(heading), np.zeros(n),
                      speed * np.sin(heading), np.zeros(n)], axis=-1)
    rates = np.array([0.0, turn_rate, -turn_rate])
    mode = np.zeros(n, dtype=np.int64)
    states = np.empty((n, n_timesteps, 5))
    modes = np.empty((n, n_timesteps), dtype=np.int64)
    for t in range(n_timesteps):
        jump = rng.uniform(size=n) < switch_probability
        mode = np.where(jump, (mode + rng.randint(1, 3, size=n)) % 3, mode)
        state[:, 4] = rates[mode]
        state = coordinated_turn_transition(state, dt)
        state[:, :4] += _white_noise_acceleration(acceleration_std, dt, n, rng)
        states[:, t], modes[:, t] = state, mode
    return states, modes


@register("maneuvering", oracle=True)
def maneuvering(n_train=100, n_test=50, n_timesteps=120, dt=1.0, speed_range=(100.0, 250.0),
                turn_rate=0.05, switch_probability=0.05, acceleration_std=1.0,
                measurement_std=50.0, random_state=None):
    """Maneuvering aircraft (straight flight and coordinated turns); oracle: IMM, approximate.

    The target switches (a Markov chain, ``switch_probability`` per step) between
    straight flight and coordinated turns at ``±turn_rate`` rad/s (0.05 rad/s is about a
    standard 3°/s turn); speeds in m/s, positions in m. Measurements are the positions
    plus ``N(0, measurement_std²)``; y is the true ``[x, vx, y, vy, omega]``.

    No finite filter is exact for a switching system: the oracle is an
    :class:`~seqmodels.InteractingMultipleModel` (constant velocity + coordinated turn,
    the turn rate a random walk whose variance matches the switching) with the true noise
    levels and switching probability -- approximate, and the description says so.

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sequences.
    n_timesteps : int
        Length of every sequence (>= 2: a filter needs two steps to fit);
        ``(n_train + n_test) * n_timesteps * 8`` is at most 1e8.
    dt : float
        Time step in s, in ``[1e-6, 1e6]``.
    speed_range : (float, float)
        Range of the uniform initial speed, ``0 < low <= high <= 1e5``.
    turn_rate : float
        Turn rate of the turning modes, in ``[1e-6, pi / dt]`` (at most half a turn per
        step).
    switch_probability : float
        Probability of leaving the current mode at each step, in
        ``[1e-12, 1 - 1e-12]`` (the oracle's mode chain needs both staying and
        switching to be possible).
    acceleration_std : float
        In m/s², in ``[1e-12, 1e4]``.
    measurement_std : float
        In m, in ``[0.01, 1e6]``.

    Scales far apart can still break the oracle's filter numerically (noise of
    centimetres against kilometres per step); such a combination is refused with a
    ValueError naming the parameters.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    Returns
    -------
    Dataset
        Task "regression"; X (n, n_timesteps, 2), y (n, n_timesteps, 5) as
        ``[x, vx, y, vy, omega]``.
    """
    n_train, n_test, n_timesteps = _check_sizes(n_train, n_test, n_timesteps, 8)
    dt = check_real(dt, "dt", *DT_RANGE)
    speed_range = check_interval(speed_range, "speed_range", 0.0, 1e5, include_low=False)
    turn_rate = check_real(turn_rate, "turn_rate", 1e-6, np.inf)
    if turn_rate * dt > np.pi:
        raise ValueError(f"turn_rate * dt must be at most pi (half a turn per step); got "
                         f"turn_rate={turn_rate!r} with dt={dt!r}.")
    switch_probability = check_real(switch_probability, "switch_probability", 1e-12, 1 - 1e-12)
    acceleration_std = check_std(acceleration_std, "acceleration_std", maximum=1e4)
    measurement_std = check_real(measurement_std, "measurement_std", 0.01, 1e6)
    rng = check_random_state(random_state)
    with np.errstate(over="ignore", invalid="ignore"):
        states, modes = _coordinated_turn_paths(n_train + n_test, n_timesteps, dt, speed_range,
                                                turn_rate, switch_probability, acceleration_std,
                                                rng)
    if not np.isfinite(states).all():
        raise _diverged("maneuvering", {"dt": dt, "speed_range": speed_range,
                                        "acceleration_std": acceleration_std})
    X = states[..., [0, 2]] + measurement_std * rng.standard_normal(states[..., :2].shape)
    truth = {"dt": dt, "turn_rate": turn_rate, "switch_probability": switch_probability,
             "acceleration_std": acceleration_std, "measurement_std": measurement_std,
             "modes": modes, "turn_rates": np.array([0.0, turn_rate, -turn_rate])}
    oracle = _fit_oracle(_maneuvering_oracle(truth, speed_range), X[:n_train], states[:n_train],
                         {"dt": dt, "speed_range": speed_range, "turn_rate": turn_rate,
                          "switch_probability": switch_probability,
                          "acceleration_std": acceleration_std,
                          "measurement_std": measurement_std})
    return Dataset(
        name="maneuvering", X_train=X[:n_train], y_train=states[:n_train], X_test=X[n_train:],
        y_test=states[n_train:], task="regression", truth=truth, oracle=oracle,
        metric=POSITION_RMSE,
        description=(
            "Maneuvering aircraft switching between straight flight and coordinated turns "
            f"(±{turn_rate} rad/s), positions measured with noise std {measurement_std} m; "
            "y is the true state [x, vx, y, vy, turn rate]. Switching dynamics have no exact "
            "finite filter: the oracle, an interacting-multiple-model filter (constant velocity "
            "+ coordinated turn) with the true noise levels and switching rate, is approximate."),
        params=dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps, dt=dt,
                    speed_range=tuple(speed_range), turn_rate=turn_rate,
                    switch_probability=switch_probability, acceleration_std=acceleration_std,
                    measurement_std=measurement_std, random_state=random_state),
    )


def _maneuvering_oracle(truth, speed_range):
    from ..state_space import InteractingMultipleModel

    dt, rate, p = truth["dt"], truth["turn_rate"], truth["switch_probability"]
    low, high = speed_range
    velocity_var = (low**2 + low * high + high**2) / 6.0  # E[s²]/2 for a uniform heading
    accel_var = truth["acceleration_std"] ** 2
    return InteractingMultipleModel(
        modes=("constant_velocity", "coordinated_turn"), dt=dt,
        process_var={"constant_velocity": accel_var, "coordinated_turn": accel_var},
        measurement_var=truth["measurement_std"] ** 2,
        turn_rate_var=max(2.0 / 3.0 * rate**2 * p / dt, 1e-12),
        transmat=1.0 - p, x0=np.zeros(5),
        P0=np.diag([1.0, velocity_var, 1.0, velocity_var, 2.0 / 3.0 * rate**2 * p]),
        learn="none", readout="state")


GRAVITY = 9.81


def drag_derivative(state, drag):
    """Point mass with gravity and quadratic drag: ``dv/dt = -g e_y - drag |v| v``.

    State rows ``[x, vx, y, vy]``; returns ``[vx, ax, vy, ay]``.
    """
    vx, vy = state[..., 1], state[..., 3]
    speed = np.hypot(vx, vy)
    return np.stack([vx, -drag * speed * vx, vy, -GRAVITY - drag * speed * vy], axis=-1)


def projectile_transition(states, dt, drag, substeps=10):
    """Advance projectile states by ``dt`` with 4th-order Runge-Kutta (``substeps`` steps)."""
    from .synthetic import _rk4

    h = dt / substeps
    for _ in range(substeps):
        states = _rk4(lambda s: drag_derivative(s, drag), states, h)
    return states


@register("projectile", oracle=True)
def projectile(n_train=100, n_test=50, n_timesteps=50, dt=0.5, drag=1e-4,
               speed_range=(250.0, 350.0), angle_range=(40.0, 60.0), acceleration_std=0.5,
               measurement_std=10.0, random_state=None):
    """Projectile with quadratic air drag (nonlinear dynamics), positions measured in noise.

    ``dv/dt = -g e_y - drag |v| v`` integrated with Runge-Kutta; launch from the origin
    at a speed and elevation drawn from the given ranges (m/s, degrees); small random
    accelerations ``N(0, acceleration_std²)``; measurements are the positions plus
    ``N(0, measurement_std²)``. y is the true ``[x, vx, y, vy]``.

    The drag makes the dynamics nonlinear: an unscented Kalman filter with the true
    model is a good but approximate oracle.

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sequences.
    n_timesteps : int
        Length of every sequence (>= 2: a filter needs two steps to fit);
        ``(n_train + n_test) * n_timesteps * 6`` is at most 1e8.
    dt : float
        Time between measurements in s, in ``[1e-3, 100]``, integrated in 10 steps:
        ``dt / 10 * drag * max(speed_range[1], sqrt(9.81 / drag))`` must be at most 1.
    drag : float
        Quadratic drag coefficient per m, in ``[1e-12, 1]``.
    speed_range : (float, float)
        Range of the uniform launch speed in m/s, ``0 < low <= high <= 1e4``.
    angle_range : (float, float)
        Range of the uniform launch elevation in degrees, within ``[-90, 90]``.
    acceleration_std : float
        In m/s², in ``[1e-12, 1e4]``.
    measurement_std : float
        In m, in ``[1e-3, 1e9]``.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    A combination whose paths leave the floating-point range (a step too long for
    the drag at these speeds), or whose scales are so far apart that rounding breaks
    the oracle's filter, is refused with a ValueError naming the parameters.

    Returns
    -------
    Dataset
        Task "regression"; X (n, n_timesteps, 2), y (n, n_timesteps, 4).
    """
    n_train, n_test, n_timesteps = _check_sizes(n_train, n_test, n_timesteps, 6)
    dt = check_real(dt, "dt", 1e-3, 100.0)
    drag = check_real(drag, "drag", 1e-12, 1.0)
    speed_range = check_interval(speed_range, "speed_range", 0.0, 1e4, include_low=False)
    angle_range = check_interval(angle_range, "angle_range", -90.0, 90.0)
    acceleration_std = check_std(acceleration_std, "acceleration_std", maximum=1e4)
    measurement_std = check_real(measurement_std, "measurement_std", 1e-3, 1e9)
    # Explicit Runge-Kutta is stable for dv/dt = -drag |v| v while (dt / 10) drag |v| stays
    # well below its limit (about 1.4); speeds stay below the launch or the terminal speed.
    stiffness = dt / 10 * drag * max(speed_range[1], np.sqrt(GRAVITY / drag))
    if stiffness > 1.0:
        raise ValueError(
            f"dt / 10 * drag * top speed is {stiffness:.3g} with dt={dt!r}, drag={drag!r} and "
            f"speed_range={speed_range!r}; it must be at most 1 for a stable integration: "
            "lower dt, drag or the speeds.")
    rng = check_random_state(random_state)
    n = n_train + n_test
    speed = rng.uniform(*speed_range, size=n)
    angle = np.radians(rng.uniform(*angle_range, size=n))
    state = np.stack([np.zeros(n), speed * np.cos(angle), np.zeros(n), speed * np.sin(angle)],
                     axis=-1)
    states = np.empty((n, n_timesteps, 4))
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(n_timesteps):
            state = projectile_transition(state, dt, drag)
            state += _white_noise_acceleration(acceleration_std, dt, n, rng)
            states[:, t] = state
    if not np.isfinite(states).all():
        raise _diverged("projectile", {"dt": dt, "drag": drag, "speed_range": speed_range,
                                       "acceleration_std": acceleration_std})
    X = states[..., [0, 2]] + measurement_std * rng.standard_normal((n, n_timesteps, 2))
    truth = {"dt": dt, "drag": drag, "gravity": GRAVITY, "acceleration_std": acceleration_std,
             "measurement_std": measurement_std}
    oracle = _fit_oracle(_projectile_oracle(truth, speed_range, angle_range), X[:n_train],
                         states[:n_train],
                         {"dt": dt, "drag": drag, "speed_range": speed_range,
                          "angle_range": angle_range, "acceleration_std": acceleration_std,
                          "measurement_std": measurement_std})
    return Dataset(
        name="projectile", X_train=X[:n_train], y_train=states[:n_train], X_test=X[n_train:],
        y_test=states[n_train:], task="regression", truth=truth, oracle=oracle,
        metric=POSITION_RMSE,
        description=(
            f"Projectile with quadratic drag ({drag} /m), positions measured with noise std "
            f"{measurement_std} m every {dt} s; y is the true position and velocity. Nonlinear "
            "dynamics: no exact finite filter; the oracle, an unscented Kalman filter with the "
            "true dynamics and noise levels, is approximate."),
        params=dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps, dt=dt, drag=drag,
                    speed_range=tuple(speed_range), angle_range=tuple(angle_range),
                    acceleration_std=acceleration_std, measurement_std=measurement_std,
                    random_state=random_state),
    )


def _projectile_oracle(truth, speed_range, angle_range):
    from filterpy.common import Q_discrete_white_noise

    from ..state_space import UnscentedKalmanFilter

    # Prior moments of the launch velocity (uniform speed and elevation), on a fine grid.
    speed = np.linspace(*speed_range, 101)[:, None]
    angle = np.radians(np.linspace(*angle_range, 101))[None, :]
    vx, vy = (speed * np.cos(angle)).ravel(), (speed * np.sin(angle)).ravel()
    P0 = np.zeros((4, 4))
    # A fixed speed or elevation puts every launch velocity on a line: a little jitter
    # keeps the prior positive definite for the sigma points.
    P0[np.ix_([1, 3], [1, 3])] = np.cov(np.stack([vx, vy])) + 1e-9 * np.eye(2)
    P0[0, 0] = P0[2, 2] = 1.0
    Q = Q_discrete_white_noise(dim=2, dt=truth["dt"], var=1.0, block_size=2, order_by_dim=True)
    return UnscentedKalmanFilter(
        fx=partial(projectile_transition, drag=truth["drag"]), hx=position_xy, dt=truth["dt"],
        process_var=truth["acceleration_std"] ** 2, measurement_var=truth["measurement_std"] ** 2,
        Q=Q, x0=np.array([0.0, vx.mean(), 0.0, vy.mean()]), P0=P0, learn="none",
        readout="state")


def gravity_derivative(state):
    """Kepler problem with ``GM = 1``: ``dv/dt = -r / |r|^3``; rows ``[x, vx, y, vy]``."""
    x, vx, y, vy = np.moveaxis(state, -1, 0)
    r3 = np.hypot(x, y) ** 3
    return np.stack([vx, -x / r3, vy, -y / r3], axis=-1)


def orbit_transition(states, dt, substeps=10):
    """Advance orbital states by ``dt`` with 4th-order Runge-Kutta."""
    from .synthetic import _rk4

    h = dt / substeps
    for _ in range(substeps):
        states = _rk4(gravity_derivative, states, h)
    return states


def _periapsis_states(eccentricity, angle):
    """``[x, vx, y, vy]`` at periapsis of orbits with semi-major axis 1 (vis-viva), rotated."""
    r0 = 1 - eccentricity
    v0 = np.sqrt((1 + eccentricity) / (1 - eccentricity))
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([r0 * c, -v0 * s, r0 * s, v0 * c], axis=-1)


def _orbit_oracle(truth, eccentricity_max, orientation_std):
    from ..state_space import UnscentedKalmanFilter
    from ..state_space.motion import range_bearing

    # Prior of the initial state: moments of the periapsis states over the generator's
    # eccentricity and orientation distributions (a fine deterministic grid).
    e = np.linspace(0, eccentricity_max, 41)[:, None]
    angle = orientation_std * np.sqrt(2) * special.erfinv(np.linspace(-0.99, 0.99, 41))[None, :]
    grid = _periapsis_states(e, angle).reshape(-1, 4)
    return UnscentedKalmanFilter(
        fx=orbit_transition, hx=range_bearing, measurement="range_bearing", dt=truth["dt"],
        process_var=1e-12, measurement_var=[truth["range_std"] ** 2, truth["bearing_std"] ** 2],
        Q=np.eye(4), x0=grid.mean(axis=0), P0=np.cov(grid.T) + 1e-9 * np.eye(4), learn="none",
        readout="state")


@register("orbit", oracle=True)
def orbit(n_train=100, n_test=50, n_timesteps=150, dt=0.05, eccentricity_max=0.3,
          orientation_std=0.2, range_std=0.01, bearing_std=0.01, random_state=None):
    """A planet on a Kepler orbit observed by noisy range and bearing (nonlinear measurement).

    Units with ``GM = 1`` and semi-major axis 1 (one orbit takes 2 pi). Each orbit has
    an eccentricity drawn in ``[0, eccentricity_max]`` and starts at its periapsis, rotated
    from the +x axis by ``N(0, orientation_std²)`` radians; the observer sits at the
    central body and measures ``r = |position|`` and ``theta = atan2(y, x)`` with Gaussian
    noise. y is the true ``[x, vx, y, vy]``.

    Both the dynamics and the measurement are nonlinear: an unscented Kalman filter with
    the true model is an approximate oracle. Bearings are not unwrapped: they jump at ±pi.

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sequences.
    n_timesteps : int
        Length of every sequence (>= 2: a filter needs two steps to fit);
        ``(n_train + n_test) * n_timesteps * 6`` is at most 1e8.
    dt : float
        Time between measurements, in ``[1e-6, 1]``, integrated in 10 steps:
        ``dt / 10 * sqrt(1 + e) / (1 - e)**1.5`` (the step over the time scale at the
        periapsis of the most eccentric orbit, ``e = eccentricity_max``) must be at most 1.
    eccentricity_max : float
        Eccentricities are uniform in ``[0, eccentricity_max]``; in ``[0, 0.9]``.
    orientation_std : float
        In radians, in ``[1e-12, pi]``.
    range_std : float
        In ``[1e-12, 1e12]``.
    bearing_std : float
        In radians, in ``[1e-12, pi]``.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    A combination whose paths leave the floating-point range (a step too long near
    periapsis), or whose scales are so far apart that rounding breaks the oracle's
    filter, is refused with a ValueError naming the parameters.

    Returns
    -------
    Dataset
        Task "regression"; X (n, n_timesteps, 2) as (range, bearing), y (n, n_timesteps, 4).
    """
    n_train, n_test, n_timesteps = _check_sizes(n_train, n_test, n_timesteps, 6)
    dt = check_real(dt, "dt", DT_RANGE[0], 1.0)
    eccentricity_max = check_real(eccentricity_max, "eccentricity_max", 0.0, 0.9)
    orientation_std = check_std(orientation_std, "orientation_std", maximum=np.pi)
    range_std = check_std(range_std, "range_std")
    bearing_std = check_std(bearing_std, "bearing_std", maximum=np.pi)
    # Runge-Kutta steps of dt / 10 must stay short next to the time scale r / v at
    # periapsis, the fastest part of the most eccentric orbit.
    stiffness = dt / 10 * np.sqrt(1 + eccentricity_max) / (1 - eccentricity_max) ** 1.5
    if stiffness > 1.0:
        raise ValueError(
            f"dt={dt!r} is too long for orbits of eccentricity up to eccentricity_max="
            f"{eccentricity_max!r}: dt / 10 * v / r at periapsis is {stiffness:.3g}, and must be "
            "at most 1 for a stable integration; lower dt or eccentricity_max.")
    rng = check_random_state(random_state)
    n = n_train + n_test
    e = rng.uniform(0, eccentricity_max, size=n)
    angle = orientation_std * rng.standard_normal(n)
    state = _periapsis_states(e, angle)
    states = np.empty((n, n_timesteps, 4))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t in range(n_timesteps):
            state = orbit_transition(state, dt)
            states[:, t] = state
    if not np.isfinite(states).all():
        raise _diverged("orbit", {"dt": dt, "eccentricity_max": eccentricity_max})
    from ..state_space.motion import range_bearing

    noise = rng.standard_normal((n, n_timesteps, 2)) * [range_std, bearing_std]
    X = range_bearing(states) + noise
    truth = {"dt": dt, "GM": 1.0, "range_std": range_std, "bearing_std": bearing_std,
             "eccentricity": e}
    oracle = _fit_oracle(_orbit_oracle(truth, eccentricity_max, orientation_std), X[:n_train],
                         states[:n_train],
                         {"dt": dt, "eccentricity_max": eccentricity_max,
                          "orientation_std": orientation_std, "range_std": range_std,
                          "bearing_std": bearing_std})
    return Dataset(
        name="orbit", X_train=X[:n_train], y_train=states[:n_train], X_test=X[n_train:],
        y_test=states[n_train:], task="regression", truth=truth, oracle=oracle,
        metric=POSITION_RMSE,
        description=(
            "Kepler orbits (GM = 1) observed from the central body by range and bearing with "
            f"noise std {range_std} and {bearing_std} rad; y is the true position and "
            "velocity. Nonlinear dynamics and measurement: no exact finite filter; the oracle, "
            "an unscented Kalman filter with the true dynamics and noise levels, is approximate."),
        params=dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps, dt=dt,
                    eccentricity_max=eccentricity_max, orientation_std=orientation_std,
                    range_std=range_std,
                    bearing_std=bearing_std, random_state=random_state),
    )
