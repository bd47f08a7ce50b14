"""The issue's "must show" figures: memory tasks that separate gated cells from SimpleRNN,
and a recurrent state from a fixed window. Each trains networks for a few CPU seconds.
"""

import numpy as np
import pytest

from seqmodels import FeedForwardNetwork, RecurrentNetwork

pytestmark = pytest.mark.slow

T_ADDING = 50


def adding_problem(n, T, seed):
    """Hochreiter & Schmidhuber (1997), in the form of Le, Jaitly & Hinton (2015).

    Input: (value ~ U(0, 1), marker) per step; two markers, one in each half.
    Target (last step only, NaN elsewhere): the sum of the two marked values.
    Predicting its mean gives the variance baseline Var(U1 + U2) = 1/6 = 0.167; a
    model that remembers only the recent (second-half) value is left with
    Var(U1) = 1/12 = 0.083.
    """
    rng = np.random.default_rng(seed)
    values = rng.random((n, T))
    first = rng.integers(0, T // 2, n)
    second = rng.integers(T // 2, T, n)
    markers = np.zeros((n, T))
    markers[np.arange(n), first] = 1.0
    markers[np.arange(n), second] = 1.0
    X = np.stack([values, markers], axis=-1)
    y = np.full((n, T, 1), np.nan)
    y[:, -1, 0] = values[np.arange(n), first] + values[np.arange(n), second]
    return X, y


@pytest.fixture(scope="module")
def adding():
    return adding_problem(3000, T_ADDING, 0), adding_problem(1000, T_ADDING, 1)


def _adding_mse(cell, adding):
    (X, y), (X_test, y_test) = adding
    model = RecurrentNetwork(cell=cell, units=16, epochs=15, batch_size=50, learning_rate=0.01,
                             random_state=0).fit(X, y)
    return float(np.mean((model.predict(X_test)[:, -1, 0] - y_test[:, -1, 0]) ** 2))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_adding_problem_gated_cells_learn(cell, adding):
    assert _adding_mse(cell, adding) < 0.01


def test_adding_problem_simple_rnn_cannot_remember_the_first_value(adding):
    # SimpleRNN at best learns the recent value: its error stays at or above the
    # 1/12 floor of a model that has forgotten the first one (0.167 if it learns nothing).
    mse = _adding_mse("simple", adding)
    assert 1.0 / 12.0 - 0.01 < mse < 1.0 / 6.0 + 0.02


def binary_addition(n, n_bits, seed):
    """Bits of a and b in (least significant first), bits of a + b out, n_bits + 1 steps."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, (n, n_bits + 1))
    b = rng.integers(0, 2, (n, n_bits + 1))
    a[:, -1] = b[:, -1] = 0
    weights = 2 ** np.arange(n_bits + 1, dtype=object)
    total = (a.astype(object) * weights).sum(axis=1) + (b.astype(object) * weights).sum(axis=1)
    bits = np.array([[(int(s) >> k) & 1 for k in range(n_bits + 1)] for s in total])
    return np.stack([a, b], axis=-1).astype(float), bits[..., None].astype(np.int64)


def _exact(model, X, y):
    """Fraction of sums with every bit right."""
    return float(np.mean(np.all(model.predict(X) == y, axis=(1, 2))))


def test_binary_addition_rnn_generalises_to_longer_numbers_window_does_not():
    X, y = binary_addition(2000, 8, 0)
    X_long, y_long = binary_addition(500, 24, 1)
    rnn = RecurrentNetwork(cell="gru", units=8, epochs=30, batch_size=32, learning_rate=0.02,
                           random_state=0).fit(X, y)
    assert _exact(rnn, X_long, y_long) > 0.99
    window = FeedForwardNetwork(window=2, units=16, epochs=30, batch_size=32, learning_rate=0.02,
                                random_state=0).fit(X, y)
    assert _exact(window, X, y) < 0.5
    assert _exact(window, X_long, y_long) < 0.1
