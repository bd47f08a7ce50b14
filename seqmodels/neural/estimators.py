"""RecurrentNetwork and FeedForwardNetwork: Keras networks behind the sequence contract.

The classes are thin: they validate hyperparameters, put the data in network form
(standardised float32, NaN on padding and on missing targets), and hand the work
to :mod:`seqmodels.neural.networks`. Keras (and TensorFlow) are imported only when
a network is fitted or loaded, so ``import seqmodels`` stays light.

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

from .._parameters import Integer, InvalidParameterError, Options, Real
from .._validation import check_random_state
from ..base import SequenceEstimator

__all__ = ["RecurrentNetwork", "FeedForwardNetwork"]

CELLS = ("simple", "lstm", "gru", "peephole_lstm", "cifg_lstm", "leaky", "clockwork")
#: The cells that take skip connections through time (``skip=d``).
SKIP_CELLS = ("simple", "leaky")
OUTPUTS = ("point", "gaussian")
OPTIMIZERS = ("adam", "sgd", "rmsprop", "momentum")
#: Starting recurrent matrices (``recurrent_init``), and the cells that take an identity:
#: one square ``U`` each (the clockwork mask keeps the diagonal blocks).
RECURRENT_INITS = ("orthogonal", "identity")
IDENTITY_CELLS = ("simple", "leaky", "clockwork")
ACTIVATIONS = ("tanh", "relu")
_META_NAME = "seqmodels.json"

#: Most forecast steps a network takes: it steps one Keras call at a time (about 0.5 ms a
#: step on two cores), so 10,000 steps take seconds and the package's 100,000 a minute.
MAX_NETWORK_HORIZON = 10_000

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


class _CausalFlag:
    """``causal`` of a RecurrentNetwork: False for bidirectional instances.

    On the class it reads True (the default, unidirectional network).
    """

    def __get__(self, instance, owner=None):
        if instance is None:
            return True
        return not bool(getattr(instance, "bidirectional", False))


# -- public estimators ----------------------------------------------------------------


class RecurrentNetwork(_NeuralNetwork):
    """Recurrent neural network (Keras): SimpleRNN, LSTM, GRU and classic variants.

    A stack of ``n_layers`` recurrent layers of ``units`` units reads the sequence;
    a dense head maps each hidden state ``h_t`` to the output at t. Cells
    (``W`` input kernels, ``U`` recurrent kernels, ``sigma`` the sigmoid):

    * ``"simple"`` (Elman): ``h_t = tanh(W x_t + U h_{t-1} + b)`` (or ReLU, ``activation``);
    * ``"lstm"``: ``i, f, o = sigma(W x_t + U h_{t-1} + b)`` per gate,
      ``c_t = f * c_{t-1} + i * tanh(W_c x_t + U_c h_{t-1} + b_c)``, ``h_t = o * tanh(c_t)``;
    * ``"gru"``: ``z, r = sigma(...)``, ``n = tanh(W_n x_t + r * (U_n h_{t-1}) + b_n)``,
      ``h_t = z * h_{t-1} + (1 - z) * n``;
    * ``"peephole_lstm"``: the LSTM whose gates also see the cell state
      (``+ p * c_{t-1}`` in i and f, ``+ p_o * c_t`` in o);
    * ``"cifg_lstm"``: the LSTM with coupled input and forget gates, ``i_t = 1 - f_t``;
    * ``"leaky"``: leaky integrator units,
      ``h_t = mu h_{t-1} + (1 - mu) tanh(W x_t + U h_{t-1} + b)`` with ``mu = leak``;
    * ``"clockwork"`` (Koutnik et al. 2014): the units split into ``n_modules``
      modules with periods ``T_i`` (``periods``, by default 1, 2, 4, ...); at step t
      (0 first) module i takes ``tanh(W x_t + (U * M) h_{t-1} + b)`` where
      ``t mod T_i = 0`` and keeps its state otherwise; the mask ``M`` lets slow
      modules feed fast ones and not the reverse (a block-triangular ``U``).

    Skip connections through time (``skip=d``; Lin, Horne, Tino & Giles 1996;
    Goodfellow et al. 2016, section 10.9), simple and leaky cells: each step also
    reads the state d steps back, ``h_t = mu h_{t-1} + (1 - mu) tanh(W x_t +
    U h_{t-1} + V h_{t-d} + b)`` (``mu = 0`` for the simple cell), ``h_{t-d} = 0``
    before the start; the gradient crosses a lag of tau steps through about tau / d
    Jacobians. The layer's state is the buffer of the last d states.

    Forecasting mode (``fit(X)``): the input at t is ``x_{t-1}`` (a start value of
    0 at t = 0), the target ``x_t``; ``forecast`` feeds each predicted mean back as
    the next input. Supervised mode (``fit(X, y)``): input ``x_t``, target ``y_t``;
    integer ``y`` switches to tagging (softmax head, cross-entropy,
    ``predict_proba``, accuracy score). Inputs and continuous targets are
    standardised with the training mean and standard deviation.

    Loss, averaged over the observed target entries (NaN targets skipped):
    ``output="point"``: squared error ``(y - mu)^2``;
    ``output="gaussian"``: a mean head ``mu_t`` and a variance head
    ``v_t = softplus(a_t) + 1e-6`` trained by the Gaussian negative log-likelihood
    ``0.5 (log(2 pi v_t) + (y_t - mu_t)^2 / v_t)``, so ``log_likelihood`` and
    ``predict(..., return_std=True)`` are available. Class labels: the softmax
    cross-entropy ``-log p(y_t | x_1..t)``, and ``log_likelihood`` sums
    ``log p(y_t | x_1..t)`` over the labelled steps. Optimiser: ``optimizer`` (Adam by default).

    Parameters
    ----------
    cell : {"simple", "lstm", "gru", "peephole_lstm", "cifg_lstm", "leaky", "clockwork"}, \
default="lstm"
    units : int, default=32
        Hidden units per layer.
    n_layers : int, default=1
        Number of stacked recurrent layers.
    bidirectional : bool, default=False
        Also read the sequence backwards (``keras.layers.Bidirectional``). The
        estimate at t then depends on the future: ``causal`` is False. Supervised
        mode only; forecasting needs a causal network.
    dropout, recurrent_dropout : float, default=0.0
        Fractions of the inputs / recurrent state dropped while training.
    leak : float, default=0.5
        ``mu`` of the leaky integrator cell, in [0, 1).
    learned_initial_state : bool, default=False
        Learn ``h_0`` (and ``c_0``) instead of starting from zeros.
    forget_bias : float, default=1.0
        Initial bias of the forget gate (LSTM cells: ``"lstm"``, ``"peephole_lstm"``,
        ``"cifg_lstm"``; ignored by the others). 1 (Gers, Schmidhuber & Cummins 2000;
        Jozefowicz et al. 2015) starts the cell remembering, ``f_t ~ sigma(1) = 0.73``;
        0 starts it at ``f_t ~ 0.5``.
    recurrent_gain : float, default=1.0
        The recurrent kernels ``U`` start as ``recurrent_gain`` times an orthogonal
        matrix (Keras' default is gain 1): for the simple cell the spectral radius of
        ``U`` is exactly the gain. Above 1 the linearised recurrence amplifies, the
        setting of exploding gradients (Pascanu, Mikolov & Bengio 2013).
        With ``recurrent_init="identity"`` it scales the identity instead.
    recurrent_init : {"orthogonal", "identity"}, default="orthogonal"
        The starting recurrent matrix: ``recurrent_gain`` times a random orthogonal
        matrix, or ``U = recurrent_gain * I``, so that at the start each unit keeps
        its own state and gradients pass back through ``U`` undiminished (the IRNN of
        Le, Jaitly & Hinton 2015 with ``activation="relu"``; Sutskever et al. 2013 on
        initialisation). The identity is for the cells with one square ``U``:
        ``"simple"``, ``"leaky"`` and ``"clockwork"`` (its mask keeps the diagonal
        blocks), without ``skip``; the gated cells stack one ``U`` block per gate,
        where an identity means nothing in particular, and are refused (a ValueError
        naming ``recurrent_init``).
    activation : {"tanh", "relu"}, default="tanh"
        The simple cell's nonlinearity, ``h_t = f(W x_t + U h_{t-1} + b)``. ``"relu"``
        with ``recurrent_init="identity"`` is Le et al.'s IRNN: with ``U = I`` and
        positive pre-activations the state is copied forward exactly. Other cells
        and ``skip`` are refused (a ValueError naming ``activation``). A ReLU state is
        unbounded: keep gradient clipping (``clipnorm``) on.
    skip : int or None, default=None
        Skip connections through time: each step also reads the state ``skip``
        steps back (an integer >= 2; simple and leaky cells, others are refused).
        Adds ``V``, ``units^2`` parameters per layer, started orthogonal as ``U``.
    n_modules : int, default=4
        Clockwork modules (``cell="clockwork"``; ignored by the others) when
        ``periods`` is None: periods ``1, 2, 4, ..., 2^(n_modules - 1)``. The units
        are split as evenly as possible (``units >= n_modules``).
    periods : list of int or None, default=None
        The clockwork modules' periods, strictly increasing, fastest first (e.g.
        ``[1, 3, 9, 27]``); given, it sets the number of modules and ``n_modules``
        must be left at its default or agree with it.
    output : {"point", "gaussian"}, default="point"
        Regression head (ignored for class labels).
    optimizer : {"adam", "sgd", "rmsprop", "momentum"}, default="adam"
        Adam (Kingma & Ba 2014), plain stochastic gradient descent
        ``w <- w - learning_rate * g`` (no momentum), RMSprop, or SGD with Nesterov
        momentum 0.9 (Keras ``SGD(momentum=0.9, nesterov=True)``): ``v <- 0.9 v -
        learning_rate * g``, ``w <- w + 0.9 v - learning_rate * g``, Keras' form of
        the gradient taken at the look-ahead point ``w + 0.9 v``. Sutskever, Martens,
        Dahl & Hinton (2013) train recurrent networks with it and find Nesterov's form
        more stable than classical momentum at high momentum (it corrects a bad
        velocity one step sooner); with a good initialisation (``recurrent_init``) it
        is one of Hinton's four ways to learn a recurrent network. Adam divides each
        step by a running gradient scale, so exploding gradients show most plainly
        under SGD. Training stops with a ValueError naming the remedies
        when the loss becomes NaN or infinite, or ends above 100 on the
        standardised targets (where predicting their mean scores about 1).
    learning_rate : float, default=0.003
    epochs : int, default=100
        Passes over the training sequences; 0 leaves the network at its initial
        (random) weights, to study it before training.
    batch_size : int or "auto", default="auto"
        Sequences per gradient step. ``"auto"``: ``clip(n_fit // 8, 64, 256)``
        with ``n_fit`` the training sequences, i.e. 64 up to 512 sequences and 256
        from 2,048 on (at least 8 updates per epoch; larger batches train faster
        per sample on CPU, see ``benchmarks/bench_neural.py``).
    clipnorm : float or None, default=1.0
        Clip each gradient's norm to this value (``None``: no clipping).
    clipvalue : float or None, default=None
        Clip every gradient entry to ``[-clipvalue, clipvalue]``.
    validation_fraction : float, default=0.0
        Fraction of the sequences held out (at random) to report ``val_loss``.
    patience : int or None, default=None
        Early stopping: stop after ``patience`` epochs without a better validation
        loss and restore the best weights (needs ``validation_fraction > 0``).
    random_state : None, int, numpy RandomState or numpy Generator, default=None
        Seeds the initial weights, dropout and shuffling; the same value gives the
        same weights and predictions on CPU.
    verbose : int, default=0
        Keras' progress output.

    Attributes
    ----------
    model_ : keras.Model
        The trained network ``(n, T, n_features) -> (n, T, width)``.
    network_spec_ : dict
        The architecture, to rebuild the inference graphs.
    n_params_ : int
        Trainable parameters.
    history_ : list of float
        Training loss per epoch.
    validation_history_ : list of float
        Validation loss per epoch (empty without a validation set).
    n_epochs_ : int
        Epochs run (fewer than ``epochs`` after early stopping).
    x_mean_, x_scale_, y_mean_, y_scale_ : ndarray
        Standardisation of inputs and targets.

    Examples
    --------
    >>> import numpy as np
    >>> from seqmodels import RecurrentNetwork
    >>> X = np.sin(np.linspace(0, 20, 200))[None, :, None].repeat(4, axis=0)
    >>> model = RecurrentNetwork(cell="gru", units=8, epochs=5, random_state=0).fit(X)
    >>> model.predict(X).shape, model.forecast(X, horizon=10).shape
    ((4, 200, 1), (4, 10, 1))
    """

    causal = _CausalFlag()
    _parameter_constraints = {
        **_TRAINING_CONSTRAINTS,
        "cell": [Options(*CELLS)],
        "bidirectional": ["boolean"],
        "recurrent_dropout": [Real(0.0, 1.0, closed="left")],
        "leak": [Real(0.0, 1.0, closed="left")],
        "learned_initial_state": ["boolean"],
        "forget_bias": [Real()],
        "recurrent_gain": [Real(0.0, None, closed="neither")],
        "recurrent_init": [Options(*RECURRENT_INITS)],
        "activation": [Options(*ACTIVATIONS)],
        "skip": [None, Integer(2)],
        "n_modules": [Integer(1)],
        "periods": [None, "array-like"],
    }

    def __init__(self, cell="lstm", units=32, n_layers=1, bidirectional=False, dropout=0.0,
                 recurrent_dropout=0.0, leak=0.5, learned_initial_state=False, forget_bias=1.0,
                 recurrent_gain=1.0, recurrent_init="orthogonal", activation="tanh", skip=None,
                 n_modules=4, periods=None, output="point",
                 optimizer="adam", learning_rate=0.003, epochs=100, batch_size="auto",
                 clipnorm=1.0, clipvalue=None,
                 validation_fraction=0.0, patience=None, random_state=None, verbose=0):
        self.cell = cell
        self.units = units
        self.n_layers = n_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.leak = leak
        self.learned_initial_state = learned_initial_state
        self.forget_bias = forget_bias
        self.recurrent_gain = recurrent_gain
        self.recurrent_init = recurrent_init
        self.activation = activation
        self.skip = skip
        self.n_modules = n_modules
        self.periods = periods
        self.output = output
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def _unit_test_params(cls):
        return {"units": 4, "epochs": 2, "batch_size": 4, "output": "gaussian", "random_state": 0}

    @classmethod
    def _unit_test_targets(cls):
        return "continuous"

    def _architecture(self, X, y):
        if self.bidirectional and y is None:
            raise ValueError(
                "bidirectional=True reads each sequence backwards too, so the estimate at t "
                "depends on later steps; forecasting (fit without y) needs a causal network. "
                "Use bidirectional=False, or pass y for supervised tagging / regression."
            )
        if self.skip is not None and self.cell not in SKIP_CELLS:
            raise ValueError(f"skip (connections through time) is available for the cells "
                             f"{SKIP_CELLS}; got cell={self.cell!r} with skip={self.skip}. "
                             "Use cell='simple' or 'leaky', or skip=None.")
        if self.recurrent_init == "identity" and (self.cell not in IDENTITY_CELLS
                                                  or self.skip is not None):
            raise InvalidParameterError(
                f"recurrent_init='identity' is available for the cells {IDENTITY_CELLS} "
                f"without skip (one square recurrent matrix); got cell={self.cell!r}"
                + (f" with skip={self.skip}" if self.skip is not None else "")
                + ". Use recurrent_init='orthogonal' there.")
        if self.activation != "tanh" and (self.cell != "simple" or self.skip is not None):
            raise InvalidParameterError(
                f"activation={self.activation!r} is available for the simple cell without "
                f"skip; got cell={self.cell!r}"
                + (f" with skip={self.skip}" if self.skip is not None else "")
                + ". Use activation='tanh' (the other cells' fixed nonlinearity).")
        periods = None
        if self.cell == "clockwork":
            periods = self._clockwork_periods()
        return dict(
            kind="recurrent",
            cell=self.cell,
            units=int(self.units),
            n_layers=int(self.n_layers),
            bidirectional=bool(self.bidirectional),
            dropout=float(self.dropout),
            recurrent_dropout=float(self.recurrent_dropout),
            leak=float(self.leak),
            learned_initial_state=bool(self.learned_initial_state),
            forget_bias=float(self.forget_bias),
            recurrent_gain=float(self.recurrent_gain),
            recurrent_init=str(self.recurrent_init),
            activation=str(self.activation),
            skip=None if self.skip is None else int(self.skip),
            periods=periods,
        )

    def _clockwork_periods(self):
        """The clockwork periods (checked), the number of modules agreeing with them."""
        from .cells import clockwork_periods

        default_modules = 4                      # the signature's default
        try:
            periods = clockwork_periods(self.n_modules, self.periods)
        except ValueError as error:
            raise ValueError(f"{error} ({type(self).__name__})") from None
        if self.periods is not None and self.n_modules not in (default_modules, len(periods)):
            raise ValueError(f"periods {periods} gives {len(periods)} clockwork modules but "
                             f"n_modules={self.n_modules}; leave n_modules at its default or "
                             "make them agree.")
        if int(self.units) < len(periods):
            raise ValueError(f"units ({self.units}) must be at least the number of clockwork "
                             f"modules ({len(periods)}): every module needs a unit.")
        return periods

    def _forecast_network(self, X, horizon):
        """Run the history once (state at each sequence's end), then step, feeding means back."""
        nw = _networks()
        n = X.n_sequences
        m = self.n_targets_
        history = self._network_inputs(X, extra=1)
        outputs, *states = nw.run(self._graph("state"), history)
        current = outputs[np.arange(n), X.lengths]
        steps = [current]
        compiled = horizon > nw.EAGER_MAX_FORECAST_STEPS
        for _ in range(horizon - 1):
            feed = current[:, None, :m].astype(np.float32)
            outputs, *states = nw.run(self._graph("step"),
                                      [feed, *[s.astype(np.float32) for s in states]],
                                      compiled=compiled)
            current = outputs[:, 0]
            steps.append(current)
        return np.stack(steps, axis=1)

    def gradient_norms(self, X, y=None):
        """How far back the loss reaches: ``||d loss_T / d h_t||`` against the lag ``T - t``.

        ``loss_T`` is each sequence's loss at its last step with a target (the
        last step in forecasting mode); ``h_t`` is the first recurrent layer's
        hidden state. Vanishing gradients show as norms that decay geometrically
        with the lag (SimpleRNN); gated cells keep them up for longer.

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_features)
        y : array-like, optional
            The targets (supervised mode), same form as ``X``.

        Returns
        -------
        norms : ndarray of shape (max_lag + 1,)
            ``norms[k]``: the mean over sequences of ``||d loss_T / d h_{T-k}||``
            (over the sequences that have a step k before their ``T``).
        """
        check_is_fitted(self, "model_")
        if self.bidirectional:
            raise ValueError("gradient_norms needs a unidirectional network; this one has "
                             "bidirectional=True.")
        X_batch = self._check_X(X)
        y_batch = self._require_y(y, X_batch)
        inputs = self._network_inputs(X_batch)
        targets = self._network_targets(X_batch, y_batch)
        norms, last = _networks().hidden_gradient_norms(self.model_, self.network_spec_,
                                                        inputs, targets)
        n = norms.shape[0]
        lags = np.arange(last.max() + 1)
        steps = last[:, None] - lags[None, :]
        valid = steps >= 0
        values = np.where(valid, norms[np.arange(n)[:, None], steps.clip(min=0)], 0.0)
        return values.sum(axis=0) / np.maximum(valid.sum(axis=0), 1)


class FeedForwardNetwork(_NeuralNetwork):
    """Memoryless baseline: a multilayer perceptron over a fixed window of steps.

    The first hidden layer sees the last ``window`` inputs (a causal convolution of
    kernel ``window`` computes it at every step at once)::

        forecasting:  h_t = tanh(sum_{j=1..window} W_j x_{t-j} + b)
        supervised:   h_t = tanh(sum_{j=0..window-1} W_j x_{t-j} + b)

    followed by ``n_layers - 1`` dense tanh layers and the same heads, losses and
    training controls as :class:`RecurrentNetwork`. Steps before the start of a
    sequence read 0 (the training mean). Nothing older than the window can
    influence the output: the contrast with a recurrent state.

    Parameters
    ----------
    window : int, default=5
        Past steps the network sees.
    units : int, default=32
    n_layers : int, default=1
        Hidden layers (the first reads the window).
    dropout : float, default=0.0
        Dropout before each dense layer (training only).
    output, optimizer, learning_rate, epochs, batch_size, clipnorm, clipvalue,
    validation_fraction, patience, random_state, verbose
        As in :class:`RecurrentNetwork`.

    Attributes
    ----------
    model_, network_spec_, n_params_, history_, validation_history_, n_epochs_
        As in :class:`RecurrentNetwork`.

    Examples
    --------
    >>> import numpy as np
    >>> from seqmodels import FeedForwardNetwork
    >>> X = np.sin(np.linspace(0, 20, 200))[None, :, None].repeat(4, axis=0)
    >>> model = FeedForwardNetwork(window=3, units=8, epochs=5, random_state=0).fit(X)
    >>> model.forecast(X, horizon=10).shape
    (4, 10, 1)
    """

    _parameter_constraints = {**_TRAINING_CONSTRAINTS, "window": [Integer(1)]}

    def __init__(self, window=5, units=32, n_layers=1, dropout=0.0, output="point",
                 optimizer="adam", learning_rate=0.003, epochs=100, batch_size="auto",
                 clipnorm=1.0, clipvalue=None,
                 validation_fraction=0.0, patience=None, random_state=None, verbose=0):
        self.window = window
        self.units = units
        self.n_layers = n_layers
        self.dropout = dropout
        self.output = output
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def _unit_test_params(cls):
        return {"window": 3, "units": 4, "epochs": 2, "batch_size": 4, "output": "gaussian",
                "random_state": 0}

    @classmethod
    def _unit_test_targets(cls):
        return "continuous"

    def _architecture(self, X, y):
        return dict(
            kind="feedforward",
            window=int(self.window),
            units=int(self.units),
            n_layers=int(self.n_layers),
            dropout=float(self.dropout),
        )

    def _forecast_network(self, X, horizon):
        """Slide the window: each predicted mean becomes the newest input."""
        nw = _networks()
        n, w, m = X.n_sequences, self.network_spec_["window"], self.n_targets_
        standardised = (np.nan_to_num(X.values) - self.x_mean_) / self.x_scale_
        self._float32_inputs(standardised, X)
        index = X.lengths[:, None] - w + np.arange(w)[None, :]
        window = np.where((index >= 0)[..., None],
                          standardised[np.arange(n)[:, None], index.clip(min=0)], 0.0)
        steps = []
        compiled = horizon > nw.EAGER_MAX_FORECAST_STEPS
        for _ in range(horizon):
            current = nw.run(self.model_, window.astype(np.float32), compiled=compiled)[:, -1]
            steps.append(current)
            window = np.concatenate([window[:, 1:], current[:, None, :m]], axis=1)
        return np.stack(steps, axis=1)
