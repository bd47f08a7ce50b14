"""EchoStateNetwork and its core, seqmodels.inference.reservoir.

References: reservoirpy 0.4 (``Reservoir``, ``Ridge``, ``ESN``) with the same matrices, leak
rate, ridge and warmup, to 1e-10; plain per-sequence loops and numpy's least squares for the
recursion and the readout; scipy's Gaussian density for the log-likelihood.
"""

import numpy as np
import pytest
from scipy import stats

from seqmodels import EchoStateNetwork
from seqmodels.inference.reservoir import (Reservoir, forecast_paths, random_reservoir,
                                           reservoir_states, spectral_radius)

TOL = 1e-10


def _data(n=5, T=150, d=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, d))
    y = np.sin(np.cumsum(X, axis=1) * 0.3)[..., :1] + 0.1 * X[..., 1:]
    return X, y


def _loop_states(X, W, W_in, b, a):
    """The recursion written out per sequence and step (the reference)."""
    n, T, _ = X.shape
    out = np.empty((n, T, W.shape[0]))
    for i in range(n):
        x = np.zeros(W.shape[0])
        for t in range(T):
            x = (1 - a) * x + a * np.tanh(W @ x + W_in @ X[i, t] + b)
            out[i, t] = x
    return out


def _ridge(Z, Y, ridge):
    """Ridge with an unpenalised intercept, by least squares on the augmented rows."""
    zm, ym = Z.mean(axis=0), Y.mean(axis=0)
    A = np.vstack([Z - zm, np.sqrt(ridge) * np.eye(Z.shape[1])])
    B = np.vstack([Y - ym, np.zeros((Z.shape[1], Y.shape[1]))])
    coef = np.linalg.lstsq(A, B, rcond=None)[0].T
    return coef, ym - coef @ zm


# -- the reservoir ------------------------------------------------------------------------------


def test_states_follow_the_leaky_recursion_across_block_boundaries():
    X, _ = _data(T=150)                       # 150 steps: several blocks of BLOCK steps
    res = random_reservoir(30, 2, 0.8, 0.7, 0.3, 0.2, 0.5, np.random.RandomState(0))
    res = res._replace(leak_rate=0.4)
    np.testing.assert_allclose(reservoir_states(X, res), _loop_states(X, *res), rtol=0,
                               atol=1e-13)


def test_drawn_reservoir_has_the_requested_radius_density_and_scales():
    model = EchoStateNetwork(units=50, spectral_radius=1.3, input_scaling=[0.5, 2.0],
                             bias_scaling=0.2, connectivity=0.2, input_connectivity=0.3,
                             random_state=0).fit(_data()[0])
    assert spectral_radius(model.W_) == pytest.approx(1.3, rel=1e-12)
    assert np.count_nonzero(model.W_) == 500
    assert np.count_nonzero(model.W_in_) == 30
    assert set(np.abs(model.W_in_[:, 0][model.W_in_[:, 0] != 0])) <= {0.5}
    assert set(np.abs(model.W_in_[:, 1][model.W_in_[:, 1] != 0])) <= {2.0}
    assert set(np.abs(model.bias_)) == {0.2}


def test_given_matrices_are_used_as_given_and_reproduce_a_fit():
    X, y = _data()
    first = EchoStateNetwork(units=20, spectral_radius=0.7, random_state=3).fit(X, y)
    again = EchoStateNetwork(units=20, W=first.W_.tolist(), W_in=first.W_in_,
                             bias=first.bias_, random_state=99).fit(X, y)
    np.testing.assert_array_equal(again.W_, first.W_)
    np.testing.assert_array_equal(again.predict(X), first.predict(X))
    # a given W is not rescaled; the matrices not given are still drawn from random_state
    scaled = EchoStateNetwork(units=20, W=3 * first.W_, random_state=3).fit(X, y)
    np.testing.assert_array_equal(scaled.W_, 3 * first.W_)
    np.testing.assert_array_equal(scaled.W_in_, first.W_in_)


@pytest.mark.parametrize("params, match", [
    ({"W": np.eye(3)}, r"W must have shape \(20, 20\)"),
    ({"W_in": np.ones((20, 3))}, r"W_in must have shape \(20, 2\)"),
    ({"bias": np.ones(4)}, r"bias must be a number or have shape \(20,\)"),
    ({"W": np.full((20, 20), np.nan)}, "W must hold finite values"),
    ({"input_scaling": [1.0, 2.0, 3.0]}, "input_scaling must be"),
])
def test_given_matrices_of_the_wrong_shape_are_refused_by_name(params, match):
    with pytest.raises(ValueError, match=match):
        EchoStateNetwork(units=20, **params).fit(_data()[0])


# -- the readout --------------------------------------------------------------------------------


@pytest.mark.parametrize("input_to_readout", [False, True])
def test_supervised_readout_is_the_ridge_solution_on_the_states_after_warmup(input_to_readout):
    X, y = _data()
    model = EchoStateNetwork(units=25, leak_rate=0.5, ridge=1e-2, warmup=7,
                             input_to_readout=input_to_readout, random_state=1).fit(X, y)
    S = _loop_states(X, model.W_, model.W_in_, model.bias_, 0.5)
    Z = np.concatenate([S, X], axis=-1) if input_to_readout else S
    coef, intercept = _ridge(Z[:, 7:].reshape(-1, Z.shape[-1]), y[:, 7:].reshape(-1, 1), 1e-2)
    np.testing.assert_allclose(model.coef_, coef, rtol=0, atol=1e-10 * np.abs(coef).max())
    np.testing.assert_allclose(model.intercept_, intercept, rtol=0, atol=1e-10 * np.abs(coef).max())
    resid = (y - (Z @ coef.T + intercept))[:, 7:].reshape(-1, 1)
    np.testing.assert_allclose(model.noise_cov_, resid.T @ resid / len(resid), rtol=1e-7)
    assert model.n_readout_rows_ == 5 * (150 - 7)
    assert model.n_params_ == Z.shape[-1] + 1 + 1
    assert model.history_ == []


def test_forecasting_predicts_each_step_from_the_state_before_it():
    X, _ = _data(d=1)
    model = EchoStateNetwork(units=25, ridge=1e-1, warmup=4, input_connectivity=1.0,
                             random_state=2).fit(X)
    S = _loop_states(X, model.W_, model.W_in_, model.bias_, 1.0)
    coef, intercept = _ridge(S[:, 4:-1].reshape(-1, 25), X[:, 5:].reshape(-1, 1), 1e-1)
    np.testing.assert_allclose(model.coef_, coef, rtol=0, atol=1e-10 * np.abs(coef).max())
    pred, std = model.predict(X, return_std=True)
    np.testing.assert_allclose(pred[:, 1:], S[:, :-1] @ coef.T + intercept, rtol=0, atol=1e-9)
    # step 0 comes from the prior: the training data's mean and standard deviation
    np.testing.assert_allclose(pred[:, 0, 0], X.mean(), rtol=1e-12)
    np.testing.assert_allclose(std[:, 0, 0], X.std(), rtol=1e-12)
    np.testing.assert_allclose(std[:, 1:], np.sqrt(model.noise_cov_[0, 0]), rtol=1e-12)


def test_log_likelihood_sums_the_gaussian_densities_of_the_residuals():
    X, _ = _data(n=3, T=40)
    model = EchoStateNetwork(units=15, ridge=1e-2, random_state=4).fit(X)
    pred = model.predict(X)
    expected = np.zeros(3)
    for i in range(3):
        expected[i] = stats.multivariate_normal(pred[i, 0], model.prior_cov_).logpdf(X[i, 0])
        expected[i] += stats.multivariate_normal(np.zeros(2), model.noise_cov_).logpdf(
            X[i, 1:] - pred[i, 1:]).sum()
    np.testing.assert_allclose(model.log_likelihood(X), expected, rtol=1e-10)


def test_too_little_data_for_the_readout_is_refused_naming_x():
    X, _ = _data(T=10)
    with pytest.raises(ValueError, match="X has no step for the readout.*warmup=10"):
        EchoStateNetwork(units=5, warmup=10).fit(X)
    with pytest.raises(ValueError, match="X has 45 usable timestep.*ridge > 0"):
        EchoStateNetwork(units=50, ridge=0.0).fit(X)
    # constant data: the minimum-norm readout, no warning, finite outputs
    flat = EchoStateNetwork(units=5, ridge=0.0).fit(np.ones((4, 30, 1)))
    assert np.isfinite(flat.log_likelihood(np.ones((2, 30, 1)))).all()


# -- forecasts ------------------------------------------------------------------------------------


def test_forecast_feeds_each_prediction_back_as_the_next_input():
    X, _ = _data(n=3, T=60)
    model = EchoStateNetwork(units=20, leak_rate=0.6, ridge=1e-3, input_to_readout=True,
                             random_state=5).fit(X)
    path = model.forecast(X, 6)
    extended = X
    for h in range(6):
        step = model.predict(np.concatenate([extended, extended[:, -1:]], axis=1))[:, -1:]
        np.testing.assert_allclose(path[:, h], step[:, 0], rtol=0, atol=1e-12)
        extended = np.concatenate([extended, step], axis=1)


def test_forecast_covariance_is_the_first_order_propagation_of_the_readout_noise():
    """Against the same propagation with finite-difference Jacobians of the one-step map."""
    X, _ = _data(n=2, T=40, d=1)
    model = EchoStateNetwork(units=6, leak_rate=0.7, ridge=1e-2, input_scaling=0.5,
                             input_to_readout=True, random_state=6).fit(X)
    res = Reservoir(model.W_, model.W_in_, model.bias_, 0.7)
    readout = (model.coef_, model.intercept_, model.noise_cov_)
    lengths = np.full(2, 40)
    mean, cov = forecast_paths(X, lengths, res, readout, 5, True, return_cov=True)
    A, c, Sigma = readout
    N = 6

    def step(z):                       # z = [x, u] -> [x', u^] with u^ = c + A z
        u_hat = c + A @ z
        x_new = (1 - 0.7) * z[:N] + 0.7 * np.tanh(model.W_ @ z[:N] + model.W_in_ @ u_hat
                                                  + model.bias_)
        return np.concatenate([x_new, u_hat])

    for i in range(2):
        z = np.concatenate([reservoir_states(X[i:i + 1], res)[0, -1], X[i, -1]])
        P = np.zeros((N + 1, N + 1))
        for h in range(5):
            S = A @ P @ A.T + Sigma
            assert cov[i, h] == pytest.approx(S, rel=1e-6)
            assert mean[i, h] == pytest.approx(c + A @ z, abs=1e-12)
            J = np.empty((N + 1, N + 1))
            for k in range(N + 1):
                e = np.zeros(N + 1)
                e[k] = 1e-6
                J[:, k] = (step(z + e) - step(z - e)) / 2e-6
            # the fed-back input carries the readout noise: Var(u^) = S, not A P A'
            G = np.zeros((N + 1, 1))
            G[N] = 1.0
            x_u = 0.7 * (1 - np.tanh(model.W_ @ z[:N] + model.W_in_ @ (c + A @ z)
                                     + model.bias_) ** 2)[:, None] * model.W_in_
            G[:N] = x_u
            P = J @ P @ J.T + G @ Sigma @ G.T
            z = step(z)
    _, std = model.forecast(X, 5, return_std=True)
    np.testing.assert_allclose(std, np.sqrt(np.diagonal(cov, axis1=2, axis2=3)), rtol=1e-12)
    np.testing.assert_allclose(std[:, 0, 0], np.sqrt(Sigma[0, 0]), rtol=1e-12)


# -- reservoirpy ----------------------------------------------------------------------------------


def _reservoirpy():
    pytest.importorskip("reservoirpy", minversion="0.4.1")
    from reservoirpy import ESN
    from reservoirpy.nodes import Reservoir as RpyReservoir
    from reservoirpy.nodes import Ridge
    return ESN, RpyReservoir, Ridge


def test_states_and_readout_equal_reservoirpy_nodes():
    _, RpyReservoir, Ridge = _reservoirpy()
    X, y = _data()
    model = EchoStateNetwork(units=40, leak_rate=0.3, bias_scaling=0.5, input_connectivity=0.5,
                             ridge=1e-1, warmup=10, random_state=1).fit(X, y)
    node = RpyReservoir(W=model.W_, Win=model.W_in_, bias=model.bias_, lr=0.3)
    states = np.array(node.run(X))
    ours = reservoir_states(X, Reservoir(model.W_, model.W_in_, model.bias_, 0.3))
    assert np.abs(states - ours).max() < TOL
    ridge = Ridge(ridge=1e-1).fit(list(states), list(y), warmup=10)
    np.testing.assert_allclose(model.coef_, ridge.Wout.T, rtol=0, atol=TOL)
    np.testing.assert_allclose(model.intercept_, ridge.bias, rtol=0, atol=TOL)
    assert np.abs(np.array(ridge.run(list(states))) - model.predict(X)).max() < TOL


@pytest.mark.parametrize("input_to_readout", [False, True])
def test_supervised_predictions_equal_reservoirpy_esn(input_to_readout):
    ESN, RpyReservoir, Ridge = _reservoirpy()
    X, y = _data(n=4, T=120)
    model = EchoStateNetwork(units=30, leak_rate=0.5, bias_scaling=0.2, ridge=1e-1, warmup=5,
                             input_to_readout=input_to_readout, random_state=2).fit(X, y)
    esn = ESN(reservoir=RpyReservoir(W=model.W_, Win=model.W_in_, bias=model.bias_, lr=0.5),
              readout=Ridge(ridge=1e-1), input_to_readout=input_to_readout)
    esn.fit(X, y, warmup=5)
    esn.reset()                           # fit leaves the last series' state behind
    assert np.abs(np.array(esn.run(X)) - model.predict(X)).max() < TOL


def test_forecasting_equals_reservoirpy_trained_on_the_next_step():
    ESN, RpyReservoir, Ridge = _reservoirpy()
    X, _ = _data(n=4, T=120)
    model = EchoStateNetwork(units=30, leak_rate=0.8, ridge=1e-1, warmup=5,
                             random_state=3).fit(X)
    esn = ESN(reservoir=RpyReservoir(W=model.W_, Win=model.W_in_, bias=model.bias_, lr=0.8),
              readout=Ridge(ridge=1e-1))
    esn.fit(X[:, :-1], X[:, 1:], warmup=5)
    esn.reset()
    assert np.abs(np.array(esn.run(X[:, :-1])) - model.predict(X)[:, 1:]).max() < TOL
