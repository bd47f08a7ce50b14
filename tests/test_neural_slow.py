"""The issue's "must show" figures, on the package's own datasets: memory tasks that separate
gated cells from SimpleRNN, and a recurrent state from a fixed window. Each trains networks
for up to a CPU minute.
"""

import numpy as np
import pytest

from seqmodels import FeedForwardNetwork, RecurrentNetwork
from seqmodels.datasets import load

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def adding():
    """Hochreiter & Schmidhuber's form, length 50: both marked values lie at least 25 steps back.

    Predicting the mean gives the variance baseline Var(U1 + U2) = 1/6 = 0.167.
    """
    return load("adding", n_train=6000, n_test=1000, length=50, placement="early",
                random_state=0)


def _adding_mse(cell, data, epochs):
    model = RecurrentNetwork(cell=cell, units=32, epochs=epochs, batch_size=64,
                             learning_rate=0.003, random_state=0).fit(data.X_train, data.y_train)
    return float(np.mean((model.predict(data.X_test)[:, -1, 0] - data.y_test[:, -1, 0]) ** 2))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_adding_problem_gated_cells_learn(cell, adding):
    assert _adding_mse(cell, adding, epochs=40) < 0.01


def test_adding_problem_simple_rnn_stays_at_the_variance_baseline(adding):
    # With both values 25+ steps back, SimpleRNN's gradients vanish before they reach them:
    # it learns nothing beyond the mean, however long it trains.
    mse = _adding_mse("simple", adding, epochs=40)
    assert abs(mse - adding.baselines["mse"]) < 0.015


def _exact(model, X, y):
    """Fraction of sums with every bit right."""
    return float(np.mean(np.all(model.predict(X) == y, axis=(1, 2))))


def test_binary_addition_rnn_generalises_to_longer_numbers_window_does_not():
    data = load("binary_addition", n_train=2000, n_test=500, n_bits_train=8, n_bits_test=24,
                random_state=0)
    rnn = RecurrentNetwork(cell="gru", units=8, epochs=30, batch_size=32, learning_rate=0.02,
                           random_state=0).fit(data.X_train, data.y_train)
    assert _exact(rnn, data.X_test, data.y_test) > 0.99
    window = FeedForwardNetwork(window=2, units=16, epochs=30, batch_size=32, learning_rate=0.02,
                                random_state=0).fit(data.X_train, data.y_train)
    assert _exact(window, data.X_train, data.y_train) < 0.5
    assert _exact(window, data.X_test, data.y_test) < 0.1
