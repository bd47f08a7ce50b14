"""The estimator contract (DESIGN.md sections 2-4), run over every registered estimator.

Each estimator may define ``_unit_test_params()`` (small, fast hyperparameters) and
``_unit_test_targets()`` (the kind of ``y`` its supervised mode takes: "continuous",
"labels", or None for no supervised mode). Nothing else here is family-specific:
an estimator added to ``seqmodels.all_estimators()`` runs these tests unchanged.
"""

import inspect
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold

import seqmodels

ESTIMATORS = seqmodels.all_estimators()
IDS = [name for name, _ in ESTIMATORS]


def _params(cls):
    getter = getattr(cls, "_unit_test_params", None)
    return dict(getter()) if getter else {}


def _target_kind(cls):
    getter = getattr(cls, "_unit_test_targets", None)
    return getter() if getter else "continuous"


def _make(cls, **extra):
    return cls(**{**_params(cls), **extra})


def _series(n=6, T=30, d=2, seed=0):
    """Stationary AR(1) sequences: well behaved for every family."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, T, d))
    X[:, 0] = rng.normal(size=(n, d))
    for t in range(1, T):
        X[:, t] = 0.7 * X[:, t - 1] + rng.normal(size=(n, d))
    return X


def _targets(cls, X):
    """Supervised targets for X in the estimator's kind, same container form."""
    kind = _target_kind(cls)
    if kind == "labels":
        make = lambda x: (x[..., :1] > 0).astype(np.int64)  # noqa: E731
    else:
        make = lambda x: 0.5 * x[..., :1] - 0.25 * x[..., 1:2] + 1.0  # noqa: E731
    if isinstance(X, list):
        return [make(x) for x in X]
    return make(X)


def _supervised(cls):
    return _target_kind(cls) is not None


def _predictions(est, X):
    return est.predict(X)


@pytest.fixture(scope="module")
def X3():
    return _series()


@pytest.fixture(scope="module")
def Xlist():
    X = _series(n=3, T=30, seed=1)
    return [X[0, :25], X[1], X[2, :18]]


@pytest.fixture(scope="module")
def X1():
    return _series(n=1, T=40, d=1, seed=2)[0, :, 0]


parametrize = pytest.mark.parametrize("name, cls", ESTIMATORS, ids=IDS)


# -- construction and parameters ------------------------------------------------------


@parametrize
def test_default_constructible_and_get_params_matches_signature(name, cls):
    est = cls()
    signature = inspect.signature(cls.__init__)
    expected = {p for p in signature.parameters if p != "self"}
    assert set(est.get_params(deep=False)) == expected


@parametrize
def test_init_stores_parameters_only(name, cls):
    params = _params(cls)
    est = cls(**params)
    stored = est.get_params(deep=False)
    for key, value in params.items():
        assert stored[key] is value
    fitted = [attr for attr in vars(est) if attr.endswith("_") and not attr.startswith("_")]
    assert fitted == []


@parametrize
def test_clone_and_set_params_round_trip(name, cls):
    est = _make(cls)
    twin = clone(est)
    assert twin is not est
    assert twin.get_params(deep=False).keys() == est.get_params(deep=False).keys()
    twin_params = twin.get_params(deep=False)
    for key, value in est.get_params(deep=False).items():
        assert twin_params[key] is value or twin_params[key] == value
    assert twin.set_params(**_params(cls)) is twin


@parametrize
def test_fit_returns_self_and_sets_fitted_attributes(name, cls, X3):
    est = _make(cls)
    assert est.fit(X3) is est
    assert est.n_features_in_ == X3.shape[2]
    assert isinstance(est.n_params_, (int, np.integer)) and est.n_params_ > 0
    assert isinstance(est.history_, list)


@parametrize
def test_not_fitted_error_before_fit(name, cls, X3):
    est = _make(cls)
    with pytest.raises(NotFittedError):
        est.predict(X3)
    with pytest.raises(NotFittedError):
        est.score(X3)
    for method, args in (("forecast", (3,)), ("log_likelihood", ())):
        if hasattr(est, method):
            with pytest.raises(NotFittedError):
                getattr(est, method)(X3, *args)


# -- shapes and container forms ---------------------------------------------------------


@parametrize
def test_forecasting_mode_shapes_for_every_container(name, cls, X3, Xlist, X1):
    est = _make(cls).fit(X3)
    pred = est.predict(X3)
    assert isinstance(pred, np.ndarray) and pred.shape == X3.shape
    assert np.isfinite(pred).all()
    pred_list = est.predict(Xlist)
    assert isinstance(pred_list, list)
    assert [p.shape for p in pred_list] == [x.shape for x in Xlist]
    score = est.score(X3)
    assert isinstance(score, float) and np.isfinite(score)
    if hasattr(est, "forecast"):
        assert est.forecast(X3, 4).shape == (X3.shape[0], 4, X3.shape[2])
        assert [f.shape for f in est.forecast(Xlist, 4)] == [(4, X3.shape[2])] * len(Xlist)
    if hasattr(est, "log_likelihood"):
        ll = est.log_likelihood(X3)
        assert ll.shape == (X3.shape[0],) and np.isfinite(ll).all()
        assert est.log_likelihood(Xlist).shape == (len(Xlist),)
        mean, std = est.predict(X3, return_std=True)
        assert mean.shape == std.shape == X3.shape
        assert np.all(std > 0)
        np.testing.assert_allclose(mean, pred)
        if hasattr(est, "forecast"):
            f_mean, f_std = est.forecast(X3, 4, return_std=True)
            assert f_mean.shape == f_std.shape == (X3.shape[0], 4, X3.shape[2])
            assert np.all(f_std > 0)

    uni = _make(cls).fit(X1)
    out = uni.predict(X1)
    assert isinstance(out, np.ndarray) and out.shape == X1.shape
    if hasattr(uni, "forecast"):
        assert uni.forecast(X1, 5).shape == (5,)


@parametrize
def test_supervised_mode_shapes(name, cls, X3, Xlist):
    if not _supervised(cls):
        pytest.skip(f"{name} has no supervised mode")
    y3 = _targets(cls, X3)
    est = _make(cls).fit(X3, y3)
    pred = est.predict(X3)
    assert pred.shape == y3.shape
    pred_list = est.predict(Xlist)
    assert [p.shape for p in pred_list] == [y.shape for y in _targets(cls, Xlist)]
    score = est.score(X3, y3)
    assert isinstance(score, float) and np.isfinite(score)
    if _target_kind(cls) == "labels":
        assert set(np.unique(pred)) <= set(est.classes_)
        proba = est.predict_proba(X3)
        assert proba.shape == X3.shape[:2] + (len(est.classes_),)
        np.testing.assert_allclose(proba.sum(axis=-1), 1.0, rtol=1e-6)


@parametrize
def test_input_not_mutated(name, cls, X3, Xlist):
    X_copy, list_copy = X3.copy(), [x.copy() for x in Xlist]
    est = _make(cls).fit(X3)
    est.predict(X3)
    est.predict(Xlist)
    if hasattr(est, "forecast"):
        est.forecast(X3, 3)
    np.testing.assert_array_equal(X3, X_copy)
    for x, c in zip(Xlist, list_copy):
        np.testing.assert_array_equal(x, c)


# -- causality (DESIGN section 3) -----------------------------------------------------


def _perturbed(X, s, seed=5):
    rng = np.random.default_rng(seed)
    changed = X.copy()
    changed[:, s:] = changed[:, s:] + rng.normal(scale=3.0, size=changed[:, s:].shape)
    return changed


@parametrize
def test_causal_in_forecasting_mode(name, cls, X3):
    est = _make(cls).fit(X3)
    if not est.causal:
        pytest.skip(f"{name} declares causal = False")
    s = 12
    before, after = est.predict(X3), est.predict(_perturbed(X3, s))
    np.testing.assert_allclose(after[:, : s + 1], before[:, : s + 1], rtol=1e-9, atol=1e-9)
    assert not np.allclose(after[:, s + 1 :], before[:, s + 1 :])


@parametrize
def test_causal_in_supervised_mode(name, cls, X3):
    if not _supervised(cls):
        pytest.skip(f"{name} has no supervised mode")
    est = _make(cls).fit(X3, _targets(cls, X3))
    if not est.causal:
        pytest.skip(f"{name} declares causal = False")
    s = 12
    if _target_kind(cls) == "labels":
        before, after = est.predict_proba(X3), est.predict_proba(_perturbed(X3, s))
    else:
        before, after = est.predict(X3), est.predict(_perturbed(X3, s))
    np.testing.assert_allclose(after[:, :s], before[:, :s], rtol=1e-9, atol=1e-9)
    assert not np.allclose(after[:, s:], before[:, s:])


# -- reproducibility and persistence ---------------------------------------------------


@parametrize
def test_same_random_state_same_output(name, cls, X3):
    extra = {"random_state": 7} if "random_state" in cls().get_params() else {}
    first = _make(cls, **extra).fit(X3).predict(X3)
    second = _make(cls, **extra).fit(X3).predict(X3)
    np.testing.assert_array_equal(first, second)


@parametrize
def test_pickle_round_trip(name, cls, X3):
    est = _make(cls).fit(X3)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X3), est.predict(X3))
    if hasattr(est, "log_likelihood"):
        np.testing.assert_array_equal(restored.log_likelihood(X3), est.log_likelihood(X3))


@parametrize
def test_grid_search_with_kfold_over_sequences(name, cls, X3):
    est = _make(cls)
    params = _params(cls)
    grid = {key: [value] for key, value in list(params.items())[:1]}
    search = GridSearchCV(est, grid, cv=KFold(n_splits=3)).fit(X3)
    assert np.isfinite(search.best_score_)
    assert search.predict(X3).shape == X3.shape


# -- bad input ---------------------------------------------------------------------------


def _bad_inputs(X3):
    with_nan = X3.copy()
    with_nan[2, 7, 1] = np.nan
    with_inf = X3.copy()
    with_inf[1, 3, 0] = np.inf
    return {
        "inf": (with_inf, ValueError, "infinity at sequence 1, timestep 3"),
        "empty_3d": (np.empty((0, 10, 2)), ValueError, "empty"),
        "empty_list": ([], ValueError, "empty"),
        "zero_timesteps": ([X3[0], X3[1, :0]], ValueError, "X[1] has 0 timestep"),
        "4d": (X3[..., None], ValueError, "4 dimension"),
        "scalar": (np.float64(3.0), ValueError, "0 dimension"),
        "2d": (X3[0], ValueError, "X[None]"),
        "strings": (np.full((2, 5, 2), "a"), TypeError, "real numbers"),
        "ragged_features": ([X3[0], X3[1, :, :1]], ValueError, "X[1] has 1 features"),
        "nan": (with_nan, ValueError, "NaN at sequence 2, timestep 7"),
    }


BAD_CASES = ["inf", "empty_3d", "empty_list", "zero_timesteps", "4d", "scalar", "2d", "strings",
             "ragged_features", "nan"]


@parametrize
@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_to_fit_and_predict(name, cls, case, X3):
    X_bad, error, message = _bad_inputs(X3)[case]
    est = _make(cls)
    if case == "nan" and est.handles_missing:
        pytest.skip(f"{name} reads NaN as a missing observation")
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
        est.fit(X_bad)
    fitted = _make(cls).fit(X3)
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
        fitted.predict(X_bad)


@parametrize
def test_2d_message_names_both_readings(name, cls, X3):
    with pytest.raises(ValueError) as info:
        _make(cls).fit(X3[0])
    message = str(info.value)
    assert "X[None]" in message and "X[..., None]" in message
    assert "one sequence of 30 timesteps with 2 features" in message


@parametrize
def test_too_short_for_the_model(name, cls, X3):
    est = _make(cls)
    needed = est._min_fit_length()
    if needed <= 1:
        pytest.skip(f"{name} fits on single-step sequences")
    with pytest.raises(ValueError, match=f"at least {needed}"):
        est.fit(X3[:, : needed - 1])


@parametrize
def test_wrong_n_features_at_predict(name, cls, X3):
    est = _make(cls).fit(X3)
    with pytest.raises(ValueError, match="fitted with 2"):
        est.predict(np.concatenate([X3, X3[..., :1]], axis=-1))


@parametrize
def test_x_y_mismatch(name, cls, X3):
    if not _supervised(cls):
        pytest.skip(f"{name} has no supervised mode")
    y = _targets(cls, X3)
    with pytest.raises(ValueError, match="y has 5 sequence"):
        _make(cls).fit(X3, y[:5])
    with pytest.raises(ValueError, match=r"y\[0\] has 29 timestep"):
        _make(cls).fit(X3, y[:, :29])
    with pytest.raises(ValueError, match="same container form"):
        _make(cls).fit(X3, list(y))


@parametrize
def test_forecast_horizon_validated(name, cls, X3):
    est = _make(cls).fit(X3)
    if not hasattr(est, "forecast"):
        pytest.skip(f"{name} does not forecast")
    with pytest.raises(ValueError, match="horizon"):
        est.forecast(X3, 0)
    with pytest.raises(TypeError, match="horizon"):
        est.forecast(X3, 2.5)
