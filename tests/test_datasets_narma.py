"""The narma10 dataset: the NARMA-10 recurrence, checked step by step on the record itself."""

import numpy as np
import pytest

from seqmodels import EchoStateNetwork
from seqmodels.datasets import list_datasets, load


def _recurrence(u, y):
    """``y_{t+1}`` from the record's own history, one sequence and one step at a time.

    ``y[t - 1]`` is ``y_t``, ``y[t-10..t-1]`` are ``y_{t-9}..y_t``, ``u[t-9]`` is ``u_{t-9}``.
    """
    expected = []
    for t in range(10, len(u)):
        y_t = float(y[t - 1])
        window = sum(float(v) for v in y[t - 10:t])
        expected.append(0.3 * y_t + 0.05 * y_t * window + 1.5 * float(u[t - 9]) * float(u[t])
                        + 0.1)
    return np.array(expected)


def test_targets_follow_the_narma10_recurrence_of_atiya_and_parlos():
    data = load("narma10", n_train=3, n_test=2, n_timesteps=120, random_state=0)
    for X, y in ((data.X_train, data.y_train), (data.X_test, data.y_test)):
        for u, target in zip(X[..., 0], y[..., 0]):
            np.testing.assert_allclose(target[10:], _recurrence(u, target), rtol=1e-13)


def test_record_shapes_inputs_and_reproducibility():
    data = load("narma10", n_train=4, n_test=2, n_timesteps=80, random_state=3)
    assert data.task == "regression" and data.oracle is None
    assert data.X_train.shape == data.y_train.shape == (4, 80, 1)
    assert data.X_test.shape == (2, 80, 1)
    assert 0.0 <= data.X_train.min() and data.X_train.max() <= 0.5
    assert 0.1 < data.y_train.min() and data.y_train.max() < 1.5       # the stationary range
    assert data.baselines["mse"] == pytest.approx(np.var(data.y_test))
    again = load("narma10", n_train=4, n_test=2, n_timesteps=80, random_state=3)
    np.testing.assert_array_equal(again.y_test, data.y_test)
    assert "narma10" in list_datasets()
    assert "Atiya" in data.description


@pytest.mark.parametrize("params, error", [
    ({"n_timesteps": 0}, ValueError), ({"n_train": 2.5}, TypeError),
    ({"random_state": "seed"}, TypeError), ({"n_timesteps": 10**9}, ValueError)])
def test_bad_parameters_are_refused_by_name(params, error):
    name = next(iter(params))
    with pytest.raises(error, match=name):
        load("narma10", **params)


def test_an_echo_state_network_identifies_the_system_far_better_than_the_mean():
    data = load("narma10", n_train=10, n_test=4, n_timesteps=600, random_state=1)
    model = EchoStateNetwork(units=100, warmup=50, random_state=0)     # NRMSE 0.33 here
    model.fit(data.X_train, data.y_train)
    error = (model.predict(data.X_test) - data.y_test)[:, 50:]
    nrmse = np.sqrt(np.mean(error**2) / np.var(data.y_test[:, 50:]))
    assert nrmse < 0.45, nrmse    # predicting the mean: 1
