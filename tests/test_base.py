"""SequenceEstimator.fit: a failed refit leaves the previous fit untouched."""

import numpy as np
import pytest

from seqmodels import AutoRegressive, RecurrentNetwork


class _FailsOnSecondFit(AutoRegressive):
    """AutoRegressive whose fit raises once ``fail`` is set (after validation passed)."""

    target_kinds = ("values", "labels")     # so that a label fit gets as far as _fit

    def __init__(self, order=1, fail=False):
        super().__init__(order=order)
        self.fail = fail

    def _fit(self, X, y):
        if self.fail:
            raise RuntimeError("the fit failed half-way")
        super()._fit(X, y)


def test_a_failed_refit_keeps_every_attribute_of_the_previous_fit():
    rng = np.random.default_rng(0)
    X = np.cumsum(rng.normal(size=(4, 30, 2)), axis=1)
    model = _FailsOnSecondFit(order=2).fit(X)
    before = {k: v for k, v in vars(model).items() if k.endswith("_")}
    prediction = model.predict(X)
    model.set_params(fail=True)
    labels = (X[..., :1] > 0).astype(np.int64)
    with pytest.raises(RuntimeError, match="half-way"):
        model.fit(X[..., :1], labels)          # another mode, shape and target kind
    after = {k: v for k, v in vars(model).items() if k.endswith("_")}
    assert after.keys() == before.keys()
    for key, value in before.items():
        np.testing.assert_equal(after[key], value, err_msg=key)
    np.testing.assert_array_equal(model.predict(X), prediction)


def test_a_failed_first_fit_leaves_the_estimator_unfitted():
    from sklearn.exceptions import NotFittedError

    model = _FailsOnSecondFit(fail=True)
    with pytest.raises(RuntimeError):
        model.fit(np.zeros((2, 10, 1)))
    assert not [k for k in vars(model) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        model.predict(np.zeros((2, 10, 1)))


@pytest.mark.slow
def test_a_diverged_network_keeps_its_previous_weights():
    X = np.random.default_rng(1).normal(size=(16, 12, 1))
    net = RecurrentNetwork(cell="simple", units=4, epochs=2, batch_size=4, random_state=0).fit(X)
    prediction = net.predict(X)
    net.set_params(optimizer="sgd", learning_rate=1e30, clipnorm=None, epochs=3)
    with pytest.raises(ValueError, match="diverged"):
        net.fit(X)
    np.testing.assert_array_equal(net.predict(X), prediction)


# -- issue #14: never a silent NaN -------------------------------------------------------------


class _Overflows(AutoRegressive):
    """AutoRegressive whose arithmetic 'overflows': NaN predictions, or a NaN objective."""

    def __init__(self, order=1, where="predict"):
        super().__init__(order=order)
        self.where = where

    def _fit(self, X, y):
        super()._fit(X, y)
        if self.where == "fit":
            self.history_ = [1.0, float("nan")]
        if self.where == "coef":
            self.coef_ = self.coef_ * np.inf

    def _predict(self, X, return_std):
        out = super()._predict(X, return_std)
        if self.where == "predict":
            first = out[0] if return_std else out
            first[0, -1, 0] = np.nan
        return out


def test_non_finite_outputs_raise_a_value_error_naming_x_and_its_scale():
    X = np.cumsum(np.random.default_rng(3).normal(size=(3, 20, 1)), axis=1) * 1e90
    model = _Overflows().fit(X)
    for call in (lambda: model.predict(X), lambda: model.predict(X, return_std=True),
                 lambda: model.score(X)):
        with pytest.raises(ValueError, match=r"_Overflows\.(predict|score) is not finite for X "
                                             r"\(values up to [0-9.]+e\+9[0-9] in magnitude\)"
                                             r".*Rescale X"):
            call()
    # padding past a sequence's end is not an output: NaN there is no finding
    ragged = [X[0, :5], X[1]]
    np.testing.assert_array_equal(model.predict(ragged)[0],
                                  AutoRegressive().fit(X).predict(ragged)[0])


@pytest.mark.parametrize("where, what", [("fit", r"objective \(history_\)"),
                                         ("coef", "parameter coef_")])
def test_a_fit_with_non_finite_results_fails_and_leaves_the_previous_fit(where, what):
    X = np.random.default_rng(4).normal(size=(3, 20, 1))
    model = _Overflows(where="none").fit(X)
    before = {k: v for k, v in vars(model).items() if k.endswith("_")}
    model.set_params(where=where)
    with pytest.raises(ValueError, match=f"fitting _Overflows on X .* gave a non-finite {what}"):
        model.fit(X * 2)
    after = {k: v for k, v in vars(model).items() if k.endswith("_")}
    assert after.keys() == before.keys()
    for key, value in before.items():
        np.testing.assert_equal(after[key], value, err_msg=key)


def test_return_std_must_be_a_bool():
    X = np.random.default_rng(5).normal(size=(2, 10, 1))
    model = AutoRegressive().fit(X)
    for bad in ("yes", 1, None):
        with pytest.raises(TypeError, match="return_std must be True or False"):
            model.predict(X, return_std=bad)
        with pytest.raises(TypeError, match="return_std must be True or False"):
            model.forecast(X, 2, return_std=bad)
