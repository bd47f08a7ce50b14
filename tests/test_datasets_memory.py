"""Long-memory tasks: targets checked against their definitions, computed independently."""

import numpy as np
import pytest

from seqmodels.datasets import load


@pytest.mark.parametrize("placement, first_below, second_in", [
    ("halves", 20, (20, 40)), ("early", 10, (10, 20))])
def test_adding_target_is_the_sum_of_the_marked_values(placement, first_below, second_in):
    data = load("adding", n_train=50, n_test=10, length=40, placement=placement, random_state=0)
    X, y = data.X_train, data.y_train
    assert X.shape == (50, 40, 2) and y.shape == (50, 40, 1)
    assert np.isnan(y[:, :-1]).all()
    np.testing.assert_array_equal(X[..., 1].sum(axis=1), 2.0)
    for seq, target in zip(X, y[:, -1, 0]):
        marked = np.flatnonzero(seq[:, 1])
        assert marked[0] < first_below and second_in[0] <= marked[1] < second_in[1]
        assert target == pytest.approx(seq[marked, 0].sum())
    # The recorded baseline is the variance of the target.
    big = load("adding", n_train=20000, n_test=1, length=10, random_state=1)
    assert big.y_train[:, -1, 0].var() == pytest.approx(data.baselines["mse"], rel=0.03)


def test_copy_memory_recalls_the_symbols_after_the_lag():
    data = load("copy_memory", n_train=20, n_test=5, n_symbols=5, n_recall=4, lag=6,
                random_state=0)
    X, y = data.X_train, data.y_train
    assert X.shape == (20, 14, 7) and y.dtype.kind == "i"
    np.testing.assert_array_equal(X.sum(axis=-1), 1.0)
    shown = X[:, :4].argmax(axis=-1)
    np.testing.assert_array_equal(y[:, 10:, 0], shown)
    np.testing.assert_array_equal(y[:, :10, 0], -1)
    np.testing.assert_array_equal(X[:, 10].argmax(-1), 6)  # the cue
    assert data.baselines["accuracy"] == pytest.approx(0.2)


def test_delayed_xor_and_parity_by_loops():
    xor = load("delayed_xor", n_train=5, n_test=2, length=12, lag=3, random_state=0)
    par = load("parity", n_train=5, n_test=2, length=12, random_state=0)
    for bits, labels in zip(xor.X_train[..., 0].astype(int), xor.y_train[..., 0]):
        for t in range(12):
            assert labels[t] == (bits[t] ^ bits[t - 3] if t >= 3 else -1)
    for bits, labels in zip(par.X_train[..., 0].astype(int), par.y_train[..., 0]):
        running = 0
        for t in range(12):
            running ^= bits[t]
            assert labels[t] == running


def test_binary_addition_bits_add_up_and_test_numbers_are_longer():
    data = load("binary_addition", n_train=30, n_test=10, n_bits_train=6, n_bits_test=12,
                random_state=0)
    assert data.X_train.shape == (30, 7, 2) and data.X_test.shape == (10, 13, 2)
    weights = 2 ** np.arange(13)
    a = data.X_test[..., 0] @ weights
    b = data.X_test[..., 1] @ weights
    np.testing.assert_array_equal(data.y_test[..., 0] @ weights, a + b)


@pytest.mark.parametrize("name, bad", [
    ("adding", {"length": 3}),
    ("adding", {"placement": "late"}),
    ("copy_memory", {"n_symbols": 1}),
    ("delayed_xor", {"lag": 0}),
    ("binary_addition", {"n_bits_test": 80}),
    ("parity", {"n_train": 0}),
])
def test_bad_parameters(name, bad):
    with pytest.raises(ValueError):
        load(name, **bad)
