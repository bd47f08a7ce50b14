"""ImputeMissing and impute_causal, checked against pandas' ffill and SimpleImputer."""

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer

from seqmodels import AutoRegressive, ImputeMissing, KalmanFilter
from seqmodels.imputation import impute_causal


def _gappy(seed=0, n=6, T=40, d=2, fraction=0.3):
    rng = np.random.default_rng(seed)
    truth = np.cumsum(rng.normal(size=(n, T, d)), axis=1)
    measured = truth + 0.5 * rng.normal(size=truth.shape)
    measured[rng.random((n, T)) < fraction] = np.nan          # whole steps missing
    measured[rng.random((n, T, d)) < 0.1] = np.nan            # and single features
    return measured, truth


def test_last_observation_carried_forward_equals_pandas_ffill():
    X, _ = _gappy()
    fill = np.nanmean(X, axis=(0, 1))
    lengths = np.full(len(X), X.shape[1])
    filled = impute_causal(X, lengths, fill, "last")
    for i in range(len(X)):
        expected = pd.DataFrame(X[i]).ffill().fillna(pd.Series(fill)).to_numpy()
        np.testing.assert_array_equal(filled[i], expected)


def test_mean_strategy_equals_simple_imputer():
    X, _ = _gappy(1)
    rows = X.reshape(-1, X.shape[-1])
    fill = np.nanmean(rows, axis=0)
    filled = impute_causal(X, np.full(len(X), X.shape[1]), fill, "mean")
    expected = SimpleImputer(strategy="mean").fit_transform(rows).reshape(X.shape)
    np.testing.assert_allclose(filled, expected, rtol=1e-12)


def test_imputation_is_causal_and_keeps_padding():
    X, _ = _gappy(2)
    lengths = np.array([40, 25, 40, 10, 33, 40])
    X[np.arange(40)[None, :] >= lengths[:, None]] = np.nan
    fill = np.zeros(2)
    filled = impute_causal(X, lengths, fill, "last")
    assert np.isnan(filled[np.arange(40)[None, :] >= lengths[:, None]]).all()
    assert np.isfinite(filled[np.arange(40)[None, :] < lengths[:, None]]).all()
    changed = X.copy()
    changed[:, 20:] = 123.0
    again = impute_causal(changed, lengths, fill, "last")
    np.testing.assert_array_equal(again[:, :20], filled[:, :20])


def test_without_gaps_it_is_the_wrapped_model():
    _, truth = _gappy(3)
    clean = truth + 0.3
    wrapped = ImputeMissing(AutoRegressive(order=2)).fit(clean, truth)
    alone = AutoRegressive(order=2).fit(clean, truth)
    np.testing.assert_allclose(wrapped.predict(clean), alone.predict(clean), rtol=1e-12)
    np.testing.assert_allclose(wrapped.log_likelihood(clean, truth),
                               alone.log_likelihood(clean, truth), rtol=1e-12)
    assert wrapped.n_params_ == alone.n_params_


def test_gaps_are_filled_causally_for_a_model_that_cannot_read_nan():
    X, truth = _gappy(4)
    with pytest.raises(ValueError, match="NaN"):
        AutoRegressive(order=2).fit(X, truth)
    model = ImputeMissing(AutoRegressive(order=2)).fit(X, truth)
    prediction = model.predict(X)
    assert prediction.shape == truth.shape and np.isfinite(prediction).all()
    # causal: the estimate at t does not move when later measurements change
    changed = X.copy()
    changed[:, 25:] += 50.0
    np.testing.assert_allclose(model.predict(changed)[:, :25], prediction[:, :25], rtol=1e-12)
    # list input with unequal lengths comes back as a list
    ragged = [X[0, :30], X[1]]
    out = model.predict(ragged)
    assert isinstance(out, list) and [len(o) for o in out] == [30, 40]
    np.testing.assert_allclose(out[1], prediction[1], rtol=1e-12)
    assert model.score(X, truth) > 0.9


def test_indicator_columns_reach_the_wrapped_model():
    X, truth = _gappy(5)
    model = ImputeMissing(AutoRegressive(order=1), add_indicator=True).fit(X, truth)
    assert model.estimator_.n_features_in_ == 2 * X.shape[-1]
    assert model.n_features_in_ == X.shape[-1]
    assert np.isfinite(model.predict(X)).all()


def test_kalman_filter_needs_no_imputation_but_accepts_it():
    X, truth = _gappy(6, d=1)
    kalman = ImputeMissing(KalmanFilter(model="local_level", method="mle")).fit(X[..., :1])
    assert np.isfinite(kalman.predict(X[..., :1])).all()
    assert np.isfinite(kalman.forecast(X[..., :1], 5)).all()


def test_clear_errors():
    X, truth = _gappy(7)
    with pytest.raises(ValueError, match="strategy"):
        ImputeMissing(AutoRegressive(), strategy="median").fit(X, truth)
    with pytest.raises(ValueError, match="add_indicator"):
        ImputeMissing(AutoRegressive(), add_indicator=True).fit(X)
    with pytest.raises(TypeError, match="add_indicator"):
        ImputeMissing(AutoRegressive(), add_indicator="yes").fit(X, truth)
    with pytest.raises(TypeError, match="estimator"):
        ImputeMissing("AutoRegressive").fit(X, truth)
    empty = X.copy()
    empty[..., 1] = np.nan
    with pytest.raises(ValueError, match="feature"):
        ImputeMissing(AutoRegressive()).fit(empty, truth)
    forecaster = ImputeMissing(AutoRegressive(order=1)).fit(X)
    with pytest.raises(ValueError, match="forecasting mode"):
        forecaster.log_likelihood(X)
    assert np.isfinite(forecaster.log_likelihood(np.nan_to_num(X))).all()
