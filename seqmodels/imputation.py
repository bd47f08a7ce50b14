"""ImputeMissing: any estimator on inputs with missing measurements, by causal imputation.

The Kalman filters read a NaN measurement as "no observation at this step" and skip
the update. Most models cannot: an autoregression, a hidden Markov model or a
network needs a number at every step. :class:`ImputeMissing` fills the gaps by a
documented rule that uses nothing after the step it fills, so the wrapped model
stays causal, and hands the filled sequences to the model it wraps.
"""

import numpy as np
from sklearn.base import clone

from ._parameters import HasMethods, Options
from ._validation import SequenceBatch, check_sequences
from .base import SequenceEstimator

__all__ = ["ImputeMissing", "impute_causal"]

STRATEGIES = ("last", "mean")


def impute_causal(values, lengths, fill, strategy="last"):
    """Fill the NaN entries of padded sequences by a causal rule.

    Parameters
    ----------
    values : ndarray of shape (n_sequences, n_timesteps, n_features)
        NaN where a measurement is missing (and on padding past each sequence's end).
    lengths : ndarray of int of shape (n_sequences,)
    fill : ndarray of shape (n_features,)
        The value used where a rule has nothing to go on (the training mean).
    strategy : {"last", "mean"}
        ``"last"``: last observation carried forward,
        ``x̂_{i,t,j} = x_{i,s,j}`` with ``s = max{s <= t : x_{i,s,j} observed}``, and
        ``fill_j`` before the first observation; ``"mean"``: ``fill_j`` everywhere.

    Returns
    -------
    filled : ndarray of the same shape
        Observed entries unchanged; missing entries of real steps filled; padding
        stays NaN.
    """
    n, T, d = values.shape
    observed = np.isfinite(values)
    filled = np.where(observed, values, np.broadcast_to(fill, values.shape))
    if strategy == "last":
        steps = np.arange(T)[None, :, None]
        last = np.maximum.accumulate(np.where(observed, steps, -1), axis=1)
        carried = np.take_along_axis(values, np.clip(last, 0, None), axis=1)
        filled = np.where(last >= 0, carried, filled)
    real = np.arange(T)[None, :] < np.asarray(lengths)[:, None]
    return np.where(real[..., None], filled, np.nan)


def _container(values, lengths):
    """Padded sequences in the container a wrapped model reads: 3-D when all lengths are
    equal, else a list of 2-D arrays."""
    form = "3d" if np.all(lengths == values.shape[1]) else "list"
    return SequenceBatch(values, lengths, form).restore(values)


def _padded(output):
    """A wrapped model's output (3-D array or list of 2-D arrays) as a padded array."""
    return check_sequences(output, "the wrapped estimator's output", allow_nan=True).values


def _labels(values):
    """Float labels with NaN for "no target" -> integer labels with -1."""
    return np.where(np.isfinite(values), values, -1).astype(np.int64)


class ImputeMissing(SequenceEstimator):
    """Fill missing inputs causally, then fit and predict with another estimator.

    A meta-estimator: NaN in ``X`` marks a missing measurement (a whole step, or
    some features of it). ``fit`` learns the per-feature mean of the observed
    training inputs, fills the gaps of ``X`` (:func:`impute_causal`) and fits a
    clone of ``estimator`` on the filled sequences; ``predict``, ``forecast``,
    ``predict_proba``, ``log_likelihood`` and ``score`` fill the same way and ask
    the fitted clone. The rule for step t reads only steps up to t, so the
    wrapped model's causality is kept.

    Forecasting mode (``fit(X)``) makes the filled values targets as well as
    inputs: the wrapped model learns from, and is scored on, values that were
    never measured. ``log_likelihood`` therefore refuses inputs with gaps in
    forecasting mode; supervised mode (``fit(X, y)``, e.g. noisy measurements in
    and true positions out) has no such problem.

    Parameters
    ----------
    estimator : SequenceEstimator
        The model to wrap (unfitted; it is cloned).
    strategy : {"last", "mean"}, default="last"
        ``"last"``: last observation carried forward (the training mean before the
        first observation of a feature); ``"mean"``: the training mean.
    add_indicator : bool, default=False
        Append, per input feature, a column that is 1 where the value was filled
        and 0 where it was measured, so the wrapped model can learn how far to
        trust a filled value (scikit-learn's ``SimpleImputer(add_indicator=True)``).
        Supervised mode only: in forecasting mode the inputs are also the targets.

    Attributes
    ----------
    estimator_ : SequenceEstimator
        The fitted clone.
    fill_values_ : ndarray of shape (n_features,)
        The per-feature mean of the observed training inputs.
    n_params_ : int
        The wrapped model's ``n_params_``.
    history_ : list of float
        The wrapped model's ``history_``.

    Examples
    --------
    >>> import numpy as np
    >>> from seqmodels import AutoRegressive
    >>> from seqmodels.imputation import ImputeMissing
    >>> rng = np.random.default_rng(0)
    >>> truth = np.cumsum(rng.normal(size=(5, 40, 1)), axis=1)
    >>> measured = truth + rng.normal(size=truth.shape)
    >>> measured[:, 10:15] = np.nan                      # five steps without a measurement
    >>> model = ImputeMissing(AutoRegressive(order=2)).fit(measured, truth)
    >>> bool(np.isfinite(model.predict(measured)).all())
    True
    """

    handles_missing = True

    def __init__(self, estimator, strategy="last", add_indicator=False):
        self.estimator = estimator
        self.strategy = strategy
        self.add_indicator = add_indicator

    _parameter_constraints = {
        "estimator": [HasMethods("fit", "predict", "get_params")],
        "strategy": [Options(*STRATEGIES)],
        "add_indicator": ["boolean"],
    }

    @property
    def target_kinds(self):
        """The targets the wrapped estimator accepts."""
        return getattr(self.estimator, "target_kinds", ("values", "labels"))

    @property
    def causal(self):
        """As causal as the wrapped estimator (the imputation itself is causal)."""
        return bool(getattr(self.estimator, "causal", True))

    @classmethod
    def _unit_test_params(cls):
        from .autoregressive import AutoRegressive

        return {"estimator": AutoRegressive(order=1)}

    @classmethod
    def _unit_test_targets(cls):
        return "continuous"

    # -- hooks ------------------------------------------------------------------------

    def _hook_available(self, hook):
        public = hook.lstrip("_")
        inner = getattr(self, "estimator_", self.estimator)
        if not hasattr(inner, public):
            return False
        return super()._hook_available(hook)

    def _supports_std(self):
        inner = getattr(self, "estimator_", self.estimator)
        return inner._supports_std() if hasattr(inner, "_supports_std") else False

    def _filled(self, X):
        values = impute_causal(X.values, X.lengths, self.fill_values_, self.strategy)
        if self.add_indicator:
            gaps = np.where(X.mask[..., None], np.isnan(X.values).astype(float), np.nan)
            values = np.concatenate([values, gaps], axis=-1)
        return _container(values, X.lengths)

    def _targets(self, X, y):
        if y is None:
            return None
        values = y.values if self.classes_ is None else _labels(y.values)
        return _container(values, X.lengths)

    def _fit(self, X, y):
        if self.add_indicator and y is None:
            raise ValueError("add_indicator=True needs supervised mode (fit(X, y)): in "
                             "forecasting mode the inputs are also the targets.")
        observed = np.isfinite(X.values) & X.mask[..., None]
        if not observed.any(axis=(0, 1)).all():
            empty = np.flatnonzero(~observed.any(axis=(0, 1))).tolist()
            raise ValueError(f"X has no observed value at all in feature(s) {empty}; there is "
                             "nothing to impute from.")
        self.fill_values_ = np.nanmean(np.where(observed, X.values, np.nan), axis=(0, 1))
        inner = clone(self.estimator)
        inner.fit(self._filled(X), self._targets(X, y))
        self.estimator_ = inner
        self.n_params_ = getattr(inner, "n_params_", 0)
        self.history_ = list(getattr(inner, "history_", []))

    def _predict(self, X, return_std):
        out = self.estimator_.predict(self._filled(X), return_std=return_std) if return_std \
            else self.estimator_.predict(self._filled(X))
        if return_std:
            return _padded(out[0]), _padded(out[1])
        return _padded(out)

    def _predict_proba(self, X):
        return _padded(self.estimator_.predict_proba(self._filled(X)))

    def _forecast(self, X, horizon, return_std):
        out = self.estimator_.forecast(self._filled(X), horizon, return_std=return_std)
        if return_std:
            return _padded(out[0]), _padded(out[1])
        return _padded(out)

    def _log_likelihood(self, X, y):
        if y is None and np.isnan(X.values[X.mask]).any():
            raise ValueError(
                "log_likelihood in forecasting mode would score imputed values as if they had "
                "been measured; pass X without gaps, or fit in supervised mode.")
        return np.asarray(self.estimator_.log_likelihood(self._filled(X), self._targets(X, y)),
                          dtype=float)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "estimator_")
