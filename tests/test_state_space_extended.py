"""ExtendedKalmanFilter against filterpy's ExtendedKalmanFilter stepped by hand (issue #23).

filterpy's ``ExtendedKalmanFilter.predict`` propagates ``F x`` (and ``predict_update``
linearises before predicting: filterpy#271); its documentation tells a user with a
nonlinear f to predict the mean by hand. The reference below does exactly that each
step -- ``x = f(x)``, ``P = F P F' + Q`` with F the Jacobian at the previous estimate --
then calls filterpy's own ``update`` with ``HJacobian`` and ``Hx`` (Joseph form; the
bearing residual wrapped), or ``update(None)`` for a missing measurement.
"""

import pickle
import warnings

import numpy as np
import pytest
from filterpy.kalman import ExtendedKalmanFilter as FilterpyEKF
from sklearn.exceptions import ConvergenceWarning

from seqmodels import (ExtendedKalmanFilter, KalmanFilter, UnscentedKalmanFilter,
                       all_estimators)
from seqmodels.inference import extended as ext
from seqmodels.state_space.motion import (coordinated_turn_jacobian,
                                          coordinated_turn_transition, range_bearing,
                                          range_bearing_jacobian)

DT = 1.0
RADAR = (-150.0, 80.0)
Q5 = np.diag([0.1, 0.2, 0.1, 0.2, 1e-3])
X0 = np.array([100.0, 3.0, 50.0, -2.0, 0.05])
P0 = np.diag([10.0, 1.0, 10.0, 1.0, 1e-3])

TOL = dict(rtol=1e-10, atol=1e-10)


def _central_difference(f, S, eps=1e-6):
    """Jacobian of a row-vectorised f at each row of S by central differences."""
    cols = []
    for j in range(S.shape[-1]):
        h = eps * np.maximum(1.0, np.abs(S[:, j]))[:, None]
        e = np.eye(S.shape[-1])[j]
        cols.append((f(S + h * e) - f(S - h * e)) / (2 * h))
    return np.stack(cols, axis=-1)


def _complex_step(f, S, h=1e-30):
    """Jacobian by the complex step ``Im f(s + i h e_j) / h``: exact to rounding, no
    cancellation, and it stays in the branch of a function defined piecewise."""
    return np.stack([f(S + 1j * h * np.eye(S.shape[-1])[j]).imag / h
                     for j in range(S.shape[-1])], axis=-1)


@pytest.mark.parametrize("turn_scale", [0.3, 1e-8, 0.0])
def test_coordinated_turn_jacobian_is_the_derivative(turn_scale):
    # 1e-8 and 0: the series branch (|w dt| < 1e-6) of the transition and of its Jacobian
    rng = np.random.default_rng(0)
    S = rng.normal(size=(40, 5)) * [100, 10, 100, 10, turn_scale]
    for dt in (0.5, 2.0):
        J = coordinated_turn_jacobian(S, dt)
        exact = _complex_step(lambda s: coordinated_turn_transition(s, dt), S)
        # 1e-10: the transition's own (1 - cos(w dt)) / w loses digits for small turns
        np.testing.assert_allclose(J, exact, rtol=1e-10, atol=1e-10)
        if turn_scale > 0.01:    # (a central difference crosses the branch below)
            num = _central_difference(lambda s: coordinated_turn_transition(s, dt), S)
            np.testing.assert_allclose(J, num, rtol=1e-6, atol=1e-6)
    # one state (no leading axis) as filterpy's loop passes it
    np.testing.assert_array_equal(coordinated_turn_jacobian(S[3], 0.5),
                                  coordinated_turn_jacobian(S, 0.5)[3])


def test_range_bearing_jacobian_is_the_derivative_and_zero_at_the_radar():
    rng = np.random.default_rng(1)
    S = rng.normal(size=(40, 5)) * [100, 10, 100, 10, 0.1]
    J = range_bearing_jacobian(S, RADAR)
    num = _central_difference(lambda s: range_bearing(s, RADAR), S)
    np.testing.assert_allclose(J, num, rtol=1e-6, atol=1e-8)
    at_radar = np.array([[RADAR[0], 1.0, RADAR[1], 1.0]])
    assert np.array_equal(range_bearing_jacobian(at_radar, RADAR), np.zeros((1, 2, 4)))


# -- equal to filterpy's EKF stepped by hand -------------------------------------------------


def _simulate(rng, n, T, hx, R):
    Z = np.empty((n, T, R.shape[0]))
    s = np.tile(X0, (n, 1))
    for t in range(T):
        s = coordinated_turn_transition(s, DT) + rng.normal(size=(n, 5)) * np.sqrt(np.diag(Q5))
        Z[:, t] = hx(s) + rng.normal(size=(n, R.shape[0])) * np.sqrt(np.diag(R))
    return Z


def _bearing_residual(a, b):
    r = np.asarray(a, dtype=float) - b
    r[1] = (r[1] + np.pi) % (2 * np.pi) - np.pi
    return r


def _filterpy_by_hand(z_seq, fx, F_of, hx, H_of, Q, R, x0, P0, residual=np.subtract):
    """filterpy's EKF over one sequence; the mean predicted by hand through f."""
    ekf = FilterpyEKF(dim_x=len(x0), dim_z=R.shape[0])
    ekf.x, ekf.P, ekf.Q, ekf.R = x0.copy(), P0.copy(), Q, R
    xs, Ps, ll, zps, Ss = [], [], [], [], []
    for z in z_seq:
        F = F_of(ekf.x)                     # Jacobian at the previous estimate
        ekf.x = fx(ekf.x)
        ekf.P = F @ ekf.P @ F.T + ekf.Q
        H = H_of(ekf.x)
        zps.append(hx(ekf.x))
        Ss.append(H @ ekf.P @ H.T + R)
        if np.isnan(z).any():
            ekf.update(None, H_of, hx)
            ll.append(0.0)
        else:
            ekf.update(z, H_of, hx, residual=residual)
            ll.append(ekf.log_likelihood)
        xs.append(ekf.x.copy())
        Ps.append(ekf.P.copy())
    return np.array(xs), np.array(Ps), np.array(ll), np.array(zps), np.array(Ss)


PRESETS = {
    # name: (estimator parameters, reference functions on one state, R, angle)
    "coordinated_turn+range_bearing": (
        dict(motion="coordinated_turn", measurement="range_bearing", radar=RADAR),
        lambda s: range_bearing(s, RADAR), lambda s: range_bearing_jacobian(s, RADAR),
        np.diag([4.0, 1e-4]), True),
    "coordinated_turn+position": (
        dict(motion="coordinated_turn"), lambda s: s[..., [0, 2]],
        lambda s: np.eye(5)[[0, 2]], np.diag([9.0, 4.0]), False),
}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_ekf_equals_filterpy_stepped_by_hand_on_the_presets(preset):
    params, hx, H_of, R, angle = PRESETS[preset]
    rng = np.random.default_rng(2)
    Z = _simulate(rng, 4, 60, hx, R)
    Z[1, 5] = np.nan                                 # a missing step skips the update
    Z[2, 7:9] = np.nan
    Qt = Q5.copy()
    turn = Qt[4, 4]
    Qt[4, 4] = 0.0
    ekf = ExtendedKalmanFilter(**params, process_var=1.0, turn_rate_var=turn,
                               measurement_var=np.diag(R), Q=Qt, x0=X0, P0=P0,
                               learn="none").fit(Z)
    np.testing.assert_allclose(ekf.Q_, Q5, rtol=0, atol=1e-15)
    means, covs = ekf.filter(Z)
    res = ext.ekf_filter(ekf._extended_model(ekf._model()), Z)
    np.testing.assert_array_equal(res.filtered_mean, means)
    pred, std = ekf.predict(Z, return_std=True)
    ll = ekf.log_likelihood(Z)
    for i in range(len(Z)):
        xs, Ps, lls, zps, Ss = _filterpy_by_hand(
            Z[i], lambda s: coordinated_turn_transition(s, DT),
            lambda s: coordinated_turn_jacobian(s, DT), hx, H_of, Q5, R, X0, P0,
            _bearing_residual if angle else np.subtract)
        np.testing.assert_allclose(means[i], xs, **TOL)
        np.testing.assert_allclose(covs[i], Ps, **TOL)
        np.testing.assert_allclose(res.loglik[i], lls, **TOL)
        np.testing.assert_allclose(ll[i], lls.sum(), **TOL)
        np.testing.assert_allclose(pred[i], zps, **TOL)
        np.testing.assert_allclose(std[i], np.sqrt(np.diagonal(Ss, axis1=1, axis2=2)), **TOL)
    assert np.array_equal(res.filtered_mean[1, 5], res.predicted_mean[1, 5])


def test_ekf_forecast_is_filterpys_prediction_carried_forward():
    params, hx, H_of, R, _ = PRESETS["coordinated_turn+range_bearing"]
    Z = _simulate(np.random.default_rng(3), 3, 30, hx, R)
    ekf = ExtendedKalmanFilter(**params, process_var=1.0, measurement_var=np.diag(R), Q=Q5,
                               turn_rate_var=1e-12, x0=X0, P0=P0, learn="none").fit(Z)
    mean, std = ekf.forecast(Z, 5, return_std=True)
    xs, Ps = ekf.filter(Z)
    for i in range(3):
        x, P = xs[i, -1], Ps[i, -1]
        for h in range(5):
            F = coordinated_turn_jacobian(x, DT)
            x, P = coordinated_turn_transition(x, DT), F @ P @ F.T + ekf.Q_
            H = H_of(x)
            np.testing.assert_allclose(mean[i, h], hx(x), **TOL)
            np.testing.assert_allclose(std[i, h], np.sqrt(np.diag(H @ P @ H.T + R)), **TOL)
    # the first forecast step is predict's one-step prediction of the next measurement
    nxt = np.concatenate([Z, Z[:, -1:]], axis=1)
    np.testing.assert_allclose(mean[:, 0], ekf.predict(nxt)[:, -1], rtol=1e-12, atol=1e-12)


def test_ekf_with_users_functions_and_jacobians_equals_the_presets():
    params, hx, H_of, R, _ = PRESETS["coordinated_turn+range_bearing"]
    Z = _simulate(np.random.default_rng(4), 3, 40, hx, R)
    given = dict(process_var=1.0, measurement_var=np.diag(R), Q=Q5, x0=X0, P0=P0,
                 turn_rate_var=1e-12, learn="none")
    preset = ExtendedKalmanFilter(**params, **given).fit(Z)
    user = ExtendedKalmanFilter(fx=coordinated_turn_transition,
                                fx_jacobian=coordinated_turn_jacobian, hx=hx,
                                hx_jacobian=lambda s: range_bearing_jacobian(s, RADAR),
                                measurement="range_bearing",
                                **dict(given, Q=preset.Q_)).fit(Z)   # Q_ holds the turn rate's
    np.testing.assert_allclose(user.filter(Z)[0], preset.filter(Z)[0], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(user.forecast(Z, 3), preset.forecast(Z, 3), rtol=1e-13)


def test_ekf_refuses_functions_without_their_jacobians():
    Z = _simulate(np.random.default_rng(5), 2, 10, lambda s: s[..., [0, 2]], np.eye(2))
    common = dict(x0=X0, P0=P0)
    for bad in (dict(fx=coordinated_turn_transition, hx=lambda s: s[:, [0, 2]]),
                dict(fx=coordinated_turn_transition, fx_jacobian=coordinated_turn_jacobian,
                     hx=lambda s: s[:, [0, 2]]),
                dict(fx_jacobian=coordinated_turn_jacobian)):
        with pytest.raises(ValueError, match="_jacobian"):
            ExtendedKalmanFilter(**bad, **common).fit(Z)
    # a Jacobian of the wrong shape is named, not broadcast
    wrong = ExtendedKalmanFilter(fx=coordinated_turn_transition, fx_jacobian=lambda s, dt: s,
                                 hx=lambda s: s[:, [0, 2]],
                                 hx_jacobian=lambda s: np.zeros((len(s), 2, 5)), **common)
    with pytest.raises(ValueError, match=r"returned shape \(2, 5\) .* expected \(2, 5, 5\)"):
        wrong.fit(Z)


def test_ekf_on_a_linear_model_equals_the_kalman_filter():
    truth = KalmanFilter(model="constant_velocity", Q=0.3 * np.eye(4), R=2.0 * np.eye(2),
                         x0=np.zeros(4), P0=10 * np.eye(4)).fit(np.zeros((1, 2, 2)))
    X, _ = truth.sample(4, 50, random_state=0)
    X[0, 3, 1] = np.nan                                   # a partial row: one component
    ekf = ExtendedKalmanFilter(process_var=0.3, measurement_var=2.0, Q=truth.Q_ / 0.3,
                               x0=np.zeros(4), P0=10 * np.eye(4)).fit(X)
    np.testing.assert_allclose(ekf.predict(X), truth.predict(X), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ekf.log_likelihood(X), truth.log_likelihood(X), rtol=1e-10)
    np.testing.assert_allclose(ekf.filter(X)[1], truth.filter(X)[1], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ekf.forecast(X, 3, return_std=True)[1],
                               truth.forecast(X, 3, return_std=True)[1], rtol=1e-9)


# -- the fit: noise levels by maximum likelihood, as the UKF's --------------------------------


def _turning_tracks(n, T, seed, rate=0.05, meas_std=3.0):
    rng = np.random.default_rng(seed)
    s = np.tile([0.0, 10.0, 0.0, 0.0, 0.0], (n, 1))
    states = np.empty((n, T, 5))
    for t in range(T):
        s[:, 4] = rate if T // 3 <= t < 2 * T // 3 else 0.0
        s = coordinated_turn_transition(s, DT)
        s[:, [1, 3]] += rng.normal(scale=0.05, size=(n, 2))
        states[:, t] = s
    pos = states[..., [0, 2]]
    return states, pos + rng.normal(scale=meas_std, size=pos.shape)


def test_ekf_learns_the_noise_levels_and_tracks_a_turn_as_the_ukf():
    states, X = _turning_tracks(8, 90, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ekf = ExtendedKalmanFilter(motion="coordinated_turn").fit(X, states)
    ukf = UnscentedKalmanFilter(motion="coordinated_turn").fit(X, states)
    assert ekf.converged_ and ekf.n_iter_ == len(ekf.history_) and ekf.n_params_ == 3
    assert np.all(np.diff(ekf.history_) >= 0)
    np.testing.assert_allclose(ekf.measurement_var_, 9.0, rtol=0.25)
    # a gentle turn: the linearisation costs (almost) nothing against the UKF
    np.testing.assert_allclose(ekf.measurement_var_, ukf.measurement_var_, rtol=0.05)
    err = [np.sqrt(np.mean((m.predict(X)[..., [0, 2]] - states[..., [0, 2]]) ** 2))
           for m in (ekf, ukf)]
    assert err[0] == pytest.approx(err[1], rel=0.05) and err[0] < 0.7 * 3.0
    # the last recorded value is the fitted model's training log-likelihood
    forecaster = ExtendedKalmanFilter().fit(X)
    assert forecaster.history_[-1] == pytest.approx(forecaster.log_likelihood(X).sum(),
                                                    rel=1e-10)


def test_ekf_oracle_learns_nothing_and_pickles():
    states, X = _turning_tracks(3, 30, seed=7)
    oracle = ExtendedKalmanFilter(motion="coordinated_turn", process_var=0.01,
                                  measurement_var=9.0, x0=X0, P0=P0).fit(X, states)
    assert oracle.n_params_ == 0 and oracle.history_ == [] and oracle.converged_
    again = pickle.loads(pickle.dumps(oracle))
    np.testing.assert_array_equal(again.predict(X), oracle.predict(X))


def test_ekf_predicts_far_from_the_training_range_and_refuses_an_all_missing_x():
    states, X = _turning_tracks(4, 30, seed=8)
    model = ExtendedKalmanFilter(n_iter=5).fit(X, states[..., [0, 2]])
    far = X[:1, :5] * 1e17
    mean, std = model.predict(far, return_std=True)
    assert np.isfinite(mean).all() and np.isfinite(std).all()
    with pytest.raises(ValueError, match="X has no observed value at any timestep"):
        ExtendedKalmanFilter().fit(np.full((3, 4, 2), np.nan))


def test_ekf_is_registered_and_listed_by_seqcompare(capsys):
    from seqmodels.compare.cli import main

    assert dict(all_estimators())["ExtendedKalmanFilter"] is ExtendedKalmanFilter
    assert main(["list", "models"]) == 0
    assert "ExtendedKalmanFilter       Extended Kalman filter" in capsys.readouterr().out
