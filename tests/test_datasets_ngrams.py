"""dynamic_ngrams: the generator's statistics, checked against its definition, and its oracle.

Graves, Wayne & Danihelka (2014), section 4.4: per sequence, 2^(order-1) probabilities
drawn from Beta(1/2, 1/2); the first order-1 bits fair coins, then each bit 1 with the
probability of its context. Fast: numpy and scipy only, a few thousand short sequences.
"""

import numpy as np
import pytest
from scipy import special, stats

from seqmodels import ContextCounter
from seqmodels.datasets import has_oracle, list_datasets, load


def _contexts(bits, L):
    """codes[i, t] of the last L bits (x_{t-1} least significant), for t >= L, by a loop."""
    n, T = bits.shape
    codes = np.zeros((n, T), dtype=int)
    for t in range(L, T):
        for j in range(1, L + 1):
            codes[:, t] += bits[:, t - j] << (j - 1)
    return codes


def test_record_shapes_metric_baseline_and_truth():
    data = load("dynamic_ngrams", n_train=7, n_test=3, n_timesteps=50, random_state=0)
    assert "dynamic_ngrams" in list_datasets() and has_oracle("dynamic_ngrams")
    assert data.task == "forecast" and data.y_train is None and data.n_history == 0
    assert data.X_train.shape == (7, 50, 1) and data.X_test.shape == (3, 50, 1)
    assert set(np.unique(np.concatenate([data.X_train, data.X_test]))) <= {0.0, 1.0}
    assert data.metric.name == "nll_per_step" and not data.metric.greater_is_better
    assert data.baselines == {"nll_per_step": pytest.approx(np.log(2.0))}
    assert data.truth["order"] == 6 and data.truth["prior"] == 0.5
    assert data.truth["probabilities"].shape == (10, 32)
    assert "Graves" in data.description and "bits per sequence" in data.description
    again = load("dynamic_ngrams", n_train=7, n_test=3, n_timesteps=50, random_state=0)
    np.testing.assert_array_equal(again.X_test, data.X_test)


def test_first_bits_are_fair_coins_and_later_bits_follow_their_contexts_probability():
    data = load("dynamic_ngrams", n_train=3000, n_test=1, n_timesteps=40, order=4,
                random_state=1)
    bits = data.X_train[..., 0].astype(int)
    theta = data.truth["probabilities"][:3000]
    first = bits[:, :3]
    assert abs(first.mean() - 0.5) < 4 * 0.5 / np.sqrt(first.size)
    # the first bits do not depend on the sequence's probabilities
    assert abs(np.corrcoef(first.mean(axis=1), theta.mean(axis=1))[0, 1]) < 0.08
    codes = _contexts(bits, 3)
    p = np.take_along_axis(theta, codes[:, 3:], axis=1).ravel()
    x = bits[:, 3:].ravel()
    # calibration: within every decile of the true probability, the frequency of a 1
    edges = np.quantile(p, np.linspace(0, 1, 11))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, 9)
    for k in range(10):
        chosen = which == k
        se = np.sqrt(np.mean(p[chosen] * (1 - p[chosen])) / chosen.sum())
        assert abs(x[chosen].mean() - p[chosen].mean()) < 4.5 * se, k


def test_probabilities_are_beta_half_half_and_redrawn_for_every_sequence():
    data = load("dynamic_ngrams", n_train=2000, n_test=1, n_timesteps=2, random_state=2)
    theta = data.truth["probabilities"]
    assert stats.kstest(theta.ravel(), "beta", args=(0.5, 0.5)).pvalue > 1e-3
    # the same context's probability varies across sequences as Beta(1/2, 1/2) does
    np.testing.assert_allclose(theta.var(axis=0), 1 / 8, atol=0.015)
    assert abs(np.corrcoef(theta[:-1].ravel(), theta[1:].ravel())[0, 1]) < 0.03
    # and in the data: each sequence's share of 1s after one context spreads far wider
    # than the binomial noise of a shared probability would
    long = load("dynamic_ngrams", n_train=400, n_test=1, n_timesteps=300, order=2,
                random_state=3)
    bits = long.X_train[..., 0].astype(int)
    after_zero = (bits[:, 1:] == 1) & (bits[:, :-1] == 0)
    n_zero = (bits[:, :-1] == 0).sum(axis=1)
    share = after_zero.sum(axis=1)[n_zero >= 20] / n_zero[n_zero >= 20]
    assert share.var() > 5 * np.mean(share * (1 - share) / n_zero[n_zero >= 20])


def test_the_oracle_is_the_counter_with_the_true_prior():
    data = load("dynamic_ngrams", n_train=2, n_test=20, n_timesteps=60, order=3,
                random_state=4)
    oracle = data.oracle
    assert isinstance(oracle, ContextCounter)
    assert (oracle.context_length, oracle.prior, oracle.threshold) == (2, 0.5, None)
    assert oracle.n_params_ == 0
    # its log-likelihood is the Beta-Bernoulli marginal of each context's bits
    bits = data.X_test[..., 0].astype(int)
    codes = _contexts(bits, 2)
    expected = []
    for seq, code in zip(bits, codes):
        total = 2 * np.log(0.5)
        for c in range(4):
            after = seq[2:][code[2:] == c]
            total += special.betaln(after.sum() + 0.5, (1 - after).sum() + 0.5) \
                - special.betaln(0.5, 0.5)
        expected.append(total)
    np.testing.assert_allclose(oracle.log_likelihood(data.X_test), expected, rtol=1e-12)


def test_oracle_cost_of_order_one_matches_the_exact_expectation():
    """order=1: each sequence is T coins of one Beta(1/2, 1/2) probability; the oracle's
    expected cost is -sum_k C(T, k) m_k log m_k with m_k = B(k + 1/2, T - k + 1/2) / B(1/2, 1/2)
    (the marginal of a sequence with k ones)."""
    T = 50
    k = np.arange(T + 1)
    log_m = special.betaln(k + 0.5, T - k + 0.5) - special.betaln(0.5, 0.5)
    log_choose = special.gammaln(T + 1) - special.gammaln(k + 1) - special.gammaln(T - k + 1)
    expected = -np.sum(np.exp(log_choose + log_m) * log_m)
    data = load("dynamic_ngrams", n_train=1, n_test=4000, n_timesteps=T, order=1,
                random_state=5)
    cost = -data.oracle.log_likelihood(data.X_test)
    assert abs(cost.mean() - expected) < 4 * cost.std() / np.sqrt(cost.size)
    assert expected < 0.7 * T * np.log(2)      # far below the fair coin


def test_the_oracle_beats_the_fair_coin_and_every_other_counter():
    """Bayes-optimal on average: below log 2 per step by about 0.23 nats (133 bits per
    sequence of 200 against 200), and below counters of another prior or context length."""
    data = load("dynamic_ngrams", n_train=1, n_test=1000, random_state=6)
    X = data.X_test
    oracle = data.oracle.log_likelihood(X)
    bits = -oracle.mean() / np.log(2)
    assert 128 < bits < 138, bits
    for params in ({"prior": 1.0}, {"prior": 0.2}, {"context_length": 4},
                   {"context_length": 6}):
        other = ContextCounter(**{"context_length": 5, "prior": 0.5, **params}).fit(X)
        gap = oracle - other.log_likelihood(X)
        assert gap.mean() > 5 * gap.std() / np.sqrt(gap.size), (params, gap.mean())


@pytest.mark.parametrize("params, match", [
    ({"order": 0}, "order"), ({"order": 22}, "order"), ({"order": 2.0}, "order"),
    ({"n_timesteps": 0}, "n_timesteps"), ({"n_train": 0}, "n_train"),
    ({"n_test": -1}, "n_test"), ({"n_train": 1000, "n_timesteps": 1, "order": 21}, "order"),
    ({"random_state": "seed"}, "random_state"),
])
def test_bad_parameters_are_refused_naming_them(params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        load("dynamic_ngrams", **{"n_train": 2, "n_test": 1, **params})
