"""The estimator contract shared by every model of the package.

:class:`SequenceEstimator` follows scikit-learn's template: ``__init__`` stores its
arguments, the public methods validate their input and call private hooks that
subclasses implement on the internal padded form (:class:`SequenceBatch`):

=====================  =====================================================
public method          hook a subclass implements
=====================  =====================================================
``fit``                ``_fit(X, y)``
``predict``            ``_predict(X, return_std)``  -> mean or (mean, std)
``forecast``           ``_forecast(X, horizon, return_std)``
``log_likelihood``     ``_log_likelihood(X, y)``     -> (n_sequences,)
``predict_proba``      ``_predict_proba(X)``
=====================  =====================================================

A public method exists on an instance only when its hook does and applies
(``hasattr(model, "log_likelihood")`` is False for a model that has no density),
using scikit-learn's ``available_if``, so code that compares models can ask.

Two modes share one alignment (see the README, "Sequences and alignment"):

* forecasting, ``fit(X)``: ``predict(X)[i, t]`` predicts ``X[i, t]`` from ``X[i, :t]``;
* supervised, ``fit(X, y)``: ``predict(X)[i, t]`` estimates ``y[i, t]`` from ``X[i, :t+1]``.
"""

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._parameters import validate_parameters
from ._validation import MAX_HORIZON, check_horizon, check_sequences, check_targets
from .metrics import accuracy_score, r2_score

__all__ = ["SequenceEstimator"]

#: Attributes ``fit`` sets before the family's ``_fit``: restored if that fit fails (with
#: every other attribute: a failed fit leaves the instance as it was).
_FIT_ATTRIBUTES = ("n_features_in_", "history_", "mode_", "n_targets_", "classes_")


def _hook_applies(hook):
    """available_if check: the estimator defines ``hook`` and it applies to this instance."""

    def check(estimator):
        return hasattr(estimator, hook) and estimator._hook_available(hook)

    return check


class SequenceEstimator(BaseEstimator):
    """Base class of every seqmodels estimator.

    Subclasses implement ``_fit`` and ``_predict`` and, where they apply,
    ``_forecast``, ``_log_likelihood`` and ``_predict_proba``. They set
    ``n_params_`` (and may append to ``history_``) in ``_fit``.

    Class attributes
    ----------------
    causal : bool
        True when ``predict`` at step t uses no input after t (DESIGN section 3).
        Smoothers, bidirectional networks and Viterbi decoders set it False.
    handles_missing : bool
        True when NaN in ``X`` is read as a missing observation (Kalman filters);
        otherwise NaN in ``X`` is an error.
    target_kinds : tuple of {"values", "labels"}
        The targets ``fit(X, y)`` accepts: real ``"values"`` (regression, float y),
        class ``"labels"`` (tagging, integer y), or both. ``fit`` refuses the others.
    _parameter_constraints : dict or None
        What each ``__init__`` argument may be (:mod:`seqmodels._parameters`), checked
        at the start of every ``fit``; None checks nothing (a user's own subclass).

    Fitted attributes
    -----------------
    n_features_in_ : int
        Number of features of ``X``.
    n_targets_ : int
        Number of outputs per timestep (``n_features_in_`` in forecasting mode).
    mode_ : {"forecast", "supervised"}
        Whether ``fit`` was given targets.
    classes_ : ndarray
        The class labels, when ``y`` held integer labels (tagging).
    n_params_ : int
        Number of free parameters of the fitted model.
    history_ : list of float
        Objective per iteration (EM log-likelihood, training loss); ``[]`` for
        closed-form fits.
    """

    causal = True
    handles_missing = False
    target_kinds = ("values", "labels")
    _parameter_constraints = None

    # -- hooks for subclasses -------------------------------------------------------

    def _min_fit_length(self):
        """Fewest timesteps every training sequence must have."""
        return 1

    def _hook_available(self, hook):
        """Whether an implemented hook applies to this instance (override to refine)."""
        if hook == "_predict_proba":
            return getattr(self, "classes_", None) is not None or not hasattr(self, "mode_")
        if hook == "_forecast":
            return getattr(self, "mode_", "forecast") == "forecast"
        return True

    def _supports_std(self):
        """Whether ``predict(..., return_std=True)`` is available."""
        return hasattr(self, "_log_likelihood") and self._hook_available("_log_likelihood")

    def _max_horizon(self):
        """Most forecast steps accepted (networks step slowly and lower it)."""
        return MAX_HORIZON

    #: Fitted array attributes that may hold non-finite values by design (e.g. the
    #: log-likelihood of an EM restart that failed); every other one must be finite.
    _non_finite_attributes = ()

    # -- validation helpers ---------------------------------------------------------

    def _check_X(self, X, *, fitting=False):
        return check_sequences(
            X,
            "X",
            allow_nan=self.handles_missing,
            min_length=self._min_fit_length() if fitting else 1,
            n_features=None if fitting else self.n_features_in_,
            estimator_name=type(self).__name__,
        )

    def _check_y(self, y, X_batch, *, fitting=False):
        if y is None:
            return None
        batch, is_labels = check_targets(y, X_batch)
        if fitting:
            self._check_target_kind(is_labels)
            return batch, is_labels
        if batch.n_features != self.n_targets_:
            raise ValueError(
                f"y has {batch.n_features} target(s) per timestep but the estimator was "
                f"fitted with {self.n_targets_}."
            )
        return batch

    def _check_target_kind(self, is_labels):
        name = type(self).__name__
        if is_labels and "labels" not in self.target_kinds:
            raise ValueError(
                f"y holds integers, which means class labels; {name} learns real-valued "
                "targets. Pass y.astype(float) to regress on the values."
            )
        if not is_labels and "values" not in self.target_kinds:
            raise ValueError(
                f"y holds real values; {name}'s supervised mode takes integer class labels "
                "y (one per timestep, negative for none). Pass y.astype(int) if the values "
                "are labels."
            )

    def _validate_params(self):
        """Check the hyperparameters against ``_parameter_constraints`` (if declared)."""
        if self._parameter_constraints is not None:
            validate_parameters(self._parameter_constraints, self.get_params(deep=False),
                                type(self).__name__)

    # -- the public contract --------------------------------------------------------

    def fit(self, X, y=None):
        """Learn the model from sequences.

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_features)
            Or a list of ``(n_timesteps_i, n_features)`` arrays, or a 1-D array
            (one univariate sequence).
        y : array-like, optional
            Per-timestep targets in the same container form as ``X``. Without it
            the model learns to forecast ``X``; with it, to estimate ``y[:, t]``
            from ``X[:, :t+1]``. Float targets are regression (NaN: no target at
            that step), integer targets are class labels (tagging).

        Returns
        -------
        self
        """
        self._validate_params()
        X_batch = self._check_X(X, fitting=True)
        checked = self._check_y(y, X_batch, fitting=True)
        # A fit that fails leaves the previous fit as it was: the attributes set here
        # (_FIT_ATTRIBUTES), and any a family had set before the failure, are restored.
        previous = dict(vars(self))
        try:
            self._fit_checked(X_batch, checked)
            self._check_fitted_finite(X_batch)
        except BaseException:
            vars(self).clear()
            vars(self).update(previous)
            raise
        return self

    def _check_fitted_finite(self, X_batch):
        """Refuse a fit whose objective or fitted arrays are not finite (no silent NaN model)."""
        bad = None
        if not np.isfinite(np.asarray(self.history_, dtype=float)).all():
            bad = "objective (history_)"
        else:
            for name, value in vars(self).items():
                if (name.endswith("_") and not name.startswith("_")
                        and name not in self._non_finite_attributes
                        and isinstance(value, np.ndarray) and value.dtype.kind in "fc"
                        and not np.isfinite(value).all()):
                    bad = f"parameter {name}"
                    break
        if bad is not None:
            raise ValueError(
                f"fitting {type(self).__name__} on X {_scale_of(X_batch)} gave a non-finite "
                f"{bad}: the arithmetic overflowed or the data leave the model undetermined. "
                "Rescale X (e.g. standardise it), or use a simpler model."
            )

    def _check_output(self, X_batch, what, *outputs, per_step=True, impossible_ok=False):
        """Raise a ValueError naming X's scale when an output is not finite (never silent NaN).

        ``impossible_ok``: -inf is the exact log-likelihood of an observation the model
        gives probability zero (a categorical symbol it never emits): let it through.
        """
        for out in outputs:
            values = np.asarray(out, dtype=float)
            if np.isfinite(values).all():
                continue  # the common case, without copying the real steps out
            if per_step:
                values = values[X_batch.mask]
            if impossible_ok:
                values = np.where(values == -np.inf, 0.0, values)
            if not np.isfinite(values).all():
                raise ValueError(
                    f"{type(self).__name__}.{what} is not finite for X {_scale_of(X_batch)}: "
                    "the model's arithmetic overflows for data this far from what it was "
                    "fitted on, or X is impossible under the fitted model. Rescale X (e.g. "
                    "standardise it as the training data were), or refit on data like it."
                )

    def _fit_checked(self, X_batch, checked):
        """Set the contract's fitted attributes, then call the family's ``_fit``."""
        self.n_features_in_ = X_batch.n_features
        self.history_ = []
        if checked is None:
            y_batch = None
            self.mode_ = "forecast"
            self.n_targets_ = X_batch.n_features
            self.classes_ = None
        else:
            y_batch, is_labels = checked
            self.mode_ = "supervised"
            self.n_targets_ = y_batch.n_features
            self.classes_ = None
            if is_labels:
                if y_batch.n_features != 1:
                    raise ValueError(
                        f"integer y (class labels) must have one target per timestep; got "
                        f"{y_batch.n_features}."
                    )
                observed = y_batch.values[np.isfinite(y_batch.values)]
                self.classes_ = np.unique(observed).astype(np.int64)
        self._fit(X_batch, y_batch)

    def predict(self, X, return_std=False):
        """Per-timestep predictions, aligned with ``X``.

        Forecasting mode: ``predict(X)[i, t]`` is the one-step-ahead prediction of
        ``X[i, t]`` from ``X[i, :t]`` (step 0 from the model's prior), so
        ``X - predict(X)`` are the innovations. Supervised mode: the estimate of
        ``y[i, t]`` from ``X[i, :t+1]``; class labels when fitted on labels.

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_features)
            Or a list of 2-D arrays, or a 1-D array.
        return_std : bool, default=False
            Also return the predictive standard deviation (probabilistic
            estimators only).

        Returns
        -------
        mean : same container form as X, with ``n_targets_`` features
        std : same form as ``mean``, only when ``return_std`` is True
        """
        check_is_fitted(self, "n_features_in_")
        _check_bool(return_std, "return_std")
        X_batch = self._check_X(X)
        if return_std and not self._supports_std():
            raise ValueError(
                f"{type(self).__name__} has no predictive distribution here; "
                "return_std=True is not available."
            )
        if self.classes_ is not None:
            if return_std:
                raise ValueError("return_std=True is not available for class labels.")
            proba = self._predict_proba(X_batch)
            self._check_output(X_batch, "predict", proba)
            labels = self.classes_[np.argmax(proba, axis=-1)][..., None]
            return X_batch.restore(labels)
        out = self._predict(X_batch, return_std)
        if return_std:
            self._check_output(X_batch, "predict", *out)
            return X_batch.restore(out[0]), X_batch.restore(out[1])
        self._check_output(X_batch, "predict", out)
        return X_batch.restore(out)

    @available_if(_hook_applies("_predict_proba"))
    def predict_proba(self, X):
        """Per-timestep class probabilities (tagging), causal like ``predict``.

        Returns
        -------
        proba : same container form as X, with ``len(classes_)`` features
        """
        check_is_fitted(self, "n_features_in_")
        X_batch = self._check_X(X)
        proba = self._predict_proba(X_batch)
        self._check_output(X_batch, "predict_proba", proba)
        return X_batch.restore(proba)

    @available_if(_hook_applies("_forecast"))
    def forecast(self, X, horizon, return_std=False):
        """Continue each sequence ``horizon`` steps past its end.

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_features)
            Or a list of 2-D arrays, or a 1-D array: the history to continue.
        horizon : int
            Number of future steps.
        return_std : bool, default=False
            Also return the standard deviation of each forecast step.

        Returns
        -------
        mean : ndarray of shape (n_sequences, horizon, n_features)
            A list of ``(horizon, n_features)`` arrays for list input, a
            ``(horizon,)`` array for univariate 1-D input.
        std : same form as ``mean``, only when ``return_std`` is True
        """
        check_is_fitted(self, "n_features_in_")
        horizon = check_horizon(horizon, max_horizon=self._max_horizon())
        _check_bool(return_std, "return_std")
        X_batch = self._check_X(X)
        check_horizon(horizon, X_batch.n_sequences, X_batch.n_features,
                      max_horizon=self._max_horizon())
        if return_std and not self._supports_std():
            raise ValueError(
                f"{type(self).__name__} has no predictive distribution here; "
                "return_std=True is not available."
            )
        out = self._forecast(X_batch, horizon, return_std)
        lengths = np.full(X_batch.n_sequences, horizon)
        if return_std:
            self._check_output(X_batch, "forecast", *out, per_step=False)
            return X_batch.restore(out[0], lengths), X_batch.restore(out[1], lengths)
        self._check_output(X_batch, "forecast", out, per_step=False)
        return X_batch.restore(out, lengths)

    @available_if(_hook_applies("_log_likelihood"))
    def log_likelihood(self, X, y=None):
        """Log predictive density of each sequence, summed over its timesteps.

        Forecasting mode: ``log p(x_1, ..., x_T) = sum_t log p(x_t | x_<t)``.
        Supervised mode: ``sum_t log p(y_t | x_1..t)`` over the steps that have a target.

        Returns
        -------
        ndarray of shape (n_sequences,)
        """
        check_is_fitted(self, "n_features_in_")
        X_batch = self._check_X(X)
        y_batch = self._require_y(y, X_batch)
        out = self._log_likelihood(X_batch, y_batch)
        self._check_output(X_batch, "log_likelihood", out, per_step=False, impossible_ok=True)
        return out

    def score(self, X, y=None):
        """Higher is better: R² over all timesteps, or accuracy for class labels.

        In forecasting mode the targets are ``X`` itself (one-step-ahead R²).
        Timesteps whose target is NaN are skipped.

        Returns
        -------
        float
        """
        check_is_fitted(self, "n_features_in_")
        X_batch = self._check_X(X)
        y_batch = self._require_y(y, X_batch)
        target = X_batch if y_batch is None else y_batch
        if not np.isfinite(target.values[target.mask]).any():
            raise ValueError(
                "X has no observed value at any timestep (all NaN): in forecasting mode the "
                "targets are X itself, so there is nothing to score."
            )
        if self.classes_ is not None:
            proba = self._predict_proba(X_batch)
            self._check_output(X_batch, "score", proba)
            labels = self.classes_[np.argmax(proba, axis=-1)][..., None].astype(float)
            return accuracy_score(target.values, labels)
        pred = self._predict(X_batch, False)
        self._check_output(X_batch, "score", pred)
        return r2_score(target.values, pred)

    def _require_y(self, y, X_batch):
        if self.mode_ == "supervised" and y is None:
            raise ValueError(
                f"{type(self).__name__} was fitted with targets; pass y as well."
            )
        if self.mode_ == "forecast" and y is not None:
            raise ValueError(
                f"{type(self).__name__} was fitted without targets (forecasting); "
                "y must be None."
            )
        return self._check_y(y, X_batch)


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}.")


def _scale_of(X_batch):
    """'(values up to 3.2e+12 in magnitude)': how large the data are, for error messages."""
    values = X_batch.values[X_batch.mask]
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "(no observed value)"
    return f"(values up to {np.abs(finite).max():.3g} in magnitude)"
