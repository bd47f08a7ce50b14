"""The seqmodels estimator contract as checks any estimator can be run through.

scikit-learn ships ``sklearn.utils.estimator_checks``; this module does the same for
sequence models, so that a user's own estimator is held to the contract the built-in
ones follow (see the README, "The estimator contract", and ``docs/design.md``):

* the container forms: a 3-D array, a list of 2-D arrays of different lengths and a
  1-D array go in, and every output comes back in the form of its input;
* the alignment of the two modes and **causality**: after changing ``X[i, s:]``,
  ``predict(X)[i, :s+1]`` is unchanged in forecasting mode and ``predict(X)[i, :s]`` in
  supervised mode (estimators that look ahead set ``causal = False``);
* scikit-learn's rules: ``__init__`` only stores its arguments, ``clone`` and
  ``GridSearchCV`` work, ``fit`` returns ``self``, leaves the hyperparameters alone and
  sets fitted attributes ending in ``_``;
* persistence and reproducibility: a pickle round trip predicts identically, the same
  ``random_state`` gives the same result, and so does fitting again on the same data;
* errors: bad input raises ``ValueError`` / ``TypeError`` naming what is wrong, and
  calling a method before ``fit`` raises scikit-learn's ``NotFittedError``;
* ``forecast``, ``log_likelihood``, ``predict(X, return_std=True)``, ``score`` and
  ``predict_proba`` are checked where the estimator offers them;
* inputs are never modified.

Each check is a plain function ``check_<what>(name, estimator)``: ``name`` is used in
messages, ``estimator`` is a template that the check clones (it is never fitted). A
check raises ``AssertionError`` with a message saying what broke, or
``unittest.SkipTest`` when it does not apply to the estimator (no supervised mode, no
``forecast``, ...). :func:`check_estimator` runs them all; :func:`parametrize_with_checks`
turns them into one pytest test each.

Two optional class-level hooks tune the checks; neither is needed:

``_unit_test_params()``
    A classmethod returning small, fast hyperparameters (few EM iterations, two training
    epochs). They replace the hyperparameters the estimator leaves at their defaults.
``_unit_test_targets()``
    A classmethod returning the kind of ``y`` the estimator's supervised mode takes:
    ``"continuous"`` (the default: float targets, regression), ``"labels"`` (integer
    class labels, tagging) or ``None`` when the estimator only forecasts.

The checks generate their data: sequences of a stationary AR(1) process with two
features (six of 30 steps; three of 25, 30 and 18 steps as a list; one univariate
sequence of 40 steps as a 1-D array). Network estimators should therefore give
``_unit_test_params`` that train for a couple of epochs only.
"""

import functools
import inspect
import pickle
import re
import unittest
import warnings

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, KFold

from .. import _parameters
from ..metrics import accuracy_score, r2_score

__all__ = [
    "check_estimator",
    "parametrize_with_checks",
    "ar1_sequences",
    "check_get_params_matches_signature",
    "check_parameter_constraints",
    "check_init_stores_parameters_only",
    "check_clone_and_set_params",
    "check_fit_returns_self",
    "check_fit_does_not_change_hyperparameters",
    "check_not_fitted",
    "check_inputs_not_mutated",
    "check_forecasting_containers",
    "check_fit_on_unequal_lengths",
    "check_sequences_are_independent",
    "check_causal_forecasting",
    "check_causal_supervised",
    "check_attention_weights",
    "check_supervised_containers",
    "check_predict_proba",
    "check_forecast",
    "check_log_likelihood",
    "check_same_random_state_same_result",
    "check_random_state_forms",
    "check_refit_gives_same_result",
    "check_pickle_round_trip",
    "check_grid_search_over_sequences",
    "check_bad_input",
    "check_2d_input_message",
    "check_too_short_for_the_model",
    "check_wrong_n_features_at_predict",
    "check_x_y_mismatch",
    "check_forecast_horizon",
]

#: Tolerance for outputs that must agree up to rounding: the same sequences through a
#: different batch (float32 networks round differently from one batch size to another).
RTOL, ATOL = 1e-5, 1e-6

#: The step after which the causality checks change the input.
_SPLIT = 12


# -- data -------------------------------------------------------------------------------------


def ar1_sequences(n=6, T=30, d=2, seed=0):
    """The data the checks fit on: stationary AR(1) sequences, ``x_t = 0.7 x_{t-1} + e_t``.

    Well behaved for every family; handy for a user's own tests too.

    Parameters
    ----------
    n, T, d : int
        Sequences, timesteps, features.
    seed : int
        Seeds ``numpy.random.default_rng`` (the start ``x_0`` and the noise ``e_t``,
        standard normal).

    Returns
    -------
    ndarray of shape (n, T, d)
    """
    rng = np.random.default_rng(seed)
    X = np.zeros((n, T, d))
    X[:, 0] = rng.normal(size=(n, d))
    for t in range(1, T):
        X[:, t] = 0.7 * X[:, t - 1] + rng.normal(size=(n, d))
    return X


def _containers():
    """The three accepted forms: 3-D (6, 30, 2), a list of 25, 30 and 18 steps, 1-D (40,)."""
    X3 = ar1_sequences()
    X = ar1_sequences(n=3, T=30, seed=1)
    Xlist = [X[0, :25].copy(), X[1].copy(), X[2, :18].copy()]
    X1 = ar1_sequences(n=1, T=40, d=1, seed=2)[0, :, 0].copy()
    return X3, Xlist, X1


def _target_kind(estimator):
    getter = getattr(type(estimator), "_unit_test_targets", None)
    kind = getter() if getter is not None else "continuous"
    if kind not in ("continuous", "labels", None):
        raise ValueError(
            f"{type(estimator).__name__}._unit_test_targets() must return 'continuous', "
            f"'labels' or None; got {kind!r}."
        )
    return kind


def _targets(kind, X):
    """Supervised targets for X of the given kind, in X's container form (one column)."""
    if kind == "labels":
        make = lambda x: (x[..., :1] > 0).astype(np.int64)  # noqa: E731
    else:
        make = lambda x: 0.5 * x[..., :1] - 0.25 * x[..., 1:2] + 1.0  # noqa: E731
    if isinstance(X, list):
        return [make(x) for x in X]
    return make(X)


def _supervised_or_skip(name, estimator):
    kind = _target_kind(estimator)
    if kind is None:
        raise unittest.SkipTest(f"{name} has no supervised mode (_unit_test_targets is None)")
    return kind


def _perturbed(X, s, seed=5):
    """X with every step from ``s`` on changed by a large random amount."""
    rng = np.random.default_rng(seed)
    changed = X.copy()
    changed[:, s:] = changed[:, s:] + rng.normal(scale=3.0, size=changed[:, s:].shape)
    return changed


# -- helpers ----------------------------------------------------------------------------------


def _fresh(estimator, **params):
    """An unfitted clone of the template, with ``params`` set."""
    twin = clone(estimator)
    return twin.set_params(**params) if params else twin


def _require(condition, message):
    if not condition:
        raise AssertionError(message)


def _has(estimator, method):
    return hasattr(estimator, method)


def _probabilistic(estimator):
    """The contract's probabilistic estimators: those that offer log_likelihood."""
    return _has(estimator, "log_likelihood")


def _is_causal(estimator):
    return bool(getattr(estimator, "causal", True))


def _same_value(a, b):
    """Identity, or equality that also copes with arrays and (cloned) nested estimators."""
    if a is b:
        return True
    if hasattr(a, "get_params") and not isinstance(a, type):
        if type(a) is not type(b):
            return False
        params, others = a.get_params(deep=False), b.get_params(deep=False)
        return params.keys() == others.keys() and all(
            _same_value(value, others[key]) for key, value in params.items())
    try:
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return bool(np.array_equal(a, b))
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an incomparable value is simply not equal
        return False


def _init_param_names(cls):
    """The constructor's parameter names, as scikit-learn's get_params reads them."""
    init = getattr(cls.__init__, "deprecated_original", cls.__init__)
    if init is object.__init__:
        return set()
    parameters = inspect.signature(init).parameters.values()
    return {p.name for p in parameters
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _required_param_names(cls):
    """Constructor parameters without a default (a meta-estimator's wrapped estimator)."""
    init = getattr(cls.__init__, "deprecated_original", cls.__init__)
    if init is object.__init__:
        return set()
    parameters = inspect.signature(init).parameters.values()
    return {p.name for p in parameters
            if p.name != "self" and p.default is p.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _expect_error(expected, what, call, *args, match=None, **kwargs):
    """Call and require an exception of type ``expected`` whose message matches ``match``."""
    names = (" or ".join(e.__name__ for e in expected) if isinstance(expected, tuple)
             else expected.__name__)
    try:
        call(*args, **kwargs)
    except expected as error:
        if match is not None and not re.search(match, str(error)):
            raise AssertionError(
                f"{what} raised {type(error).__name__} as it should, but its message "
                f"{str(error)!r} does not match {match!r}."
            ) from error
        return error
    except Exception as error:  # noqa: BLE001 - reported as a contract failure
        raise AssertionError(
            f"{what} raised {type(error).__name__} ({error}); expected {names}."
        ) from error
    raise AssertionError(f"{what} raised nothing; expected {names}.")


def _assert_close(actual, desired, what, rtol=RTOL, atol=ATOL):
    """Equal up to rounding, for arrays or lists of arrays."""
    if isinstance(desired, list):
        _require(isinstance(actual, list) and len(actual) == len(desired),
                 f"{what}: expected a list of {len(desired)} arrays, got {_describe(actual)}.")
        for i, (a, d) in enumerate(zip(actual, desired)):
            _assert_close(a, d, f"{what} (sequence {i})", rtol, atol)
        return
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(desired, dtype=float),
                               rtol=rtol, atol=atol, err_msg=what)


def _assert_equal(actual, desired, what):
    """Exactly equal, for arrays or lists of arrays."""
    _assert_close(actual, desired, what, rtol=0.0, atol=0.0)


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    return f"a {type(value).__name__}"


def _assert_form(out, like, n_out, what, steps=None, finite=True):
    """``out`` is in ``like``'s container form, with ``n_out`` columns.

    ``steps`` is the number of timesteps of each output (a horizon); by default the
    input's own lengths (per-timestep outputs).
    """
    if isinstance(like, list):
        _require(isinstance(out, list),
                 f"{what}: a list of sequences must give a list back, got {_describe(out)}.")
        _require(len(out) == len(like),
                 f"{what}: {len(like)} sequences in, {len(out)} outputs back.")
        for i, (o, x) in enumerate(zip(out, like)):
            expected = (x.shape[0] if steps is None else steps, n_out)
            _require(isinstance(o, np.ndarray) and o.shape == expected,
                     f"{what}: item {i} should be an array of shape {expected}, got "
                     f"{_describe(o)}.")
            _require(not finite or np.isfinite(o).all(),
                     f"{what}: item {i} has non-finite values.")
        return
    like = np.asarray(like)
    if like.ndim == 3:
        expected = (like.shape[0], like.shape[1] if steps is None else steps, n_out)
    else:  # one univariate sequence: the feature axis is dropped when there is one column
        length = like.shape[0] if steps is None else steps
        expected = (length,) if n_out == 1 else (length, n_out)
    form = "a 3-D array" if like.ndim == 3 else "a 1-D array"
    _require(isinstance(out, np.ndarray) and out.shape == expected,
             f"{what}: {form} in should give an array of shape {expected} back, got "
             f"{_describe(out)}.")
    _require(not finite or np.isfinite(out).all(), f"{what}: non-finite values in the output.")


# -- construction and parameters ---------------------------------------------------------------


def check_get_params_matches_signature(name, estimator):
    """The class constructs from its defaults and ``get_params`` lists its constructor's.

    Every hyperparameter has a default (scikit-learn's rule), except the ones a
    meta-estimator cannot do without (the estimator it wraps): those are taken from
    ``estimator``.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    cls = type(estimator)
    required = _required_param_names(cls)
    given = {key: value for key, value in estimator.get_params(deep=False).items()
             if key in required}
    call = f"{cls.__name__}({', '.join(f'{key}=...' for key in given)})"
    try:
        default = cls(**given)
    except Exception as error:  # noqa: BLE001
        raise AssertionError(
            f"{call} failed ({type(error).__name__}: {error}); every hyperparameter needs "
            "a default (scikit-learn's rule)."
        ) from error
    expected = _init_param_names(cls)
    got = set(default.get_params(deep=False))
    _require(got == expected,
             f"get_params() gives {sorted(got)} but __init__ takes {sorted(expected)}.")


def check_init_stores_parameters_only(name, estimator):
    """``__init__`` stores each argument unchanged (the same object) and does no work.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    params = estimator.get_params(deep=False)
    built = type(estimator)(**params)
    stored = built.get_params(deep=False)
    for key, value in params.items():
        _require(stored[key] is value,
                 f"__init__ does not store {key} unchanged: given {value!r}, stored "
                 f"{stored[key]!r}. Validate and convert in fit, not in __init__.")
    fitted = [attr for attr in vars(built) if attr.endswith("_") and not attr.startswith("_")]
    _require(fitted == [], f"__init__ sets fitted attributes {fitted}; only fit may.")


def check_parameter_constraints(name, estimator):
    """Declared constraints cover every hyperparameter, and ``fit`` enforces them.

    Applies to a class that declares ``_parameter_constraints``
    (:mod:`seqmodels._parameters`): each ``__init__`` argument must have a declaration,
    and for each, a value outside all of its constraints (a float where an int is due,
    an unknown option, an object for a number) makes ``fit`` raise
    ``InvalidParameterError`` -- a ValueError and a TypeError -- naming the parameter,
    before anything else happens.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    constraints = getattr(type(estimator), "_parameter_constraints", None)
    if constraints is None:
        raise unittest.SkipTest(f"{name} declares no _parameter_constraints")
    params = estimator.get_params(deep=False)
    undeclared = sorted(set(params) - set(constraints))
    _require(not undeclared, f"_parameter_constraints declares nothing for {undeclared}.")
    X3, _, _ = _containers()
    for key, allowed in constraints.items():
        bad = next((value for value in _UNLIKELY_VALUES
                    if not any(_parameters._accepts(c, value) for c in allowed)), None)
        if bad is None:
            continue
        est = _fresh(estimator).set_params(**{key: bad})
        _expect_error(_parameters.InvalidParameterError, f"fit with {key}={bad!r}", est.fit,
                      X3, match=rf"^{re.escape(key)} must be ")


#: Candidate bad values for check_parameter_constraints: the first one no constraint of
#: a parameter accepts is tried.
_UNLIKELY_VALUES = (2.5, "no-such-option", -1, float("nan"), object())


def check_clone_and_set_params(name, estimator):
    """``sklearn.base.clone`` gives an equal twin and ``set_params`` returns the estimator.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    twin = clone(estimator)
    _require(twin is not estimator, "clone returned the estimator itself.")
    params = estimator.get_params(deep=False)
    twin_params = twin.get_params(deep=False)
    _require(twin_params.keys() == params.keys(),
             f"the clone's parameters {sorted(twin_params)} differ from {sorted(params)}.")
    for key, value in params.items():
        _require(_same_value(twin_params[key], value),
                 f"the clone's {key} is {twin_params[key]!r}, not {value!r}.")
    _require(twin.set_params(**params) is twin, "set_params must return the estimator itself.")


def check_fit_returns_self(name, estimator):
    """``fit`` returns ``self`` and sets ``n_features_in_``, ``n_params_`` and ``history_``.

    ``n_params_`` counts the parameters estimated from the data; it may be 0 only for a
    model that learns nothing, so then fitting on other data must not change its
    predictions.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, _, _ = _containers()
    est = _fresh(estimator)
    _require(est.fit(X3) is est, "fit must return self.")
    _require(getattr(est, "n_features_in_", None) == X3.shape[2],
             f"n_features_in_ should be {X3.shape[2]}, got "
             f"{getattr(est, 'n_features_in_', 'nothing')!r}.")
    n_params = getattr(est, "n_params_", None)
    _require(isinstance(n_params, (int, np.integer)) and not isinstance(n_params, bool)
             and n_params >= 0,
             f"n_params_ (parameters estimated from the data) must be a non-negative int; "
             f"got {n_params!r}.")
    _require(isinstance(getattr(est, "history_", None), list),
             f"history_ must be a list (objective per iteration, [] for a closed-form fit); "
             f"got {getattr(est, 'history_', 'nothing')!r}.")
    if n_params == 0:
        other = _fresh(estimator).fit(2.0 * X3 + 1.0)
        _assert_close(other.predict(X3), est.predict(X3),
                      "n_params_ is 0 (nothing estimated from the data), yet fitting on other "
                      "data changed the predictions")


def check_fit_does_not_change_hyperparameters(name, estimator):
    """``fit`` leaves ``get_params()`` as it was and adds only attributes ending in ``_``.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, _, _ = _containers()
    est = _fresh(estimator)
    if "random_state" in est.get_params(deep=False) and not isinstance(
            est.random_state, (type(None), int, np.integer)):
        est.set_params(random_state=0)  # a RandomState is consumed by fit, legitimately
    before = est.get_params(deep=False)
    hashes = {key: joblib.hash(value) for key, value in before.items()}
    attributes = set(vars(est))
    est.fit(X3)
    after = est.get_params(deep=False)
    _require(after.keys() == before.keys(),
             f"fit changed the parameter names: {sorted(before)} -> {sorted(after)}.")
    changed = [key for key in before if joblib.hash(after[key]) != hashes[key]]
    _require(not changed,
             "fit changed the hyperparameter(s) "
             + ", ".join(f"{key} ({before[key]!r} -> {after[key]!r})" for key in changed)
             + "; store what fit learns in attributes ending in '_' instead.")
    added = sorted(a for a in set(vars(est)) - attributes
                   if not a.startswith("_") and not a.endswith("_"))
    _require(not added,
             f"fit set public attribute(s) {added} without a trailing underscore; fitted "
             "attributes end in '_'.")


def check_not_fitted(name, estimator):
    """Every method raises ``sklearn.exceptions.NotFittedError`` before ``fit``.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, _, _ = _containers()
    est = _fresh(estimator)
    _expect_error(NotFittedError, "predict before fit", est.predict, X3)
    for method, args in (("score", ()), ("forecast", (3,)), ("log_likelihood", ()),
                         ("predict_proba", ())):
        if _has(est, method):
            _expect_error(NotFittedError, f"{method} before fit", getattr(est, method), X3,
                          *args)


# -- inputs, containers and shapes -----------------------------------------------------------


def check_inputs_not_mutated(name, estimator):
    """No method changes the arrays it is given (X or y, 3-D or lists).

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, Xlist, _ = _containers()
    originals = X3.copy(), [x.copy() for x in Xlist]

    def unchanged(after_what):
        _assert_equal(X3, originals[0], f"{after_what} modified the 3-D X it was given")
        _assert_equal(Xlist, originals[1], f"{after_what} modified the list X it was given")

    est = _fresh(estimator).fit(X3)
    unchanged("fit")
    est.predict(X3)
    est.predict(Xlist)
    unchanged("predict")
    if _probabilistic(est):
        est.predict(X3, return_std=True)
        est.log_likelihood(X3)
        est.log_likelihood(Xlist)
        unchanged("predict(return_std=True) or log_likelihood")
    if _has(est, "forecast"):
        est.forecast(X3, 3)
        est.forecast(Xlist, 3)
        unchanged("forecast")
    if _has(est, "score"):
        est.score(X3)
        unchanged("score")
    kind = _target_kind(est)
    if kind is None:
        return
    y3, ylist = _targets(kind, X3), _targets(kind, Xlist)
    y_originals = y3.copy(), [y.copy() for y in ylist]
    sup = _fresh(estimator).fit(Xlist, ylist)
    unchanged("fit(X, y)")
    _assert_equal(ylist, y_originals[1], "fit modified the list y it was given")
    sup.predict(X3)
    if _has(sup, "score"):
        sup.score(X3, y3)
        _assert_equal(y3, y_originals[0], "score modified the y it was given")
    if _has(sup, "predict_proba"):
        sup.predict_proba(X3)
        sup.predict_proba(Xlist)
    if _probabilistic(sup):
        sup.log_likelihood(X3, y3)
        _assert_equal(y3, y_originals[0], "log_likelihood modified the y it was given")
    unchanged("a supervised estimator's methods")


def check_forecasting_containers(name, estimator):
    """Forecasting mode (``fit(X)``): every container form in, the same form out.

    Checks ``predict`` (and ``return_std``), ``forecast``, ``log_likelihood`` and
    ``score`` on a 3-D array and a list of unequal lengths, and fitting and predicting
    a 1-D univariate sequence; outputs are finite, ``score`` is a float.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, Xlist, X1 = _containers()
    d = X3.shape[2]
    est = _fresh(estimator).fit(X3)
    pred = est.predict(X3)
    _assert_form(pred, X3, d, "predict(3-D X)")
    _assert_form(est.predict(Xlist), Xlist, d, "predict(list X)")
    if _has(est, "score"):
        score = est.score(X3)
        _require(isinstance(score, float) and np.isfinite(score),
                 f"score must return a finite float; got {score!r}.")
        _require(score <= 1.0 + 1e-12, f"score (R²) cannot exceed 1; got {score}.")
        expected = r2_score(X3, pred)
        _require(np.isclose(score, expected, rtol=1e-7, atol=1e-9),
                 f"score(X) is {score}, but R² of predict(X) against X is {expected} "
                 "(forecasting mode scores one-step-ahead predictions).")
    if _has(est, "forecast"):
        _assert_form(est.forecast(X3, 4), X3, d, "forecast(3-D X, 4)", steps=4)
        _assert_form(est.forecast(Xlist, 4), Xlist, d, "forecast(list X, 4)", steps=4)
    if _probabilistic(est):
        ll = est.log_likelihood(X3)
        _require(isinstance(ll, np.ndarray) and ll.shape == (X3.shape[0],)
                 and np.isfinite(ll).all(),
                 f"log_likelihood(3-D X) must be finite of shape ({X3.shape[0]},); got "
                 f"{_describe(ll)}.")
        ll_list = est.log_likelihood(Xlist)
        _require(isinstance(ll_list, np.ndarray) and ll_list.shape == (len(Xlist),),
                 f"log_likelihood(list X) must have shape ({len(Xlist)},); got "
                 f"{_describe(ll_list)}.")
        for form, X in (("3-D X", X3), ("list X", Xlist)):
            out = est.predict(X, return_std=True)
            _require(isinstance(out, tuple) and len(out) == 2,
                     f"predict({form}, return_std=True) must return (mean, std).")
            _assert_form(out[0], X, d, f"predict({form}, return_std=True) mean")
            _assert_form(out[1], X, d, f"predict({form}, return_std=True) std")
            if _has(est, "forecast"):
                f_out = est.forecast(X, 4, return_std=True)
                _require(isinstance(f_out, tuple) and len(f_out) == 2,
                         f"forecast({form}, 4, return_std=True) must return (mean, std).")
                _assert_form(f_out[0], X, d, f"forecast({form}, 4, return_std=True) mean",
                             steps=4)
                _assert_form(f_out[1], X, d, f"forecast({form}, 4, return_std=True) std",
                             steps=4)

    uni = _fresh(estimator).fit(X1)
    _assert_form(uni.predict(X1), X1, 1, "predict(1-D X) after fit(1-D X)")
    if _has(uni, "forecast"):
        _assert_form(uni.forecast(X1, 5), X1, 1, "forecast(1-D X, 5)", steps=5)
    if _probabilistic(uni):
        ll = uni.log_likelihood(X1)
        _require(isinstance(ll, np.ndarray) and ll.shape == (1,) and np.isfinite(ll).all(),
                 f"log_likelihood(1-D X) must be a finite array of shape (1,); got "
                 f"{_describe(ll)}.")
        mean, std = uni.predict(X1, return_std=True)
        _assert_form(mean, X1, 1, "predict(1-D X, return_std=True) mean")
        _assert_form(std, X1, 1, "predict(1-D X, return_std=True) std")


def check_fit_on_unequal_lengths(name, estimator):
    """``fit`` takes a list of sequences of different lengths, in both modes.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, Xlist, _ = _containers()
    d = X3.shape[2]
    est = _fresh(estimator).fit(Xlist)
    _require(getattr(est, "n_features_in_", None) == d,
             f"n_features_in_ should be {d} after fit(list X).")
    _assert_form(est.predict(Xlist), Xlist, d, "predict(list X) after fit(list X)")
    _assert_form(est.predict(X3), X3, d, "predict(3-D X) after fit(list X)")
    kind = _target_kind(est)
    if kind is None:
        return
    sup = _fresh(estimator).fit(Xlist, _targets(kind, Xlist))
    _assert_form(sup.predict(Xlist), Xlist, 1, "predict(list X) after fit(list X, list y)")


def check_sequences_are_independent(name, estimator):
    """A sequence's outputs do not depend on the other sequences of the batch.

    Predicting a list of unequal lengths (padded inside) gives, for each sequence, what
    predicting it alone gives; a 3-D array and the list of its sequences give the same.
    The same for ``log_likelihood``, ``predict(return_std=True)`` and ``forecast``.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, Xlist, _ = _containers()
    est = _fresh(estimator).fit(X3)

    def outputs(X):
        """Every output for X, as a list of per-sequence arrays."""
        out = {}
        if _probabilistic(est):
            out["predict"], out["predict(return_std=True) std"] = est.predict(X, return_std=True)
            out["log_likelihood"] = est.log_likelihood(X)[:, None]
        else:
            out["predict"] = est.predict(X)
        if _has(est, "forecast"):
            out["forecast(X, 3)"] = est.forecast(X, 3)
        return {what: [np.asarray(item) for item in value] for what, value in out.items()}

    together = outputs(Xlist)
    for i, x in enumerate(Xlist):
        for what, alone in outputs(x[None]).items():
            _assert_close(together[what][i], alone[0],
                          f"{what}: sequence {i} of a list of unequal lengths differs from the "
                          "same sequence on its own")
    as_list, as_array = outputs(list(X3)), outputs(X3)
    for what in as_array:
        _assert_close(as_list[what], as_array[what],
                      f"{what}: a list of sequences differs from the same sequences as a 3-D "
                      "array")


def check_supervised_containers(name, estimator):
    """Supervised mode (``fit(X, y)``): outputs have y's shape in X's container form.

    ``score(X, y)`` is a finite float (R², or accuracy for labels, computed from
    ``predict``); predicted labels are among ``classes_``.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    kind = _supervised_or_skip(name, estimator)
    X3, Xlist, _ = _containers()
    y3 = _targets(kind, X3)
    est = _fresh(estimator).fit(X3, y3)
    pred = est.predict(X3)
    _assert_form(pred, y3, y3.shape[2], "predict(3-D X) in supervised mode")
    _assert_form(est.predict(Xlist), _targets(kind, Xlist), 1,
                 "predict(list X) in supervised mode")
    if _has(est, "score"):
        score = est.score(X3, y3)
        _require(isinstance(score, float) and np.isfinite(score),
                 f"score(X, y) must return a finite float; got {score!r}.")
        expected = (accuracy_score if kind == "labels" else r2_score)(y3, pred)
        _require(np.isclose(score, expected, rtol=1e-7, atol=1e-9),
                 f"score(X, y) is {score}, but the {'accuracy' if kind == 'labels' else 'R²'} "
                 f"of predict(X) against y is {expected}.")
    if kind == "labels":
        classes = getattr(est, "classes_", None)
        _require(classes is not None, "a fit on integer labels must set classes_.")
        _require(set(np.unique(pred)) <= set(classes),
                 f"predicted labels {sorted(set(np.unique(pred)))} are not all in classes_ "
                 f"{list(classes)}.")


def check_predict_proba(name, estimator):
    """``predict_proba`` (tagging): probabilities over ``classes_`` whose argmax is ``predict``.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    kind = _supervised_or_skip(name, estimator)
    if kind != "labels":
        raise unittest.SkipTest(f"{name}'s supervised mode takes continuous targets")
    X3, Xlist, _ = _containers()
    est = _fresh(estimator).fit(X3, _targets(kind, X3))
    if not _has(est, "predict_proba"):
        raise unittest.SkipTest(f"{name} offers no predict_proba")
    classes = np.asarray(est.classes_)
    proba = est.predict_proba(X3)
    _assert_form(proba, X3, len(classes), "predict_proba(3-D X)")
    _require(np.all((proba >= 0) & (proba <= 1)), "predict_proba gives values outside [0, 1].")
    _assert_close(proba.sum(axis=-1), np.ones(X3.shape[:2]),
                  "predict_proba must sum to 1 over the classes at every step", rtol=1e-6, atol=0)
    _assert_equal(est.predict(X3)[..., 0], classes[np.argmax(proba, axis=-1)],
                  "predict must give the class of highest predict_proba")
    _assert_form(est.predict_proba(Xlist), Xlist, len(classes), "predict_proba(list X)")


def check_forecast(name, estimator):
    """``forecast`` continues each sequence past its end, consistently with ``predict``.

    The one-step forecast is the one-step-ahead prediction of the next step (what
    ``predict`` gives at step T of the sequence extended by one step); a longer horizon
    extends a shorter one; standard deviations, when offered, are positive and finite
    and agree with ``predict(return_std=True)`` in the same way.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, _, _ = _containers()
    est = _fresh(estimator).fit(X3)
    if not _has(est, "forecast"):
        raise unittest.SkipTest(f"{name} does not forecast")
    long = est.forecast(X3, 4)
    _assert_form(long, X3, X3.shape[2], "forecast(X, 4)", steps=4)
    _assert_close(long[:, :2], est.forecast(X3, 2),
                  "forecast(X, 4)'s first 2 steps differ from forecast(X, 2)")
    extended = np.concatenate([X3, X3[:, -1:]], axis=1)
    T = X3.shape[1]
    _assert_close(est.forecast(X3, 1)[:, 0], est.predict(extended)[:, T],
                  "forecast(X, 1) differs from predict's one-step-ahead prediction of the "
                  "step after X")
    if _probabilistic(est):
        mean, std = est.forecast(X3, 4, return_std=True)
        _assert_close(mean, long, "forecast(X, 4, return_std=True)'s mean differs from "
                      "forecast(X, 4)")
        _require(np.all(std > 0) and np.isfinite(std).all(),
                 "forecast's standard deviations must be positive and finite.")
        _assert_close(std[:, 0], est.predict(extended, return_std=True)[1][:, T],
                      "forecast(X, 1, return_std=True)'s std differs from predict's at the "
                      "step after X")


def check_log_likelihood(name, estimator):
    """``log_likelihood`` gives one finite value per sequence; ``return_std`` matches ``predict``.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, _, _ = _containers()
    est = _fresh(estimator).fit(X3)
    if not _probabilistic(est):
        raise unittest.SkipTest(f"{name} offers no log_likelihood")
    ll = est.log_likelihood(X3)
    _require(isinstance(ll, np.ndarray) and ll.shape == (X3.shape[0],)
             and np.isfinite(ll).all(),
             f"log_likelihood must give a finite array of shape ({X3.shape[0]},).")
    mean, std = est.predict(X3, return_std=True)
    _require(mean.shape == std.shape == X3.shape,
             f"predict(X, return_std=True) must give mean and std of shape {X3.shape}.")
    _require(np.all(std > 0) and np.isfinite(std).all(),
             "predict's standard deviations must be positive and finite.")
    _assert_close(mean, est.predict(X3),
                  "predict(X, return_std=True)'s mean differs from predict(X)", rtol=1e-7, atol=0)


# -- causality (DESIGN section 3) -----------------------------------------------------------


def check_causal_forecasting(name, estimator):
    """Forecasting mode: changing ``X[:, s:]`` leaves ``predict(X)[:, :s+1]`` unchanged.

    And it does change the later predictions (the model reads its input). Skipped for
    estimators that declare ``causal = False``.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, _, _ = _containers()
    est = _fresh(estimator).fit(X3)
    if not _is_causal(est):
        raise unittest.SkipTest(f"{name} declares causal = False")
    s = _SPLIT
    before, after = est.predict(X3), est.predict(_perturbed(X3, s))
    _assert_close(after[:, : s + 1], before[:, : s + 1],
                  f"not causal: changing X[:, {s}:] changed predict(X)[:, :{s + 1}] "
                  f"(forecasting mode predicts X[:, t] from X[:, :t] only; an estimator "
                  "that looks ahead must set causal = False)", rtol=1e-9, atol=1e-9)
    _require(not np.allclose(after[:, s + 1:], before[:, s + 1:]),
             f"changing X[:, {s}:] left every later prediction unchanged: predict ignores "
             "its input.")


def check_causal_supervised(name, estimator):
    """Supervised mode: changing ``X[:, s:]`` leaves ``predict(X)[:, :s]`` unchanged.

    For labels the class probabilities are compared. Skipped for estimators without a
    supervised mode or that declare ``causal = False``.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    kind = _supervised_or_skip(name, estimator)
    X3, _, _ = _containers()
    est = _fresh(estimator).fit(X3, _targets(kind, X3))
    if not _is_causal(est):
        raise unittest.SkipTest(f"{name} declares causal = False")
    s = _SPLIT
    output = (est.predict_proba if kind == "labels" and _has(est, "predict_proba")
              else est.predict)
    before, after = output(X3), output(_perturbed(X3, s))
    _assert_close(after[:, :s], before[:, :s],
                  f"not causal: changing X[:, {s}:] changed the supervised estimates "
                  f"[:, :{s}] (supervised mode estimates y[:, t] from X[:, :t+1] only)",
                  rtol=1e-9, atol=1e-9)
    _require(not np.allclose(after[:, s:], before[:, s:]),
             f"changing X[:, {s}:] left every later estimate unchanged: the supervised mode "
             "ignores its input.")


def check_attention_weights(name, estimator):
    """Attention models: ``attention_weights`` is causal, normalised, and leaves predict alone.

    For estimators that offer ``attention_weights(X, per_head=False)`` (skipped
    otherwise), fitted in forecasting mode: the weights are ``(n, T, T)``, each row a
    distribution over steps ``s <= t`` (0 above the diagonal); rows ``<= s`` are
    unchanged when ``X[:, s:]`` changes (position ``s`` holds ``x_{s-1}``); a list input
    gives ``(T_i, T_i)`` arrays, each as the sequence alone would get; the heads'
    weights (``per_head=True``) average to the default; and asking for the weights
    changes no prediction (Keras' ``MultiHeadAttention`` dropped its causal mask when
    scores were requested, keras-team/keras#23038).

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    if not _has(estimator, "attention_weights"):
        raise unittest.SkipTest(f"{name} has no attention_weights")
    X3, Xlist, _ = _containers()
    est = _fresh(estimator).fit(X3)
    n, T = X3.shape[:2]
    before = est.predict(X3)
    weights = est.attention_weights(X3)
    _assert_close(est.predict(X3), before, "asking for attention_weights changed predict(X)",
                  rtol=1e-9, atol=1e-9)
    _require(isinstance(weights, np.ndarray) and weights.shape == (n, T, T),
             f"attention_weights(X) of a {X3.shape} X must be ({n}, {T}, {T}); got "
             f"{_describe(weights)}")
    _require(bool(np.isfinite(weights).all()) and bool((weights >= 0).all()),
             "attention_weights holds negative or non-finite weights")
    _assert_close(weights.sum(axis=-1), np.ones((n, T)), "attention weights rows must sum to 1")
    _assert_equal(np.triu(weights, 1), np.zeros_like(weights),
                  "attention weights above the diagonal (steps after t) must be 0")
    s = _SPLIT
    moved = est.attention_weights(_perturbed(X3, s))
    _assert_close(moved[:, : s + 1], weights[:, : s + 1],
                  f"not causal: changing X[:, {s}:] changed attention_weights(X)[:, :{s + 1}]",
                  rtol=1e-9, atol=1e-9)
    heads = est.attention_weights(X3, per_head=True)
    _require(heads.ndim == 4 and heads.shape[0] == n and heads.shape[2:] == (T, T),
             f"attention_weights(X, per_head=True) must be (n, n_heads, T, T); got "
             f"{_describe(heads)}")
    _assert_close(heads.mean(axis=1), weights, "the heads' weights must average to the default")
    from_list = est.attention_weights(Xlist)
    _require(isinstance(from_list, list) and [w.shape for w in from_list]
             == [(len(x), len(x)) for x in Xlist],
             "attention_weights(list of sequences) must be a list of (T_i, T_i) arrays")
    for i, x in enumerate(Xlist):
        alone = est.attention_weights(x[None])[0]
        _assert_close(from_list[i], alone, f"attention weights of sequence {i} depend on the "
                      "other sequences of the batch (padding leaked)")


# -- reproducibility and persistence ---------------------------------------------------------


def _seeded(estimator):
    params = estimator.get_params(deep=False)
    return {"random_state": 7} if "random_state" in params else {}


def check_same_random_state_same_result(name, estimator):
    """Two fits with the same ``random_state`` give identical predictions.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, _, _ = _containers()
    extra = _seeded(estimator)
    first = _fresh(estimator, **extra).fit(X3).predict(X3)
    second = _fresh(estimator, **extra).fit(X3).predict(X3)
    seed = "the same random_state" if extra else "no random_state (so no randomness)"
    _assert_equal(second, first, f"two fits with {seed} predict differently")


def check_random_state_forms(name, estimator):
    """``random_state`` takes a ``numpy.random.RandomState`` and a ``numpy.random.Generator``
    as well as None and an int, and equally seeded Generators give identical fits.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    if "random_state" not in estimator.get_params(deep=False):
        raise unittest.SkipTest(f"{name} takes no random_state")
    X3, _, _ = _containers()
    for form, make in (("RandomState", np.random.RandomState),
                       ("Generator", np.random.default_rng)):
        try:
            first = _fresh(estimator, random_state=make(7)).fit(X3).predict(X3)
        except Exception as error:  # noqa: BLE001 - reported as a contract failure
            raise AssertionError(f"fit with random_state={form}(7) raised "
                                 f"{type(error).__name__}: {error}") from error
        second = _fresh(estimator, random_state=make(7)).fit(X3).predict(X3)
        _assert_equal(second, first, f"two fits with random_state={form}(7) predict differently")


def check_refit_gives_same_result(name, estimator):
    """Fitting the same instance again on the same data gives the same predictions.

    Nothing of a previous fit may leak into the next (no hidden warm start).

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, _, _ = _containers()
    est = _fresh(estimator, **_seeded(estimator))
    first = est.fit(X3).predict(X3)
    second = est.fit(X3).predict(X3)
    _assert_equal(second, first, "fitting the same instance again on the same data changed "
                  "its predictions (state kept from the previous fit?)")


def check_pickle_round_trip(name, estimator):
    """A fitted estimator survives ``pickle`` and predicts identically.

    Skipped for a class that pickle cannot find by name (one defined by ``exec``
    rather than in a module).

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    try:
        pickle.dumps(type(estimator))
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise unittest.SkipTest(
            f"pickle cannot find the class {type(estimator).__qualname__} by name ({error}); "
            "define it in a module to check pickling"
        ) from error
    X3, _, _ = _containers()
    est = _fresh(estimator).fit(X3)
    restored = pickle.loads(pickle.dumps(est))
    _assert_equal(restored.predict(X3), est.predict(X3),
                  "after a pickle round trip predict differs")
    if _probabilistic(est):
        _assert_equal(restored.log_likelihood(X3), est.log_likelihood(X3),
                      "after a pickle round trip log_likelihood differs")
    if _has(est, "forecast"):
        _assert_equal(restored.forecast(X3, 3), est.forecast(X3, 3),
                      "after a pickle round trip forecast differs")


def check_grid_search_over_sequences(name, estimator):
    """``GridSearchCV`` with ``KFold`` splits sequences and fits, scores and refits.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, _, _ = _containers()
    est = _fresh(estimator)
    if not _has(est, "score"):
        raise unittest.SkipTest(f"{name} has no score method for GridSearchCV to use")
    params = est.get_params(deep=False)
    getter = getattr(type(est), "_unit_test_params", None)
    keys = [key for key in (getter() if getter else {}) if key in params] or sorted(params)
    grid = {key: [params[key]] for key in keys[:1]}
    search = GridSearchCV(est, grid, cv=KFold(n_splits=3)).fit(X3)
    _require(np.isfinite(search.best_score_),
             f"GridSearchCV's best score is {search.best_score_}.")
    out = search.predict(X3)
    _require(np.shape(out) == X3.shape,
             f"GridSearchCV.predict gives shape {np.shape(out)}, expected {X3.shape}.")


# -- bad input --------------------------------------------------------------------------------


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


def check_bad_input(name, estimator):
    """``fit`` and ``predict`` refuse malformed sequences with a message saying where.

    Infinity, no sequences, a sequence of 0 steps, 4-D and 0-D arrays, a 2-D array,
    strings, unequal feature counts, and NaN (a missing observation, accepted only by
    estimators with ``handles_missing = True``, which must then still predict).

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, _, _ = _containers()
    fitted = _fresh(estimator).fit(X3)
    for case, (X_bad, error, message) in _bad_inputs(X3).items():
        if case == "nan" and getattr(fitted, "handles_missing", False):
            pred = fitted.predict(X_bad)
            _require(np.isfinite(pred).all(),
                     "handles_missing = True, yet predict gives non-finite values for X "
                     "with a NaN (a missing observation).")
            continue
        _expect_error(error, f"fit(X with {case.replace('_', ' ')})", _fresh(estimator).fit,
                      X_bad, match=re.escape(message))
        _expect_error(error, f"predict(X with {case.replace('_', ' ')})", fitted.predict,
                      X_bad, match=re.escape(message))


def check_2d_input_message(name, estimator):
    """A 2-D array is refused with a message naming both readings and their fixes.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, _, _ = _containers()
    error = _expect_error(ValueError, "fit(2-D X)", _fresh(estimator).fit, X3[0])
    message = str(error)
    _require("X[None]" in message and "X[..., None]" in message,
             f"the 2-D message must name both fixes, X[None] and X[..., None]: {message!r}")
    _require("one sequence of 30 timesteps with 2 features" in message,
             f"the 2-D message must name the reading 'one sequence of 30 timesteps with 2 "
             f"features': {message!r}")


def check_too_short_for_the_model(name, estimator):
    """``fit`` refuses sequences shorter than the model needs (``_min_fit_length()``).

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, _, _ = _containers()
    est = _fresh(estimator)
    needed = est._min_fit_length() if _has(est, "_min_fit_length") else 1
    if needed <= 1:
        raise unittest.SkipTest(f"{name} fits on single-step sequences")
    _expect_error(ValueError, f"fit(sequences of {needed - 1} step(s))", est.fit,
                  X3[:, : needed - 1], match=f"at least {needed}")


def check_wrong_n_features_at_predict(name, estimator):
    """``predict`` refuses a feature count other than the one seen in ``fit``.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, _, _ = _containers()
    est = _fresh(estimator).fit(X3)
    _expect_error(ValueError, "predict(X with 3 features after fit with 2)", est.predict,
                  np.concatenate([X3, X3[..., :1]], axis=-1), match="fitted with 2")


def check_x_y_mismatch(name, estimator):
    """``fit(X, y)`` refuses y with other sequence counts, lengths or container form.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    kind = _supervised_or_skip(name, estimator)
    X3, _, _ = _containers()
    y = _targets(kind, X3)
    _expect_error(ValueError, "fit(X, y with 5 sequences for 6)", _fresh(estimator).fit, X3,
                  y[:5], match="y has 5 sequence")
    _expect_error(ValueError, "fit(X, y with 29 steps for 30)", _fresh(estimator).fit, X3,
                  y[:, :29], match=r"y\[0\] has 29 timestep")
    _expect_error(ValueError, "fit(3-D X, list y)", _fresh(estimator).fit, X3, list(y),
                  match="same container form")


def check_forecast_horizon(name, estimator):
    """``forecast`` refuses a horizon that is not a positive integer.

    Parameters
    ----------
    name : str
        The estimator's name, used in messages.
    estimator : estimator instance
        The template to check (cloned, never fitted).
    """
    X3, _, _ = _containers()
    est = _fresh(estimator).fit(X3)
    if not _has(est, "forecast"):
        raise unittest.SkipTest(f"{name} does not forecast")
    _expect_error(ValueError, "forecast(X, 0)", est.forecast, X3, 0, match="horizon")
    _expect_error(TypeError, "forecast(X, 2.5)", est.forecast, X3, 2.5, match="horizon")


# -- running the checks -----------------------------------------------------------------------

# In the order they run: construction first, then what a broken fit or predict shows first.
def _quiet_about_convergence(check):
    """Run ``check`` with ConvergenceWarning ignored: the checks fit with tiny iteration
    budgets on purpose (scikit-learn's checks do the same)."""

    @functools.wraps(check)
    def run(name, estimator):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return check(name, estimator)

    return run


_CHECKS = tuple(_quiet_about_convergence(check) for check in (
    check_get_params_matches_signature,
    check_init_stores_parameters_only,
    check_clone_and_set_params,
    check_parameter_constraints,
    check_fit_returns_self,
    check_fit_does_not_change_hyperparameters,
    check_not_fitted,
    check_inputs_not_mutated,
    check_forecasting_containers,
    check_fit_on_unequal_lengths,
    check_sequences_are_independent,
    check_causal_forecasting,
    check_causal_supervised,
    check_attention_weights,
    check_supervised_containers,
    check_predict_proba,
    check_forecast,
    check_log_likelihood,
    check_same_random_state_same_result,
    check_random_state_forms,
    check_refit_gives_same_result,
    check_pickle_round_trip,
    check_grid_search_over_sequences,
    check_bad_input,
    check_2d_input_message,
    check_too_short_for_the_model,
    check_wrong_n_features_at_predict,
    check_x_y_mismatch,
    check_forecast_horizon,
))


def _with_test_params(estimator):
    """The estimator to check: its class's ``_unit_test_params`` fill in what it left at default.

    Hyperparameters the caller set keep their values; those still at the constructor's
    default take the class's small, fast test values. An estimator whose class defines
    no ``_unit_test_params`` is checked as given.
    """
    if isinstance(estimator, type):
        raise TypeError(
            f"pass an estimator instance, e.g. {estimator.__name__}(), not the class."
        )
    getter = getattr(type(estimator), "_unit_test_params", None)
    if getter is None:
        return estimator
    init = getattr(type(estimator).__init__, "deprecated_original", type(estimator).__init__)
    defaults = {p.name: p.default for p in inspect.signature(init).parameters.values()}
    current = estimator.get_params(deep=False)
    changes = {key: value for key, value in getter().items()
               if key in current and key in defaults
               and _same_value(current[key], defaults[key])}
    if not changes:
        return estimator
    return clone(estimator).set_params(**changes)


def _estimator_name(estimator):
    return type(estimator).__name__


def check_estimator(estimator, generate_only=False):
    """Check that an estimator follows the seqmodels contract.

    Runs every check of :mod:`seqmodels.utils.estimator_checks` in turn and stops at the
    first that fails. The estimator is never fitted itself: each check fits clones.
    Hyperparameters left at their default take the values of the class's
    ``_unit_test_params()`` when the class defines it (the built-in estimators do, so
    that networks train for two epochs only); an estimator whose class does not define
    it is checked as given.

    Parameters
    ----------
    estimator : estimator instance
        The estimator to check, e.g. ``AutoRegressive(order=2)`` or your own.
    generate_only : bool, default=False
        When True, run nothing and return a generator of ``(estimator, check)`` pairs
        instead: call ``check(estimator)`` to run one check (each ``check`` is a
        ``functools.partial`` of a ``check_<what>(name, estimator)`` function, whose
        name is ``check.func.__name__``).

    Returns
    -------
    results : dict or generator
        A dict from each check's name to ``"passed"`` or ``"skipped: <reason>"``
        (a check that does not apply: no supervised mode, no ``forecast``, ...); the
        generator of ``(estimator, check)`` pairs when ``generate_only`` is True.

    Raises
    ------
    AssertionError
        The first failing check, named in the message with the estimator and what
        broke (an unexpected exception raised inside a check is reported the same way,
        chained as the cause).

    See Also
    --------
    parametrize_with_checks : the same checks as one pytest test each.

    Examples
    --------
    >>> from seqmodels import AutoRegressive
    >>> from seqmodels.utils import check_estimator
    >>> results = check_estimator(AutoRegressive(order=2))
    >>> results["check_causal_forecasting"]
    'passed'
    >>> results["check_predict_proba"]
    "skipped: AutoRegressive's supervised mode takes continuous targets"
    >>> checks = [check.func.__name__
    ...           for _, check in check_estimator(AutoRegressive(), generate_only=True)]
    >>> checks[:3]  # doctest: +NORMALIZE_WHITESPACE
    ['check_get_params_matches_signature', 'check_init_stores_parameters_only',
     'check_clone_and_set_params']
    """
    checked = _with_test_params(estimator)
    name = _estimator_name(checked)
    pairs = ((checked, functools.partial(check, name)) for check in _CHECKS)
    if generate_only:
        return pairs
    results = {}
    for est, check in pairs:
        check_name = check.func.__name__
        try:
            check(est)
        except unittest.SkipTest as skip:
            results[check_name] = f"skipped: {skip}"
            continue
        except AssertionError as error:
            raise AssertionError(f"{check_name} failed for {name}: {error}") from error
        except Exception as error:  # noqa: BLE001 - a crash inside a check is a failure too
            raise AssertionError(
                f"{check_name} failed for {name}: {type(error).__name__}: {error}"
            ) from error
        results[check_name] = "passed"
    return results


def parametrize_with_checks(estimators):
    """Pytest decorator: one test per estimator and check.

    The decorated test takes the arguments ``estimator`` and ``check`` and runs
    ``check(estimator)``; a check that does not apply is reported as skipped. Test ids
    read ``<estimator>-<check name>``, so ``pytest -k check_causal`` selects checks.

    Parameters
    ----------
    estimators : list of estimator instances
        The estimators to check (instances, not classes), each prepared as
        :func:`check_estimator` prepares it.

    Returns
    -------
    decorator
        A ``pytest.mark.parametrize`` mark.

    See Also
    --------
    check_estimator : run the checks of one estimator directly.

    Examples
    --------
    >>> from seqmodels import AutoRegressive, KalmanFilter
    >>> from seqmodels.utils import parametrize_with_checks
    >>> @parametrize_with_checks([AutoRegressive(order=2), KalmanFilter()])
    ... def test_sequence_estimator(estimator, check):
    ...     check(estimator)
    """
    import pytest

    estimators = list(estimators)
    for estimator in estimators:
        if isinstance(estimator, type):
            raise TypeError(
                f"parametrize_with_checks takes estimator instances, e.g. "
                f"{estimator.__name__}(), not classes."
            )
    params, ids = [], []
    for estimator in estimators:
        label = re.sub(r"\s+", "", repr(estimator))
        for checked, check in check_estimator(estimator, generate_only=True):
            params.append((checked, check))
            ids.append(f"{label}-{check.func.__name__}")
    return pytest.mark.parametrize("estimator, check", params, ids=ids)
