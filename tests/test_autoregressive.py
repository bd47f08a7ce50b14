"""AutoRegressive against closed forms, numpy.linalg.lstsq, scikit-learn Ridge and statsmodels."""

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import Ridge

from seqmodels import AutoRegressive
from seqmodels.inference.autoregressive import simulate, stationary_moments

A_TRUE = np.array([[[0.5, 0.1], [-0.2, 0.4]], [[0.2, -0.1], [0.1, 0.1]]])
C_TRUE = np.array([0.5, -1.0])
S_TRUE = np.array([[1.0, 0.3], [0.3, 0.5]])


def _var2(n, T, seed):
    return simulate(C_TRUE, A_TRUE, S_TRUE, n, T, np.random.default_rng(seed))


def _lag_matrix_by_hand(X, p):
    """Rows [1, x_{t-1}, ..., x_{t-p}] and targets x_t for t >= p, built with plain loops."""
    rows, targets = [], []
    for seq in X:
        for t in range(p, len(seq)):
            rows.append(np.concatenate([[1.0]] + [seq[t - j] for j in range(1, p + 1)]))
            targets.append(seq[t])
    return np.array(rows), np.array(targets)


@pytest.fixture(scope="module")
def var2_data():
    return _var2(20, 500, seed=1), _var2(20, 500, seed=2)


def test_var2_recovers_coefficients_and_reaches_true_likelihood(var2_data):
    X_train, X_test = var2_data
    model = AutoRegressive(order=2).fit(X_train)
    assert np.abs(model.coef_ - A_TRUE).max() < 0.05
    truth = AutoRegressive(order=2, coef=A_TRUE, intercept=C_TRUE, noise_cov=S_TRUE).fit(X_train)
    learned_ll, true_ll = model.log_likelihood(X_test).sum(), truth.log_likelihood(X_test).sum()
    assert abs(learned_ll - true_ll) / abs(true_ll) < 0.005


def test_coefficients_equal_lstsq_on_the_same_lag_matrix(var2_data):
    X_train = var2_data[0][:5, :100]
    model = AutoRegressive(order=3).fit(X_train)
    Z, Y = _lag_matrix_by_hand(X_train, 3)
    B, *_ = np.linalg.lstsq(Z, Y, rcond=None)
    np.testing.assert_allclose(model.intercept_, B[0], rtol=1e-10, atol=1e-12)
    for j in range(3):
        np.testing.assert_allclose(model.coef_[j], B[1 + 2 * j : 3 + 2 * j].T, rtol=1e-10,
                                   atol=1e-12)
    residuals = Y - Z @ B
    np.testing.assert_allclose(model.noise_cov_, residuals.T @ residuals / len(Y), rtol=1e-9)


def test_ridge_equals_scikit_learn_ridge(var2_data):
    X_train = var2_data[0][:4, :80]
    model = AutoRegressive(order=2, alpha=7.5).fit(X_train)
    Z, Y = _lag_matrix_by_hand(X_train, 2)
    reference = Ridge(alpha=7.5, fit_intercept=True, solver="cholesky").fit(Z[:, 1:], Y)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-8)
    np.testing.assert_allclose(
        np.concatenate(list(model.coef_), axis=1), reference.coef_, rtol=1e-8, atol=1e-12
    )


def test_without_intercept_the_constant_is_zero(var2_data):
    model = AutoRegressive(order=1, fit_intercept=False).fit(var2_data[0][:3])
    np.testing.assert_array_equal(model.intercept_, 0.0)
    assert model.n_params_ == 1 * 2 * 2 + 3


def test_matches_statsmodels_var_on_one_sequence(var2_data):
    statsmodels = pytest.importorskip("statsmodels.tsa.api")
    x = var2_data[0][0, :300]
    model = AutoRegressive(order=2).fit(x[None])
    results = statsmodels.VAR(x).fit(2, trend="c")
    np.testing.assert_allclose(model.intercept_, results.intercept, rtol=1e-8)
    np.testing.assert_allclose(model.coef_, results.coefs, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(model.noise_cov_, results.sigma_u_mle, rtol=1e-8)
    # h-step forecasts: means equal, covariances equal up to statsmodels' df-corrected Sigma.
    mean, std = model.forecast(x[None], horizon=6, return_std=True)
    np.testing.assert_allclose(mean[0], results.forecast(x[-2:], steps=6), rtol=1e-8)
    ratio = results.sigma_u_mle[0, 0] / results.sigma_u[0, 0]
    sm_var = np.diagonal(results.mse(6), axis1=1, axis2=2) * ratio
    np.testing.assert_allclose(std[0] ** 2, sm_var, rtol=1e-8)


def test_oracle_log_likelihood_is_the_exact_stationary_gaussian_density():
    """Given parameters, the start-up predictors make log_likelihood the exact joint density."""
    arma = pytest.importorskip("statsmodels.tsa.arima_process")
    phi, c, sigma2, T = np.array([0.6, -0.3]), 0.4, 1.7, 7
    rng = np.random.default_rng(3)
    x = simulate([c], phi.reshape(2, 1, 1), [[sigma2]], 3, T, rng)[..., 0]
    model = AutoRegressive(order=2, coef=phi.reshape(2, 1, 1), intercept=[c],
                           noise_cov=[[sigma2]]).fit(x[..., None])
    acov = arma.arma_acovf(np.r_[1.0, -phi], np.array([1.0]), nobs=T, sigma2=sigma2)
    joint = stats.multivariate_normal(np.full(T, c / (1 - phi.sum())),
                                      acov[np.abs(np.subtract.outer(np.arange(T), np.arange(T)))])
    np.testing.assert_allclose(model.log_likelihood(x[..., None]), joint.logpdf(x), rtol=1e-10)


def test_stationary_moments_match_simulation():
    rng = np.random.default_rng(4)
    X = simulate(C_TRUE, A_TRUE, S_TRUE, 4000, 3, rng)
    mu, gamma = stationary_moments(C_TRUE, A_TRUE, S_TRUE)
    np.testing.assert_allclose(X[:, 0].mean(axis=0), mu[:2], atol=0.05)
    np.testing.assert_allclose(np.cov(X[:, 1].T), gamma[:2, :2], atol=0.08)
    lag1 = np.cov(np.hstack([X[:, 2], X[:, 1]]).T)[:2, 2:]
    np.testing.assert_allclose(lag1, gamma[:2, 2:4], atol=0.08)


def test_first_steps_use_the_history_there_is(var2_data):
    X_train, X_test = var2_data
    model = AutoRegressive(order=2).fit(X_train)
    mean, std = model.predict(X_test, return_std=True)
    # Step 0: the order-0 predictor, i.e. the mean of all training steps.
    np.testing.assert_allclose(mean[:, 0], np.broadcast_to(X_train.reshape(-1, 2).mean(0),
                                                           (20, 2)), rtol=1e-9)
    np.testing.assert_allclose(std[0, 0] ** 2, X_train.reshape(-1, 2).var(0), rtol=1e-6)
    # Step 1: the order-1 least-squares predictor fitted on every step with one lag.
    order1 = AutoRegressive(order=1).fit(X_train)
    np.testing.assert_allclose(mean[:, 1], order1.predict(X_test)[:, 1], rtol=1e-9)
    assert np.isfinite(mean).all()


def test_one_step_forecast_equals_predict_at_the_next_step(var2_data):
    X_test = var2_data[1][:5, :12]
    model = AutoRegressive(order=3).fit(var2_data[0])
    mean, std = model.predict(X_test, return_std=True)
    for t in range(1, 12):
        f_mean, f_std = model.forecast(X_test[:, :t], 1, return_std=True)
        np.testing.assert_allclose(f_mean[:, 0], mean[:, t], rtol=1e-10)
        np.testing.assert_allclose(f_std[:, 0], std[:, t], rtol=1e-10)


def test_forecast_covariance_matches_monte_carlo(var2_data):
    model = AutoRegressive(order=2, coef=A_TRUE, intercept=C_TRUE, noise_cov=S_TRUE)
    history = var2_data[1][:1, :50]
    model.fit(history)
    mean, std = model.forecast(history, 4, return_std=True)
    rng = np.random.default_rng(9)
    chol = np.linalg.cholesky(S_TRUE)
    paths = np.repeat(history[:, -2:], 20000, axis=0)
    draws = []
    for _ in range(4):
        nxt = C_TRUE + paths[:, -1] @ A_TRUE[0].T + paths[:, -2] @ A_TRUE[1].T
        nxt = nxt + rng.standard_normal((len(paths), 2)) @ chol.T
        paths = np.concatenate([paths, nxt[:, None]], axis=1)
        draws.append(nxt)
    draws = np.stack(draws, axis=1)
    np.testing.assert_allclose(draws.mean(0), mean[0], atol=0.04)
    np.testing.assert_allclose(draws.std(0), std[0], rtol=0.03)


def test_order_zero_is_an_iid_gaussian(var2_data):
    X_train, X_test = var2_data
    model = AutoRegressive(order=0).fit(X_train)
    pred = model.predict(X_test)
    np.testing.assert_allclose(pred, np.broadcast_to(X_train.reshape(-1, 2).mean(0),
                                                     X_test.shape), rtol=1e-9)
    ll = stats.multivariate_normal(X_train.reshape(-1, 2).mean(0),
                                   np.cov(X_train.reshape(-1, 2).T, bias=True)).logpdf(
        X_test.reshape(-1, 2)).reshape(20, 500).sum(1)
    np.testing.assert_allclose(model.log_likelihood(X_test), ll, rtol=1e-9)


def test_supervised_distributed_lag_regression():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 100, 2))
    B = np.array([[[1.0, -0.5]], [[0.3, 0.2]]])  # (order, n_targets, n_features)
    y = 2.0 + X @ B[0].T
    y[:, 1:] += X[:, :-1] @ B[1].T
    y += 0.1 * rng.normal(size=y.shape)
    y[:, ::7] = np.nan  # steps without a target are skipped
    model = AutoRegressive(order=2).fit(X, y)
    np.testing.assert_allclose(model.coef_, B, atol=0.02)
    np.testing.assert_allclose(model.intercept_, [2.0], atol=0.02)
    np.testing.assert_allclose(model.noise_cov_, [[0.01]], rtol=0.1)
    assert model.score(X, y) > 0.99
    ll = model.log_likelihood(X, y)
    assert ll.shape == (30,) and np.isfinite(ll).all()
    assert model.n_params_ == 2 * 2 * 1 + 1 + 1
    with pytest.raises(AttributeError):
        model.forecast(X, 3)


def test_given_parameters_learn_nothing(var2_data):
    X_train = var2_data[0]
    model = AutoRegressive(order=2, coef=A_TRUE, intercept=C_TRUE, noise_cov=S_TRUE).fit(X_train)
    np.testing.assert_array_equal(model.coef_, A_TRUE)
    np.testing.assert_array_equal(model.noise_cov_, S_TRUE)
    assert model.n_params_ == 0
    only_coef = AutoRegressive(order=2, coef=A_TRUE, intercept=C_TRUE).fit(X_train)
    np.testing.assert_allclose(only_coef.noise_cov_, S_TRUE, atol=0.05)
    assert only_coef.n_params_ == 3  # the noise covariance only


@pytest.mark.parametrize(
    "params, fit_y, message",
    [
        ({"order": -1}, False, "order must be an integer >= 0"),
        ({"order": 1.5}, False, "order must be an integer >= 0"),
        ({"alpha": -1.0}, False, "alpha must be a real number >= 0"),
        ({"order": 1, "coef": [[[2.0, 0], [0, 0.1]]], "intercept": [0, 0],
          "noise_cov": np.eye(2)}, False, "unstable"),
        ({"order": 2, "coef": np.zeros((1, 2, 2))}, False, r"coef must have shape"),
        ({"order": 2, "coef": A_TRUE}, False, "give intercept too"),
        ({"order": 2, "noise_cov": np.eye(2)}, False, "without coef"),
        ({"order": 2, "coef": A_TRUE, "intercept": C_TRUE, "noise_cov": -np.eye(2)}, False,
         "positive definite"),
        ({"order": 2, "coef": A_TRUE, "intercept": C_TRUE}, True, "forecasting model"),
        ({"order": 40}, False, "usable timestep"),
    ],
)
def test_bad_hyperparameters(params, fit_y, message, var2_data):
    X = var2_data[0][:2, :50]
    y = X[..., :1] if fit_y else None
    error = TypeError if params.get("order") == 1.5 else ValueError
    with pytest.raises(error, match=message):
        AutoRegressive(**params).fit(X, y)


def test_integer_targets_are_refused(var2_data):
    X = var2_data[0][:3, :50]
    with pytest.raises(ValueError, match="class labels"):
        AutoRegressive().fit(X, (X[..., :1] > 0).astype(int))


@pytest.mark.parametrize("order, offset", [(0, 1), (1, 1), (3, 1), (1, 0), (3, 0)])
def test_predict_steps_equal_the_lag_tensor_formula(order, offset):
    """The per-lag products over the flattened time axis, with start-up steps redone,
    equal ``c_k + B_k [lags]`` built from the explicit lag tensor at every step."""
    from seqmodels.inference.autoregressive import (effective_orders, lag_tensor, per_order,
                                                    predict_steps)

    rng = np.random.default_rng(order + 10 * offset)
    n, T, d, m = 3, 9, 2, 2
    values = rng.normal(size=(n, T, d))
    values[1, 6:] = np.nan                                   # a shorter sequence (padding)
    intercepts = rng.normal(size=(order + 1, m))
    coefs = np.zeros((order + 1, m, order * d))
    for k in range(order + 1):
        coefs[k, :, : k * d] = rng.normal(size=(m, k * d))
    stacked = (intercepts, coefs, None)
    mean, orders = predict_steps(values, stacked, order, offset)
    k = effective_orders(T, order, offset)
    lags = lag_tensor(values, order, offset)
    expected = per_order(k, lags, lambda o, part: intercepts[o] + part @ coefs[o].T)
    np.testing.assert_array_equal(orders, k)
    valid = np.arange(T)[None, :] < np.array([T, 6, T])[:, None]
    np.testing.assert_allclose(mean[valid], expected[valid], rtol=1e-12, atol=1e-12)
    short, _ = predict_steps(values[:, :1], stacked, order, offset)   # T shorter than p
    np.testing.assert_allclose(short[:, 0], expected[:, 0], rtol=1e-12, atol=1e-12)
