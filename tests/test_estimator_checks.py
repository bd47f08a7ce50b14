"""The public estimator checks: a small estimator written here passes them, and estimators
broken in one way each fail the check that guards that part of the contract."""

import re
import unittest

import numpy as np
import pytest

from seqmodels import AutoRegressive, HiddenMarkovModel, KalmanFilter, SequenceEstimator
from seqmodels.utils import check_estimator, estimator_checks, parametrize_with_checks
from seqmodels.utils.validation import Real

ALL_CHECKS = [check.func.__name__
              for _, check in check_estimator(AutoRegressive(), generate_only=True)]


class Smoother(SequenceEstimator):
    """Exponential smoothing, a user's own estimator written to the contract.

    Forecasting: ``level_t = alpha * x_t + (1 - alpha) * level_{t-1}`` from the training
    mean, and ``x_t`` is predicted by ``level_{t-1}`` with the training residuals' standard
    deviation (growing as ``sqrt(1 + (h - 1) alpha²)`` over a forecast horizon h).
    Supervised: ``y_t ~ N(x_t @ coef_[:-1] + coef_[-1], std_²)`` by least squares.
    """

    _parameter_constraints = {"alpha": [Real(0.0, 1.0)]}

    def __init__(self, alpha=0.5):
        self.alpha = alpha

    def _levels(self, values):
        """(n, T + 1, d): the level before each step and after the last."""
        levels = np.empty((values.shape[0], values.shape[1] + 1, values.shape[2]))
        levels[:, 0] = self.mean_
        for t in range(values.shape[1]):
            levels[:, t + 1] = self.alpha * values[:, t] + (1 - self.alpha) * levels[:, t]
        return levels

    def _one_step(self, values):
        return self._levels(values)[:, :-1]

    def _supervised(self, values):
        return values @ self.coef_[:-1] + self.coef_[-1]

    def _fit(self, X, y):
        self.mean_ = np.nanmean(X.values, axis=(0, 1))
        if y is None:
            residuals = (X.values - self._one_step(X.values))[X.mask]
            self.n_params_ = X.n_features
        else:
            keep = X.mask & np.isfinite(y.values).all(axis=-1)
            rows = np.column_stack([X.values[keep], np.ones(keep.sum())])
            self.coef_ = np.linalg.lstsq(rows, y.values[keep], rcond=None)[0]
            residuals = y.values[keep] - rows @ self.coef_
            self.n_params_ = self.coef_.size
        self.std_ = residuals.std(axis=0)
        self.n_params_ += self.std_.size

    def _predict(self, X, return_std):
        if self.mode_ == "supervised":
            mean = self._supervised(X.values)
        else:
            mean = self._one_step(X.values)
        return (mean, np.broadcast_to(self.std_, mean.shape).copy()) if return_std else mean

    def _log_likelihood(self, X, y):
        target = X.values if y is None else y.values
        mean = self._predict(X, False)
        z = (target - mean) / self.std_
        density = -0.5 * z**2 - np.log(self.std_) - 0.5 * np.log(2 * np.pi)
        return np.where(np.isfinite(density), density, 0.0).sum(axis=(1, 2))

    def _forecast(self, X, horizon, return_std):
        last = self._levels(X.values)[np.arange(X.n_sequences), X.lengths]
        mean = np.repeat(last[:, None], horizon, axis=1)
        if not return_std:
            return mean
        growth = np.sqrt(1 + np.arange(horizon) * self.alpha**2)
        return mean, growth[None, :, None] * self.std_ * np.ones_like(mean)


# -- one defect each ---------------------------------------------------------------------------


class NonCausal(Smoother):
    """Predicts every step with the mean of the whole sequence: it looks ahead."""

    def _one_step(self, values):
        return np.broadcast_to(np.nanmean(values, axis=1, keepdims=True), values.shape).copy()


class MutatesInput(Smoother):
    """Removes each sequence's mean from the caller's array, in place."""

    def fit(self, X, y=None):
        if isinstance(X, np.ndarray) and X.ndim == 3:
            X -= X.mean(axis=1, keepdims=True)
        return super().fit(X, y)


class ChangesHyperparameters(Smoother):
    """Fills in its default alpha on self.alpha during fit instead of in alpha_."""

    _parameter_constraints = {"alpha": [None, Real(0.0, 1.0)]}

    def __init__(self, alpha=None):
        self.alpha = alpha

    def _fit(self, X, y):
        if self.alpha is None:
            self.alpha = 0.3
        super()._fit(X, y)


class NonDeterministic(Smoother):
    """Takes a random_state but draws from an unseeded generator."""

    _parameter_constraints = {**Smoother._parameter_constraints, "random_state": ["random_state"]}

    def __init__(self, alpha=0.5, random_state=None):
        self.alpha = alpha
        self.random_state = random_state

    def _fit(self, X, y):
        super()._fit(X, y)
        self.mean_ = self.mean_ + np.random.default_rng().normal(scale=0.1, size=self.mean_.shape)


class WrongShape(Smoother):
    """Drops the last timestep of a 3-D prediction."""

    def predict(self, X, return_std=False):
        out = super().predict(X, return_std)
        return out[:, :-1] if isinstance(out, np.ndarray) and out.ndim == 3 else out


class ForgetsTheList(Smoother):
    """Answers a list of sequences with the padded 3-D array."""

    def predict(self, X, return_std=False):
        out = super().predict(X, return_std)
        if isinstance(out, list) and not return_std:
            padded = np.full((len(out), max(len(o) for o in out), out[0].shape[1]), np.nan)
            for i, o in enumerate(out):
                padded[i, : len(o)] = o
            return padded
        return out


class ProbaNotNormalised(HiddenMarkovModel):
    """A tagger whose class probabilities do not sum to one."""

    def _predict_proba(self, X):
        return 0.9 * super()._predict_proba(X)


class UndeclaredParameter(Smoother):
    """Adds a hyperparameter without declaring its constraint."""

    def __init__(self, alpha=0.5, damping=1.0):
        self.alpha = alpha
        self.damping = damping


class ListBlind(Smoother):
    """Crashes on a list of sequences (IndexError inside predict)."""

    def predict(self, X, return_std=False):
        if isinstance(X, list):
            raise IndexError("list index out of range")
        return super().predict(X, return_std)


class SmoothingAttention(Smoother):
    """The smoother's own attention: ``level_{t-1}`` as weights over positions ``0..t``.

    Position s holds ``x_{s-1}`` (position 0 the start value, the training mean):
    weight ``alpha (1 - alpha)^(t - s)`` for ``1 <= s <= t`` and ``(1 - alpha)^t`` for 0.
    """

    def _weights(self, T):
        t, s = np.arange(T)[:, None], np.arange(T)[None, :]
        decay = (1 - self.alpha) ** np.clip(t - s, 0, None)
        weights = np.where(s == 0, decay, self.alpha * decay)
        return np.where(s <= t, weights, 0.0)

    def attention_weights(self, X, per_head=False):
        batch = self._check_X(X)
        out = [self._weights(length)[None] if per_head else self._weights(length)
               for length in batch.lengths]
        if batch.form == "list":
            return out
        if batch.form == "1d":
            return out[0]
        full = self._weights(batch.max_length)
        weights = np.where(batch.mask[:, :, None] & batch.mask[:, None, :], full, 0.0)
        return weights[:, None] if per_head else weights


class LooksAheadAttention(SmoothingAttention):
    """Reports weights spread over the whole sequence, the future included."""

    def _weights(self, T):
        return np.full((T, T), 1.0 / T)


class UnnormalisedAttention(SmoothingAttention):
    """Forgets the start value's weight: its rows sum to less than 1."""

    def _weights(self, T):
        weights = super()._weights(T)
        weights[:, 0] = 0.0
        return weights


# -- the tests ---------------------------------------------------------------------------------


def test_a_small_estimator_written_to_the_contract_passes_every_check():
    model = Smoother(alpha=0.4)
    results = check_estimator(model)
    assert list(results) == ALL_CHECKS
    skipped = {name for name, outcome in results.items() if outcome != "passed"}
    assert skipped == {"check_predict_proba", "check_too_short_for_the_model",
                       "check_random_state_forms", "check_attention_weights"}
    assert results["check_predict_proba"] == \
        "skipped: Smoother's supervised mode takes continuous targets"
    assert not hasattr(model, "n_features_in_")  # the checks fit clones, never the estimator
    assert model.alpha == 0.4


def test_an_estimator_with_attention_weights_is_checked_for_them():
    results = check_estimator(SmoothingAttention(alpha=0.3))
    assert results["check_attention_weights"] == "passed"


def test_declared_constraints_are_enforced_by_fit():
    from seqmodels.utils.validation import InvalidParameterError

    X = estimator_checks.ar1_sequences()
    for bad in (1.5, "half", None):
        with pytest.raises(InvalidParameterError,
                           match=r"alpha must be a real number in \[0, 1\]; got .* \(Smoother\)"):
            Smoother(alpha=bad).fit(X)
    assert Smoother(alpha=1).fit(X).n_params_ >= 0      # an int is a real number


@pytest.mark.parametrize("broken, check, message", [
    (NonCausal, "check_causal_forecasting", "not causal: changing X[:, 12:] changed predict"),
    (MutatesInput, "check_inputs_not_mutated", "fit modified the 3-D X it was given"),
    (ChangesHyperparameters, "check_fit_does_not_change_hyperparameters",
     "fit changed the hyperparameter(s) alpha (None -> 0.3)"),
    (NonDeterministic, "check_same_random_state_same_result",
     "two fits with the same random_state predict differently"),
    (WrongShape, "check_forecasting_containers",
     "predict(3-D X): a 3-D array in should give an array of shape (6, 30, 2) back, got an "
     "array of shape (6, 29, 2)"),
    (ForgetsTheList, "check_forecasting_containers",
     "predict(list X): a list of sequences must give a list back"),
    (ProbaNotNormalised, "check_predict_proba", "predict_proba must sum to 1"),
    (ListBlind, "check_inputs_not_mutated", "IndexError: list index out of range"),
    (LooksAheadAttention, "check_attention_weights",
     "attention weights above the diagonal (steps after t) must be 0"),
    (UnnormalisedAttention, "check_attention_weights", "attention weights rows must sum to 1"),
    (UndeclaredParameter, "check_parameter_constraints",
     "_parameter_constraints declares nothing for ['damping']"),
], ids=lambda value: value.__name__ if isinstance(value, type) else None)
def test_a_broken_estimator_fails_the_check_that_guards_it(broken, check, message):
    with pytest.raises(AssertionError) as info:
        check_estimator(broken())
    text = str(info.value)
    assert text.startswith(f"{check} failed for {broken.__name__}: "), text
    assert message in text, text
    # The check function on its own says the same (a crash stays the estimator's exception).
    expected = IndexError if broken is ListBlind else AssertionError
    with pytest.raises(expected, match=re.escape(message.split(": ")[-1])):
        getattr(estimator_checks, check)(broken.__name__, broken())


def test_every_check_is_a_public_function_listed_once():
    assert len(ALL_CHECKS) == len(set(ALL_CHECKS)) >= 25
    assert set(ALL_CHECKS) <= set(estimator_checks.__all__)
    for name in ALL_CHECKS:
        assert (getattr(estimator_checks, name).__doc__ or "").count("Parameters") == 1, name


def test_generate_only_runs_nothing_and_gives_runnable_checks():
    model = Smoother()
    pairs = list(check_estimator(model, generate_only=True))
    assert [check.func.__name__ for _, check in pairs] == ALL_CHECKS
    assert all(estimator is model for estimator, _ in pairs)  # no _unit_test_params: as given
    assert all(check.args == ("Smoother",) for _, check in pairs)
    assert not hasattr(model, "n_features_in_")
    estimator, check = pairs[ALL_CHECKS.index("check_x_y_mismatch")]
    assert check(estimator) is None


def test_unit_test_params_fill_in_only_what_was_left_at_default():
    (default, _), *_ = check_estimator(KalmanFilter(), generate_only=True)
    assert default.n_iter == KalmanFilter._unit_test_params()["n_iter"] != KalmanFilter().n_iter
    given = KalmanFilter(n_iter=7, model="local_level")
    (checked, _), *_ = check_estimator(given, generate_only=True)
    assert checked.n_iter == 7 and checked.model == "local_level"
    assert given.get_params() == KalmanFilter(n_iter=7, model="local_level").get_params()


def test_a_forecast_only_estimator_skips_the_supervised_checks():
    class ForecastOnly(Smoother):
        @classmethod
        def _unit_test_targets(cls):
            return None

    results = check_estimator(ForecastOnly())
    supervised = {"check_causal_supervised", "check_supervised_containers",
                  "check_predict_proba", "check_x_y_mismatch"}
    for name in supervised:
        assert results[name] == \
            "skipped: ForecastOnly has no supervised mode (_unit_test_targets is None)"
    # A class defined inside a function cannot be pickled by name: that check says so.
    assert results["check_pickle_round_trip"].startswith("skipped: pickle cannot find")
    assert {name for name, r in results.items() if r == "passed"} == \
        set(ALL_CHECKS) - supervised - {"check_pickle_round_trip",
                                        "check_too_short_for_the_model",
                                        "check_random_state_forms",
                                        "check_attention_weights"}


def test_a_skipped_check_raises_unittest_skiptest():
    with pytest.raises(unittest.SkipTest, match="supervised mode takes continuous targets"):
        estimator_checks.check_predict_proba("Smoother", Smoother())


def test_classes_are_refused_with_the_fix():
    with pytest.raises(TypeError, match=r"AutoRegressive\(\)"):
        check_estimator(AutoRegressive)
    with pytest.raises(TypeError, match=r"AutoRegressive\(\)"):
        parametrize_with_checks([AutoRegressive])


def test_parametrize_with_checks_gives_one_test_per_estimator_and_check():
    mark = parametrize_with_checks([Smoother(), AutoRegressive(order=3)])
    names, values = mark.args
    assert names == "estimator, check"
    assert len(values) == 2 * len(ALL_CHECKS)
    ids = mark.kwargs["ids"]
    assert ids[0] == "Smoother()-check_get_params_matches_signature"
    assert ids[-1] == "AutoRegressive(order=3)-check_forecast_horizon"


@parametrize_with_checks([Smoother(alpha=0.2)])
def test_parametrize_with_checks_runs_under_pytest(estimator, check):
    check(estimator)


class Wraps(SequenceEstimator):
    """A meta-estimator's constructor: the wrapped estimator is a required argument."""

    def __init__(self, estimator, strategy="last"):
        self.estimator = estimator
        self.strategy = strategy


def test_a_meta_estimator_is_constructed_and_cloned_with_what_it_wraps():
    model = Wraps(AutoRegressive(order=3))
    estimator_checks.check_get_params_matches_signature("Wraps", model)
    estimator_checks.check_init_stores_parameters_only("Wraps", model)
    estimator_checks.check_clone_and_set_params("Wraps", model)  # clone copies the wrapped one
    with pytest.raises(AssertionError, match="the clone's estimator is"):
        estimator_checks.check_clone_and_set_params("Wraps", _ClonesWrong(AutoRegressive()))


class _ClonesWrong(Wraps):
    """Its clone wraps an estimator with other hyperparameters than the original's."""

    def __sklearn_clone__(self):
        return type(self)(AutoRegressive(order=self.estimator.order + 1), self.strategy)
