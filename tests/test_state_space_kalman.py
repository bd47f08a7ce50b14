"""KalmanFilter and the vectorised linear-Gaussian core, against filterpy and published figures."""

import warnings

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter as FilterpyKF
from sklearn.exceptions import ConvergenceWarning

from seqmodels import KalmanFilter
from seqmodels.inference import kalman as core
from seqmodels.state_space.motion import motion_model


def _random_model(rng, k=4, d=2):
    A = rng.normal(size=(k, k))
    F = 0.95 * A / np.max(np.abs(np.linalg.eigvals(A)))
    H = rng.normal(size=(d, k))
    L = rng.normal(size=(k, k))
    Q = L @ L.T / k
    L = rng.normal(size=(d, d))
    R = L @ L.T / d + 0.1 * np.eye(d)
    return core.StateSpaceParams(F, H, Q, R, rng.normal(size=k), 2.0 * np.eye(k), np.zeros(k),
                                 np.zeros(d))


def _filterpy_run(p, z_seq):
    """filterpy's predict/update loop; partial rows update with the observed rows of H and R."""
    k, d = p.F.shape[0], p.H.shape[0]
    kf = FilterpyKF(dim_x=k, dim_z=d)
    kf.F, kf.H, kf.Q, kf.R = p.F, p.H, p.Q, p.R
    kf.x, kf.P = p.x0.copy(), p.P0.copy()
    out = {key: [] for key in ("xp", "Pp", "xf", "Pf", "ll")}
    for z in z_seq:
        kf.predict()
        out["xp"].append(kf.x.copy())
        out["Pp"].append(kf.P.copy())
        seen = ~np.isnan(z)
        if seen.all():
            kf.update(z)
            out["ll"].append(kf.log_likelihood)
        elif seen.any():
            kf.update(z[seen], R=p.R[np.ix_(seen, seen)], H=p.H[seen])
            out["ll"].append(kf.log_likelihood)
        else:
            kf.update(None)
            out["ll"].append(0.0)
        out["xf"].append(kf.x.copy())
        out["Pf"].append(kf.P.copy())
    return {key: np.array(val) for key, val in out.items()}, kf


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_filter_equals_filterpy_loop_with_missing_values(seed):
    rng = np.random.default_rng(seed)
    p = _random_model(rng, k=3 + seed, d=2 + seed % 2)
    _, Z = core.sample_states(p, 4, 60, rng)
    Z[1, 5] = np.nan                       # whole row missing: no update
    Z[2, 7, 0] = np.nan                    # partly observed row
    Z[3, 40:] = np.nan                     # a shorter sequence (padding)
    res = core.kalman_filter(p, Z)
    assert res.filtered_cov.shape[0] == 4  # patterns differ: one covariance per sequence
    for i in range(4):
        ref, _ = _filterpy_run(p, Z[i])
        np.testing.assert_allclose(res.predicted_mean[i], ref["xp"], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(res.predicted_cov[i], ref["Pp"], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(res.filtered_mean[i], ref["xf"], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(res.filtered_cov[i], ref["Pf"], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(res.loglik[i], ref["ll"], rtol=1e-9, atol=1e-9)


def test_shared_covariance_path_and_steady_state_equal_filterpy():
    rng = np.random.default_rng(3)
    p = _random_model(rng)
    _, Z = core.sample_states(p, 5, 300, rng)
    res = core.kalman_filter(p, Z)
    assert res.filtered_cov.shape[0] == 1  # one covariance recursion for all sequences
    for i in (0, 4):
        ref, _ = _filterpy_run(p, Z[i])
        np.testing.assert_allclose(res.filtered_mean[i], ref["xf"], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(res.filtered_cov[0], ref["Pf"], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(res.loglik[i], ref["ll"], rtol=1e-9, atol=1e-9)


def test_smoother_equals_filterpy_rts_smoother():
    rng = np.random.default_rng(4)
    p = _random_model(rng)
    _, Z = core.sample_states(p, 3, 80, rng)
    res = core.kalman_filter(p, Z)
    sm = core.rts_smoother(p, res)
    for i in range(3):
        ref, kf = _filterpy_run(p, Z[i])
        xs, Ps, _, _ = kf.rts_smoother(ref["xf"], ref["Pf"])
        np.testing.assert_allclose(sm.mean[i], xs, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(sm.cov[0], Ps, rtol=1e-9, atol=1e-9)


def test_estimator_methods_match_core_and_filterpy():
    rng = np.random.default_rng(5)
    p = _random_model(rng, k=2, d=2)
    _, Z = core.sample_states(p, 3, 40, rng)
    model = KalmanFilter(F=p.F, H=p.H, Q=p.Q, R=p.R, x0=p.x0, P0=p.P0).fit(Z)
    assert model.learned_ == () and model.history_ == [] and model.n_params_ == 0
    np.testing.assert_array_equal(model.F_, p.F)
    ref, _ = _filterpy_run(p, Z[1])
    mean, std = model.predict(Z, return_std=True)
    np.testing.assert_allclose(mean[1], ref["xp"] @ p.H.T, rtol=1e-9, atol=1e-9)
    S = p.H @ ref["Pp"] @ p.H.T + p.R
    np.testing.assert_allclose(std[1], np.sqrt(np.diagonal(S, axis1=1, axis2=2)), rtol=1e-9)
    np.testing.assert_allclose(model.log_likelihood(Z)[1], ref["ll"].sum(), rtol=1e-9)
    means, covs = model.filter(Z)
    np.testing.assert_allclose(means[1], ref["xf"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(covs[1], ref["Pf"], rtol=1e-9, atol=1e-9)
    # forecasting = predicting through missing measurements
    f_mean, f_std = model.forecast(Z, 5, return_std=True)
    padded = np.concatenate([Z, np.full((3, 5, 2), np.nan)], axis=1)
    p_mean, p_std = model.predict(padded, return_std=True)
    np.testing.assert_allclose(f_mean, p_mean[:, 40:], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(f_std, p_std[:, 40:], rtol=1e-9, atol=1e-9)
    # smoothing is non-causal: the last step equals the filter, earlier steps differ
    s_means, _ = model.smooth(Z)
    np.testing.assert_allclose(s_means[:, -1], means[:, -1], rtol=1e-9, atol=1e-12)
    assert not np.allclose(s_means[:, :-1], means[:, :-1])


def test_nile_local_level_mle_matches_durbin_koopman():
    from seqmodels.datasets.real import read_table  # verifies the file's SHA-256

    flow = np.array(read_table("nile.csv")["flow"], dtype=float)
    assert flow.shape == (100,)
    model = KalmanFilter(model="local_level", method="mle").fit(flow)
    # Durbin & Koopman (2012), section 2.10: sigma2_eps = 15099, sigma2_eta = 1469.1
    assert model.R_[0, 0] == pytest.approx(15099, rel=0.02)
    assert model.Q_[0, 0] == pytest.approx(1469.1, rel=0.02)
    em = KalmanFilter(model="local_level", n_iter=400, tol=1e-9).fit(flow)
    assert em.R_[0, 0] == pytest.approx(15099, rel=0.02)
    assert em.Q_[0, 0] == pytest.approx(1469.1, rel=0.02)
    assert np.all(np.diff(em.history_) >= -1e-8)
    assert em.predict(flow).shape == (100,) and em.forecast(flow, 3).shape == (3,)


def _cv_truth(q=0.5, r=4.0):
    F, H, Qt, _ = motion_model("constant_velocity", 2, dt=1.0)
    return KalmanFilter(model="constant_velocity", Q=q * Qt, R=r * np.eye(2), x0=np.zeros(4),
                        P0=np.diag([100.0, 10.0, 100.0, 10.0])).fit(np.zeros((1, 2, 2)))


def test_cv_tracks_em_learns_q_and_r_near_the_true_model():
    truth = _cv_truth()
    X, states = truth.sample(200, 100, random_state=0)
    X_te, states_te = truth.sample(200, 100, random_state=1)
    fitted = KalmanFilter(model="constant_velocity", x0=np.zeros(4), P0=truth.P0_,
                          n_iter=100, tol=1e-7).fit(X)
    assert np.all(np.diff(fitted.history_) >= -1e-6)
    ll_true = truth.log_likelihood(X_te).sum()
    ll_fit = fitted.log_likelihood(X_te).sum()
    assert abs(ll_fit - ll_true) <= 0.01 * abs(ll_true)
    pos = [0, 2]
    rmse = {name: np.sqrt(np.mean((m.filter(X_te)[0][..., pos] - states_te[..., pos]) ** 2))
            for name, m in (("true", truth), ("fit", fitted))}
    assert rmse["fit"] <= 1.02 * rmse["true"]
    assert fitted.Q_[1, 1] == pytest.approx(0.5, rel=0.1)
    assert fitted.R_[0, 0] == pytest.approx(4.0, rel=0.1)


def test_finite_and_psd_over_100k_steps_with_missing_values():
    F, H, Qt, _ = motion_model("constant_acceleration", 2, dt=0.1)
    p = core.StateSpaceParams(F, H, 1e-2 * Qt, 1e-4 * np.eye(2), np.zeros(6), 1e4 * np.eye(6),
                              np.zeros(6), np.zeros(2))
    rng = np.random.default_rng(6)
    _, Z = core.sample_states(p, 1, 100_000, rng)
    Z[0, rng.random(100_000) < 0.05] = np.nan
    Z[0, rng.random(100_000) < 0.05, 1] = np.nan
    res = core.kalman_filter(p, Z)
    for covs in (res.predicted_cov, res.filtered_cov):
        assert np.isfinite(covs).all()
        np.testing.assert_array_equal(covs, np.swapaxes(covs, -1, -2))
        assert np.linalg.eigvalsh(covs).min() > 0
    assert np.isfinite(res.filtered_mean).all() and np.isfinite(res.loglik).all()


def test_em_with_missing_data_is_monotone_and_generic_model_learns():
    rng = np.random.default_rng(7)
    p = _random_model(rng, k=2, d=3)
    _, Z = core.sample_states(p, 10, 60, rng)
    Z[rng.random(Z.shape) < 0.1] = np.nan
    Z[:, 10] = np.nan
    with pytest.warns(ConvergenceWarning, match="n_iter=30"):  # tol=0: runs to the limit
        model = KalmanFilter(n_dim_state=2, n_iter=30, tol=0.0).fit(Z)
    assert len(model.history_) == 30
    assert np.all(np.diff(model.history_) >= -1e-7 * abs(model.history_[-1]))
    truth = KalmanFilter(F=p.F, H=p.H, Q=p.Q, R=p.R, x0=p.x0, P0=p.P0).fit(Z)
    gap = (truth.log_likelihood(Z).sum() - model.log_likelihood(Z).sum()) / np.isfinite(Z).sum()
    assert gap < 0.02  # nats per observed value


def test_supervised_least_squares_recovers_parameters():
    rng = np.random.default_rng(8)
    p = _random_model(rng, k=2, d=3)
    states, Z = core.sample_states(p, 50, 200, rng)
    model = KalmanFilter().fit(Z, states)
    np.testing.assert_allclose(model.F_, p.F, atol=0.02)
    np.testing.assert_allclose(model.H_, p.H, atol=0.03)
    np.testing.assert_allclose(model.Q_, p.Q, rtol=0.05, atol=0.02)
    np.testing.assert_allclose(model.R_, p.R, rtol=0.05, atol=0.02)
    means, _ = model.filter(Z)
    np.testing.assert_allclose(model.predict(Z), means @ model.readout_.T)
    oracle = KalmanFilter(F=p.F, H=p.H, Q=p.Q, R=p.R, x0=p.x0, P0=p.P0).fit(Z)
    err = np.sqrt(np.mean((model.predict(Z) - states) ** 2))
    err_oracle = np.sqrt(np.mean((oracle.filter(Z)[0] - states) ** 2))
    assert err <= 1.02 * err_oracle


def test_supervised_positions_with_motion_model():
    truth = _cv_truth()
    X, states = truth.sample(50, 80, random_state=2)
    y = states[..., [0, 2]]
    model = KalmanFilter(model="constant_velocity", n_iter=200).fit(X, y)  # converges in 61
    assert model.R_[0, 0] == pytest.approx(4.0, rel=0.1)
    err = np.sqrt(np.mean((model.predict(X) - y) ** 2))
    assert err < 0.8 * np.sqrt(np.mean((X - y) ** 2))
    assert model.score(X, y) > 0.99


def test_sample_is_reproducible_and_bad_hyperparameters_raise():
    truth = _cv_truth()
    a = truth.sample(3, 10, random_state=4)
    b = truth.sample(3, 10, random_state=4)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].shape == (3, 10, 2) and a[1].shape == (3, 10, 4)   # (X, states), as the HMM
    X = a[0]
    with pytest.raises(ValueError, match="model must be one of"):
        KalmanFilter(model="brownian").fit(X)
    with pytest.raises(ValueError, match="method"):
        KalmanFilter(method="newton").fit(X)
    with pytest.raises(ValueError, match="H must have shape"):
        KalmanFilter(F=np.eye(3), H=np.eye(2)).fit(X)
    with pytest.raises(ValueError, match="Q must be positive semi-definite"):
        KalmanFilter(Q=-np.eye(2)).fit(X)
    with pytest.raises(ValueError, match="learn names unknown"):
        KalmanFilter(learn=["G"]).fit(X)
    with pytest.raises(ValueError, match="learns the noise covariances Q and R only"):
        KalmanFilter(method="mle").fit(X)


def test_supervised_motion_model_learns_the_prior_and_matches_the_oracle():
    """With true states given, the learned constant-velocity filter equals the oracle."""
    from seqmodels.datasets import load

    data = load("constant_velocity", n_dims=2, n_train=200, n_test=50, random_state=0)
    model = KalmanFilter(model="constant_velocity").fit(data.X_train, data.y_train)
    assert set(model.learned_) == {"Q", "R", "x0", "P0"}
    learned = model.log_likelihood(data.X_test, data.y_test).sum()
    oracle = data.oracle.log_likelihood(data.X_test, data.y_test).sum()
    assert abs(learned - oracle) / abs(oracle) < 0.002
    assert model.score(data.X_test, data.y_test) == pytest.approx(
        data.oracle.score(data.X_test, data.y_test), abs=0.002)


# -- steady state: the frozen-gain linear recursion against the plain Riccati recursion ----


def _assert_same_filter(res, ref, rtol=1e-9):
    """Every output of two filters equal to ``rtol`` of each array's scale."""
    for name in res._fields:
        got, want = getattr(res, name), getattr(ref, name)
        if want.dtype == bool:
            np.testing.assert_array_equal(got, want)
            continue
        scale = max(np.abs(want).max(), 1.0)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=name)


def _steady_from(res):
    """First step whose predicted covariance repeats the previous one bit for bit, or None."""
    same = np.all(res.predicted_cov[:, 1:] == res.predicted_cov[:, :-1], axis=(0, 2, 3))
    hits = np.flatnonzero(same)
    return None if len(hits) == 0 else int(hits[0]) + 1


@pytest.mark.parametrize("n", [3, 100], ids=["blocked", "per-step"])
def test_steady_state_equals_the_plain_recursion_and_filterpy(n):
    """Few sequences: the steady run in blocks of time; many: the per-step loop."""
    rng = np.random.default_rng(11)
    p = _random_model(rng)._replace(b=rng.normal(size=4), c=rng.normal(size=2))
    _, Z = core.sample_states(p, n, 3000, rng)
    res = core.kalman_filter(p, Z)
    plain = core.kalman_filter(p, Z, steady_tol=0)
    start = _steady_from(res)
    assert start is not None and start < 200          # the fast path was taken
    assert _steady_from(plain) is None or _steady_from(plain) > start
    _assert_same_filter(res, plain)
    k = FilterpyKF(dim_x=4, dim_z=2)
    k.F, k.H, k.Q, k.R, k.x, k.P = p.F, p.H, p.Q, p.R, p.x0.copy(), p.P0.copy()
    xs = []
    for z in Z[2]:
        k.predict(u=None)
        k.x = k.x + p.b                                  # filterpy has no offsets
        k.update(z - p.c)
        xs.append(k.x.copy())
    np.testing.assert_allclose(res.filtered_mean[2], xs, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("case", ["gaps", "partial", "unequal_lengths", "periodic"])
def test_steady_state_with_missing_observations_equals_the_plain_recursion(case):
    """Missing rows end the steady state; the result still equals the plain recursion."""
    rng = np.random.default_rng(12)
    p = _random_model(rng, k=3, d=2)
    _, Z = core.sample_states(p, 4, 2000, rng)
    if case == "gaps":                # every sequence misses the same steps: re-detected after
        Z[:, [300, 301, 900]] = np.nan
        Z[:, 1200, 0] = np.nan
    elif case == "partial":           # one sequence alone: covariances per sequence from then on
        Z[1, 700, 1] = np.nan
    elif case == "unequal_lengths":   # padding past the end of the shorter sequences
        Z[2, 1500:] = np.nan
        Z[3, 600:] = np.nan
    else:                             # time-varying: a measurement every third step only
        Z[:, 500:][:, np.arange(1500) % 3 != 0] = np.nan
    res = core.kalman_filter(p, Z)
    plain = core.kalman_filter(p, Z, steady_tol=0)
    assert _steady_from(res) is not None
    _assert_same_filter(res, plain)
    if case == "gaps":
        # the steady state holds again later: covariances repeat after the gap
        np.testing.assert_array_equal(res.predicted_cov[0, -1], res.predicted_cov[0, -2])
        np.testing.assert_allclose(res.predicted_cov[0, 899], res.predicted_cov[0, -1],
                                   rtol=1e-12)
    for i in (1, 2):
        ref, _ = _filterpy_run(p, Z[i])
        np.testing.assert_allclose(res.filtered_mean[i], ref["xf"], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(res.loglik[i], ref["ll"], rtol=1e-9, atol=1e-9)


def test_steady_state_is_detected_only_once_converged():
    rng = np.random.default_rng(13)
    p = _random_model(rng)
    _, Z = core.sample_states(p, 2, 400, rng)
    tol = 1e-13
    res = core.kalman_filter(p, Z, steady_tol=tol)
    plain = core.kalman_filter(p, Z, steady_tol=0)
    Pp = plain.predicted_cov[0]
    change = np.abs(np.diff(Pp, axis=0)).max(axis=(1, 2)) / np.abs(Pp[1:]).max(axis=(1, 2))
    first = int(np.flatnonzero(change <= tol)[0]) + 1   # first converged step
    start = _steady_from(res)
    assert start == first + 1                           # frozen from the next step on
    np.testing.assert_array_equal(res.predicted_cov[:, :start], plain.predicted_cov[:, :start])
    np.testing.assert_array_equal(res.filtered_mean[:, :start], plain.filtered_mean[:, :start])
    assert (res.predicted_cov[0, start:] == res.predicted_cov[0, first]).all()
    # a local level with signal-to-noise 1e-6 converges over ~30,000 steps: never frozen in 400
    slow = core.StateSpaceParams(np.eye(1), np.eye(1), 1e-6 * np.eye(1), np.eye(1),
                                 np.zeros(1), np.eye(1), np.zeros(1), np.zeros(1))
    _, Z = core.sample_states(slow, 2, 400, rng)
    got, want = core.kalman_filter(slow, Z), core.kalman_filter(slow, Z, steady_tol=0)
    for name in got._fields:
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))


# -- convergence: one monitor, a warning at the limit (seqmodels/utils/convergence.py) ------------


def _nile():
    from seqmodels.datasets.real import read_table  # verifies the file's SHA-256

    return np.array(read_table("nile.csv")["flow"], dtype=float)


def test_nile_default_em_converges_to_durbin_koopman_without_warning():
    flow = _nile()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = KalmanFilter(model="local_level").fit(flow)
    assert model.converged_ and model.n_iter_ == len(model.history_) < model.n_iter
    # the rule: the last EM gain is below tol per observation, the one before is not
    gains = np.diff(model.history_)
    assert gains[-1] < model.tol * 100 <= gains[-2]
    # Durbin & Koopman (2012), section 2.10: sigma2_eps = 15099, sigma2_eta = 1469.1
    assert model.R_[0, 0] == pytest.approx(15099, rel=0.01)
    assert model.Q_[0, 0] == pytest.approx(1469.1, rel=0.01)


def test_nile_em_and_mle_at_a_tiny_limit_warn_and_say_so():
    flow = _nile()
    with pytest.warns(ConvergenceWarning, match=r"KalmanFilter: EM stopped at its iteration "
                      r"limit n_iter=2 .*raise n_iter or loosen tol") as record:
        model = KalmanFilter(model="local_level", n_iter=2).fit(flow)
    assert not model.converged_ and model.n_iter_ == 2 and len(model.history_) == 2
    change = model.history_[1] - model.history_[0]
    assert f"{change:+.3g}" in str(record[0].message)
    assert record[0].filename == __file__  # attributed to the caller of fit
    with pytest.warns(ConvergenceWarning, match=r"L-BFGS-B optimiser stopped at its iteration "
                      r"limit n_iter=2 before converging \(optimiser: .*ITERATIONS REACHED "
                      r"LIMIT\).*raise n_iter\."):
        mle = KalmanFilter(model="local_level", method="mle", n_iter=2).fit(flow)
    assert not mle.converged_ and mle.n_iter_ == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        mle = KalmanFilter(model="local_level", method="mle").fit(flow)
    assert mle.converged_ and 2 < mle.n_iter_ < mle.n_iter


def test_em_on_a_small_synthetic_problem_warns_only_at_a_tiny_limit():
    truth = KalmanFilter(model="local_level", Q=[[1.0]], R=[[4.0]], x0=[0.0], P0=[[1.0]])
    X, _ = truth.fit(np.zeros((1, 2, 1))).sample(20, 100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = KalmanFilter(model="local_level", n_iter=2000, tol=1e-6).fit(X)
    assert model.converged_ and model.n_iter_ < 2000
    with pytest.warns(ConvergenceWarning, match="n_iter=3"):
        capped = KalmanFilter(model="local_level", n_iter=3, tol=1e-6).fit(X)
    assert not capped.converged_ and capped.n_iter_ == 3
    assert capped.history_ == pytest.approx(model.history_[:3])
    # a closed-form fit (least squares on true states) iterates nothing: converged
    Z, states = truth.sample(5, 30, random_state=1)
    exact = KalmanFilter(model="local_level").fit(Z, states)
    assert exact.history_ == [] and exact.n_iter_ == 0 and exact.converged_


def test_a_failed_refit_leaves_the_earlier_fit_intact():
    truth = _cv_truth()
    X, states = truth.sample(10, 40, random_state=3)
    model = KalmanFilter(model="constant_velocity", n_iter=200).fit(X, states[..., [0, 2]])
    before = {name: np.copy(value) for name, value in vars(model).items()
              if name.endswith("_") and name != "history_"}
    predictions = model.predict(X)
    # method="mle" cannot learn F: the refit raises inside the fit, after setting up a
    # constant-acceleration model (another state, readout and covariance template)
    model.set_params(model="constant_acceleration", method="mle", learn=["Q", "R", "F"])
    with pytest.raises(ValueError, match="learns the noise covariances Q and R only"):
        model.fit(X, states[..., [0, 2]])
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(model, name), value, err_msg=name)
    np.testing.assert_array_equal(model.predict(X), predictions)


# -- numerical safety (issue #14) ------------------------------------------------------------


def _assert_symmetric_psd(covs, what):
    covs = np.asarray(covs)
    assert np.isfinite(covs).all(), what
    np.testing.assert_array_equal(covs, np.swapaxes(covs, -1, -2), err_msg=what)
    eig = np.linalg.eigvalsh(covs)
    scale = np.abs(covs).max(axis=(-2, -1))[..., None]
    assert (eig >= -1e-12 * scale).all(), (what, eig.min())


@pytest.mark.parametrize("case", ["near_singular_R", "zero_Q", "collinear_measurements"])
def test_covariances_stay_symmetric_psd_over_100000_steps(case):
    """Joseph form and symmetrisation keep P_{t|t}, P_{t|t-1} and S_t symmetric PSD (and
    the log-likelihood finite) however long the run, where R is nearly singular, Q is zero
    (P shrinks towards 0 like 1/t), or two sensors measure the same axis."""
    rng = np.random.default_rng(0)
    T = 100_000
    F, H, Q, _ = motion_model("constant_velocity", 1, 1.0)
    if case == "near_singular_R":       # two sensors, one nearly exact
        H = np.vstack([H, H])
        R = np.diag([1.0, 1e-9])
    elif case == "zero_Q":              # a static state: P_{t|t} ~ 1/t
        Q = np.zeros_like(Q)
        R = np.eye(1)
    else:                               # the second sensor measures twice the first axis
        H = np.vstack([H, 2.0 * H])
        R = np.array([[1.0, 0.999], [0.999, 1.0]])
    k, d = F.shape[0], H.shape[0]
    params = core.StateSpaceParams(F, H, Q, R, np.zeros(k), 10.0 * np.eye(k), np.zeros(k),
                                   np.zeros(d))
    _, Z = core.sample_states(params, 1, T, rng)
    Z[0, rng.choice(T, 50, replace=False)] = np.nan   # missing steps restart the recursion
    res = core.kalman_filter(params, Z)
    for name in ("predicted_cov", "filtered_cov", "innovation_cov"):
        _assert_symmetric_psd(getattr(res, name), f"{case}: {name}")
    assert np.isfinite(res.loglik).all() and np.isfinite(res.filtered_mean).all()
    if case == "zero_Q":   # the static position is pinned down ever more tightly
        assert res.filtered_cov[0, -1, 0, 0] < 1e-3


def test_fixed_noise_that_leaves_a_direction_exact_is_refused_naming_q_and_r():
    X = np.cumsum(np.random.default_rng(2).normal(size=(3, 20, 2)), axis=1)
    with pytest.raises(ValueError, match=r"Q and R leave measurement noise out"):
        KalmanFilter(model="local_level", Q=np.zeros((2, 2)), R=np.diag([1.0, 0.0])).fit(X)
    # R = 0 with process noise on that axis is a proper (noise-free measurement) model
    model = KalmanFilter(model="local_level", Q=np.eye(2), R=np.zeros((2, 2))).fit(X)
    np.testing.assert_allclose(model.filter(X)[0], X, atol=1e-9)


@pytest.mark.parametrize("data", ["zeros", "constant", "collinear", "duplicated"])
def test_em_on_degenerate_data_keeps_the_noise_above_its_floor(data):
    """EM drives the noise of constant / collinear data towards 0: the documented floor
    (NOISE_FLOOR times the data's variance) keeps R and Q positive definite and the
    log-likelihood finite and non-decreasing."""
    from seqmodels.inference.kalman_fit import NOISE_FLOOR, data_variance

    rng = np.random.default_rng(3)
    base = np.cumsum(rng.normal(size=(4, 40, 1)), axis=1)
    X = {"zeros": np.zeros((4, 40, 2)), "constant": np.full((4, 40, 2), 3.0),
         "collinear": np.concatenate([base, -0.5 * base], axis=-1),
         "duplicated": np.concatenate([base, base], axis=-1)}[data]
    model = KalmanFilter(n_iter=30, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    history = np.asarray(model.history_)
    assert np.isfinite(history).all() and len(history) == 30
    assert (np.diff(history) >= -1e-6 * np.abs(history[1:])).all()
    floor = NOISE_FLOOR * data_variance(X)
    assert np.linalg.eigvalsh(model.R_).min() >= floor * (1 - 1e-9)
    assert np.isfinite(model.predict(X)).all() and np.isfinite(model.log_likelihood(X)).all()


def test_least_squares_m_step_takes_the_minimum_norm_solution_when_singular():
    """Constant or duplicated states make the moment matrix singular: the regression is the
    minimum-norm least-squares solution, not a LinAlgError."""
    A = np.array([[4.0, 4.0, 2.0], [4.0, 4.0, 2.0], [2.0, 2.0, 1.0]])   # x1 = x2 = 2 * 1
    B = np.array([[2.0, 2.0, 1.0]])
    M, o = core._regress(B, A, (np.zeros((1, 2)), np.zeros(1)), True, True)
    G = np.concatenate([M, o[:, None]], axis=1)
    np.testing.assert_allclose(G @ A, B, atol=1e-12)                  # the normal equations
    np.testing.assert_allclose(G, (np.linalg.pinv(A) @ B.T).T, atol=1e-12)   # minimum norm
    # a well-conditioned system is solved as before
    A = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 1.0]])
    M, o = core._regress(B, A, (np.zeros((1, 2)), np.zeros(1)), True, True)
    np.testing.assert_allclose(np.concatenate([M, o[:, None]], axis=1),
                               np.linalg.solve(A, B.T).T, rtol=1e-14)


def test_supervised_targets_too_large_for_the_prior_are_refused_naming_y():
    """Found by the bad-input suite: one target of 1e100 made the supervised prior's
    covariance overflow (a RuntimeWarning) instead of a clear error."""
    X = np.random.default_rng(0).normal(size=(1, 7, 1))
    X[0, 5, 0] = 1e100
    y = 0.5 * X + 1.0
    with np.errstate(all="raise"), pytest.raises(ValueError, match="y is too large"):
        KalmanFilter(n_iter=3).fit(X, y)
