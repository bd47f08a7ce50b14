"""Named motion models: matrices built with filterpy's helpers.

Every preset is per spatial axis and stacked block-diagonally, with filterpy's
``order_by_dim=True`` state order ``[x, x', (x''), y, y', (y''), ...]``; the
measurement is the position (level) on each axis. The process-noise matrix is the
template for unit variance: the model's process noise is ``Q = q * template``
(constant velocity / acceleration, a white-noise acceleration / jerk), or a free
diagonal (local level, local linear trend).

==========================  =====================================================
name                        state per axis and transition
==========================  =====================================================
``local_level``             level;             l_t = l_{t-1} + w
``local_linear_trend``      level, slope;      l_t = l_{t-1} + s_{t-1} + w1, s_t = s_{t-1} + w2
``constant_velocity``       position, velocity (filterpy ``kinematic_kf(order=1)``,
                            ``Q_discrete_white_noise(dim=2)``)
``constant_acceleration``   position, velocity, acceleration (``order=2``, ``dim=3``)
==========================  =====================================================
"""

import numpy as np
from filterpy.common import Q_discrete_white_noise, kinematic_kf

__all__ = ["MOTION_MODELS", "motion_model", "coordinated_turn_transition",
           "coordinated_turn_jacobian", "range_bearing", "range_bearing_jacobian"]

MOTION_MODELS = ("local_level", "local_linear_trend", "constant_velocity",
                 "constant_acceleration")

_ORDER = {"local_level": 0, "local_linear_trend": 1, "constant_velocity": 1,
          "constant_acceleration": 2}


def motion_model(name, n_dims, dt=1.0):
    """Matrices of a named motion model in ``n_dims`` spatial dimensions.

    Parameters
    ----------
    name : {"local_level", "local_linear_trend", "constant_velocity", "constant_acceleration"}
    n_dims : int
        Number of measured axes (1, 2 or 3 for tracking; any for levels).
    dt : float, default=1.0
        Time step.

    Returns
    -------
    F : ndarray of shape (k, k)
    H : ndarray of shape (n_dims, k)
        Picks the position (level) of each axis.
    Q_template : ndarray of shape (k, k)
        Process-noise covariance for unit variance.
    Q_covariance_type : {"diag", "scaled"}
        How the process noise is learned: a free diagonal, or a scale of the template.

    Examples
    --------
    >>> F, H, Q, covariance_type = motion_model("constant_velocity", 2, dt=0.5)
    >>> F.shape, H.shape, covariance_type
    ((4, 4), (2, 4), 'scaled')
    """
    if name not in _ORDER:
        raise ValueError(f"model must be one of {('generic',) + MOTION_MODELS}; got {name!r}.")
    if not (np.isscalar(dt) and np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive number; got {dt!r}.")
    order = _ORDER[name]
    kf = kinematic_kf(n_dims, order, dt=float(dt), order_by_dim=True)
    F = np.array(kf.F, dtype=float)
    # filterpy 1.4.5's kinematic_kf puts every axis's position in each row of H
    # (H = [1 0 1 0] in 2-D); the measurement of axis i is its own position only.
    H = np.zeros((n_dims, F.shape[0]))
    H[np.arange(n_dims), np.arange(n_dims) * (order + 1)] = 1.0
    if name == "local_linear_trend":
        F = np.kron(np.eye(n_dims), np.array([[1.0, dt], [0.0, 1.0]]))
    if name in ("local_level", "local_linear_trend"):
        return F, H, np.eye(F.shape[0]), "diag"
    Q = Q_discrete_white_noise(dim=order + 1, dt=float(dt), var=1.0, block_size=n_dims,
                               order_by_dim=True)
    return F, H, np.asarray(Q, dtype=float), "scaled"


def coordinated_turn_transition(states, dt):
    """Coordinated-turn motion in the plane, vectorised over rows.

    State ``[x, vx, y, vy, omega]`` (omega: turn rate, rad per unit time)::

        x'  = x + sin(w dt)/w vx - (1 - cos(w dt))/w vy
        vx' = cos(w dt) vx - sin(w dt) vy
        y'  = y + (1 - cos(w dt))/w vx + sin(w dt)/w vy
        vy' = sin(w dt) vx + cos(w dt) vy
        w'  = w

    with the limits ``sin(w dt)/w -> dt``, ``(1 - cos(w dt))/w -> 0`` at w = 0.

    Parameters
    ----------
    states : ndarray of shape (..., 5)
    dt : float

    Returns
    -------
    ndarray of shape (..., 5)
    """
    x, vx, y, vy, w = np.moveaxis(states, -1, 0)
    wt = w * dt
    small = np.abs(wt) < 1e-6
    safe_w = np.where(small, 1.0, w)
    sin_w = np.where(small, dt * (1.0 - wt**2 / 6.0), np.sin(wt) / safe_w)
    cos_w = np.where(small, dt * wt / 2.0, (1.0 - np.cos(wt)) / safe_w)
    c, s = np.cos(wt), np.sin(wt)
    return np.stack([x + sin_w * vx - cos_w * vy, c * vx - s * vy,
                     y + cos_w * vx + sin_w * vy, s * vx + c * vy, w], axis=-1)


def coordinated_turn_jacobian(states, dt):
    """Jacobian of :func:`coordinated_turn_transition` at each row, ``d f / d state``.

    With ``a = w dt``, ``A = sin(a)/w``, ``B = (1 - cos(a))/w`` (the transition's
    coefficients) and their derivatives ``A' = (a cos(a) - sin(a))/w^2``,
    ``B' = (a sin(a) - 1 + cos(a))/w^2``::

        [[1, A,      0, -B,      A' vx - B' vy          ],
         [0, cos a,  0, -sin a,  -dt (sin(a) vx + cos(a) vy)],
         [0, B,      1, A,       B' vx + A' vy          ],
         [0, sin a,  0, cos a,   dt (cos(a) vx - sin(a) vy)],
         [0, 0,      0, 0,       1                      ]]

    For ``|a| < 0.1`` the derivatives come from their Taylor series (the closed forms
    lose digits to cancellation as ``a -> 0``), ``A' = dt^2 (-a/3 + a^3/30 - a^5/840 +
    a^7/45360)``, ``B' = dt^2 (1/2 - a^2/8 + a^4/144 - a^6/5760 + a^8/403200)``: exact
    to rounding, and the derivatives of the transition's own series below 1e-6.

    Parameters
    ----------
    states : ndarray of shape (..., 5)
    dt : float

    Returns
    -------
    ndarray of shape (..., 5, 5)
    """
    states = np.asarray(states, dtype=float)
    _, vx, _, vy, w = np.moveaxis(states, -1, 0)
    wt = w * dt
    c, s = np.cos(wt), np.sin(wt)
    small, series = np.abs(wt) < 1e-6, np.abs(wt) < 0.1
    if series.any():
        safe_w = np.where(small, 1.0, w)
        wide_w = np.where(series, 1.0, w)
        A = np.where(small, dt * (1.0 - wt**2 / 6.0), s / safe_w)
        B = np.where(small, dt * wt / 2.0, (1.0 - c) / safe_w)
        a2 = wt**2
        dA = np.where(series, dt**2 * wt * (-1 / 3 + a2 * (1 / 30 + a2 * (-1 / 840 + a2 / 45360))),
                      (wt * c - s) / wide_w**2)
        dB = np.where(series, dt**2 * (0.5 + a2 * (-1 / 8 + a2 * (1 / 144 + a2 * (
            -1 / 5760 + a2 / 403200)))), (wt * s - 1.0 + c) / wide_w**2)
    else:                               # no turn slow enough for the series (the common case)
        A, B = s / w, (1.0 - c) / w
        dA, dB = (wt * c - s) / w**2, (wt * s - 1.0 + c) / w**2
    zero, one = np.zeros_like(w), np.ones_like(w)
    rows = [one, A, zero, -B, dA * vx - dB * vy,
            zero, c, zero, -s, -dt * (s * vx + c * vy),
            zero, B, one, A, dB * vx + dA * vy,
            zero, s, zero, c, dt * (c * vx - s * vy),
            zero, zero, zero, zero, one]
    return np.stack(rows, axis=-1).reshape(states.shape + (5,))


def range_bearing(states, radar=(0.0, 0.0)):
    """Range and bearing of the position ``(states[..., 0], states[..., 2])`` from a radar.

    ``r = sqrt((x - x_r)^2 + (y - y_r)^2)``, ``theta = atan2(y - y_r, x - x_r)``.

    Returns
    -------
    ndarray of shape (..., 2)
    """
    dx = states[..., 0] - radar[0]
    dy = states[..., 2] - radar[1]
    return np.stack([np.hypot(dx, dy), np.arctan2(dy, dx)], axis=-1)


def range_bearing_jacobian(states, radar=(0.0, 0.0)):
    """Jacobian of :func:`range_bearing` at each row, ``d (r, theta) / d state``.

    With ``dx = x - x_r``, ``dy = y - y_r``, ``r^2 = dx^2 + dy^2``: the range row has
    ``dx / r`` and ``dy / r`` at the positions, the bearing row ``-dy / r^2`` and
    ``dx / r^2``; every other entry (velocities, a turn rate) is 0. At the radar itself
    (``r = 0``) the measurement has no derivative and both rows are 0 (the update then
    leaves the state as predicted).

    Returns
    -------
    ndarray of shape (..., 2, k)
    """
    states = np.asarray(states, dtype=float)
    dx = states[..., 0] - radar[0]
    dy = states[..., 2] - radar[1]
    r2 = dx**2 + dy**2
    at = r2 == 0
    r2 = np.where(at, 1.0, r2)
    r = np.sqrt(r2)
    J = np.zeros(states.shape[:-1] + (2, states.shape[-1]))
    J[..., 0, 0], J[..., 0, 2] = np.where(at, 0.0, dx / r), np.where(at, 0.0, dy / r)
    J[..., 1, 0], J[..., 1, 2] = np.where(at, 0.0, -dy / r2), np.where(at, 0.0, dx / r2)
    return J
