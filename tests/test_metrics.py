"""Metrics against scikit-learn and scipy, with NaN targets skipped."""

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from seqmodels import metrics


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(4, 10, 2))
    pred = y + rng.normal(scale=0.3, size=y.shape)
    y_missing = y.copy()
    y_missing[:, ::3] = np.nan
    return y, pred, y_missing


def test_rmse_mae_r2_equal_scikit_learn_on_observed_entries(pair):
    y, pred, y_missing = pair
    keep = np.isfinite(y_missing.reshape(-1, 2)).all(1)
    flat_y, flat_p = y.reshape(-1, 2)[keep], pred.reshape(-1, 2)[keep]
    assert metrics.rmse(y_missing, pred) == pytest.approx(
        np.sqrt(skm.mean_squared_error(flat_y, flat_p)), rel=1e-12)
    assert metrics.mae(y_missing, pred) == pytest.approx(
        skm.mean_absolute_error(flat_y, flat_p), rel=1e-12)
    assert metrics.r2_score(y_missing, pred) == pytest.approx(
        skm.r2_score(flat_y, flat_p), rel=1e-12)


def test_list_and_1d_forms_pool_the_same_entries(pair):
    y, pred, _ = pair
    as_list = metrics.rmse(list(y), list(pred))
    assert as_list == pytest.approx(metrics.rmse(y, pred), rel=1e-12)
    assert metrics.rmse(y[0, :, 0], pred[0, :, 0]) == pytest.approx(
        np.sqrt(np.mean((y[0, :, 0] - pred[0, :, 0]) ** 2)))


def test_r2_constant_target_follows_scikit_learn():
    assert metrics.r2_score(np.ones(5), np.ones(5)) == 1.0
    assert metrics.r2_score(np.ones(5), np.zeros(5)) == 0.0


def test_accuracy():
    y = np.array([0, 1, 1, np.nan, 2])
    assert metrics.accuracy_score(y, np.array([0, 1, 0, 5, 2])) == pytest.approx(0.75)
    labels = np.array([[[0], [-1], [2]]])  # -1: no target at this step
    assert metrics.accuracy_score(labels, np.array([[[0], [7], [1]]])) == pytest.approx(0.5)
    assert metrics.count_observed(labels) == 2


def test_gaussian_nll_equals_scipy(pair):
    y, pred, y_missing = pair
    std = np.full(y.shape, 0.4)
    keep = np.isfinite(y_missing)
    expected = -stats.norm(pred[keep], 0.4).logpdf(y[keep]).mean()
    assert metrics.gaussian_nll(y_missing, pred, std) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="positive"):
        metrics.gaussian_nll(y, pred, np.zeros(y.shape))


def test_nll_per_step_and_oracle_gap():
    assert metrics.nll_per_step([-10.0, -20.0], [5, 10]) == pytest.approx(2.0)
    assert metrics.oracle_gap(0.45, 0.5) == pytest.approx(0.1)
    assert metrics.oracle_gap(-110.0, -100.0) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        metrics.oracle_gap(1.0, 0.0)
    assert metrics.count_observed(np.array([[[1.0], [np.nan]], [[2.0], [3.0]]])) == 3


def test_mismatched_or_unfinished_predictions_are_refused(pair):
    y, pred, _ = pair
    with pytest.raises(ValueError, match="do not match"):
        metrics.rmse(y, pred[:, :5])
    bad = pred.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        metrics.rmse(y, bad)


def test_r2_is_scale_invariant_for_any_finite_scale(pair):
    """Sums of squares of 1e200 overflow; R² is computed on values divided by their largest
    magnitude, so any finite scale gives the unit-scale value."""
    y, pred, y_missing = pair
    reference = metrics.r2_score(y_missing, pred)
    for scale in (1e-300, 1e-150, 1e150, 1e200, 1e300):
        assert metrics.r2_score(y_missing * scale, pred * scale) == pytest.approx(
            reference, rel=1e-12)
    np.testing.assert_allclose(metrics.r2_score(y, pred),
                               skm.r2_score(y.reshape(-1, 2), pred.reshape(-1, 2)), rtol=1e-12)
    assert metrics.r2_score(np.zeros(4), np.zeros(4)) == 1.0
    assert metrics.r2_score(np.full(4, 1e300), np.full(4, 1e300)) == 1.0
