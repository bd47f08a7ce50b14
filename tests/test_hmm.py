"""HiddenMarkovModel against hmmlearn, closed forms and known generating models."""

import contextlib
import copy
import threading
import warnings

import numpy as np
import pytest
from hmmlearn import hmm as hl
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_info, threadpool_limits

from seqmodels import HiddenMarkovModel, KalmanFilter
from seqmodels.inference import hmm as core
from seqmodels.inference import hmm_fit
from seqmodels.utils.threads import one_thread_per_pool
from seqmodels.hmm import compare_to_truth, match_states
from seqmodels.utils.validation import check_sequences

K, D, M, S = 3, 2, 2, 4


def _dist(rng, *shape):
    a = rng.random(shape) + 0.2
    return a / a.sum(axis=-1, keepdims=True)


def _spd(rng, *lead):
    A = rng.normal(size=lead + (D, D))
    return A @ np.swapaxes(A, -1, -2) + 0.5 * np.eye(D)


def _random_parameters(emission, covariance_type, seed=0):
    rng = np.random.default_rng(seed)
    p = {"startprob": _dist(rng, K), "transmat": _dist(rng, K, K)}
    if emission == "gaussian":
        p["means"] = 2.0 * rng.normal(size=(K, D))
        p["covars"] = {"full": _spd(rng, K), "diag": rng.random((K, D)) + 0.3,
                       "spherical": rng.random(K) + 0.3, "tied": _spd(rng)}[covariance_type]
    elif emission == "gmm":
        p["means"] = 2.0 * rng.normal(size=(K, M, D))
        p["weights"] = _dist(rng, K, M)
        p["covars"] = {"full": _spd(rng, K, M), "diag": rng.random((K, M, D)) + 0.3,
                       "spherical": rng.random((K, M)) + 0.3, "tied": _spd(rng, K)}[covariance_type]
    else:
        p["emissionprob"] = _dist(rng, K, S)
    return p


def _hmmlearn_model(emission, covariance_type, p, implementation="log"):
    """An hmmlearn model built directly from the parameters (the reference)."""
    common = dict(n_components=K, init_params="", params="", implementation=implementation)
    if emission == "gaussian":
        model = hl.GaussianHMM(covariance_type=covariance_type, **common)
    elif emission == "gmm":
        model = hl.GMMHMM(n_mix=M, covariance_type=covariance_type, **common)
        model.weights_ = p["weights"]
    else:
        model = hl.CategoricalHMM(n_features=S, **common)
        model.emissionprob_ = p["emissionprob"]
    model.startprob_, model.transmat_ = p["startprob"], p["transmat"]
    if emission != "categorical":
        model.means_, model.covars_ = p["means"], p["covars"]
    return model


def _oracle(emission="gaussian", covariance_type="diag", seed=0, **extra):
    p = _random_parameters(emission, covariance_type, seed)
    model = HiddenMarkovModel(n_states=K, emission=emission, covariance_type=covariance_type,
                              n_mix=M, **p, **extra)
    d = 1 if emission == "categorical" else D
    return model.fit(np.zeros((1, 1, d))), p


def _core_inputs(model, X):
    """The core's (params, obs, mask) for X, from the model's fitted attributes."""
    batch = check_sequences(X)
    params = core.HMMParams(model.startprob_, model.transmat_, model.means_, model.covars_,
                            model.weights_, model.emissionprob_, model.emission,
                            model.covariance_type)
    obs = batch.values
    if model.emission == "categorical":
        obs = np.where(batch.mask, obs[..., 0], -1).astype(np.intp)
    return params, obs, batch.mask


CASES = [("gaussian", c) for c in ("full", "diag", "spherical", "tied")] + \
        [("gmm", c) for c in ("full", "diag", "spherical", "tied")] + [("categorical", "diag")]


# -- the forward core against hmmlearn ------------------------------------------------------


@pytest.mark.parametrize("emission, covariance_type", CASES)
def test_log_likelihood_equals_hmmlearn_score(emission, covariance_type):
    model, p = _oracle(emission, covariance_type)
    X, _ = model.sample(4, 60, random_state=1)
    sequences = [X[0, :60], X[1, :17], X[2, :1], X[3, :45]]  # unequal lengths, one of 1 step
    ll = model.log_likelihood(sequences)
    for implementation in ("log", "scaling"):
        ref = _hmmlearn_model(emission, covariance_type, p, implementation)
        expected = np.array([ref.score(np.asarray(x, dtype=int) if emission == "categorical"
                                       else x) for x in sequences])
        np.testing.assert_allclose(ll, expected, rtol=1e-8)


@pytest.mark.parametrize("emission, covariance_type", [CASES[0], CASES[5], CASES[-1]])
def test_smoothing_and_viterbi_equal_hmmlearn(emission, covariance_type):
    model, p = _oracle(emission, covariance_type, seed=3)
    X, _ = model.sample(3, 40, random_state=2)
    sequences = [X[0], X[1, :25], X[2, :9]]
    ref = _hmmlearn_model(emission, covariance_type, p)
    as_input = (lambda x: x.astype(int)) if emission == "categorical" else (lambda x: x)
    smooth = model.predict_state_proba(sequences, method="smooth")
    viterbi = model.predict_states(sequences, method="viterbi")
    for x, g, v in zip(sequences, smooth, viterbi):
        np.testing.assert_allclose(g, ref.predict_proba(as_input(x)), atol=1e-10)
        np.testing.assert_array_equal(v, ref.predict(as_input(x)))


def test_filtering_equals_hmmlearn_posterior_of_each_prefix():
    """p(z_t | x_1..t) is hmmlearn's smoothed posterior at the last step of the prefix x_1..t."""
    model, p = _oracle("gaussian", "full", seed=4)
    X, _ = model.sample(1, 30, random_state=3)
    ref = _hmmlearn_model("gaussian", "full", p)
    filtered = model.predict_state_proba(X)[0]
    expected = np.stack([ref.predict_proba(X[0, : t + 1])[-1] for t in range(30)])
    np.testing.assert_allclose(filtered, expected, atol=1e-10)
    np.testing.assert_array_equal(model.predict_states(X)[0], expected.argmax(axis=1))


def test_predictive_mean_and_std_closed_form():
    """E[x_t | x_<t] and Var from the predicted state mixture, built from hmmlearn's posteriors."""
    model, p = _oracle("gaussian", "full", seed=5)
    X, _ = model.sample(1, 25, random_state=4)
    ref = _hmmlearn_model("gaussian", "full", p)
    mean, std = model.predict(X, return_std=True)
    covs = p["covars"]
    for t in range(25):
        state = p["startprob"] if t == 0 else ref.predict_proba(X[0, :t])[-1] @ p["transmat"]
        mu = state @ p["means"]
        second = np.einsum("k,kd->d", state, np.diagonal(covs, axis1=1, axis2=2) + p["means"] ** 2)
        np.testing.assert_allclose(mean[0, t], mu, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(std[0, t], np.sqrt(second - mu**2), rtol=1e-9)


def test_forecast_propagates_the_filtered_distribution():
    model, p = _oracle("gaussian", "diag", seed=6)
    X, _ = model.sample(3, 20, random_state=5)
    mean, std = model.forecast(X, 50, return_std=True)
    last = model.predict_state_proba(X)[:, -1]
    for h in (1, 4, 50):
        state = last @ np.linalg.matrix_power(p["transmat"], h)
        np.testing.assert_allclose(mean[:, h - 1], state @ p["means"], rtol=1e-10)
    # one step ahead is the prediction of the next step of a longer sequence
    longer = np.concatenate([X, np.zeros((3, 1, D))], axis=1)
    np.testing.assert_allclose(mean[:, 0], model.predict(longer)[:, -1], rtol=1e-10)
    np.testing.assert_allclose(std[:, 0], model.predict(longer, return_std=True)[1][:, -1])
    # far ahead: the stationary distribution
    w, v = np.linalg.eig(p["transmat"].T)
    stationary = np.real(v[:, np.argmin(np.abs(w - 1))])
    stationary /= stationary.sum()
    np.testing.assert_allclose(mean[:, -1], np.tile(stationary @ p["means"], (3, 1)), atol=1e-8)


def test_stable_over_100000_steps():
    model = HiddenMarkovModel(startprob=[0.5, 0.5], transmat=[[0.99, 0.01], [0.02, 0.98]],
                              means=[[0.0], [1.5]], covars=[[1.0], [0.5]])
    model.fit(np.zeros((1, 1, 1)))
    X, _ = model.sample(1, 100_000, random_state=0)
    ll = model.log_likelihood(X)
    assert np.isfinite(ll).all() and ll[0] < -1e5  # far below exp's underflow threshold
    np.testing.assert_allclose(ll[0], model.to_hmmlearn("log").score(X[0]), rtol=1e-9)
    proba = model.predict_state_proba(X)
    np.testing.assert_allclose(proba.sum(axis=-1), 1.0, rtol=1e-12)
    assert np.isfinite(model.predict(X)).all()


@pytest.mark.parametrize("n_sequences", [1, 3])
def test_near_impossible_transitions_over_100000_steps(n_sequences):
    """Transitions of probability 1e-300 taken: the scaled sum underflows and is redone."""
    model = HiddenMarkovModel(startprob=[0.5, 0.5], transmat=[[1.0, 1e-300], [1e-300, 1.0]],
                              means=[[0.0], [40.0]], covars=[[1.0], [1.0]])
    model.fit(np.zeros((1, 1, 1)))
    rng = np.random.default_rng(0)
    states = (np.arange(100_000) // 25_000) % 2  # three switches, each of probability 1e-300
    X = (40.0 * states + rng.normal(size=(n_sequences, 100_000)))[..., None]
    ll = model.log_likelihood(X)
    assert np.isfinite(ll).all()
    expected = [model.to_hmmlearn("log").score(x) for x in X]
    np.testing.assert_allclose(ll, expected, rtol=1e-10)
    proba = model.predict_state_proba(X)
    np.testing.assert_allclose(proba.sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(proba[0].argmax(axis=1), states)


def test_fast_forward_pass_equals_the_checked_one():
    """The blocked pass without the per-step underflow check gives the careful pass's values."""
    model, p = _oracle("gaussian", "full", seed=7)
    X, _ = model.sample(50, 300, random_state=8)
    log_b = np.ascontiguousarray(core.emission_log_density(*_core_inputs(model, X))
                                 .transpose(1, 0, 2))
    mask = np.ones((300, 50), dtype=bool)
    mask[200:, :7] = False  # some sequences end early
    log_b[~mask] = 0.0
    args = (log_b, mask, p["startprob"], p["transmat"])
    fast, checked = np.empty(log_b.shape), np.empty(log_b.shape)
    ll_fast = core._forward_fast(*args, fast)
    ll_checked = core._forward_checked(*args, checked)
    np.testing.assert_allclose(ll_fast, ll_checked, rtol=1e-12)
    np.testing.assert_allclose(fast, checked, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("emission, covariance_type", [CASES[0], CASES[5], CASES[-1]])
def test_blocked_log_likelihood_equals_the_full_forward_pass(emission, covariance_type):
    """log_likelihood's path (densities block by block, no (n, T, K) array) equals the
    full forward pass's (filter_states)."""
    model, _ = _oracle(emission, covariance_type, seed=11)
    X, _ = model.sample(40, 150, random_state=12)
    inputs = _core_inputs(model, [x[: 150 - 3 * i] for i, x in enumerate(X)])  # unequal lengths
    # 150 steps of 40 sequences: two blocks of 136 steps (16,384 // (40 K)), one short
    blocked = core.marginal_log_likelihood(*inputs)
    full = core.filter_states(*inputs, return_predicted=False).loglik
    np.testing.assert_allclose(blocked, full, rtol=1e-12)


def test_blocked_log_likelihood_hands_an_underflow_to_the_careful_pass():
    model = HiddenMarkovModel(startprob=[0.5, 0.5], transmat=[[1.0, 1e-300], [1e-300, 1.0]],
                              means=[[0.0], [40.0]], covars=[[1.0], [1.0]])
    model.fit(np.zeros((1, 1, 1)))
    X = np.r_[np.zeros(50), np.full(50, 40.0)][None, :, None]
    mask_t = np.ones((100, 1), dtype=bool)
    log_b = core.emission_log_density(*_core_inputs(model, X)).transpose(2, 1, 0)  # (K, T, n)
    blocked = core.forward_log_likelihood(lambda a, b: log_b[:, a:b], mask_t,
                                          model.startprob_, model.transmat_, 8)
    assert blocked is None
    ll = model.log_likelihood(X)
    np.testing.assert_allclose(ll, [model.to_hmmlearn("log").score(X[0])], rtol=1e-10)


def test_impossible_observation_gives_minus_infinity_not_nan():
    model = HiddenMarkovModel(emission="categorical", startprob=[1.0, 0.0],
                              transmat=[[1.0, 0.0], [0.0, 1.0]],
                              emissionprob=[[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    model.fit(np.zeros((1, 1, 1)))
    ll = model.log_likelihood(np.array([[[0], [2], [1]], [[1], [0], [1]]]))
    assert ll[0] == -np.inf
    np.testing.assert_allclose(ll[1], 3 * np.log(0.5))


# -- causality ----------------------------------------------------------------------------------


def test_predict_is_causal_while_hmmlearn_predict_proba_looks_ahead():
    # a sticky chain with overlapping emissions: the future says much about the present
    p = {"startprob": np.array([0.5, 0.3, 0.2]),
         "transmat": np.array([[0.90, 0.05, 0.05], [0.10, 0.80, 0.10], [0.05, 0.15, 0.80]]),
         "means": np.array([[0.0, 0.0], [1.0, 0.5], [-1.0, 1.0]]),
         "covars": np.array([[0.5, 0.5], [1.0, 1.0], [1.0, 0.7]])}
    model = HiddenMarkovModel(n_states=3, **p).fit(np.zeros((1, 1, 2)))
    X, _ = model.sample(4, 50, random_state=6)
    s = 20
    changed = X.copy()
    changed[:, s:] += np.random.default_rng(0).normal(scale=3.0, size=changed[:, s:].shape)
    before, after = model.predict(X), model.predict(changed)
    np.testing.assert_array_equal(after[:, : s + 1], before[:, : s + 1])
    assert not np.allclose(after[:, s + 1:], before[:, s + 1:])
    np.testing.assert_array_equal(model.predict_state_proba(changed)[:, :s],
                                  model.predict_state_proba(X)[:, :s])
    # hmmlearn's posteriors (and our smoother) before s move when the future changes
    ref = _hmmlearn_model("gaussian", "diag", p)
    moved = np.abs(ref.predict_proba(changed[0])[:s] - ref.predict_proba(X[0])[:s]).max()
    assert moved > 1e-3
    smooth_moved = np.abs(model.predict_state_proba(changed, "smooth")[:, :s]
                          - model.predict_state_proba(X, "smooth")[:, :s]).max()
    assert smooth_moved > 1e-3


# -- learning -----------------------------------------------------------------------------------

THREE_STATE = dict(
    startprob=np.array([0.5, 0.3, 0.2]),
    transmat=np.array([[0.90, 0.05, 0.05], [0.10, 0.80, 0.10], [0.05, 0.15, 0.80]]),
    means=np.array([[0.0, 0.0], [3.0, 1.0], [-2.0, 3.0]]),
    covars=np.array([np.eye(2) * 0.5, np.eye(2), [[1.0, 0.3], [0.3, 0.7]]]),
)


@pytest.fixture(scope="module")
def three_state_data():
    truth = HiddenMarkovModel(n_states=3, covariance_type="full", **THREE_STATE)
    truth.fit(np.zeros((1, 1, 2)))
    X_train, _ = truth.sample(100, 200, random_state=10)
    X_test, _ = truth.sample(50, 200, random_state=11)
    return truth, X_train, X_test


def test_three_state_gaussian_recovers_the_truth(three_state_data):
    truth, X_train, X_test = three_state_data
    model = HiddenMarkovModel(n_states=3, covariance_type="full", n_init=2, random_state=0)
    model.fit(X_train)
    oracle_ll = truth.log_likelihood(X_test).sum()
    model_ll = model.log_likelihood(X_test).sum()
    assert abs(model_ll - oracle_ll) / abs(oracle_ll) < 0.01
    errors = compare_to_truth(model, truth)
    assert errors["means"] < 0.1
    assert errors["transmat"] < 0.03
    assert sorted(errors["permutation"]) == [0, 1, 2]
    # restarts: each recorded, the best kept, EM's history non-decreasing
    assert model.restart_log_likelihoods_.shape == (2,)
    np.testing.assert_allclose(model.log_likelihood(X_train).sum(),
                               model.restart_log_likelihoods_.max(), rtol=1e-12)
    assert len(model.history_) >= 2 and np.all(np.diff(model.history_) > -1e-6)
    # the fit is hmmlearn's: its score of our parameters equals ours
    np.testing.assert_allclose(model.to_hmmlearn().score(X_test.reshape(-1, 2), [200] * 50),
                               model_ll, rtol=1e-10)


def test_supervised_counting_on_three_state_data(three_state_data):
    truth, _, _ = three_state_data
    X, z = truth.sample(100, 200, random_state=12)
    model = HiddenMarkovModel(covariance_type="full").fit(X, z[..., None])
    assert model.history_ == [] and model.n_states_ == 3
    errors = compare_to_truth(model, truth)
    np.testing.assert_array_equal(errors["permutation"], [0, 1, 2])  # labels are the states
    assert errors["means"] < 0.05 and errors["transmat"] < 0.02
    # counting, exactly
    first = np.bincount(z[:, 0], minlength=3) / 100
    np.testing.assert_allclose(model.startprob_, first)
    pairs = np.zeros((3, 3))
    np.add.at(pairs, (z[:, :-1].ravel(), z[:, 1:].ravel()), 1)
    np.testing.assert_allclose(model.transmat_, pairs / pairs.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(model.means_[1], X[z == 1].mean(axis=0))
    np.testing.assert_allclose(model.covars_[2], np.cov(X[z == 2].T, bias=True) + 1e-3 * np.eye(2))
    # tagging: filtered probabilities, scored by accuracy; the oracle does better than chance
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba, model.predict_state_proba(X))
    np.testing.assert_array_equal(model.predict(X)[..., 0], proba.argmax(axis=-1))
    assert model.score(X, z[..., None]) > 0.85
    expected = np.log(np.take_along_axis(proba, z[..., None], axis=2)[..., 0]).sum(axis=1)
    np.testing.assert_allclose(model.log_likelihood(X, z[..., None]), expected)


DIE = dict(startprob=np.array([0.5, 0.5]),
           transmat=np.array([[0.95, 0.05], [0.10, 0.90]]),
           emissionprob=np.array([[1 / 6] * 6, [0.1] * 5 + [0.5]]))


def test_fair_and_loaded_die():
    truth = HiddenMarkovModel(emission="categorical", **DIE).fit(np.zeros((1, 1, 1)))
    X, z = truth.sample(100, 500, random_state=20)
    model = HiddenMarkovModel(emission="categorical", n_init=2, random_state=0).fit(X)
    assert model.n_symbols_ == 6 and model.n_params_ == 1 + 2 + 2 * 5
    errors = compare_to_truth(model, truth)
    assert errors["emissionprob"] < 0.05
    assert errors["transmat"] < 0.05
    # supervised counting on the same rolls is closer still
    counted = HiddenMarkovModel(emission="categorical").fit(X, z[..., None])
    errors = compare_to_truth(counted, DIE)
    assert errors["emissionprob"] < 0.02 and errors["transmat"] < 0.02
    # next-roll distribution: a mixture of the dice; its mean is predict's "mean"
    nxt = model.predict_next_proba(X[:3])
    np.testing.assert_allclose(nxt.sum(axis=-1), 1.0)
    np.testing.assert_allclose(model.predict(X[:3])[..., 0], nxt @ np.arange(6.0))


def test_restarts_reproducible_and_best_kept():
    truth, _ = _oracle("gaussian", "diag", seed=8)
    X, _ = truth.sample(10, 60, random_state=7)
    a = HiddenMarkovModel(n_states=3, n_init=3, random_state=4).fit(X)
    b = clone(a).fit(X)
    np.testing.assert_array_equal(a.restart_log_likelihoods_, b.restart_log_likelihoods_)
    np.testing.assert_array_equal(a.means_, b.means_)
    assert a.restart_log_likelihoods_.shape == (3,)
    np.testing.assert_allclose(a.log_likelihood(X).sum(), a.restart_log_likelihoods_.max())
    # one restart with the same seed path: the first restart of the three, which crawls
    # towards a poor optimum and runs out of iterations (the kept restart converged)
    assert a.converged_
    with pytest.warns(ConvergenceWarning, match="n_iter=100"):
        one = HiddenMarkovModel(n_states=3, n_init=1, random_state=4).fit(X)
    np.testing.assert_allclose(one.restart_log_likelihoods_[0], a.restart_log_likelihoods_[0])


def test_em_warns_only_when_the_kept_restart_runs_out_of_iterations():
    truth, _ = _oracle("gaussian", "diag", seed=8)
    X, _ = truth.sample(10, 60, random_state=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = HiddenMarkovModel(n_states=3, n_init=3, random_state=4).fit(X)
    assert model.converged_ and model.n_iter_ == len(model.history_) < model.n_iter
    # the rule: the kept restart's last gain is below tol per observation (600 steps)
    gains = np.diff(model.history_)
    assert gains[-1] < model.tol * 600 <= gains[-2]
    with pytest.warns(ConvergenceWarning, match=r"HiddenMarkovModel: EM \(the best of n_init=3 "
                      r"restarts\) stopped at its iteration limit n_iter=2 .*loosen tol"):
        capped = HiddenMarkovModel(n_states=3, n_init=3, random_state=4, n_iter=2).fit(X)
    assert not capped.converged_ and capped.n_iter_ == len(capped.history_) == 2
    # the same capped fit in hmmlearn reports itself converged
    seed = np.random.RandomState(4).randint(np.iinfo(np.int32).max)
    ref = hl.GaussianHMM(3, n_iter=2, random_state=int(seed)).fit(X.reshape(-1, D), [60] * 10)
    assert ref.monitor_.converged


def _fitted_attributes(model):
    return {name: copy.deepcopy(value) for name, value in vars(model).items()
            if name.endswith("_") and not name.startswith("_")}


def test_a_failed_refit_leaves_the_earlier_fit_intact(monkeypatch):
    truth, _ = _oracle("gaussian", "diag", seed=8)
    X, _ = truth.sample(10, 60, random_state=7)
    model = HiddenMarkovModel(n_states=3, n_init=2, random_state=4).fit(X)
    before = _fitted_attributes(model)
    predictions = model.predict(X)
    # a refit on new data whose second restart fails, after the first has finished
    X_new, _ = truth.sample(10, 60, random_state=8)
    calls = []
    original = hl.GaussianHMM.fit

    def second_restart_fails(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise FloatingPointError("restart 2 failed")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(hl.GaussianHMM, "fit", second_restart_fails)
    with pytest.raises(FloatingPointError, match="restart 2 failed"):
        model.fit(X_new)
    assert len(calls) == 2
    monkeypatch.undo()
    # and a refit whose data fails inside fit: fewer timesteps than states
    with pytest.raises(ValueError, match="EM needs at least as many observations as states"):
        model.fit(X[:1, :2])
    after = _fitted_attributes(model)
    # history_ excepted: SequenceEstimator.fit (base.py) empties it before the hook runs
    assert after.keys() == before.keys()
    for name, value in before.items():
        if name != "history_":
            np.testing.assert_array_equal(after[name], value, err_msg=name)
    np.testing.assert_array_equal(model.predict(X), predictions)


def test_scaling_and_log_implementations_fit_alike():
    truth, _ = _oracle("gaussian", "full", seed=9)
    X, _ = truth.sample(10, 80, random_state=8)
    fits = [HiddenMarkovModel(n_states=3, covariance_type="full", random_state=1,
                              implementation=impl).fit(X) for impl in ("scaling", "log")]
    np.testing.assert_allclose(fits[0].means_, fits[1].means_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(fits[0].history_, fits[1].history_, rtol=1e-9)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_em_fits_every_covariance_type_like_hmmlearn(covariance_type):
    truth, _ = _oracle("gaussian", covariance_type, seed=10)
    X, _ = truth.sample(8, 50, random_state=9)
    # tol is per observation here, hmmlearn's is a total: 2.5e-5 * 400 steps = its 1e-2
    model = HiddenMarkovModel(n_states=3, covariance_type=covariance_type, random_state=2,
                              n_iter=500, tol=2.5e-5).fit(X)
    assert model.converged_ and model.n_iter_ == len(model.history_) < 500
    seed = np.random.RandomState(2).randint(np.iinfo(np.int32).max)
    ref = hl.GaussianHMM(3, covariance_type=covariance_type, random_state=int(seed), n_iter=500,
                         implementation="scaling").fit(X.reshape(-1, D), [50] * 8)
    np.testing.assert_allclose(model.means_, ref.means_, rtol=1e-10)
    np.testing.assert_allclose(model.history_, list(ref.monitor_.history), rtol=1e-12)
    full = core.full_covariances(model.covars_, covariance_type, D, lead=(3,))
    np.testing.assert_allclose(full, ref.covars_[:3] if covariance_type != "spherical"
                               else ref.covars_.reshape(3, D, D, D)[:, 0], rtol=1e-10)
    np.testing.assert_allclose(model.aic(X), ref.aic(X.reshape(-1, D), [50] * 8), rtol=1e-10)
    np.testing.assert_allclose(model.bic(X), ref.bic(X.reshape(-1, D), [50] * 8), rtol=1e-10)


def test_gmm_emissions_fit_and_supervised_mixtures():
    truth, p = _oracle("gmm", "diag", seed=11)
    X, z = truth.sample(6, 60, random_state=10)
    model = HiddenMarkovModel(n_states=3, emission="gmm", n_mix=2, n_iter=200,
                              random_state=0).fit(X)  # converges in 97 iterations
    assert model.means_.shape == (3, 2, 2) and model.weights_.shape == (3, 2)
    assert model.n_params_ == 2 + 6 + 3 * 1 + 3 * 2 * 2 + 3 * 2 * 2
    ll = model.log_likelihood(X)
    np.testing.assert_allclose(ll, [model.to_hmmlearn().score(x) for x in X], rtol=1e-8)
    sup = HiddenMarkovModel(emission="gmm", n_mix=2, random_state=0).fit(X, z[..., None])
    assert sup.history_ == [] and sup.weights_.shape == (3, 2)
    np.testing.assert_allclose(sup.weights_.sum(axis=1), 1.0)


# -- oracles, given parameters, labels -------------------------------------------------------------


def test_oracle_learns_nothing():
    model, p = _oracle("gaussian", "tied", seed=12)
    X, _ = model.sample(5, 30, random_state=0)
    model.fit(X)
    assert model.history_ == [] and model.restart_log_likelihoods_.size == 0
    for name in ("startprob", "transmat", "means", "covars"):
        np.testing.assert_array_equal(getattr(model, name + "_"), p[name])


def test_given_parameters_are_held_fixed():
    truth, p = _oracle("gaussian", "diag", seed=13)
    X, _ = truth.sample(10, 60, random_state=1)
    model = HiddenMarkovModel(n_states=3, transmat=p["transmat"], n_iter=50,
                              random_state=0).fit(X)  # converges in 19 iterations
    np.testing.assert_array_equal(model.transmat_, p["transmat"])
    assert not np.allclose(model.means_, 0.0) and len(model.history_) >= 2


def test_supervised_with_arbitrary_labels():
    truth, _ = _oracle("gaussian", "diag", seed=14)
    X, z = truth.sample(8, 40, random_state=2)
    y = [lab[:, None] for lab in np.array([3.0, 7.0, 11.0])[z]]  # floats: not labels
    with pytest.raises(ValueError, match="supervised mode takes integer class labels"):
        HiddenMarkovModel().fit(list(X), y)
    y_int = np.array([3, 7, 11])[z][..., None]
    model = HiddenMarkovModel().fit(X, y_int)
    np.testing.assert_array_equal(model.classes_, [3, 7, 11])
    assert set(np.unique(model.predict(X))) <= {3, 7, 11}
    assert set(np.unique(model.predict_states(X, "viterbi"))) <= {3, 7, 11}
    sample_X, sample_y = model.sample(2, 10, random_state=0)
    assert set(np.unique(sample_y)) <= {3, 7, 11}
    with pytest.raises(ValueError, match="label 5"):
        model.log_likelihood(X, np.full_like(y_int, 5))


# -- sampling, helpers, errors ----------------------------------------------------------------


def test_sample_statistics_and_reproducibility():
    truth, p = _oracle("gaussian", "full", seed=15)
    X1, z1 = truth.sample(200, 100, random_state=3)
    X2, z2 = truth.sample(200, 100, random_state=3)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(z1, z2)
    assert X1.shape == (200, 100, D) and z1.shape == (200, 100)
    np.testing.assert_allclose(np.bincount(z1[:, 0], minlength=K) / 200, p["startprob"], atol=0.08)
    pairs = np.zeros((K, K))
    np.add.at(pairs, (z1[:, :-1].ravel(), z1[:, 1:].ravel()), 1)
    np.testing.assert_allclose(pairs / pairs.sum(axis=1, keepdims=True), p["transmat"], atol=0.02)
    for k in range(K):
        np.testing.assert_allclose(X1[z1 == k].mean(axis=0), p["means"][k], atol=0.05)
        np.testing.assert_allclose(np.cov(X1[z1 == k].T), p["covars"][k], atol=0.1)


def test_match_states_and_compare_to_truth():
    np.testing.assert_array_equal(match_states([[0.0], [5.0], [9.0]], [[9.1], [0.2], [4.7]]),
                                  [1, 2, 0])
    with pytest.raises(ValueError, match="same shape"):
        match_states([[0.0]], [[0.0], [1.0]])
    truth, p = _oracle("gaussian", "diag", seed=16)
    perm = np.array([2, 0, 1])
    shuffled = HiddenMarkovModel(
        n_states=3, startprob=p["startprob"][perm], transmat=p["transmat"][np.ix_(perm, perm)],
        means=p["means"][perm], covars=p["covars"][perm]).fit(np.zeros((1, 1, D)))
    errors = compare_to_truth(shuffled, truth)
    inverse = np.argsort(perm)
    np.testing.assert_array_equal(errors["permutation"], inverse)
    for name in ("startprob", "transmat", "means", "covars"):
        assert errors[name] < 1e-15


def test_predict_states_container_forms():
    truth, _ = _oracle("gaussian", "diag", seed=17)
    X, _ = truth.sample(3, 20, random_state=4)
    assert truth.predict_states(X).shape == (3, 20)
    assert [s.shape for s in truth.predict_states([X[0], X[1, :7]], "smooth")] == [(20,), (7,)]
    uni = HiddenMarkovModel(startprob=[1.0, 0.0], transmat=[[0.5, 0.5], [0.5, 0.5]],
                            means=[[0.0], [1.0]], covars=[[1.0], [1.0]]).fit(np.zeros(3))
    assert uni.predict_states(np.arange(5.0), "viterbi").shape == (5,)
    assert uni.predict_state_proba(np.arange(5.0)).shape == (5, 2)


@pytest.mark.parametrize("params, message", [
    ({"emission": "poisson"}, "emission must be one of"),
    ({"covariance_type": "banded"}, "covariance_type must be one of"),
    ({"n_states": 0}, "n_states must be an integer >= 1"),
    ({"n_init": 1.5}, "n_init must be an integer"),
    ({"implementation": "fast"}, "implementation must be one of"),
    ({"tol": -1.0}, "tol must be a real number >= 0"),
    ({"n_iter": 2.5}, "n_iter must be an integer >= 1"),
    ({"emissionprob": [[1.0]]}, "emissionprob is given but emission='gaussian'"),
    ({"n_states": 3, "startprob": [0.5, 0.5]}, "pass n_states=2"),
    ({"startprob": [0.6, 0.6]}, "startprob must sum to 1"),
    ({"means": [[0.0], [1.0]]}, r"means must be a finite array of shape \(2, 2\)"),
    ({"covars": [[1.0, -1.0], [1.0, 1.0]], "startprob": [0.5, 0.5],
      "transmat": [[0.5, 0.5], [0.5, 0.5]], "means": [[0.0, 0.0], [1.0, 1.0]]},
     "positive definite"),
])
def test_bad_hyperparameters(params, message):
    X = np.random.default_rng(0).normal(size=(2, 10, 2))
    with pytest.raises(ValueError, match=message):
        HiddenMarkovModel(**params).fit(X)


def test_bad_categorical_input():
    with pytest.raises(ValueError, match="sequence 0, timestep 2.*non-negative integer"):
        HiddenMarkovModel(emission="categorical").fit(np.array([[[0], [1], [1.5]]]))
    with pytest.raises(ValueError, match="one feature of integer symbols"):
        HiddenMarkovModel(emission="categorical").fit(np.zeros((2, 5, 2)))
    model = HiddenMarkovModel(emission="categorical", random_state=0, n_iter=20)
    model.fit(np.array([[[0], [1], [2], [1]]]))  # converges in 7 iterations
    with pytest.raises(ValueError, match="below n_symbols=3"):
        model.predict(np.array([[[0], [3]]]))
    with pytest.raises(ValueError, match="emission='categorical'"):
        HiddenMarkovModel(random_state=0).fit(np.arange(6.0)).predict_next_proba(np.zeros(4))
    with pytest.raises(ValueError, match="method must be"):
        model.predict_states(np.array([[[0], [1]]]), method="posterior")


def test_core_counting_handles_unseen_rows():
    states = np.array([[0, 0, 1, -1], [0, 0, 0, 0]])
    startprob, transmat = hmm_fit.count_chain(states, 3)
    np.testing.assert_allclose(startprob, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(transmat[0], [4 / 5, 1 / 5, 0.0])
    np.testing.assert_allclose(transmat[1:], 1 / 3)  # never left: uniform


def test_log_likelihood_many_features_equals_hmmlearn():
    rng = np.random.default_rng(21)
    d = 6
    A = rng.normal(size=(2, d, d))
    p = {"startprob": np.array([0.3, 0.7]), "transmat": np.array([[0.8, 0.2], [0.3, 0.7]]),
         "means": rng.normal(size=(2, d)), "covars": A @ A.transpose(0, 2, 1) + np.eye(d)}
    model = HiddenMarkovModel(covariance_type="full", **p).fit(np.zeros((1, 1, d)))
    X, _ = model.sample(3, 40, random_state=0)
    ref = hl.GaussianHMM(2, covariance_type="full", init_params="", params="")
    ref.startprob_, ref.transmat_, ref.means_, ref.covars_ = (p[k] for k in
                                                              ("startprob", "transmat", "means",
                                                               "covars"))
    np.testing.assert_allclose(model.log_likelihood(X), [ref.score(x) for x in X], rtol=1e-10)


# -- thread pools -----------------------------------------------------------------------


def _threads(user_api=None):
    """{library path: threads} of the loaded BLAS / OpenMP pools, as seen by this thread."""
    return {p["filepath"]: p["num_threads"] for p in threadpool_info()
            if user_api is None or p["user_api"] == user_api}


def _record_threads(monkeypatch, cls, name, seen):
    original = getattr(cls, name)

    def recording(self, *args, **kwargs):
        seen.append(_threads())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, recording)


@pytest.mark.parametrize("supervised", [False, True])
def test_fit_runs_one_thread_per_pool_and_restores_the_callers(monkeypatch, supervised):
    # Tiny BLAS / OpenMP calls in Python loops (hmmlearn's per-sequence full-covariance
    # density, KMeans) crawl when each pool has a thread per core and the cores are
    # busy (benchmarks/bench_threads.py): inside fit every pool must have one thread.
    truth, _ = _oracle("gmm" if supervised else "gaussian", "full", seed=22)
    X, states = truth.sample(4, 50, random_state=0)
    seen = []
    if supervised:
        _record_threads(monkeypatch, GaussianMixture, "fit", seen)
        model = HiddenMarkovModel(emission="gmm", covariance_type="full", random_state=0)
        data = (X, states[..., None])
    else:
        _record_threads(monkeypatch, hl.GaussianHMM, "_compute_log_likelihood", seen)
        _record_threads(monkeypatch, KMeans, "fit", seen)
        model = HiddenMarkovModel(n_states=K, covariance_type="full", n_iter=5, random_state=0)
        data = (X,)
    capped = pytest.warns(ConvergenceWarning, match="n_iter=5") if not supervised else \
        contextlib.nullcontext()
    with threadpool_limits(limits=2):  # the caller's setting, whatever the environment's
        before = _threads()
        assert _threads("blas") and set(before.values()) == {2}
        with capped:
            model.fit(*data)
        after = _threads()
    assert len(seen) >= (K if supervised else 6)  # the hot calls were reached
    for inside in seen:
        assert inside.keys() == before.keys() and set(inside.values()) == {1}
    assert after == before


def test_fit_restores_the_thread_pools_after_an_error(monkeypatch):
    def failing(self, X):
        assert set(_threads().values()) == {1}
        raise FloatingPointError("stop")

    monkeypatch.setattr(hl.GaussianHMM, "_compute_log_likelihood", failing)
    X, _ = _oracle("gaussian", "full", seed=23)[0].sample(2, 30, random_state=0)
    with threadpool_limits(limits=2):
        before = _threads()
        with pytest.raises(FloatingPointError):
            HiddenMarkovModel(n_states=2, covariance_type="full", random_state=0).fit(X)
        assert _threads() == before


def test_overlapping_fits_in_threads_restore_the_callers_limits():
    # OpenBLAS's limit is process-wide: a fit that ends while another thread's fit
    # runs must not leave the pools limited (nor lift the caller's own limit).
    entered, main_left, checked = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def other_fit():
        with one_thread_per_pool():
            seen["while both run"] = _threads()
            entered.set()
            main_left.wait(10)
        checked.set()

    with threadpool_limits(limits=2):
        before = _threads()
        thread = threading.Thread(target=other_fit)
        with one_thread_per_pool():
            thread.start()
            assert entered.wait(10)
        main_left.set()
        assert checked.wait(10)
        thread.join(10)
        after = _threads()
    assert set(before.values()) == {2}
    assert set(seen["while both run"].values()) == {1}
    assert after == before


# -- numerical safety (issue #14) ------------------------------------------------------------


def test_log_likelihood_stays_finite_over_100000_steps_and_near_zero_transitions():
    """The scaled forward pass neither underflows over 100,000 steps nor when a transition
    has probability 1e-300 (or 0) and the data take it: equal to hmmlearn's log pass."""
    transmat = np.array([[1.0 - 1e-300, 1e-300, 0.0], [0.0, 0.5, 0.5], [0.3, 0.0, 0.7]])
    transmat[0, 0] = 1.0  # 1 - 1e-300 rounds to 1: the rows still sum to 1
    model = HiddenMarkovModel(n_states=3, startprob=[1.0, 0.0, 0.0], transmat=transmat,
                              means=[[-3.0], [0.0], [3.0]], covars=[[1.0], [1.0], [1.0]])
    model.fit(np.zeros((1, 1, 1)))
    rng = np.random.default_rng(0)
    long = rng.normal(size=(1, 100_000, 1))
    long[0, 50_000:] += 3.0       # the data switch to state 2, reached only through 1e-300
    ll = model.log_likelihood(long)
    assert np.isfinite(ll).all()
    ref = model.to_hmmlearn(implementation="log").score(long[0])
    np.testing.assert_allclose(ll[0], ref, rtol=1e-9)
    assert np.isfinite(model.predict(long)).all()
    proba = model.predict_state_proba(long)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=-1), 1.0)


def test_log_filter_equals_the_scaled_filter_and_keeps_excluded_states_finite():
    rng = np.random.default_rng(1)
    log_b = rng.normal(size=(3, 40, 2)) * 3
    mask = np.ones((3, 40), dtype=bool)
    mask[1, 30:] = False
    pi, A = np.array([0.6, 0.4]), np.array([[0.9, 0.1], [0.2, 0.8]])
    filtered, _, _ = core.forward(log_b, mask, pi, A)
    np.testing.assert_allclose(np.exp(core.log_filter(log_b, mask, pi, A)), filtered,
                               rtol=1e-10)
    far = log_b.copy()
    far[:, 5, 1] = -1e24          # an observation 1e12 standard deviations from state 1
    log_filtered = core.log_filter(far, mask, pi, A)
    assert np.isfinite(log_filtered).all() and log_filtered[0, 5, 1] < -1e23


def test_supervised_log_likelihood_of_data_far_from_training_is_finite():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(4, 30, 1))
    labels = (X > 0).astype(np.int64)
    model = HiddenMarkovModel().fit(X, labels)
    ll = model.log_likelihood(X + 1e6, labels)
    assert np.isfinite(ll).all() and (ll < -1e9).all()


def test_em_on_data_offset_by_1e12_equals_em_on_the_centred_data():
    """hmmlearn's E[x^2] - E[x]^2 cancels for data far from 0; EM runs on centred data and
    the means move back: the same fit as on the data without the offset."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5, 40, 2)) + np.where(rng.random((5, 40, 1)) < 0.5, 2.0, -2.0)
    near = HiddenMarkovModel(random_state=0, n_iter=50).fit(X)
    far = HiddenMarkovModel(random_state=0, n_iter=50).fit(X + 1e12)
    np.testing.assert_allclose(far.means_ - 1e12, near.means_, atol=1e-3)
    np.testing.assert_allclose(far.covars_, near.covars_, rtol=1e-3)
    # (X + 1e12 keeps X to within 1.2e-4, the spacing of floats near 1e12)
    np.testing.assert_allclose(far.history_, near.history_, rtol=1e-5)
    np.testing.assert_allclose(far.log_likelihood(X + 1e12), near.log_likelihood(X), rtol=1e-4)


def test_hmmlearn_underflow_falls_back_to_log_then_names_the_scale(monkeypatch):
    X = np.random.default_rng(4).normal(size=(3, 20, 1))
    calls = []
    original = hl.GaussianHMM.fit

    def underflows(self, *args, **kwargs):
        calls.append(self.implementation)
        if self.implementation == "scaling" or fail_log:
            raise ValueError("forward pass failed with underflow; consider using "
                             "implementation='log' instead")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(hl.GaussianHMM, "fit", underflows)
    fail_log = False
    model = HiddenMarkovModel(random_state=0).fit(X)
    assert calls == ["scaling", "log"] and np.isfinite(model.history_).all()
    fail_log = True
    with pytest.raises(ValueError, match=r"EM could not run on X \(values up to .* in "
                                         r"magnitude.*Rescale X") as info:
        HiddenMarkovModel(random_state=0).fit(X)
    assert "consider using implementation" in str(info.value)  # hmmlearn's words, quoted


@pytest.mark.parametrize("emission", ["gaussian", "gmm"])
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_n_params_counts_every_free_value_of_the_fitted_arrays(emission, covariance_type):
    """n_params_ = free values of startprob, transmat, weights, means and covars as hmmlearn
    stores them (a tied mixture has one covariance per state: covars_ is (K, d, d))."""
    X = np.random.default_rng(3).normal(size=(4, 60, 2))
    model = HiddenMarkovModel(n_states=2, emission=emission, covariance_type=covariance_type,
                              n_mix=2, n_iter=5, random_state=0).fit(X)
    K, d = 2, 2
    free = (K - 1) + K * (K - 1) + model.means_.size
    if emission == "gmm":
        free += K * (2 - 1)
    per_matrix = {"full": d * (d + 1) // 2, "tied": d * (d + 1) // 2, "diag": d, "spherical": 1}
    stored = core.covariance_shape(emission, covariance_type, K, d, 2)
    n_matrices = int(np.prod(stored[:-2])) if covariance_type in ("full", "tied") else \
        int(np.prod(stored)) // (d if covariance_type == "diag" else 1)
    assert model.n_params_ == free + n_matrices * per_matrix[covariance_type]


@pytest.mark.parametrize("bad", [0, 2.5, True])
def test_sample_sizes_are_checked_like_hyperparameters(bad):
    from seqmodels.utils.validation import InvalidParameterError

    model = HiddenMarkovModel(startprob=[1.0], transmat=[[1.0]], means=[[0.0]],
                              covars=[[1.0]], n_states=1).fit(np.zeros(3))
    with pytest.raises(InvalidParameterError, match="n_sequences must be an integer >= 1"):
        model.sample(bad, 5)
    with pytest.raises(InvalidParameterError, match="n_timesteps must be an integer >= 1"):
        KalmanFilter(model="local_level", Q=[[1.0]], R=[[1.0]]).fit(np.zeros(3)).sample(2, bad)
