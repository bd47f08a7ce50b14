"""The shared network estimator base: data in network form, training, prediction, persistence.

:class:`_NeuralNetwork` holds what every Keras estimator of the package shares; each
family (:mod:`.recurrent`, :mod:`.feedforward`, :mod:`.transformer`, :mod:`.seq2seq`)
declares its hyperparameters and its graph (``_architecture``) and, where it forecasts
differently, ``_forecast_network``. The classes are thin: they validate
hyperparameters, put the data in network form (standardised float32, NaN on padding
and on missing targets), and hand the work to :mod:`seqmodels.neural.networks`. Keras
(and TensorFlow) are imported only when a network is fitted or loaded, so ``import
seqmodels`` stays light.

Alignment (DESIGN section 3):

* forecasting, ``fit(X)``: the network input at step t is ``x_{t-1}`` (step 0 sees
  the start value 0, i.e. the training mean after standardising) and the target is
  ``x_t``; ``forecast`` feeds each predicted mean back in as the next input;
* supervised, ``fit(X, y)``: the input at step t is ``x_t`` and the target ``y_t``; a
  unidirectional network's state summarises ``x_1..t``.
"""
import json
import numbers
import os
import random
import zipfile

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._parameters import Integer, Options, Real
from .._validation import check_random_state
from ..base import SequenceEstimator

OUTPUTS = ("point", "gaussian")
OPTIMIZERS = ("adam", "sgd", "rmsprop", "momentum")
_META_NAME = "seqmodels.json"

#: Most forecast steps a network takes: it steps one Keras call at a time (about 0.5 ms a
#: step on two cores), so 10,000 steps take seconds and the package's 100,000 a minute.
MAX_NETWORK_HORIZON = 10_000

#: Most float32 numbers one chunk of an attention network's prediction may hold in its
#: scores (``n T^2``, times ``units`` for the additive score's ``tanh``): 2**25 is 128 MB.
ATTENTION_CHUNK_NUMBERS = 2**25

#: Largest standardised input accepted (in standard deviations of the training data):
#: the networks compute in float32, whose largest number is 3.4e38.
MAX_STANDARDISED = 1e30

#: Largest final training loss accepted. The targets are standardised, so predicting
#: their mean scores about 1 (squared error) or 1.4 (Gaussian NLL), log K for K labels:
#: a loss a hundred times that means training diverged, even if it stayed finite.
MAX_FINAL_LOSS = 100.0


def _networks():
    """Import the Keras side lazily (TensorFlow backend unless the user chose another)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    # keep TensorFlow's C++ start-up chatter quiet
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from . import networks

    return networks


# -- parameter checks -----------------------------------------------------------------


def _seed(random_state):
    """An integer Keras seed from ``random_state`` (any form :func:`check_random_state` takes).

    An int is the seed itself; None, a RandomState or a Generator gives one draw.
    """
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


# -- data in network form -------------------------------------------------------------


def _moments(values, observed):
    """Per-feature mean and standard deviation over the observed entries (std 0 -> 1)."""
    d = values.shape[-1]
    mean, scale = np.zeros(d), np.ones(d)
    for j in range(d):
        column = values[..., j][observed[..., j]]
        if column.size:
            mean[j] = column.mean()
            std = column.std()
            scale[j] = std if std > 1e-12 else 1.0
    return mean, scale


def _shifted(standardised, lengths, extra=0):
    """Forecasting inputs: ``out[:, 0] = 0`` (start value), ``out[:, t] = x[:, t-1]``.

    Returns (n, T + extra, d): valid on ``t <= length - 1 + extra``, NaN after.
    """
    n, T, d = standardised.shape
    out = np.full((n, T + extra, d), np.nan)
    out[:, 0] = 0.0
    out[:, 1:T + 1] = standardised[:, : T + extra - 1] if extra else standardised[:, : T - 1]
    valid = np.arange(T + extra)[None, :] < (lengths + extra)[:, None]
    out[~valid] = np.nan
    return out


# batch_size="auto" (benchmarks/bench_neural.py, 2 CPU cores, LSTM(32), 50 steps):
# training throughput grows with the batch (best-of figures, M sample-steps/s:
# 0.4-0.6 at 64, 0.6-0.9 at 128, 0.9-1.2 at 256, 1.0-1.2 at 512), but on small data
# sets a large batch means few updates per epoch: on 256 sequences, 100 epochs at
# batch 256 (one update per epoch) leave 4x the excess test error of batch 64. So
# the batch grows with the data, keeping at least 8 updates per epoch.
AUTO_BATCH_MIN, AUTO_BATCH_MAX, AUTO_MIN_UPDATES = 64, 256, 8


def auto_batch_size(n_fit):
    """``batch_size="auto"``: ``clip(n_fit // 8, 64, 256)`` sequences per gradient step."""
    return int(min(AUTO_BATCH_MAX, max(AUTO_BATCH_MIN, n_fit // AUTO_MIN_UPDATES)))


def attention_batch_size(spec, length, largest=2048):
    """Sequences per prediction chunk of a network: ``largest``, or, with ``attention``
    in its spec, as many as keep the ``length x length`` scores (times ``units`` for the
    additive score's ``tanh``) within :data:`ATTENTION_CHUNK_NUMBERS` (at least one)."""
    attention = spec.get("attention")
    if attention is None:
        return largest
    per_sequence = length**2 * (spec["units"] if attention == "additive" else 1)
    return int(np.clip(ATTENTION_CHUNK_NUMBERS // max(per_sequence, 1), 1, largest))


def _softplus(raw):
    return np.logaddexp(0.0, raw)


def _encode(value):
    """JSON form of a fitted attribute (arrays tagged with their dtype)."""
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(value):
    if isinstance(value, dict) and "__ndarray__" in value:
        return np.asarray(value["__ndarray__"], dtype=value["dtype"])
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _check_converged_loss(losses, training):
    """Refuse a fit whose loss ended far above the mean predictor's (a finite divergence)."""
    if len(losses) and float(losses[-1]) > MAX_FINAL_LOSS:
        clipping = (f"clipnorm={training['clipnorm']}" if training["clipnorm"] is not None
                    else f"clipvalue={training['clipvalue']}"
                    if training["clipvalue"] is not None else "no gradient clipping")
        remedies = "Lower learning_rate" + (
            ", clip the gradient norm (clipnorm=1.0)" if training["clipnorm"] is None else "")
        remedies += " or use optimizer='adam'." if training["optimizer"] != "adam" else "."
        raise _networks().TrainingDiverged(
            f"training diverged: the loss ended at {float(losses[-1]):.3g} on standardised "
            f"targets, where predicting their mean scores about 1 (optimizer="
            f"{training['optimizer']!r}, learning_rate={training['learning_rate']}, "
            f"{clipping}). {remedies}"
        )


# -- shared estimator code ------------------------------------------------------------


def _optional_float(value):
    return None if value is None else float(value)


#: The training hyperparameters both networks share (:mod:`seqmodels._parameters`).
_TRAINING_CONSTRAINTS = {
    "output": [Options(*OUTPUTS)],
    "optimizer": [Options(*OPTIMIZERS)],
    "learning_rate": [Real(0.0, None, closed="neither")],
    "epochs": [Integer(0)],
    "batch_size": [Options("auto"), Integer(1)],
    "clipnorm": [None, Real(0.0, None, closed="neither")],
    "clipvalue": [None, Real(0.0, None, closed="neither")],
    "validation_fraction": [Real(0.0, 1.0, closed="left")],
    "patience": [None, Integer(1)],
    "random_state": ["random_state"],
    "verbose": [Integer(0)],
    "units": [Integer(1)],
    "n_layers": [Integer(1)],
    "dropout": [Real(0.0, 1.0, closed="left")],
}


class _NeuralNetwork(SequenceEstimator):
    """Training, prediction, persistence shared by the two network estimators."""

    # -- hooks of the contract -----------------------------------------------------

    def _hook_available(self, hook):
        if hook == "_log_likelihood":
            return self.output == "gaussian" or getattr(self, "classes_", None) is not None
        return super()._hook_available(hook)

    def _supports_std(self):
        return self.output == "gaussian" and getattr(self, "classes_", None) is None

    def _max_horizon(self):
        return MAX_NETWORK_HORIZON

    def _float32_inputs(self, standardised, X):
        """``standardised`` as float32, refused (naming X) where float32 would overflow."""
        with np.errstate(invalid="ignore"):
            top = np.nanmax(np.abs(standardised), initial=0.0)
        if top > MAX_STANDARDISED:
            raw = np.nanmax(np.abs(X.values), initial=0.0)
            raise ValueError(
                f"X holds values up to {raw:.3g} in magnitude, {top:.3g} standard deviations "
                f"of the training data from their mean; {type(self).__name__} computes in "
                f"float32 (largest 3.4e38), which overflows beyond about {MAX_STANDARDISED:.0e}."
                " Rescale X as the training data were, or refit on data like it."
            )
        return standardised.astype(np.float32)

    # -- parameters ------------------------------------------------------------------

    def _training_params(self, n_sequences):
        fraction = float(self.validation_fraction)
        patience = self.patience
        if patience is not None:
            if fraction == 0.0:
                raise ValueError("patience (early stopping) needs a validation set; set "
                                 "validation_fraction > 0.")
        n_fit = n_sequences - (max(1, int(round(fraction * n_sequences))) if fraction > 0 else 0)
        if n_fit < 1:
            raise ValueError(f"validation_fraction={fraction} leaves no training sequence out of "
                             f"{n_sequences}; use a smaller fraction or more sequences.")
        batch_size = auto_batch_size(n_fit) if self.batch_size == "auto" else self.batch_size
        return dict(
            optimizer=self.optimizer,
            learning_rate=float(self.learning_rate),
            clipnorm=_optional_float(self.clipnorm),
            clipvalue=_optional_float(self.clipvalue),
            epochs=int(self.epochs),
            batch_size=int(batch_size),
            validation_fraction=fraction,
            patience=None if patience is None else int(patience),
            verbose=int(self.verbose),
        )

    # -- data ------------------------------------------------------------------------

    def _network_inputs(self, X, extra=0):
        """Standardised inputs (n, T + extra, d), float32, NaN on padding."""
        standardised = (X.values - self.x_mean_) / self.x_scale_
        if self.mode_ == "forecast":
            return self._float32_inputs(_shifted(standardised, X.lengths, extra), X)
        return self._float32_inputs(standardised, X)

    def _network_targets(self, X, y):
        """Targets in network units: standardised values, or class indices; NaN = none."""
        if y is None:
            values = X.values
        elif self.classes_ is not None:
            values = y.values
            index = np.searchsorted(self.classes_, np.nan_to_num(values, nan=self.classes_[0]))
            return np.where(np.isfinite(values), index, np.nan).astype(np.float32)
        else:
            values = y.values
        values = np.where(X.mask[..., None], values, np.nan)
        return ((values - self.y_mean_) / self.y_scale_).astype(np.float32)

    def _decode(self, out, return_std):
        """Network outputs (n, T, width) -> mean (and std) in the targets' units."""
        m = self.n_targets_
        mean = out[..., :m] * self.y_scale_ + self.y_mean_
        if not return_std:
            return mean
        variance = _softplus(out[..., m:]) + _networks().VARIANCE_FLOOR
        return mean, np.sqrt(variance) * self.y_scale_

    # -- fitting ---------------------------------------------------------------------

    def _fit(self, X, y):
        training = self._training_params(X.n_sequences)
        labels = self.classes_ is not None
        spec = self._architecture(X, y)
        self.x_mean_, self.x_scale_ = _moments(X.values, np.broadcast_to(
            X.mask[..., None], X.values.shape))
        if y is None:
            self.y_mean_, self.y_scale_ = self.x_mean_, self.x_scale_
        elif labels:
            self.y_mean_, self.y_scale_ = np.zeros(1), np.ones(1)
        else:
            observed = np.isfinite(y.values) & X.mask[..., None]
            self.y_mean_, self.y_scale_ = _moments(y.values, observed)
        spec.update(n_inputs=X.n_features,
                    n_outputs=len(self.classes_) if labels else self.n_targets_,
                    head="softmax" if labels else self.output)
        inputs = self._network_inputs(X)
        targets = self._network_targets(X, y)

        nw = _networks()
        seed = _seed(self.random_state)
        python_state, numpy_state = random.getstate(), np.random.get_state()
        try:
            # Seeds Python, NumPy, TensorFlow and Keras: initial weights, dropout
            # masks and the shuffling order all follow from `seed`.
            nw.keras.utils.set_random_seed(seed)
            graphs = nw.build(spec)
            history = nw.train(nw.training_graph(graphs, inputs), spec, inputs, targets,
                               seed=seed, **training)
        finally:
            # Leave the caller's global Python / NumPy streams as they were.
            random.setstate(python_state)
            np.random.set_state(numpy_state)
        _check_converged_loss(history.get("loss", []), training)
        graphs.pop("train_unpadded", None)  # shares the weights; its compiled step is not needed
        self.network_spec_ = spec
        self.model_ = graphs["train"]
        self._graphs = graphs
        self.n_params_ = nw.count_trainable(self.model_)
        self.history_ = [float(v) for v in history.get("loss", [])]
        self.validation_history_ = [float(v) for v in history.get("val_loss", [])]
        self.n_epochs_ = len(self.history_)

    def _graph(self, name):
        """An inference graph sharing the trained weights (rebuilt after loading)."""
        graphs = getattr(self, "_graphs", None)
        if graphs is None:
            nw = _networks()
            graphs = nw.build(self.network_spec_)
            graphs["train"].set_weights(self.model_.get_weights())
            self._graphs = graphs
        return graphs[name]

    # -- prediction ------------------------------------------------------------------

    def _outputs(self, X):
        return _networks().run(self.model_, self._network_inputs(X))

    def _predict(self, X, return_std):
        return self._decode(self._outputs(X), return_std)

    def _predict_proba(self, X):
        logits = self._outputs(X)
        logits = logits - logits.max(axis=-1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=-1, keepdims=True)

    def _log_likelihood(self, X, y):
        if self.classes_ is not None:
            return self._label_log_likelihood(X, y)
        mean, std = self._decode(self._outputs(X), True)
        target = X.values if y is None else y.values
        observed = np.isfinite(target) & X.mask[..., None]
        z = (np.where(observed, target, 0.0) - mean) / std
        log_density = -0.5 * (np.log(2.0 * np.pi) + z**2) - np.log(std)
        return np.where(observed, log_density, 0.0).sum(axis=(1, 2))

    def _label_log_likelihood(self, X, y):
        """``sum_t log softmax(logits_t)[y_t]`` over the labelled steps (cross-entropy)."""
        logits = self._outputs(X)
        log_proba = logits - logits.max(axis=-1, keepdims=True)
        log_proba -= np.log(np.exp(log_proba).sum(axis=-1, keepdims=True))
        labels = y.values[..., 0]
        labelled = np.isfinite(labels) & X.mask
        known = np.isin(labels, self.classes_) | ~labelled
        if not known.all():
            unseen = np.unique(labels[~known])
            raise ValueError(f"y holds labels the network was not fitted on: {unseen.tolist()}; "
                             f"known labels: {self.classes_.tolist()}.")
        index = np.searchsorted(self.classes_, np.where(labelled, labels, self.classes_[0]))
        picked = np.take_along_axis(log_proba, index[..., None], axis=-1)[..., 0]
        return np.where(labelled, picked, 0.0).sum(axis=1)

    def _forecast(self, X, horizon, return_std):
        out = self._forecast_network(X, horizon)
        return self._decode(out, return_std)

    # -- attention weights (the attention models) ------------------------------------

    def _attention_inputs(self, X, per_head):
        """Validate the arguments of an ``attention_weights`` method; X in batch form."""
        check_is_fitted(self, "model_")
        if not isinstance(per_head, (bool, np.bool_)):
            raise TypeError(f"per_head must be True or False; got {per_head!r}.")
        return self._check_X(X)

    @staticmethod
    def _restore_weights(X, weights, per_head):
        """Attention weights ``(n, H, T, T)`` -> the caller's container form.

        Rows and columns past each sequence's length are set to 0; the head axis is
        averaged unless ``per_head``. 3-D input gives ``(n, T, T)`` (``(n, H, T, T)``
        per head), a list gives ``(T_i, T_i)`` arrays, a 1-D input one ``(T, T)``.
        """
        weights = np.asarray(weights, dtype=float)
        valid = X.mask[:, None, :, None] & X.mask[:, None, None, :]
        weights = np.where(valid, weights, 0.0)
        if not per_head:
            weights = weights.mean(axis=1)
        if X.form == "3d":
            return weights
        cut = [weights[i, ..., :length, :length] for i, length in enumerate(X.lengths)]
        return cut if X.form == "list" else cut[0]

    # -- persistence -----------------------------------------------------------------

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_graphs", None)
        if "model_" in state:
            state["model_"] = _KerasBlob(_networks().model_to_bytes(state["model_"]))
        return state

    def __setstate__(self, state):
        state = dict(state)
        if isinstance(state.get("model_"), _KerasBlob):
            state["model_"] = _networks().model_from_bytes(state["model_"].data)
        super().__setstate__(state)

    def save(self, path):
        """Write the fitted estimator to a ``.keras`` file.

        The file is a regular Keras archive (``keras.saving.load_model`` reads the
        network) with one extra member, ``seqmodels.json``, holding the
        hyperparameters and the fitted attributes (standardisation, classes,
        history). Read it back with :meth:`load`.

        Unlike a pickle, the file holds no Python code: the network is Keras'
        configuration and weights, the rest JSON, and :meth:`load` reads it in Keras'
        safe mode.

        Parameters
        ----------
        path : str or path-like
            Must end in ``.keras``.
        """
        check_is_fitted(self, "model_")
        path = os.fspath(path)
        if not str(path).endswith(".keras"):
            raise ValueError(f"path must end in '.keras' (the Keras format); got {path!r}.")
        params = self.get_params(deep=False)
        for name, value in params.items():
            try:
                json.dumps(_encode(value))
            except TypeError:
                raise TypeError(f"cannot save parameter {name}={value!r}: only JSON-like values "
                                "(numbers, strings, None) can be stored.") from None
        fitted = {key: _encode(value) for key, value in vars(self).items()
                  if key.endswith("_") and not key.startswith("_") and key != "model_"}
        meta = {"format": 1, "class": type(self).__name__, "params": _encode(params),
                "fitted": fitted}
        _networks().save_model(self.model_, path)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(_META_NAME, json.dumps(meta))

    @classmethod
    def load(cls, path):
        """Read an estimator written by :meth:`save`.

        The network is loaded with Keras' ``safe_mode=True``: a file whose configuration
        carries Python code (a ``Lambda`` layer's bytecode) or names a class that is
        neither Keras' nor registered by this package is refused, and nothing from the
        file is executed. (A pickle or joblib file, by contrast, runs code when it is
        loaded: unpickle only files you trust.)

        Parameters
        ----------
        path : str or path-like
            A ``.keras`` file written by ``save`` of this same class.

        Returns
        -------
        estimator : an instance of this class, fitted, predicting exactly as the saved one.

        Raises
        ------
        ValueError
            The file was written by another class (the message names it), is a Keras
            file not written by ``save``, or Keras' safe mode refuses its contents.
        TypeError
            Keras cannot rebuild a class the configuration names.
        """
        path = os.fspath(path)
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path!r} is not a .keras file (a zip archive written by "
                             f"{cls.__name__}.save).")
        with zipfile.ZipFile(path) as archive:
            if _META_NAME not in archive.namelist():
                raise ValueError(f"{path!r} is a Keras file but was not written by "
                                 f"{cls.__name__}.save (no {_META_NAME} inside).")
            meta = json.loads(archive.read(_META_NAME))
        if meta["class"] != cls.__name__:
            raise ValueError(f"{path!r} holds a {meta['class']}; load it with "
                             f"{meta['class']}.load.")
        estimator = cls(**_decode(meta["params"]))
        for key, value in meta["fitted"].items():
            setattr(estimator, key, _decode(value))
        estimator.model_ = _networks().load_model(path)
        return estimator


class _KerasBlob:
    """A model in Keras' ``.keras`` format, as bytes, inside a pickled estimator."""

    def __init__(self, data):
        self.data = data
