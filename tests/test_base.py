"""SequenceEstimator.fit: a failed refit leaves the previous fit untouched."""

import numpy as np
import pytest

from seqmodels import AutoRegressive, RecurrentNetwork


class _FailsOnSecondFit(AutoRegressive):
    """AutoRegressive whose fit raises once ``fail`` is set (after validation passed)."""

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
