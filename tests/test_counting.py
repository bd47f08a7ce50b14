"""ContextCounter: every output against a direct per-sequence, per-step computation.

The reference below is the predictive rule written out plainly: for each sequence, each
step, the counts of the step's context (a tuple of the last L bits) at earlier steps,
``P(x_t = 1) = (N1 + a) / (N1 + N0 + 2 a)``, 1/2 before step L. Forecasts are checked
against a sum over every continuation. numpy and scipy only; fast.
"""

import itertools
import math
import pickle

import numpy as np
import pytest
from scipy import special

from seqmodels import ContextCounter, all_estimators
from seqmodels.inference.counting import MAX_EXACT_HORIZON, count_before
from seqmodels.utils import check_estimator


def reference_probabilities(bits, L, a):
    counts, out = {}, []
    for t, x in enumerate(bits):
        if t < L:
            out.append(0.5)
            continue
        context = tuple(bits[t - L:t])
        n0, n1 = counts.get(context, (0, 0))
        out.append((n1 + a) / (n0 + n1 + 2 * a))
        counts[context] = (n0 + (x == 0), n1 + (x == 1))
    return out


def reference_log_likelihood(bits, L, a):
    probabilities = reference_probabilities(bits, L, a)
    return math.fsum(math.log(p if x == 1 else 1 - p) for p, x in zip(probabilities, bits))


def reference_forecast(bits, L, a, horizon):
    """P(x_{T+k} = 1) by enumerating every continuation of ``horizon`` bits."""
    out = np.zeros(horizon)
    for continuation in itertools.product((0, 1), repeat=horizon):
        p = reference_probabilities(list(bits) + list(continuation), L, a)[len(bits):]
        weight = math.prod(q if b else 1 - q for q, b in zip(p, continuation))
        out += weight * np.array(continuation)
    return out


def sequences(seed, n=6, short=1, long=60, d=1, zeros=0.5):
    """Bits of unequal lengths (some shorter than the context), sticky enough that
    contexts recur."""
    rng = np.random.default_rng(seed)
    return [(rng.random((rng.integers(short, long + 1), d)) < zeros).astype(float)
            for _ in range(n)]


CASES = [(0, 0.5), (1, 1.0), (2, 0.5), (3, 0.05), (5, 0.5), (7, 3.7)]


@pytest.mark.parametrize("L, a", CASES)
def test_predict_and_log_likelihood_equal_the_direct_computation(L, a):
    X = sequences(L)
    model = ContextCounter(context_length=L, prior=a).fit(X)
    mean, std = model.predict(X, return_std=True)
    ll = model.log_likelihood(X)
    for i, x in enumerate(X):
        bits = x[:, 0].astype(int).tolist()
        p = np.array(reference_probabilities(bits, L, a))
        np.testing.assert_allclose(mean[i][:, 0], p, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(std[i][:, 0], np.sqrt(p * (1 - p)), rtol=1e-12, atol=1e-15)
        assert ll[i] == pytest.approx(reference_log_likelihood(bits, L, a), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("L, a", CASES)
def test_log_likelihood_is_the_beta_bernoulli_marginal_of_each_context(L, a):
    """sum_t log P(x_t | x_<t) = min(L, T) log 1/2 + sum_c log B(N1_c + a, N0_c + a) / B(a, a)."""
    X = sequences(L + 10, n=4, long=120)
    ll = ContextCounter(context_length=L, prior=a).fit(X).log_likelihood(X)
    for i, x in enumerate(X):
        bits = x[:, 0].astype(int)
        counts = {}
        for t in range(L, len(bits)):
            key = tuple(bits[t - L:t])
            counts.setdefault(key, []).append(bits[t])
        expected = min(L, len(bits)) * math.log(0.5) + sum(
            special.betaln(sum(v) + a, len(v) - sum(v) + a) - special.betaln(a, a)
            for v in counts.values())
        assert ll[i] == pytest.approx(expected, rel=1e-10, abs=1e-10)


def test_a_3d_array_a_list_and_each_sequence_alone_agree():
    X = np.stack([x[:40] for x in sequences(3, n=5, short=40, long=60)])
    model = ContextCounter(context_length=3).fit(X)
    together = model.log_likelihood(X)
    np.testing.assert_array_equal(model.log_likelihood(list(X)), together)
    for i in range(len(X)):
        assert model.log_likelihood(X[i:i + 1])[0] == together[i]
    single = model.predict(X[0, :, 0])
    assert single.shape == (40,)
    np.testing.assert_array_equal(single, model.predict(X)[0, :, 0])


def test_features_are_independent_streams():
    X = sequences(4, n=4, d=2, short=30, long=50)
    model = ContextCounter(context_length=2, prior=1.0).fit(X)
    both = model.predict(X)
    ll = model.log_likelihood(X)
    for j in range(2):
        alone = [x[:, j:j + 1] for x in X]
        single = ContextCounter(context_length=2, prior=1.0).fit(alone)
        for i in range(len(X)):
            np.testing.assert_array_equal(both[i][:, j], single.predict(alone)[i][:, 0])
    separate = sum(ContextCounter(context_length=2, prior=1.0).fit(
        [x[:, j:j + 1] for x in X]).log_likelihood([x[:, j:j + 1] for x in X])
        for j in range(2))
    np.testing.assert_allclose(ll, separate, rtol=1e-13)


def test_long_contexts_number_the_pairs_that_occur():
    """L = 23 (a dense table of 2^23 per stream would be too large): same as the reference."""
    X = sequences(5, n=3, short=50, long=80, zeros=0.9)
    model = ContextCounter(context_length=23, prior=0.5).fit(X)
    mean = model.predict(X)
    for i, x in enumerate(X):
        bits = x[:, 0].astype(int).tolist()
        np.testing.assert_allclose(mean[i][:, 0], reference_probabilities(bits, 23, 0.5),
                                   rtol=1e-12)
        assert model.log_likelihood([x])[0] == pytest.approx(
            reference_log_likelihood(bits, 23, 0.5), rel=1e-12)
    forecast = model.forecast(X, 3)
    for i, x in enumerate(X):
        np.testing.assert_allclose(
            forecast[i][:, 0], reference_forecast(x[:, 0].astype(int), 23, 0.5, 3), rtol=1e-12)


@pytest.mark.parametrize("L, a", [(0, 0.5), (1, 0.5), (2, 1.0), (3, 0.3), (5, 0.5)])
def test_forecast_sums_over_every_continuation(L, a):
    X = sequences(20 + L, n=5, short=1, long=30, zeros=0.7)
    model = ContextCounter(context_length=L, prior=a).fit(X)
    mean, std = model.forecast(X, 5, return_std=True)
    for i, x in enumerate(X):
        expected = reference_forecast(x[:, 0].astype(int), L, a, 5)
        np.testing.assert_allclose(mean[i][:, 0], expected, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(std[i][:, 0], np.sqrt(expected * (1 - expected)), rtol=1e-12)


def test_forecast_without_context_is_the_posterior_mean_at_every_horizon():
    """L = 0: one Beta-Bernoulli coin per sequence; its predictive probability is a
    martingale, so every step ahead has the one-step probability (N1 + a) / (N + 2 a)."""
    x = np.array([1, 1, 0, 1, 1, 1, 0, 1], dtype=float)
    forecast = ContextCounter(context_length=0, prior=0.5).fit(x).forecast(x, 8)
    np.testing.assert_allclose(forecast, (6 + 0.5) / (8 + 1.0), rtol=1e-13)


def test_forecast_is_not_the_one_step_probability_fed_back():
    """After 0 1 0 1 0 1 (L = 1) the next bit is 0 with probability 5/6. Two steps ahead the
    exact probability counts the first forecast bit (a 1 after a 1 makes the context 1
    less sure of a 0): it differs from the chain run on the posterior means."""
    x = np.array([0, 1, 0, 1, 0, 1], dtype=float)
    model = ContextCounter(context_length=1, prior=0.5).fit(x)
    p1, p2 = model.forecast(x, 2)
    after_zero = (3 + 0.5) / (3 + 1.0)           # 0 was followed by 1 three times
    after_one = (0 + 0.5) / (2 + 1.0)            # 1 was followed by 0 twice
    assert p1 == pytest.approx(after_one, rel=1e-13)
    chain = p1 * after_one + (1 - p1) * after_zero
    exact = p1 * ((1 + 0.5) / (3 + 1.0)) + (1 - p1) * after_zero   # the 1 after a 1 counted
    assert p2 == pytest.approx(exact, rel=1e-13) and abs(p2 - chain) > 1e-3


def test_horizon_beyond_the_exact_limit_is_refused_naming_it():
    x = np.zeros(10)
    model = ContextCounter().fit(x)
    assert model.forecast(x, MAX_EXACT_HORIZON).shape == (MAX_EXACT_HORIZON,)
    with pytest.raises(ValueError, match=r"horizon=13 .* limit of 12 steps"):
        model.forecast(x, MAX_EXACT_HORIZON + 1)


def test_forecast_one_step_is_the_next_prediction():
    X = np.stack(sequences(8, n=4, short=40, long=40))
    model = ContextCounter(context_length=3).fit(X)
    extended = np.concatenate([X, np.zeros_like(X[:, :1])], axis=1)
    np.testing.assert_array_equal(model.forecast(X, 1)[:, 0], model.predict(extended)[:, -1])


def test_fit_learns_nothing_and_checks_the_bits():
    X = np.stack(sequences(9, n=3, short=20, long=20))
    model = ContextCounter(context_length=2).fit(X)
    assert (model.n_features_in_, model.n_params_, model.n_contexts_, model.history_) == \
        (1, 0, 4, [])
    other = ContextCounter(context_length=2).fit(1.0 - X[:1])
    np.testing.assert_array_equal(other.predict(X), model.predict(X))


@pytest.mark.parametrize("value", [0.5, 2.0, -1.0, 1e-300])
def test_values_other_than_bits_are_refused_naming_x_and_where(value):
    X = np.zeros((3, 10, 1))
    X[1, 4, 0] = value
    model = ContextCounter()
    with pytest.raises(ValueError, match=r"^X holds .* at sequence 1, timestep 4; "
                                         r"ContextCounter counts bits.*threshold"):
        model.fit(X)
    fitted = ContextCounter().fit(np.zeros((1, 5, 1)))
    for method in (fitted.predict, fitted.log_likelihood, lambda X: fitted.forecast(X, 2)):
        with pytest.raises(ValueError, match="at sequence 1, timestep 4"):
            method(X)


def test_a_second_feature_is_named_and_nan_is_refused():
    X = np.zeros((2, 6, 2))
    X[0, 3, 1] = 0.25
    with pytest.raises(ValueError, match="sequence 0, timestep 3, feature 1"):
        ContextCounter().fit(X)
    X[0, 3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN at sequence 0, timestep 3"):
        ContextCounter().fit(X)


def test_threshold_reads_real_values_as_bits():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 30, 1))
    bits = (X > 0.3).astype(float)
    model = ContextCounter(context_length=2, threshold=0.3).fit(X)
    plain = ContextCounter(context_length=2).fit(bits)
    np.testing.assert_array_equal(model.predict(X), plain.predict(bits))
    np.testing.assert_array_equal(model.log_likelihood(X), plain.log_likelihood(bits))


@pytest.mark.parametrize("params, name", [
    ({"context_length": -1}, "context_length"), ({"context_length": 31}, "context_length"),
    ({"context_length": 2.0}, "context_length"), ({"prior": 0.0}, "prior"),
    ({"prior": -1.0}, "prior"), ({"prior": np.inf}, "prior"), ({"threshold": "0"}, "threshold"),
])
def test_bad_hyperparameters_are_refused_naming_them(params, name):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        ContextCounter(**params).fit(np.zeros((1, 5, 1)))


def test_targets_are_refused():
    X = np.zeros((2, 5, 1))
    with pytest.raises(ValueError, match="forecasts only"):
        ContextCounter().fit(X, X)
    assert not hasattr(ContextCounter().fit(X), "predict_proba")


def test_core_counts_before_each_step():
    bits = np.array([[0, 0, 0, 1, 0, 0, 1]])[..., None]
    counts = count_before(bits, np.array([7]), 1)
    # contexts 0,0,0,1,0,0 at t = 1..6; a 0 after 0 at t = 1, 2, 5; a 1 after 0 at t = 3, 6
    np.testing.assert_array_equal(counts.total[0, :, 0], [0, 0, 1, 2, 0, 3, 4])
    np.testing.assert_array_equal(counts.ones[0, :, 0], [0, 0, 0, 0, 0, 1, 1])


def test_registered_and_passes_the_contract_checks():
    assert dict(all_estimators())["ContextCounter"] is ContextCounter
    results = check_estimator(ContextCounter())
    assert results["check_causal_forecasting"] == "passed"
    assert results["check_forecast"] == "passed"
    assert not [name for name, result in results.items()
                if result != "passed" and "supervised mode" not in result
                and "attention" not in result and "random_state" not in result
                and "single-step" not in result]


def test_pickle_round_trip_gives_identical_outputs():
    X = sequences(10, n=4, short=5, long=40)
    model = ContextCounter(context_length=3, prior=0.7).fit(X)
    copy = pickle.loads(pickle.dumps(model))
    assert copy.get_params() == model.get_params()
    np.testing.assert_array_equal(model.log_likelihood(X), copy.log_likelihood(X))
    for a, b in zip(model.predict(X), copy.predict(X)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.stack(model.forecast(X, 4)), np.stack(copy.forecast(X, 4)))
