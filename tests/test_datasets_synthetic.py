"""Synthetic datasets: deterministic, shaped as documented, and their oracles are Bayes-optimal."""

import numpy as np
import pytest

from seqmodels import AutoRegressive
from seqmodels.inference.autoregressive import stationary_moments
from seqmodels.datasets import Dataset, list_datasets, load


def test_registry_lists_every_generator_with_a_summary():
    listing = list_datasets()
    assert {"var", "ar"} <= set(listing)
    assert all(isinstance(text, str) and text for text in listing.values())


@pytest.mark.parametrize("name", ["var", "ar"])
def test_generators_are_deterministic_given_random_state(name):
    first = load(name, n_train=3, n_test=2, n_timesteps=40, random_state=11)
    second = load(name, n_train=3, n_test=2, n_timesteps=40, random_state=11)
    other = load(name, n_train=3, n_test=2, n_timesteps=40, random_state=12)
    np.testing.assert_array_equal(first.X_train, second.X_train)
    np.testing.assert_array_equal(first.X_test, second.X_test)
    assert not np.allclose(first.X_train, other.X_train)
    assert isinstance(first, Dataset) and first.task == "forecast" and first.y_train is None
    assert first.X_train.shape[:2] == (3, 40) and first.X_test.shape[:2] == (2, 40)


def test_var_data_has_the_stationary_moments_of_its_truth():
    data = load("var", n_train=200, n_test=1, n_timesteps=300, random_state=0)
    mu, gamma = stationary_moments(data.truth["intercept"], data.truth["coef"],
                                   data.truth["noise_cov"])
    flat = data.X_train.reshape(-1, 2)
    np.testing.assert_allclose(flat.mean(0), mu[:2], atol=0.05)
    np.testing.assert_allclose(np.cov(flat.T), gamma[:2, :2], rtol=0.05)


def test_oracle_is_at_least_as_good_as_fitted_models_on_average():
    gaps = []
    for seed in range(5):
        data = load("ar", n_train=5, n_test=5, n_timesteps=100, random_state=seed)
        fitted = AutoRegressive(order=2).fit(data.X_train)
        gaps.append(data.oracle.log_likelihood(data.X_test).sum()
                    - fitted.log_likelihood(data.X_test).sum())
    assert np.mean(gaps) > 0


def test_load_refuses_unknown_names_and_parameters():
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        load("nope")
    with pytest.raises(TypeError, match="unexpected parameter"):
        load("var", n_sequences=3)
    with pytest.raises(ValueError, match="n_train must be an integer"):
        load("var", n_train=0)
    with pytest.raises(ValueError, match="unstable"):
        load("ar", coef=(1.2,))


GENERATED = ["var", "ar", "lds", "noisy_sine", "hmm_regimes", "lorenz", "mackey_glass", "narma10",
             "adding", "copy_memory", "delayed_xor", "binary_addition", "parity", "dynamic_ngrams",
             "constant_velocity", "constant_acceleration", "maneuvering", "projectile", "orbit"]


@pytest.mark.parametrize("name", GENERATED)
def test_every_generator_is_deterministic_given_random_state(name):
    small = {"n_train": 3, "n_test": 2}
    first, second = load(name, **small, random_state=5), load(name, **small, random_state=5)
    for part in ("X_train", "y_train", "X_test", "y_test"):
        a, b = getattr(first, part), getattr(second, part)
        if a is None:
            assert b is None
        else:
            np.testing.assert_array_equal(a, b)
    assert len(first.X_train) == 3 and len(first.X_test) == 2
    assert first.description and first.task in ("forecast", "regression", "tagging")


def test_every_registered_dataset_is_covered():
    assert set(list_datasets()) == set(GENERATED) | {"nile", "sunspots", "lynx", "adsb"}


def test_hmm_oracle_beats_fitted_hmms_on_average():
    from seqmodels import HiddenMarkovModel

    gaps = []
    for seed in range(3):
        data = load("hmm_regimes", n_train=10, n_test=10, n_timesteps=100, random_state=seed)
        fitted = HiddenMarkovModel(n_states=3, n_init=2, random_state=seed).fit(data.X_train)
        gaps.append(data.oracle.log_likelihood(data.X_test).sum()
                    - fitted.log_likelihood(data.X_test).sum())
    assert np.mean(gaps) > 0


def test_tracking_oracle_beats_a_learned_filter_on_average():
    from seqmodels import KalmanFilter

    gaps = []
    for seed in range(3):
        data = load("constant_velocity", n_train=10, n_test=20, random_state=seed)
        fitted = KalmanFilter(model="constant_velocity").fit(data.X_train, data.y_train)
        gaps.append(data.oracle.log_likelihood(data.X_test, data.y_test).sum()
                    - fitted.log_likelihood(data.X_test, data.y_test).sum())
    assert np.mean(gaps) > 0
