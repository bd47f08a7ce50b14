"""The vectorised extended Kalman filter against filterpy's, stepped in a loop (issue #23).

Line (side by side in one run, results checked equal first; see _harness.py):

* 1,000 tracks x 200 steps, coordinated-turn state ``[x, vx, y, vy, omega]``,
  range-bearing measurement from a radar (both functions nonlinear, both Jacobians
  analytic): seqmodels' core (:func:`seqmodels.inference.extended.ekf_filter`, one
  recursion over time for all tracks) against filterpy's ``ExtendedKalmanFilter``
  stepped by hand in a Python loop, one track at a time -- the mean predicted through f
  and the covariance through the Jacobian each step (``x = f(x)``, ``P = F P F' + Q``;
  filterpy's own ``predict`` would propagate ``F x``), then filterpy's ``update`` with
  ``HJacobian`` and ``Hx`` and a wrapped bearing residual. The loop is timed on 20 tracks
  and scaled per track (the filterpy side would take about a minute on all 1,000).

Run alone: ``python benchmarks/bench_nonlinear.py [--quick]``. Needs filterpy.
"""

import numpy as np

from _harness import Line
from seqmodels.inference import extended as ext
from seqmodels.state_space.motion import (coordinated_turn_jacobian,
                                          coordinated_turn_transition, range_bearing,
                                          range_bearing_jacobian)

FAMILY = "EKF"
DT = 1.0
RADAR = (-5000.0, 2000.0)
Q = np.diag([0.5, 0.5, 0.5, 0.5, 1e-5])
R = np.diag([25.0, 1e-5])
X0 = np.array([1000.0, 10.0, 500.0, -5.0, 0.01])
P0 = np.diag([100.0, 4.0, 100.0, 4.0, 1e-4])


def _ct(s):
    return coordinated_turn_transition(s, DT)


def _ct_jacobian(s):
    return coordinated_turn_jacobian(s, DT)


def _rb(s):
    return range_bearing(s, RADAR)


def _rb_jacobian(s):
    return range_bearing_jacobian(s, RADAR)


def model():
    return ext.ExtendedModel(_ct, _ct_jacobian, _rb, _rb_jacobian, Q, R, X0, P0,
                             np.array([False, True]))


def tracks(n, T, seed=0):
    """Measurements of n coordinated-turn tracks drawn from the model."""
    rng = np.random.default_rng(seed)
    s = X0 + rng.normal(size=(n, 5)) * np.sqrt(np.diag(P0))
    Z = np.empty((n, T, 2))
    for t in range(T):
        s = _ct(s) + rng.normal(size=(n, 5)) * np.sqrt(np.diag(Q))
        Z[:, t] = _rb(s) + rng.normal(size=(n, 2)) * np.sqrt(np.diag(R))
    return Z


def _bearing_residual(a, b):
    r = a - b
    r[1] = (r[1] + np.pi) % (2 * np.pi) - np.pi
    return r


def filterpy_loop(Z):
    """filterpy's ExtendedKalmanFilter, one track at a time, the prediction by hand."""
    from filterpy.kalman import ExtendedKalmanFilter as FilterpyEKF

    out = np.empty(Z.shape[:2] + (5,))
    for i in range(Z.shape[0]):
        ekf = FilterpyEKF(dim_x=5, dim_z=2)
        ekf.x, ekf.P, ekf.Q, ekf.R = X0.copy(), P0.copy(), Q, R
        for t in range(Z.shape[1]):
            F = _ct_jacobian(ekf.x)
            ekf.x = _ct(ekf.x)
            ekf.P = F @ ekf.P @ F.T + ekf.Q
            ekf.update(Z[i, t], _rb_jacobian, _rb, residual=_bearing_residual)
            out[i, t] = ekf.x
    return out


def lines(quick=False):
    n, T = 1000, 200
    Z = tracks(n, T)
    m = model()
    sub = 10 if quick else 20

    def check(ours, theirs):
        np.testing.assert_allclose(ours.filtered_mean[:sub], theirs, rtol=1e-10, atol=1e-8)

    return [Line(
        "ekf.many.filterpy", FAMILY, f"filter {n:,} x {T}, turn + range-bearing",
        lambda: ext.ekf_filter(m, Z), lambda: filterpy_loop(Z[:sub]),
        f"filterpy EKF loop ({sub} seq. scaled)", check=check, repeats=3 if quick else 5,
        target=100, target_text=">= 100x", work=n * T, work_unit="series-steps",
        anchor_scale=n / sub)]


def scalings():
    return []


if __name__ == "__main__":
    import run

    run.main(families=["nonlinear"])
