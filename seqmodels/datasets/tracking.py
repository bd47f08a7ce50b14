"""Tracking scenarios: noisy measurements in, true positions and velocities out.

Every scenario is a supervised ("regression") data set: ``X`` holds the measurements,
``y`` the true state at each step in filterpy's ``order_by_dim`` layout
``[x, x', (x''), y, y', ...]``. Linear scenarios have an exact oracle (the Kalman
filter with the true matrices); nonlinear ones an approximate one (unscented or
interacting-multiple-model filter with the true parameters), which the description
says.
"""

import numpy as np
from sklearn.utils import check_random_state

from ._record import Dataset
from ._registry import register

__all__ = ["constant_velocity", "constant_acceleration"]


def _size(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _positive(**values):
    for name, value in values.items():
        if not (np.isscalar(value) and np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number; got {value!r}.")


def _kinematic(name, model, n_dims, dt, noise, noise_label, measurement_std, initial_speed,
               n_train, n_test, n_timesteps, random_state):
    from ..state_space import KalmanFilter
    from ..state_space.motion import motion_model

    n_dims = _size("n_dims", n_dims)
    if n_dims > 3:
        raise ValueError(f"n_dims must be 1, 2 or 3; got {n_dims}.")
    n_train, n_test = _size("n_train", n_train), _size("n_test", n_test)
    n_timesteps = _size("n_timesteps", n_timesteps)
    _positive(dt=dt, measurement_std=measurement_std, initial_speed=initial_speed,
              **{noise_label: noise})
    F, H, template, _ = motion_model(model, n_dims, dt=dt)
    k = F.shape[0]
    per_axis = k // n_dims
    # Prior: position near the origin, velocity of a few initial_speed, acceleration 0-ish.
    prior_std = np.tile([10.0 * measurement_std, initial_speed, noise][:per_axis], n_dims)
    truth = {"model": model, "dt": dt, "Q": noise**2 * template,
             "R": measurement_std**2 * np.eye(n_dims), "x0": np.zeros(k),
             "P0": np.diag(prior_std**2)}
    rng = check_random_state(random_state)
    seed = int(rng.randint(np.iinfo(np.int32).max))
    sampler = KalmanFilter(**truth, learn="none").fit(np.zeros((1, 2, n_dims)))
    states, X = sampler.sample(n_train + n_test, n_timesteps, random_state=seed)
    oracle = KalmanFilter(**truth, learn="none").fit(X[:n_train], states[:n_train])
    return Dataset(
        name=name, X_train=X[:n_train], y_train=states[:n_train], X_test=X[n_train:],
        y_test=states[n_train:], task="regression", truth={**truth, "F": F, "H": H},
        oracle=oracle,
        description=(
            f"{model.replace('_', ' ').capitalize()} motion in {n_dims}-D, dt = {dt}, "
            f"{noise_label} {noise}, measurement noise std {measurement_std}: X are noisy "
            "positions, y the true state (positions and their derivatives per axis). The oracle "
            "is the Kalman filter with the true matrices (exact)."),
        params=dict(n_dims=n_dims, dt=dt, **{noise_label: noise},
                    measurement_std=measurement_std, initial_speed=initial_speed,
                    n_train=n_train, n_test=n_test, n_timesteps=n_timesteps,
                    random_state=random_state),
    )


@register("constant_velocity")
def constant_velocity(n_dims=2, dt=1.0, acceleration_std=0.5, measurement_std=5.0,
                      initial_speed=10.0, n_train=200, n_test=50, n_timesteps=100,
                      random_state=None):
    """Constant-velocity targets in 1-3 D (white-noise acceleration); oracle: the exact Kalman filter.

    Per axis, state ``(p, v)``: ``p_t = p_{t-1} + dt v_{t-1} + w``, ``v_t = v_{t-1} + w'`` with
    the discrete white-noise-acceleration covariance ``acceleration_std² Q(dt)``
    (filterpy ``Q_discrete_white_noise``); measurements ``z_t = p_t + N(0, measurement_std²)``.

    Returns
    -------
    Dataset
        Task "regression"; X (n, n_timesteps, n_dims), y (n, n_timesteps, 2 n_dims).
    """
    return _kinematic("constant_velocity", "constant_velocity", n_dims, dt, acceleration_std,
                      "acceleration_std", measurement_std, initial_speed, n_train, n_test,
                      n_timesteps, random_state)


@register("constant_acceleration")
def constant_acceleration(n_dims=2, dt=1.0, jerk_std=0.1, measurement_std=5.0,
                          initial_speed=10.0, n_train=200, n_test=50, n_timesteps=100,
                          random_state=None):
    """Constant-acceleration targets in 1-3 D (white-noise jerk); oracle: the exact Kalman filter.

    Per axis, state ``(p, v, a)`` with the discrete white-noise-jerk covariance
    ``jerk_std² Q(dt)``; measurements ``z_t = p_t + N(0, measurement_std²)``.

    Returns
    -------
    Dataset
        Task "regression"; X (n, n_timesteps, n_dims), y (n, n_timesteps, 3 n_dims).
    """
    return _kinematic("constant_acceleration", "constant_acceleration", n_dims, dt, jerk_std,
                      "jerk_std", measurement_std, initial_speed, n_train, n_test, n_timesteps,
                      random_state)


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
        state[:, [1, 3]] += acceleration_std * dt * rng.standard_normal((n, 2))
        states[:, t], modes[:, t] = state, mode
    return states, modes


@register("maneuvering")
def maneuvering(n_train=100, n_test=50, n_timesteps=120, dt=1.0, speed_range=(100.0, 250.0),
                turn_rate=0.05, switch_probability=0.05, acceleration_std=1.0,
                measurement_std=50.0, random_state=None):
    """Maneuvering aircraft: straight flight and coordinated turns, positions measured in noise.

    The target switches (a Markov chain, ``switch_probability`` per step) between
    straight flight and coordinated turns at ``±turn_rate`` rad/s (0.05 rad/s is about a
    standard 3°/s turn); speeds in m/s, positions in m. Measurements are the positions
    plus ``N(0, measurement_std²)``; y is the true ``[x, vx, y, vy]``.

    No finite filter is exact for a switching system; the truth (``truth["modes"]``,
    the turn rates, noise levels) lets an interacting-multiple-model filter with the true
    parameters serve as an approximate oracle.

    Returns
    -------
    Dataset
        Task "regression"; X (n, n_timesteps, 2), y (n, n_timesteps, 4).
    """
    n_train, n_test = _size("n_train", n_train), _size("n_test", n_test)
    n_timesteps = _size("n_timesteps", n_timesteps)
    _positive(dt=dt, turn_rate=turn_rate, acceleration_std=acceleration_std,
              measurement_std=measurement_std)
    if not 0 <= switch_probability <= 1:
        raise ValueError(f"switch_probability must lie in [0, 1]; got {switch_probability!r}.")
    rng = check_random_state(random_state)
    states, modes = _coordinated_turn_paths(n_train + n_test, n_timesteps, dt, speed_range,
                                            turn_rate, switch_probability, acceleration_std, rng)
    X = states[..., [0, 2]] + measurement_std * rng.standard_normal(states[..., :2].shape)
    y = states[..., :4]
    truth = {"dt": dt, "turn_rate": turn_rate, "switch_probability": switch_probability,
             "acceleration_std": acceleration_std, "measurement_std": measurement_std,
             "modes": modes, "turn_rates": np.array([0.0, turn_rate, -turn_rate])}
    return Dataset(
        name="maneuvering", X_train=X[:n_train], y_train=y[:n_train], X_test=X[n_train:],
        y_test=y[n_train:], task="regression", truth=truth, oracle=None,
        description=(
            "Maneuvering aircraft switching between straight flight and coordinated turns "
            f"(±{turn_rate} rad/s), positions measured with noise std {measurement_std} m; "
            "y is the true position and velocity. Switching dynamics have no exact finite "
            "filter."),
        params=dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps, dt=dt,
                    speed_range=tuple(speed_range), turn_rate=turn_rate,
                    switch_probability=switch_probability, acceleration_std=acceleration_std,
                    measurement_std=measurement_std, random_state=random_state),
    )


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


@register("projectile")
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

    Returns
    -------
    Dataset
        Task "regression"; X (n, n_timesteps, 2), y (n, n_timesteps, 4).
    """
    n_train, n_test = _size("n_train", n_train), _size("n_test", n_test)
    n_timesteps = _size("n_timesteps", n_timesteps)
    _positive(dt=dt, drag=drag, acceleration_std=acceleration_std,
              measurement_std=measurement_std)
    rng = check_random_state(random_state)
    n = n_train + n_test
    speed = rng.uniform(*speed_range, size=n)
    angle = np.radians(rng.uniform(*angle_range, size=n))
    state = np.stack([np.zeros(n), speed * np.cos(angle), np.zeros(n), speed * np.sin(angle)],
                     axis=-1)
    states = np.empty((n, n_timesteps, 4))
    for t in range(n_timesteps):
        state = projectile_transition(state, dt, drag)
        state[:, [1, 3]] += acceleration_std * dt * rng.standard_normal((n, 2))
        states[:, t] = state
    X = states[..., [0, 2]] + measurement_std * rng.standard_normal((n, n_timesteps, 2))
    truth = {"dt": dt, "drag": drag, "gravity": GRAVITY, "acceleration_std": acceleration_std,
             "measurement_std": measurement_std}
    return Dataset(
        name="projectile", X_train=X[:n_train], y_train=states[:n_train], X_test=X[n_train:],
        y_test=states[n_train:], task="regression", truth=truth, oracle=None,
        description=(
            f"Projectile with quadratic drag ({drag} /m), positions measured with noise std "
            f"{measurement_std} m every {dt} s; y is the true position and velocity. Nonlinear "
            "dynamics: no exact finite filter."),
        params=dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps, dt=dt, drag=drag,
                    speed_range=tuple(speed_range), angle_range=tuple(angle_range),
                    acceleration_std=acceleration_std, measurement_std=measurement_std,
                    random_state=random_state),
    )


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


@register("orbit")
def orbit(n_train=100, n_test=50, n_timesteps=150, dt=0.05, eccentricity_max=0.3,
          range_std=0.01, bearing_std=0.01, random_state=None):
    """A planet on a Kepler orbit observed by noisy range and bearing (nonlinear measurement).

    Units with ``GM = 1`` and mean orbital radius 1 (one orbit takes about 2 pi). Each
    orbit has a random orientation, phase and eccentricity in ``[0, eccentricity_max]``;
    the observer sits at the central body and measures ``r = |position|`` and
    ``theta = atan2(y, x)`` with Gaussian noise. y is the true ``[x, vx, y, vy]``.

    Both the dynamics and the measurement are nonlinear: an unscented Kalman filter with
    the true model is an approximate oracle. Bearings are not unwrapped: they jump at ±pi.

    Returns
    -------
    Dataset
        Task "regression"; X (n, n_timesteps, 2) as (range, bearing), y (n, n_timesteps, 4).
    """
    n_train, n_test = _size("n_train", n_train), _size("n_test", n_test)
    n_timesteps = _size("n_timesteps", n_timesteps)
    _positive(dt=dt, range_std=range_std, bearing_std=bearing_std)
    if not 0 <= eccentricity_max < 1:
        raise ValueError(f"eccentricity_max must lie in [0, 1); got {eccentricity_max!r}.")
    rng = check_random_state(random_state)
    n = n_train + n_test
    e = rng.uniform(0, eccentricity_max, size=n)
    # Start at periapsis of an orbit with semi-major axis 1, then rotate.
    r0, v0 = 1 - e, np.sqrt((1 + e) / (1 - e))
    angle = rng.uniform(0, 2 * np.pi, size=n)
    c, s = np.cos(angle), np.sin(angle)
    state = np.stack([r0 * c, -v0 * s, r0 * s, v0 * c], axis=-1)
    phase = rng.uniform(0, 2 * np.pi)  # advance every orbit by a random time
    state = orbit_transition(state, phase, substeps=int(np.ceil(phase / 0.005)))
    states = np.empty((n, n_timesteps, 4))
    for t in range(n_timesteps):
        state = orbit_transition(state, dt)
        states[:, t] = state
    from ..state_space.motion import range_bearing

    X = range_bearing(states) + rng.standard_normal((n, n_timesteps, 2)) * [range_std,
                                                                             bearing_std]
    truth = {"dt": dt, "GM": 1.0, "range_std": range_std, "bearing_std": bearing_std,
             "eccentricity": e}
    return Dataset(
        name="orbit", X_train=X[:n_train], y_train=states[:n_train], X_test=X[n_train:],
        y_test=states[n_train:], task="regression", truth=truth, oracle=None,
        description=(
            "Kepler orbits (GM = 1) observed from the central body by range and bearing with "
            f"noise std {range_std} and {bearing_std} rad; y is the true position and "
            "velocity. Nonlinear dynamics and measurement: no exact finite filter."),
        params=dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps, dt=dt,
                    eccentricity_max=eccentricity_max, range_std=range_std,
                    bearing_std=bearing_std, random_state=random_state),
    )
