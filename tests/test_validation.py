"""check_sequences / check_targets: every container form in, the same form out."""

import numpy as np
import pytest

from seqmodels.utils.validation import (check_horizon, check_random_state, check_sequences,
                                        check_targets)


def test_3d_array_is_kept_and_restored_as_is():
    X = np.arange(24, dtype=float).reshape(2, 4, 3)
    batch = check_sequences(X)
    assert batch.form == "3d" and batch.values.shape == (2, 4, 3)
    np.testing.assert_array_equal(batch.lengths, [4, 4])
    out = batch.restore(batch.values[..., :1])
    assert out.shape == (2, 4, 1)
    batch.values[0, 0, 0] = 99.0
    assert X[0, 0, 0] == 0.0  # a copy: the caller's array is never modified


def test_ragged_list_is_padded_with_nan_and_restored_to_a_list():
    X = [np.ones((3, 2)), 2 * np.ones((5, 2))]
    batch = check_sequences(X)
    assert batch.form == "list" and batch.values.shape == (2, 5, 2)
    assert np.isnan(batch.values[0, 3:]).all()
    np.testing.assert_array_equal(batch.mask, [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    out = batch.restore(batch.values)
    assert isinstance(out, list) and [o.shape for o in out] == [(3, 2), (5, 2)]
    forecast = batch.restore(np.zeros((2, 4, 2)), lengths=[4, 4])
    assert [f.shape for f in forecast] == [(4, 2), (4, 2)]


def test_nested_python_lists_of_2d_items_are_a_list_of_sequences():
    batch = check_sequences([[[1.0], [2.0]], [[3.0]]])
    assert batch.form == "list"
    np.testing.assert_array_equal(batch.lengths, [2, 1])


def test_1d_array_is_one_univariate_sequence_and_comes_back_1d():
    batch = check_sequences([1.0, 2.0, 3.0])
    assert batch.form == "1d" and batch.values.shape == (1, 3, 1)
    assert batch.restore(batch.values).shape == (3,)
    assert batch.restore(np.zeros((1, 3, 2))).shape == (3, 2)


def test_bool_and_numeric_object_arrays_are_accepted_as_floats():
    assert check_sequences(np.ones((1, 2, 1), dtype=bool)).values.dtype == np.float64
    assert check_sequences(np.array([[[1], [2]]], dtype=object)).values.dtype == np.float64


@pytest.mark.parametrize("value, error, message", [
    (None, ValueError, "X is None"),
    ("abc", TypeError, "numeric"),
    (np.array([[[1 + 2j]]]), TypeError, "real numbers"),
    ([np.ones(3), np.ones((3, 1))], ValueError, r"X is a list whose item 0 has 1 dimension"),
    (np.ones((2, 3)), ValueError, r"X\[None\]"),
])
def test_refusals(value, error, message):
    with pytest.raises(error, match=message):
        check_sequences(value)


def test_nan_allowed_only_when_asked_and_never_inf():
    X = np.zeros((2, 4, 1))
    X[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="NaN at sequence 1, timestep 2"):
        check_sequences(X)
    assert np.isnan(check_sequences(X, allow_nan=True).values[1, 2, 0])
    X[0, 1, 0] = -np.inf
    with pytest.raises(ValueError, match="infinity at sequence 0, timestep 1"):
        check_sequences(X, allow_nan=True)


def test_min_length_and_n_features_messages():
    with pytest.raises(ValueError, match=r"X\[1\] has 2 timestep\(s\); Thing needs at least 3"):
        check_sequences([np.ones((4, 1)), np.ones((2, 1))], min_length=3, estimator_name="Thing")
    with pytest.raises(ValueError, match="X has 1 feature.* fitted with 2"):
        check_sequences(np.ones((1, 3, 1)), n_features=2)


def test_targets_follow_x_and_detect_labels():
    X = check_sequences(np.zeros((2, 3, 2)))
    y, labels = check_targets(np.ones((2, 3, 1), dtype=int), X)
    assert labels and y.values.dtype == np.float64
    partial = np.tile(np.array([[0.0], [np.nan], [1.0]]), (2, 1, 1))
    y, labels = check_targets(partial, X)
    assert not labels and np.isnan(y.values[:, 1]).all()
    with pytest.raises(ValueError, match="no target at any timestep"):
        check_targets(np.full((2, 3, 1), np.nan), X)
    labels_with_gaps = np.array([[[1], [-1], [0]], [[-1], [-1], [2]]])
    y, labels = check_targets(labels_with_gaps, X)
    assert labels and np.isnan(y.values[0, 1, 0]) and y.values[1, 2, 0] == 2.0
    with pytest.raises(ValueError, match=r"y\[0\] has 2 timestep"):
        check_targets(np.ones((2, 2, 1)), X)


def test_horizon():
    assert check_horizon(np.int64(3)) == 3
    for bad, error in ((0, ValueError), (-2, ValueError), (1.0, TypeError), (True, TypeError)):
        with pytest.raises(error, match="horizon"):
            check_horizon(bad)


def test_random_state_accepts_none_int_randomstate_and_generator():
    assert check_random_state(None) is np.random.mtrand._rand
    state = np.random.RandomState(3)
    assert check_random_state(state) is state
    np.testing.assert_array_equal(check_random_state(np.int64(7)).randint(1000, size=5),
                                  np.random.RandomState(7).randint(1000, size=5))
    # A Generator: the same seed gives the same draws, and the draws advance the Generator.
    first = check_random_state(np.random.default_rng(5)).standard_normal(4)
    generator = np.random.default_rng(5)
    np.testing.assert_array_equal(check_random_state(generator).standard_normal(4), first)
    assert generator.bit_generator.state != np.random.default_rng(5).bit_generator.state


@pytest.mark.parametrize("bad, error", [
    (True, TypeError), (np.bool_(False), TypeError), (1.0, TypeError), ("0", TypeError),
    ([0], TypeError), (np.random.MT19937(0), TypeError), (-1, ValueError),
    (2**32, ValueError)])
def test_random_state_refusals_name_the_argument(bad, error):
    with pytest.raises(error, match="seed_of_data"):
        check_random_state(bad, "seed_of_data")


# -- issue #14: ragged members, huge numbers and magnitudes, unreasonable horizons ------------


@pytest.mark.parametrize("value, message", [
    ([[[1.0, 2.0], [3.0]], np.zeros((30, 2))],
     r"X\[0\] is ragged: its timesteps have different numbers of values \(2 at timestep 0, "
     r"1 at timestep 1"),
    ([np.zeros((3, 2)), [[1.0], [2.0, 3.0]]], r"X\[1\] is ragged"),
    ([1.0, [2.0, 3.0]], r"X is ragged"),
    ([[[1.0], [[2.0]]]], r"X\[0\] is not a rectangular array"),
    ([[[1.0, [2.0, 3.0]], [1.0, 2.0]]], r"X\[0\] is not a rectangular array"),
    ([np.ones(3), np.ones(4)], r"X is a list of 1-D arrays of different lengths \(\[3, 4\]\).*"
                               r"\[x\[:, None\] for x in X\]"),
    ([[[10**400, 1.0]]], r"X\[0\] holds an integer too large for a float"),
    (np.array([[[10**400]]], dtype=object), r"X holds an integer too large"),
])
def test_ragged_and_oversized_input_is_named(value, message):
    with pytest.raises(ValueError, match=message):
        check_sequences(value)


@pytest.mark.parametrize("value", [{0: np.zeros((3, 1))}, {1.0, 2.0}, b"12"])
def test_dicts_sets_and_bytes_are_type_errors(value):
    with pytest.raises(TypeError, match="X must be numeric sequences; got X of type"):
        check_sequences(value)


def test_magnitudes_beyond_the_limit_are_refused_naming_the_first_and_the_fix():
    from seqmodels.utils.validation import MAX_ABS_VALUE

    X = np.zeros((2, 5, 2))
    X[1, 3, 0] = -1e101
    with pytest.raises(ValueError, match=r"X holds values up to 1e\+101 in magnitude \(the "
                                         r"first at sequence 1, timestep 3\).*rescale X"):
        check_sequences(X)
    X[1, 3, 0] = np.nan
    X[0, 2, 1] = 1e300
    with pytest.raises(ValueError, match=r"targets holds values up to 1e\+300.*sequence 0, "
                                         r"timestep 2"):
        check_sequences(X, "targets", allow_nan=True)
    X[0, 2, 1] = MAX_ABS_VALUE     # the limit itself, and tiny values, are fine
    X[0, 0, 0] = 5e-324
    assert check_sequences(X, allow_nan=True).values[0, 2, 1] == MAX_ABS_VALUE


def test_horizons_beyond_the_limits_are_refused_before_any_work():
    from seqmodels.utils.validation import MAX_FORECAST_VALUES, MAX_HORIZON

    assert check_horizon(MAX_HORIZON) == MAX_HORIZON
    for huge, shown in ((MAX_HORIZON + 1, "100001"), (10**12, "1000000000000"),
                        (np.uint64(2**63), "about 1e18"), (10**400, "about 1e400")):
        with pytest.raises(ValueError, match=f"horizon={shown} is above the limit of 100,000"):
            check_horizon(huge)
    with pytest.raises(ValueError, match="above the limit of 10 steps"):
        check_horizon(11, max_horizon=10)
    n = MAX_FORECAST_VALUES // (4 * 1000) + 1
    with pytest.raises(ValueError, match=rf"horizon=1000 for {n} sequence\(s\) of 2 feature"):
        check_horizon(1000, n, 2)
    assert check_horizon(1000, n - 1, 2) == 1000
    with pytest.raises(TypeError, match="horizon must be a positive integer; got 2.0 of type "
                                        "float"):
        check_horizon(2.0)
