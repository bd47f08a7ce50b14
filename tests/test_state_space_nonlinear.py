"""UnscentedKalmanFilter and InteractingMultipleModel against filterpy's UKF and IMMEstimator."""

import warnings

import numpy as np
import pytest
from filterpy.kalman import IMMEstimator, MerweScaledSigmaPoints
from filterpy.kalman import UnscentedKalmanFilter as FilterpyUKF
from sklearn.exceptions import ConvergenceWarning

from seqmodels import InteractingMultipleModel, KalmanFilter, UnscentedKalmanFilter
from seqmodels.inference import sigma_points as sp
from seqmodels.state_space.motion import coordinated_turn_transition, range_bearing

DT = 1.0
Q = np.diag([0.1, 0.2, 0.1, 0.2, 1e-3])
X0 = np.array([100.0, 1.0, 50.0, -1.0, 0.02])
P0 = np.diag([10.0, 1.0, 10.0, 1.0, 1e-3])


def ct(s):
    return coordinated_turn_transition(s, DT)


def cv(s):
    out = s.copy()
    out[:, 0] += DT * s[:, 1]
    out[:, 2] += DT * s[:, 3]
    return out


def _simulate(rng, n, T, hx, R):
    Z = np.empty((n, T, R.shape[0]))
    for i in range(n):
        s = X0.copy()
        for t in range(T):
            s = ct(s[None])[0] + rng.normal(size=5) * np.sqrt(np.diag(Q))
            Z[i, t] = hx(s[None])[0] + rng.normal(size=R.shape[0]) * np.sqrt(np.diag(R))
    return Z


def _bearing_residual(a, b):
    r = a - b
    r[1] = (r[1] + np.pi) % (2 * np.pi) - np.pi
    return r


def _bearing_mean(sigmas, Wm):
    return np.array([Wm @ sigmas[:, 0],
                     np.arctan2(Wm @ np.sin(sigmas[:, 1]), Wm @ np.cos(sigmas[:, 1]))])


def test_ukf_core_equals_filterpy_ukf_coordinated_turn_range_bearing():
    rng = np.random.default_rng(1)
    R = np.diag([1.0, 1e-4])
    Z = _simulate(rng, 3, 40, range_bearing, R)
    Z[1, 4] = np.nan
    model = sp.UnscentedModel(ct, range_bearing, Q, R, X0, P0, np.array([False, True]))
    res = sp.ukf_filter(model, Z, sp.merwe_weights(5, 0.5, 2.0, 0.0))
    for i in range(3):
        ukf = FilterpyUKF(5, 2, DT, hx=lambda s: range_bearing(s[None])[0],
                          fx=lambda s, dt: ct(s[None])[0],
                          points=MerweScaledSigmaPoints(5, 0.5, 2.0, 0.0),
                          residual_z=_bearing_residual, z_mean_fn=_bearing_mean)
        ukf.x, ukf.P, ukf.Q, ukf.R = X0.copy(), P0.copy(), Q, R
        xs, Ps, ll = [], [], []
        for z in Z[i]:
            ukf.predict()
            if np.isnan(z).any():
                ukf.update(None)
                ll.append(0.0)
            else:
                ukf.update(z)
                ll.append(ukf.log_likelihood)
            xs.append(ukf.x.copy())
            Ps.append(ukf.P.copy())
        np.testing.assert_allclose(res.filtered_mean[i], xs, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(res.filtered_cov[i], Ps, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(res.loglik[i], ll, rtol=1e-9, atol=1e-9)


def _filterpy_imm(Qs, R, M, mu0):
    """filterpy's IMMEstimator over a constant-velocity and a coordinated-turn UKF that
    measure the position, from the prior (X0, P0)."""
    filters = []
    for Qj, f in zip(Qs, (cv, ct)):
        ukf = FilterpyUKF(5, 2, DT, hx=lambda s: s[[0, 2]],
                          fx=(lambda f: lambda s, dt: f(s[None])[0])(f),
                          points=MerweScaledSigmaPoints(5, 0.5, 2.0, 0.0))
        ukf.x, ukf.P, ukf.Q, ukf.R = X0.copy(), P0.copy(), Qj, R
        filters.append(ukf)
    return IMMEstimator(filters, mu0.copy(), M)


def test_imm_core_equals_filterpy_imm_estimator():
    rng = np.random.default_rng(2)
    hp = lambda s: s[:, [0, 2]]  # noqa: E731
    R = np.eye(2)
    Z = _simulate(rng, 3, 40, hp, R)
    Qs = np.stack([0.1 * Q, Q])
    M = np.array([[0.95, 0.05], [0.1, 0.9]])
    mu0 = np.array([0.5, 0.5])
    res = sp.imm_filter([cv, ct], Qs, hp, R, np.zeros(2, bool), X0, P0, mu0, M, Z,
                        sp.merwe_weights(5, 0.5, 2.0, 0.0))
    for i in range(3):
        imm = _filterpy_imm(Qs, R, M, mu0)
        xs, Ps, mus = [], [], []
        for z in Z[i]:
            imm.predict()
            imm.update(z)
            xs.append(imm.x.copy())
            Ps.append(imm.P.copy())
            mus.append(imm.mu.copy())
        np.testing.assert_allclose(res.filtered_mean[i], xs, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(res.filtered_cov[i], Ps, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(res.mode_proba[i], mus, rtol=1e-9, atol=1e-9)


def test_imm_forecast_is_filterpys_imm_prediction_carried_forward():
    # Standard IMM prediction without measurements: each step mixes with the current mode
    # probabilities (filterpy's IMMEstimator.predict), the modes predict, and the mode
    # probabilities move on to cbar = M' mu; the measurement is the cbar-mixture of the
    # modes' unscented measurement moments.
    from filterpy.kalman import unscented_transform

    rng = np.random.default_rng(6)
    hp = lambda s: s[:, [0, 2]]  # noqa: E731
    R = np.eye(2)
    Z = _simulate(rng, 2, 25, hp, R)
    Qs = np.stack([0.1 * Q, Q])
    M = np.array([[0.9, 0.1], [0.2, 0.8]])
    mu0 = np.array([0.5, 0.5])
    weights = sp.merwe_weights(5, 0.5, 2.0, 0.0)
    res = sp.imm_filter([cv, ct], Qs, hp, R, np.zeros(2, bool), X0, P0, mu0, M, Z, weights)
    z_mean, z_cov = sp.imm_forecast([cv, ct], Qs, hp, R, np.zeros(2, bool), M,
                                    res.mode_proba[:, -1], res.last_mode_mean,
                                    res.last_mode_cov, 6, weights)
    for i in range(2):
        imm = _filterpy_imm(Qs, R, M, mu0)
        filters = imm.filters
        for z in Z[i]:
            imm.predict()
            imm.update(z)
        for h in range(6):
            imm.predict()
            moments = [unscented_transform(np.array([f.hx(s) for s in f.sigmas_f]), f.Wm, f.Wc,
                                           f.R) for f in filters]
            zp = sum(c * m for c, (m, _) in zip(imm.cbar, moments))
            S = sum(c * (C + np.outer(m - zp, m - zp)) for c, (m, C) in zip(imm.cbar, moments))
            np.testing.assert_allclose(z_mean[i, h], zp, rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(z_cov[i, h], S, rtol=1e-9, atol=1e-9)
            imm.mu = imm.cbar.copy()              # no measurement: the prediction carries on
            imm._compute_mixing_probabilities()


def test_imm_one_step_forecast_is_the_next_one_step_prediction():
    # predict mixes the modes every step; the forecast must too (it once propagated each
    # mode's last state unmixed: 5e-4 off in the mean and the std)
    X, _ = _random_walk(5, 40, seed=2)
    imm = InteractingMultipleModel(measurement_var=0.25).fit(X)
    extended = np.concatenate([X, X[:, -1:]], axis=1)
    mean, std = imm.forecast(X, 3, return_std=True)
    next_mean, next_std = imm.predict(extended, return_std=True)
    np.testing.assert_allclose(mean[:, 0], next_mean[:, -1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(std[:, 0], next_std[:, -1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(imm.forecast(X, 2), mean[:, :2], rtol=0, atol=0)


def test_ukf_on_a_linear_model_equals_the_kalman_filter():
    truth = KalmanFilter(model="constant_velocity", Q=0.3 * np.eye(4), R=2.0 * np.eye(2),
                         x0=np.zeros(4), P0=10 * np.eye(4)).fit(np.zeros((1, 2, 2)))
    X, states = truth.sample(4, 50, random_state=0)
    Qt = truth.Q_ / 0.3
    ukf = UnscentedKalmanFilter(process_var=0.3, measurement_var=2.0, Q=Qt, x0=np.zeros(4),
                                P0=10 * np.eye(4)).fit(X)
    np.testing.assert_allclose(ukf.predict(X), truth.predict(X), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(ukf.log_likelihood(X), truth.log_likelihood(X), rtol=1e-9)
    np.testing.assert_allclose(ukf.filter(X)[0], truth.filter(X)[0], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(ukf.forecast(X, 3, return_std=True)[1],
                               truth.forecast(X, 3, return_std=True)[1], rtol=1e-8)


def _turning_tracks(n, T, seed):
    """Straight, then a coordinated turn, then straight: positions and noisy measurements."""
    rng = np.random.default_rng(seed)
    s = np.tile([0.0, 10.0, 0.0, 0.0, 0.0], (n, 1))
    s[:, 1] += rng.normal(size=n)
    states = np.empty((n, T, 5))
    for t in range(T):
        s[:, 4] = 0.15 if T // 3 <= t < 2 * T // 3 else 0.0
        s = coordinated_turn_transition(s, DT)
        s[:, [1, 3]] += rng.normal(scale=0.05, size=(n, 2))
        states[:, t] = s
    pos = states[..., [0, 2]]
    return pos, pos + rng.normal(scale=3.0, size=pos.shape)


def test_ukf_range_bearing_tracking_beats_raw_conversion():
    pos, _ = _turning_tracks(8, 60, seed=3)
    rng = np.random.default_rng(4)
    radar = (-200.0, -100.0)
    rb = range_bearing(np.stack([pos[..., 0], 0 * pos[..., 0], pos[..., 1]], -1), radar)
    X = rb + rng.normal(size=rb.shape) * [3.0, 0.01]
    ukf = UnscentedKalmanFilter(measurement="range_bearing", radar=radar, n_iter=15).fit(X, pos)
    raw = np.stack([radar[0] + X[..., 0] * np.cos(X[..., 1]),
                    radar[1] + X[..., 0] * np.sin(X[..., 1])], -1)
    err = np.sqrt(np.mean((ukf.predict(X)[:, 10:] - pos[:, 10:]) ** 2))
    err_raw = np.sqrt(np.mean((raw[:, 10:] - pos[:, 10:]) ** 2))
    assert err < 0.85 * err_raw
    assert ukf.measurement_var_[1] == pytest.approx(1e-4, rel=0.5)


def test_imm_tracks_a_maneuver_and_exposes_mode_probabilities():
    pos, X = _turning_tracks(10, 90, seed=5)
    with pytest.warns(ConvergenceWarning, match="n_iter=10"):  # converges in 25 iterations
        imm = InteractingMultipleModel(n_iter=10).fit(X, pos)
    assert imm.modes_ == ("constant_velocity", "coordinated_turn")
    proba = imm.predict_mode_proba(X)
    assert proba.shape == (10, 90, 2)
    np.testing.assert_allclose(proba.sum(-1), 1.0)
    turn = proba[:, 40:58, 1].mean()
    straight = proba[:, 75:, 1].mean()
    assert turn > straight + 0.2
    kf = KalmanFilter(model="constant_velocity").fit(X, pos)
    err_imm = np.sqrt(np.mean((imm.predict(X) - pos) ** 2))
    err_kf = np.sqrt(np.mean((kf.predict(X) - pos) ** 2))
    assert err_imm < err_kf


# -- convergence: the optimiser's verdict, a warning at the limit (seqmodels/utils/convergence.py)


def _random_walk(n, T, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.cumsum(rng.normal(size=(n, T, 2)), axis=1)
    return truth + rng.normal(scale=0.5, size=truth.shape), truth


@pytest.mark.parametrize("estimator, params", [
    (UnscentedKalmanFilter, {}),
    (InteractingMultipleModel, {"measurement_var": 0.25}),
])
def test_likelihood_optimiser_warns_only_at_a_tiny_limit(estimator, params):
    X, truth = _random_walk(4, 50)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = estimator(**params).fit(X, truth)
    assert model.converged_ and 2 < model.n_iter_ == len(model.history_) < model.n_iter
    assert np.all(np.diff(model.history_) >= 0)  # L-BFGS-B never accepts a worse point
    # the last recorded value is the fitted model's training log-likelihood
    forecaster = estimator(**params).fit(X)
    assert forecaster.converged_
    assert forecaster.history_[-1] == pytest.approx(forecaster.log_likelihood(X).sum(),
                                                    rel=1e-10)
    name = estimator.__name__
    with pytest.warns(ConvergenceWarning, match=rf"{name}: the L-BFGS-B optimiser stopped at its "
                      r"iteration limit n_iter=2 before converging \(optimiser: .*LIMIT\)"):
        capped = estimator(n_iter=2, **params).fit(X, truth)
    assert not capped.converged_ and capped.n_iter_ == 2
    assert capped.history_ == pytest.approx(model.history_[:2])
    # nothing to learn: no iteration, converged, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fixed = estimator(learn="none").fit(X, truth)
    assert fixed.history_ == [] and fixed.n_iter_ == 0 and fixed.converged_


def test_ukf_failed_refit_leaves_the_earlier_fit_intact():
    X, truth = _random_walk(3, 40, seed=1)
    model = UnscentedKalmanFilter().fit(X, truth)
    before = {name: np.copy(value) for name, value in vars(model).items()
              if name.endswith("_") and name != "history_"}
    predictions = model.predict(X)
    # a coordinated-turn refit (5 states) with a 4-state prior raises once set up
    model.set_params(motion="coordinated_turn", x0=np.zeros(4))
    with pytest.raises(ValueError, match="x0 must have shape"):
        model.fit(X, truth)
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(model, name), value, err_msg=name)
    np.testing.assert_array_equal(model.predict(X), predictions)


# -- n_params_: what was learned from the data, 0 for an oracle (as KalmanFilter) -------------


def test_ukf_oracle_reports_no_parameters_and_a_fit_counts_what_it_learns():
    X, truth = _random_walk(4, 40, seed=3)
    given = dict(process_var=0.5, measurement_var=0.25, x0=np.zeros(4), P0=10 * np.eye(4))
    for learn in ("auto", "none"):
        oracle = UnscentedKalmanFilter(learn=learn, **given).fit(X)
        assert oracle.n_params_ == 0 and oracle.history_ == [] and oracle.converged_
        # nothing was estimated from the data: fitted on other data, it predicts the same
        other = UnscentedKalmanFilter(learn=learn, **given).fit(2.0 * X + 1.0)
        np.testing.assert_array_equal(other.predict(X), oracle.predict(X))
    assert UnscentedKalmanFilter(**given).fit(X, truth).n_params_ == 0  # readout: positions
    assert UnscentedKalmanFilter(**dict(given, process_var=None)).fit(X).n_params_ == 1
    assert UnscentedKalmanFilter(**dict(given, measurement_var=None)).fit(X).n_params_ == 2
    assert UnscentedKalmanFilter().fit(X).n_params_ == 3
    # a linear readout is least squares on the training states: coefficients and intercept
    linear = UnscentedKalmanFilter(readout="linear", **given).fit(X, truth[..., :1])
    assert linear.n_params_ == 4 + 1


def test_imm_oracle_reports_no_parameters_and_a_fit_counts_one_variance_per_family():
    from sklearn.base import clone

    from seqmodels.datasets import load

    data = load("maneuvering", n_train=4, n_test=2, n_timesteps=30, random_state=0)
    assert data.oracle.n_params_ == 0 and data.oracle.history_ == []
    for learn in ("auto", "none"):
        oracle = clone(data.oracle).set_params(learn=learn).fit(data.X_train, data.y_train)
        assert oracle.n_params_ == 0 and oracle.history_ == [] and oracle.converged_
        other = clone(oracle).fit(2.0 * data.X_train + 1.0, data.y_train)
        np.testing.assert_array_equal(other.predict(data.X_test), oracle.predict(data.X_test))
    X, _ = _random_walk(3, 30, seed=4)
    counts = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the counts, not the optimum
        for modes, process_var in [(("constant_velocity", "maneuver"), None),
                                   (("constant_velocity", "coordinated_turn"), None),
                                   (("constant_velocity", "maneuver", "coordinated_turn"),
                                    {"coordinated_turn": 0.1})]:
            imm = InteractingMultipleModel(modes=modes, process_var=process_var,
                                           measurement_var=0.25, n_iter=2).fit(X)
            counts[modes] = imm.n_params_
        counts["default"] = InteractingMultipleModel(n_iter=2).fit(X).n_params_
    # the maneuver mode scales constant velocity's variance: one family, one variance;
    # by default both families' variances and the two measurement variances are learned
    assert list(counts.values()) == [1, 2, 1, 2 + 2]


def test_imm_transmat_takes_the_stay_probability_or_the_matrix_itself():
    """transmat=p is the matrix with p on the diagonal and (1 - p) / (M - 1) elsewhere; the
    matrix itself gives the identical filter; a matrix that is not stochastic is refused."""
    from seqmodels.datasets import load

    data = load("maneuvering", n_train=3, n_test=2, n_timesteps=30, random_state=0)
    common = dict(modes=("constant_velocity", "coordinated_turn"), process_var=0.5,
                  measurement_var=4.0, learn="none")
    by_p = InteractingMultipleModel(transmat=0.9, **common).fit(data.X_train)
    matrix = [[0.9, 1 - 0.9], [1 - 0.9, 0.9]]              # (1 - p) / (M - 1), M = 2
    by_matrix = InteractingMultipleModel(transmat=matrix, **common).fit(data.X_train)
    np.testing.assert_array_equal(by_p.transmat_, matrix)
    np.testing.assert_array_equal(by_matrix.predict(data.X_test), by_p.predict(data.X_test))
    with pytest.raises(ValueError, match="transmat must sum to 1"):
        InteractingMultipleModel(transmat=[[0.9, 0.2], [0.1, 0.9]], **common).fit(data.X_train)
    with pytest.raises(ValueError, match=r"transmat must have shape \(2, 2\)"):
        InteractingMultipleModel(transmat=np.eye(3), **common).fit(data.X_train)
    with pytest.raises(ValueError, match=r"probability of staying in a mode .* \(0, 1\)"):
        InteractingMultipleModel(transmat=1.5, **common).fit(data.X_train)
