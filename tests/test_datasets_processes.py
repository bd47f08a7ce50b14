"""Synthetic processes and tracking scenarios, checked against physics and closed forms."""

import numpy as np
import pytest

from seqmodels import AutoRegressive
from seqmodels.datasets import load
from seqmodels.datasets.synthetic import lorenz_derivative
from seqmodels.datasets.tracking import GRAVITY, orbit_transition, projectile_transition


def test_lorenz_clean_paths_follow_the_vector_field():
    data = load("lorenz", n_train=4, n_test=1, n_timesteps=400, sample_every=0.01,
                noise_std=0.0, random_state=0)
    clean = data.truth["clean"]
    # Central differences of the sampled path equal the Lorenz vector field.
    velocity = (clean[:, 2:] - clean[:, :-2]) / 0.02
    field = lorenz_derivative(clean[:, 1:-1])
    assert np.abs(velocity - field).mean() < 0.01 * np.abs(field).mean()  # O(h²) differences
    assert 15 < clean[..., 2].mean() < 30  # on the butterfly, not at a fixed point


def test_mackey_glass_stays_on_its_attractor():
    data = load("mackey_glass", n_train=3, n_test=1, n_timesteps=300, noise_std=0.0,
                random_state=0)
    values = data.truth["clean"]
    assert 0.2 < values.min() and values.max() < 1.5 and values.std() > 0.15


def test_projectile_without_drag_is_a_parabola():
    state = np.array([[0.0, 200.0, 0.0, 150.0]])
    after = projectile_transition(state, 3.0, drag=0.0)
    np.testing.assert_allclose(after[0], [600.0, 200.0, 450.0 - 0.5 * GRAVITY * 9.0,
                                          150.0 - 3.0 * GRAVITY], rtol=1e-12)
    data = load("projectile", n_train=5, n_test=2, random_state=0)
    speed = np.hypot(data.y_train[..., 1], data.y_train[..., 3])
    horizontal = data.y_train[..., 1]
    assert np.all(np.diff(horizontal, axis=1) < 2.0)  # drag only slows the horizontal motion
    assert speed.max() < 350 and data.y_train[..., 2].min() > 0


def test_orbit_conserves_energy_and_measures_range_and_bearing():
    data = load("orbit", n_train=10, n_test=2, range_std=1e-9, bearing_std=1e-9, random_state=0)
    s = data.y_train
    energy = 0.5 * (s[..., 1] ** 2 + s[..., 3] ** 2) - 1 / np.hypot(s[..., 0], s[..., 2])
    np.testing.assert_allclose(energy, -0.5, atol=1e-8)  # semi-major axis 1
    np.testing.assert_allclose(data.X_train[..., 0], np.hypot(s[..., 0], s[..., 2]), atol=1e-7)
    np.testing.assert_allclose(data.X_train[..., 1], np.arctan2(s[..., 2], s[..., 0]), atol=1e-7)
    # A full period (2 pi) brings a planet back to its start.
    start = s[:1, 0]
    np.testing.assert_allclose(orbit_transition(start, 2 * np.pi, substeps=4000), start,
                               atol=1e-6)


def test_maneuvering_turns_at_the_given_rate():
    data = load("maneuvering", n_train=20, n_test=2, acceleration_std=1e-9, turn_rate=0.05,
                random_state=0)
    vx, vy = data.y_train[..., 1], data.y_train[..., 3]
    heading_change = np.angle(np.exp(1j * np.diff(np.arctan2(vy, vx), axis=1)))
    modes = data.truth["modes"][:20, 1:]
    np.testing.assert_allclose(heading_change[modes == 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(heading_change[modes == 1], 0.05, atol=1e-6)
    np.testing.assert_allclose(heading_change[modes == 2], -0.05, atol=1e-6)
    speed = np.hypot(vx, vy)
    np.testing.assert_allclose(speed, np.broadcast_to(speed[:, :1], speed.shape), rtol=1e-6)


@pytest.mark.parametrize("name", ["lds", "noisy_sine"])
def test_kalman_oracles_beat_fitted_autoregressions(name):
    gaps = []
    for seed in range(3):
        data = load(name, n_train=20, n_test=10, random_state=seed)
        fitted = AutoRegressive(order=4).fit(data.X_train)
        gaps.append(data.oracle.log_likelihood(data.X_test).sum()
                    - fitted.log_likelihood(data.X_test).sum())
    assert np.mean(gaps) > 0
    assert data.oracle.n_params_ == 0 and data.oracle.learned_ == ()


@pytest.mark.parametrize("name, n_dims", [("constant_velocity", 1), ("constant_velocity", 3),
                                          ("constant_acceleration", 2)])
def test_tracking_oracle_is_calibrated_and_beats_the_raw_measurements(name, n_dims):
    data = load(name, n_dims=n_dims, n_train=50, n_test=100, random_state=1)
    k = data.y_test.shape[-1]
    assert data.X_test.shape[-1] == n_dims and k == n_dims * (2 if "velocity" in name else 3)
    mean, std = data.oracle.predict(data.X_test, return_std=True)
    z = (data.y_test - mean) / std
    # The exact filter's error has exactly its reported variance: z-scores of unit variance.
    np.testing.assert_allclose((z[:, 5:] ** 2).mean(axis=(0, 1)), 1.0, rtol=0.06)
    position = slice(0, None, k // n_dims)
    filtered = np.sqrt(((data.y_test[..., position] - mean[..., position]) ** 2).mean())
    raw = np.sqrt(((data.y_test[..., position] - data.X_test) ** 2).mean())
    assert filtered < 0.75 * raw


@pytest.mark.parametrize("name", ["maneuvering", "projectile", "orbit"])
def test_approximate_oracles_track_well_and_say_they_are_approximate(name):
    data = load(name, n_train=30, n_test=30, random_state=2)
    assert "approximate" in data.description
    mean, std = data.oracle.predict(data.X_test, return_std=True)
    assert mean.shape == data.y_test.shape
    z2 = (((data.y_test - mean) / std) ** 2)[:, 5:].mean(axis=(0, 1))
    assert np.all((0.5 < z2) & (z2 < 3.0))  # roughly calibrated, not exact
    baseline = AutoRegressive(order=3).fit(data.X_train, data.y_train).predict(data.X_test)
    position = [0, 2]
    oracle_error = np.sqrt(((data.y_test - mean)[..., position] ** 2).mean())
    baseline_error = np.sqrt(((data.y_test - baseline)[..., position] ** 2).mean())
    assert oracle_error < 0.8 * baseline_error


@pytest.mark.parametrize("name", ["var", "ar", "lds", "noisy_sine", "hmm_regimes",
                                  "constant_velocity", "constant_acceleration"])
def test_exact_oracles_learn_nothing(name):
    data = load(name, n_train=3, n_test=2, random_state=0)
    assert data.oracle.n_params_ == 0
    assert "approximate" not in data.description


def test_tracking_missing_fraction_removes_whole_steps_and_keeps_the_rest():
    full = load("constant_velocity", n_train=20, n_test=10, n_timesteps=60, random_state=3)
    gappy = load("constant_velocity", n_train=20, n_test=10, n_timesteps=60,
                 missing_fraction=0.3, random_state=3)
    missing = np.isnan(gappy.X_train)
    assert (missing.all(axis=-1) == missing.any(axis=-1)).all()      # whole steps
    assert abs(missing.all(axis=-1).mean() - 0.3) < 0.03
    kept = ~missing
    np.testing.assert_array_equal(gappy.X_train[kept], full.X_train[kept])
    np.testing.assert_array_equal(gappy.y_train, full.y_train)
    # the oracle (the exact Kalman filter) skips the missing updates
    estimate = gappy.oracle.predict(gappy.X_test)
    assert np.isfinite(estimate).all()
    # after the first steps (where a missing first fix leaves only the wide prior), a 30 %
    # gap rate costs the exact filter a little accuracy, not its footing

    def rmse(data, estimate):
        return np.sqrt(np.mean((estimate - data.y_test)[:, 10:, [0, 2]] ** 2))

    rmse_gappy, rmse_full = rmse(gappy, estimate), rmse(full, full.oracle.predict(full.X_test))
    assert rmse_full < rmse_gappy < 1.5 * rmse_full
