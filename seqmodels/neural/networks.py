"""The Keras graphs behind the neural estimators: layers, builders, losses, training.

Everything here works on float32 arrays already in network form:

* inputs ``(n_sequences, T, n_inputs)``, NaN on padded steps (the
  :class:`PaddingMask` layer turns NaN rows into zeros plus a Keras mask);
* targets ``(n_sequences, T, n_targets)``, NaN where there is no target (padding,
  or a step without a label): the loss skips those entries.

A network is described by a plain ``spec`` dict (see :func:`build`), so the same
architecture can be rebuilt from the saved estimator, and the inference graphs
(the state model and the one-step model used by ``forecast``) share the trained
layers' weights.

This module imports Keras at import time; the estimators import it lazily.
"""

import contextlib
import math
import os
import tempfile
import warnings

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from ..exceptions import TrainingDiverged  # noqa: E402,F401  (re-exported: its old home)
from .cells import (CUSTOM_CELLS, CIFGLSTMCell, ClockworkCell, ForgetGateBias,  # noqa: E402
                    LeakyCell, PeepholeLSTMCell, SkipCell)

_LOG_2PI = float(np.log(2.0 * np.pi))
VARIANCE_FLOOR = 1e-6

# Measured defaults (benchmarks/bench_neural.py has the figures, 2 CPU cores):
# * XLA (``jit_compile``) makes the LSTM training step slower on CPU, and an
#   unrolled LSTM takes ~30 s to compile: off.
# * ``steps_per_execution``: running several batches per call of the compiled train
#   function removes Keras' per-batch Python dispatch (about 15 % of a batch of
#   256 x 50 steps, more for smaller batches); the updates are the same, only the
#   per-batch callbacks are called less often (the estimators use per-epoch ones).
# * ``unroll``: an unrolled graph costs ~1.2 s more to trace at 50 steps and saves
#   nothing measurable once ``steps_per_execution`` is on: not used.
# * a compiled (traced) train step pays back its tracing cost after a few hundred
#   batch-timesteps (n_batches * n_timesteps), so tiny fits run eagerly.
JIT_COMPILE = False
STEPS_PER_EXECUTION = 16
EAGER_MAX_STEP_TIMESTEPS = 400
# Inference (see `run`): a call runs eagerly up to this many timesteps, compiled above;
# a forecast compiles its one-step model above this many steps. Measured on 2 cores,
# LSTM(32): a trace costs 0.2-0.45 s, an eager step of the whole model 2-6 ms, an
# eager call of the one-step model ~16 ms against ~1.7 ms compiled.
EAGER_MAX_INFERENCE_STEPS = 64
EAGER_MAX_FORECAST_STEPS = 16


# -- layers -----------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="seqmodels")
class PaddingMask(keras.layers.Layer):
    """Read NaN rows as padding: zeros out NaN and masks the steps where any input is NaN.

    ``(n, T, d)`` in, ``(n, T, d)`` out with the Keras mask ``(n, T)`` when
    ``emit_mask`` (recurrent layers hold their state over masked steps). A causal
    feed-forward net needs no mask: padding only follows the real steps.
    """

    def __init__(self, emit_mask=True, **kwargs):
        super().__init__(**kwargs)
        self.emit_mask = bool(emit_mask)
        self.supports_masking = self.emit_mask

    def call(self, inputs):
        return ops.where(ops.isnan(inputs), ops.zeros_like(inputs), inputs)

    def compute_mask(self, inputs, mask=None):
        if not self.emit_mask:
            return None
        return ops.logical_not(ops.any(ops.isnan(inputs), axis=-1))

    def get_config(self):
        config = super().get_config()
        config["emit_mask"] = self.emit_mask
        return config


@keras.saving.register_keras_serializable(package="seqmodels")
class StepMask(keras.layers.Layer):
    """The padding mask as a tensor: ``(n, T, d)`` with NaN rows -> bool ``(n, T)``."""

    def call(self, inputs):
        return ops.logical_not(ops.any(ops.isnan(inputs), axis=-1))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape[:-1], dtype="bool")


@keras.saving.register_keras_serializable(package="seqmodels")
class LearnedInitialState(keras.layers.Layer):
    """Trainable initial states ``s_0`` (one vector per state), tiled over the batch.

    Called on the sequence batch ``(n, T, d)``; returns a list of ``(n, size)`` tensors.
    ``learned[k]`` False holds state ``k`` at zero (the clockwork cell's step counter).
    """

    def __init__(self, state_sizes, learned=None, **kwargs):
        super().__init__(**kwargs)
        self.state_sizes = [int(s) for s in state_sizes]
        self.learned = ([True] * len(self.state_sizes) if learned is None
                        else [bool(flag) for flag in learned])

    def build(self, input_shape):
        self.initial = [self.add_weight(shape=(1, s), initializer="zeros", name=f"state_{k}",
                                        trainable=flag)
                        for k, (s, flag) in enumerate(zip(self.state_sizes, self.learned))]

    def call(self, inputs):
        ones = ops.ones_like(inputs[:, 0, :1])
        return [ones * s for s in self.initial]

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], s) for s in self.state_sizes]

    def compute_mask(self, inputs, mask=None):
        return [None] * len(self.state_sizes)

    def get_config(self):
        config = super().get_config()
        config["state_sizes"] = self.state_sizes
        config["learned"] = self.learned
        return config


CUSTOM_OBJECTS = {
    "PaddingMask": PaddingMask,
    "StepMask": StepMask,
    "LearnedInitialState": LearnedInitialState,
    "PeepholeLSTMCell": PeepholeLSTMCell,
    "CIFGLSTMCell": CIFGLSTMCell,
    "LeakyCell": LeakyCell,
    "ClockworkCell": ClockworkCell,
    "SkipCell": SkipCell,
    "ForgetGateBias": ForgetGateBias,
}


# -- losses -----------------------------------------------------------------------------


def per_entry_loss(head, y_true, y_pred):
    """Loss per target entry, and where a target is observed.

    ``head="point"``: ``(y - yhat)^2``. ``"gaussian"``: the negative log-density
    ``0.5 (log(2 pi v) + (y - mu)^2 / v)`` with ``v = softplus(raw) + floor``.
    ``"softmax"``: ``-log softmax(logits)[y]`` (``y`` a class index).

    Returns
    -------
    loss, observed : tensors of shape (n, T, m) (``m = 1`` for softmax)
    """
    observed = ops.logical_not(ops.isnan(y_true))
    y = ops.where(observed, y_true, ops.zeros_like(y_true))
    if head == "point":
        loss = ops.square(y_pred - y)
    elif head == "gaussian":
        m = ops.shape(y)[-1]
        mean, raw = y_pred[..., :m], y_pred[..., m:]
        var = ops.softplus(raw) + VARIANCE_FLOOR
        loss = 0.5 * (_LOG_2PI + ops.log(var) + ops.square(y - mean) / var)
    else:
        labels = ops.cast(y[..., 0], "int32")
        loss = ops.sparse_categorical_crossentropy(labels, y_pred, from_logits=True)[..., None]
    return ops.where(observed, loss, ops.zeros_like(loss)), observed


@keras.saving.register_keras_serializable(package="seqmodels")
class MaskedSequenceLoss(keras.losses.Loss):
    """Mean loss over the observed target entries of a batch (NaN targets skipped).

    ``L = sum_{i,t,j observed} loss_ij(t) / #observed``; padding is NaN in the targets,
    so the Keras mask is not needed (and is ignored).
    """

    def __init__(self, head="point", name="masked_sequence_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.head = head

    def call(self, y_true, y_pred):
        loss, _ = per_entry_loss(self.head, y_true, y_pred)
        return loss

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_true = ops.convert_to_tensor(y_true, dtype="float32")
        y_pred = ops.convert_to_tensor(y_pred, dtype="float32")
        loss, observed = per_entry_loss(self.head, y_true, y_pred)
        count = ops.sum(ops.cast(observed, "float32"))
        return ops.divide_no_nan(ops.sum(loss), count)

    def get_config(self):
        return {"name": self.name, "head": self.head}


# -- builders ---------------------------------------------------------------------------


def state_sizes(spec):
    """Sizes of the recurrent state of one layer.

    ``[h]``, ``[h, c]`` (LSTM cells), ``[h, t]`` (clockwork: the step counter, size 1),
    or ``[h_t, ..., h_{t-d+1}]`` as one vector of ``d * units`` (``skip = d``).
    """
    units = spec["units"]
    if spec.get("skip") is not None:
        return [units * spec["skip"]]
    if spec["cell"] == "clockwork":
        return [units, 1]
    two = spec["cell"] in ("lstm", "peephole_lstm", "cifg_lstm")
    return [units] * (2 if two else 1)


def learned_states(spec):
    """Which states a learned initial state learns: all but the clockwork step counter."""
    return [spec["cell"] != "clockwork" or k == 0 for k in range(len(state_sizes(spec)))]


#: The cells whose recurrent matrix may start as ``gain * I`` (``recurrent_init="identity"``):
#: one square ``U`` each (the clockwork mask keeps its diagonal blocks). The gated cells'
#: ``U`` stacks one block per gate, where an identity means nothing in particular.
IDENTITY_CELLS = ("simple", "leaky", "clockwork")


def _recurrent_layer(spec, index):
    kind = spec["cell"]
    common = dict(return_sequences=True, return_state=not spec["bidirectional"],
                  name=f"recurrent_{index}" + ("_core" if spec["bidirectional"] else ""))
    cell = dict(dropout=spec["dropout"], recurrent_dropout=spec["recurrent_dropout"])
    units = spec["units"]
    # Specs saved before these options existed hold none of them: the defaults apply.
    gain = spec.get("recurrent_gain", 1.0)
    forget_bias = spec.get("forget_bias", 1.0)
    recurrent_init = spec.get("recurrent_init", "orthogonal")
    activation = spec.get("activation", "tanh")
    if recurrent_init == "identity":
        if kind not in IDENTITY_CELLS or spec.get("skip") is not None:
            raise ValueError(f"recurrent_init='identity' is built for the cells {IDENTITY_CELLS} "
                             f"without skip; got cell={kind!r}, skip={spec.get('skip')}.")
        cell["recurrent_initializer"] = keras.initializers.Identity(gain=gain)
    elif gain != 1.0:
        cell["recurrent_initializer"] = keras.initializers.Orthogonal(gain=gain)
    if activation != "tanh" and (kind != "simple" or spec.get("skip") is not None):
        raise ValueError(f"activation={activation!r} is built for the simple cell without skip; "
                         f"got cell={kind!r}, skip={spec.get('skip')}.")
    if spec.get("skip") is not None:
        if kind not in ("simple", "leaky"):
            raise ValueError(f"skip connections through time are built for the simple and "
                             f"leaky cells; got cell={kind!r} with skip={spec['skip']}.")
        layer = keras.layers.RNN(
            SkipCell(units, skip=spec["skip"], leak=spec["leak"] if kind == "leaky" else 0.0,
                     **cell), **common)
    elif kind == "simple":
        if activation != "tanh":
            cell["activation"] = activation
        layer = keras.layers.SimpleRNN(units, **cell, **common)
    elif kind == "lstm":
        if forget_bias != 1.0:
            cell.update(unit_forget_bias=False,
                        bias_initializer=ForgetGateBias(units, 4, 1, forget_bias))
        layer = keras.layers.LSTM(units, **cell, **common)
    elif kind == "gru":
        layer = keras.layers.GRU(units, **cell, **common)
    else:
        if kind == "leaky":
            cell["leak"] = spec["leak"]
        elif kind == "clockwork":
            cell["periods"] = spec["periods"]
        else:
            cell["forget_bias"] = forget_bias
        layer = keras.layers.RNN(CUSTOM_CELLS[kind](units, **cell), **common)
    if spec["bidirectional"]:
        layer = keras.layers.Bidirectional(layer, merge_mode="concat", name=f"recurrent_{index}")
    return layer


def _head_layers(spec):
    if spec["head"] == "gaussian":
        return [keras.layers.Dense(spec["n_outputs"], name="head_mean"),
                keras.layers.Dense(spec["n_outputs"], name="head_variance")]
    return [keras.layers.Dense(spec["n_outputs"], name="head")]


def _apply_head(layers, x):
    if len(layers) == 1:
        return layers[0](x)
    return keras.layers.Concatenate(axis=-1)([layer(x) for layer in layers])


def build(spec):
    """Build the training graph and, for unidirectional recurrent nets, the inference graphs.

    Parameters
    ----------
    spec : dict
        ``kind`` ("recurrent" or "feedforward"), ``n_inputs``, ``n_outputs`` (the
        head width: targets, or classes), ``head`` ("point", "gaussian", "softmax"),
        ``units``, ``n_layers``, ``dropout``; recurrent: ``cell``,
        ``bidirectional``, ``recurrent_dropout``, ``leak``, ``learned_initial_state``,
        ``forget_bias``, ``recurrent_gain``, ``recurrent_init`` ("orthogonal" or
        "identity": :data:`IDENTITY_CELLS`), ``activation`` ("tanh", or "relu" for
        the simple cell), ``skip`` (None or d >= 2: the simple
        and leaky cells), ``periods`` (the clockwork modules' periods), ``attention``
        (None, "additive" or "dot": :func:`_recurrent_attention`; absent in specs saved
        before it existed); feed-forward: ``window``.

    Returns
    -------
    dict
        ``train``: ``keras.Model`` mapping ``(n, T, n_inputs)`` to the head outputs
        ``(n, T, width)`` (width ``2 m`` for the Gaussian head: mean, raw variance).
        Recurrent only: ``train_unpadded``, the same layers (shared weights) without
        the padding mask, for inputs with no NaN (see :func:`training_graph`).
        Recurrent, unidirectional only: ``state`` maps the inputs to
        ``[outputs, *final_states]`` (the state at each sequence's last real step)
        and ``step`` maps ``[x (n, 1, n_inputs), *states]`` to ``[output, *states]``.
        With ``attention`` the state model also returns the last layer's hidden states
        ``(n, T, units)``, and the step model takes ``[x, *states, position (n, 1) int32,
        cache (n, S, units)]`` and returns ``[output, *states, cache]``, this step's state
        written at ``position`` (the cache it attends over).
    """
    if spec["kind"] == "feedforward":
        return {"train": _build_feedforward(spec)}
    if spec["kind"] == "transformer":
        from .attention import build_transformer  # imports this module: not at the top

        return build_transformer(spec)
    if spec["kind"] == "seq2seq":
        from .decoder import build_seq2seq  # imports this module: not at the top

        return build_seq2seq(spec)
    return _build_recurrent(spec)


def _build_feedforward(spec):
    inputs = keras.Input((None, spec["n_inputs"]), name="inputs")
    x = PaddingMask(emit_mask=False, name="padding")(inputs)
    # A causal convolution with kernel `window` is the first dense layer of an MLP
    # applied to every window (x_{t-window+1}, ..., x_t) at once; steps before the
    # start see zeros (the start value).
    x = keras.layers.Conv1D(spec["units"], spec["window"], padding="causal", activation="tanh",
                            name="window_0")(x)
    for k in range(1, spec["n_layers"]):
        if spec["dropout"] > 0:
            x = keras.layers.Dropout(spec["dropout"], name=f"dropout_{k}")(x)
        x = keras.layers.Dense(spec["units"], activation="tanh", name=f"hidden_{k}")(x)
    if spec["dropout"] > 0:
        x = keras.layers.Dropout(spec["dropout"], name="dropout_head")(x)
    outputs = _apply_head(_head_layers(spec), x)
    return keras.Model(inputs, outputs, name="feedforward_network")


def _recurrent_attention(spec):
    """The layers of ``spec["attention"]`` (None: no attention), imported lazily.

    Returns ``(attend, past, cache, concatenate)``: the :class:`ContentAttention` over the
    last recurrent layer's hidden states (query and key width ``units``, the states
    themselves as values, ``dropout`` on its weights), the causal mask from the step
    mask, the cache step of the forecasting graph, and a function joining ``h_t`` and
    ``c_t`` for the head.
    """
    kind = spec.get("attention")
    if kind is None:
        return None
    if spec["bidirectional"]:
        raise ValueError(f"attention={kind!r} attends over the past hidden states of a causal "
                         "network; it is not built with bidirectional=True.")
    from .attention import ContentAttention, PastSteps, StepCache  # imports this module

    attend = ContentAttention(kind, units=spec["units"], dropout=spec["dropout"],
                              name="attention")

    def concatenate(h, context, name):
        return keras.layers.Concatenate(axis=-1, name=name)([h, context])

    return attend, PastSteps(name="past_steps"), StepCache(name="state_cache"), concatenate


def _build_recurrent(spec):
    layers = [_recurrent_layer(spec, i) for i in range(spec["n_layers"])]
    sizes = state_sizes(spec)
    initial = []
    if spec["learned_initial_state"]:
        per_layer = sizes * (2 if spec["bidirectional"] else 1)
        learned = learned_states(spec) * (2 if spec["bidirectional"] else 1)
        initial = [LearnedInitialState(per_layer, learned, name=f"initial_state_{i}")
                   for i in range(spec["n_layers"])]
    head = _head_layers(spec)
    attention = _recurrent_attention(spec)

    inputs = keras.Input((None, spec["n_inputs"]), name="inputs")
    x = PaddingMask(name="padding")(inputs)
    # The mask is also passed explicitly: Keras drops the implicit one when an
    # initial_state is given, and recurrent layers must hold their state (and the
    # backward direction start) at each sequence's real end.
    step_mask = StepMask(name="step_mask")
    mask = step_mask(inputs)
    finals = []
    for i, layer in enumerate(layers):
        if initial:
            out = layer(x, initial_state=initial[i](x), mask=mask)
        else:
            out = layer(x, mask=mask)
        if spec["bidirectional"]:
            x = out
        else:
            x, states = out[0], list(out[1:])
            finals.extend(states)
    hidden = x
    if attention:
        # c_t attends over h_1..h_t of the real steps; the head reads [h_t, c_t].
        attend, past, _, concatenate = attention
        x = concatenate(x, attend(x, x, x, past(mask)), "with_context")
    outputs = _apply_head(head, x)
    train = keras.Model(inputs, outputs, name="recurrent_network")

    # The same layers without the mask: for training on batches with no padding
    # (every sequence full length, no NaN input) the mask is all True and only
    # costs a select per state per step, forwards and backwards.
    full_in = keras.Input((None, spec["n_inputs"]), name="inputs")
    x = full_in
    for i, layer in enumerate(layers):
        out = layer(x, initial_state=initial[i](x)) if initial else layer(x)
        x = out if spec["bidirectional"] else out[0]
    if attention:
        x = concatenate(x, attend(x, x, x, past(step_mask(full_in))), "with_context")
    graphs = {"train": train,
              "train_unpadded": keras.Model(full_in, _apply_head(head, x),
                                            name="recurrent_network_unpadded")}
    if spec["bidirectional"]:
        return graphs
    # With attention the state model also returns the last layer's hidden states (the
    # cache the step model attends over), and the step model takes and returns the cache.
    graphs["state"] = keras.Model(inputs, [outputs, *finals] + ([hidden] if attention else []),
                                  name="state_model")

    step_in = keras.Input((1, spec["n_inputs"]), name="step_inputs")
    state_in = [keras.Input((s,), name=f"state_{i}_{k}")
                for i in range(spec["n_layers"]) for k, s in enumerate(sizes)]
    x, new_states = step_in, []
    for i, layer in enumerate(layers):
        out = layer(x, initial_state=state_in[i * len(sizes):(i + 1) * len(sizes)])
        x = out[0]
        new_states.extend(out[1:])
    cache_in = []
    if attention:
        attend, _, cache_step, concatenate = attention
        cache_in = [keras.Input((1,), dtype="int32", name="position"),
                    keras.Input((None, spec["units"]), name="hidden_cache")]
        cache, allowed = cache_step(x, *cache_in)
        x = concatenate(x, attend(x, cache, cache, allowed), "with_context")
        new_states.append(cache)
    graphs["step"] = keras.Model([step_in, *state_in, *cache_in],
                                 [_apply_head(head, x), *new_states], name="step_model")
    return graphs


def count_trainable(model):
    """Number of trainable parameters (the ``n_params_`` teaching figure).

    The entries of a clockwork cell's recurrent matrix that its mask holds at zero
    are not counted: they are not free.
    """
    total = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    for layer in model.layers:
        parts = ([layer.forward_layer, layer.backward_layer]
                 if isinstance(layer, keras.layers.Bidirectional) else [layer])
        total -= sum(getattr(getattr(part, "cell", None), "n_masked", 0) for part in parts)
    return int(total)


# -- training ---------------------------------------------------------------------------


def training_graph(graphs, inputs):
    """The graph to train on ``inputs``: without the padding mask when nothing is padded.

    With no NaN in ``inputs`` every step is real, the mask is all True, and the
    masked recurrence (``h_t = m_t ? cell(x_t, h_{t-1}) : h_{t-1}``) is the plain
    one; ``train_unpadded`` computes it without the per-step selects. Both graphs
    share every weight.
    """
    if "train_unpadded" in graphs and not np.isnan(inputs).any():
        return graphs["train_unpadded"]
    return graphs["train"]


def to_numpy(value):
    """A tensor or variable as a NumPy array, through ``.numpy()`` where it has one.

    ``keras.ops.convert_to_numpy`` calls ``np.array`` on TensorFlow objects whose
    ``__array__`` predates NumPy 2's ``copy`` keyword, and NumPy warns
    (DeprecationWarning) on every call; ``.numpy()`` returns the same array silently.
    """
    if isinstance(value, np.ndarray):
        return value
    return np.asarray(value.numpy()) if hasattr(value, "numpy") else np.asarray(value)


OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop", "momentum": "SGD"}
#: Keyword arguments of the Keras optimiser beyond the learning rate and clipping:
#: ``"momentum"`` is SGD with Nesterov momentum 0.9 (Sutskever, Martens, Dahl & Hinton 2013).
OPTIMIZER_OPTIONS = {"momentum": {"momentum": 0.9, "nesterov": True}}


class _StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stop training at the first NaN or infinite batch loss (quietly, unlike TerminateOnNaN)."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            self.model.stop_training = True


def train(model, spec, inputs, targets, *, optimizer, learning_rate, clipnorm, clipvalue, epochs,
          batch_size, validation_fraction, patience, seed, verbose):
    """Fit ``model`` on the masked loss; return the Keras history dict.

    ``optimizer`` names a Keras optimiser (:data:`OPTIMIZERS`: Adam, plain SGD
    without momentum, RMSprop, or SGD with Nesterov momentum 0.9,
    :data:`OPTIMIZER_OPTIONS`), with ``clipnorm`` / ``clipvalue`` gradient clipping.
    Training stops at the first non-finite batch loss (``TerminateOnNaN``) and
    raises :class:`TrainingDiverged`, naming the remedies.

    Sequences are split at random (seeded) into training and validation parts
    when ``validation_fraction > 0``; with ``patience`` set, training stops when
    the validation loss has not improved for ``patience`` epochs and the best
    weights are restored. The whole arrays go to one ``Model.fit`` call (Keras
    batches and shuffles them), ``STEPS_PER_EXECUTION`` batches per call of the
    compiled step.
    """
    if epochs == 0:
        return {}                    # the network at its initial weights
    n = inputs.shape[0]
    validation = None
    if validation_fraction > 0:
        n_val = max(1, int(round(validation_fraction * n)))
        order = np.random.default_rng(seed).permutation(n)
        val, fit_rows = np.sort(order[:n_val]), np.sort(order[n_val:])
        validation = (inputs[val], targets[val])
        inputs, targets = inputs[fit_rows], targets[fit_rows]
    optimizer_name = optimizer
    optimizer = getattr(keras.optimizers, OPTIMIZERS[optimizer_name])(
        learning_rate=learning_rate, clipnorm=clipnorm, clipvalue=clipvalue,
        **OPTIMIZER_OPTIONS.get(optimizer_name, {}))
    batches = math.ceil(inputs.shape[0] / batch_size)
    eager = epochs * batches * inputs.shape[1] <= EAGER_MAX_STEP_TIMESTEPS
    model.compile(optimizer=optimizer, loss=MaskedSequenceLoss(spec["head"]),
                  jit_compile=JIT_COMPILE and not eager, run_eagerly=eager,
                  steps_per_execution=max(1, min(STEPS_PER_EXECUTION, batches)))
    # Create the optimizer's slots now: created inside the first trace of the train
    # step, they make TensorFlow trace it a second time (~0.5 s per fit).
    optimizer.build(model.trainable_variables)
    callbacks = [_StopOnNonFiniteLoss()]
    if patience is not None:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                                       restore_best_weights=True))
    history = model.fit(inputs, targets, epochs=epochs, batch_size=batch_size, shuffle=True,
                        validation_data=validation, callbacks=callbacks, verbose=verbose)
    model.run_eagerly = False        # eager was for this tiny fit; `run` chooses per call
    losses = np.asarray(history.history.get("loss", []), dtype=float)
    weights_finite = all(np.isfinite(to_numpy(w)).all() for w in model.weights)
    if not (np.isfinite(losses).all() and weights_finite):
        epoch = int(np.argmin(np.isfinite(losses))) + 1 if losses.size else 1
        clipping = (f"clipnorm={clipnorm}" if clipnorm is not None else
                    f"clipvalue={clipvalue}" if clipvalue is not None else "no gradient clipping")
        raise TrainingDiverged(
            f"training diverged: the loss became NaN or infinite in epoch {epoch} "
            f"(optimizer={optimizer_name!r}, learning_rate={learning_rate}, {clipping}). "
            "Lower learning_rate, "
            "clip the gradient norm (clipnorm=1.0), or use optimizer='adam'.")
    return history.history


def run(model, inputs, batch_size=2048, compiled=None):
    """Evaluate ``model`` on ``inputs`` (an array or a list of arrays) in chunks, as float64.

    Called eagerly, a recurrent layer runs its loop over time step by step in Python
    (2 to 6 ms per step on 2 CPU cores: 10 to 29 s for one sequence of 5,000 steps).
    So unless the inputs are short, each chunk goes through Keras' compiled
    prediction function (``Model.predict_on_batch``: traced once per model, about
    0.2 s, and again once for new shapes), the same graph as ``Model.predict``
    without its per-call data pipeline.

    Parameters
    ----------
    compiled : bool, optional
        Use the compiled function; default: when the inputs have more than
        ``EAGER_MAX_INFERENCE_STEPS`` timesteps (a trace costs as much as running
        about that many steps eagerly).
    """
    arrays = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    n = arrays[0].shape[0]
    if compiled is None:
        compiled = arrays[0].ndim == 3 and arrays[0].shape[1] > EAGER_MAX_INFERENCE_STEPS
    chunks = []
    for start in range(0, n, batch_size):
        part = [a[start:start + batch_size] for a in arrays]
        if compiled:
            out = model.predict_on_batch(part if len(part) > 1 else part[0])
        else:
            part = [ops.convert_to_tensor(a) for a in part]
            out = model(part if len(part) > 1 else part[0], training=False)
        out = out if isinstance(out, (list, tuple)) else [out]
        chunks.append([to_numpy(o).astype(np.float64) for o in out])
    merged = [np.concatenate(parts, axis=0) for parts in zip(*chunks)]
    return merged if len(merged) > 1 else merged[0]


# -- persistence ------------------------------------------------------------------------


@contextlib.contextmanager
def _keras_array_conversions():
    """Silence NumPy 2's DeprecationWarning about TensorFlow's ``__array__`` inside Keras.

    Keras' own saving code converts variables with ``np.array``; the warning is about
    TensorFlow's objects, not about anything a caller can change.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning,
                                message=r"__array__ implementation doesn't accept a copy")
        yield


def save_model(model, path):
    """Write ``model`` to a ``.keras`` file."""
    with _keras_array_conversions():
        model.save(path)


def model_to_bytes(model):
    """The model in Keras' ``.keras`` format, as bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        save_model(model, path)
        with open(path, "rb") as handle:
            return handle.read()


def model_from_bytes(blob):
    """Inverse of :func:`model_to_bytes`."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        with open(path, "wb") as handle:
            handle.write(blob)
        return load_model(path)


def load_model(path):
    """Read a ``.keras`` file in Keras' safe mode (no code from the file is executed)."""
    with _keras_array_conversions():
        return keras.saving.load_model(path, custom_objects=CUSTOM_OBJECTS, compile=False,
                                       safe_mode=True)


# -- gradient flow ------------------------------------------------------------------------


def hidden_gradient_norms(model, spec, inputs, targets):
    """``||d loss_T / d h_t||`` for every step t of the first recurrent layer.

    ``loss_T`` is each sequence's loss at its last step with a target. The network
    is unrolled step by step (a Python loop over time, vectorised over sequences)
    so every hidden state ``h_t`` is a tensor the gradient can be taken against;
    the derivative sums every path from ``h_t`` to the loss, through all later steps.

    Returns
    -------
    norms : ndarray of shape (n_sequences, T)
    last : ndarray of int of shape (n_sequences,)
        Index of the step whose loss is differentiated, per sequence.
    """
    import tensorflow as tf

    n, T, _ = inputs.shape
    observed = np.isfinite(targets).any(axis=-1)
    last = np.where(observed.any(axis=1), T - 1 - np.argmax(observed[:, ::-1], axis=1), -1)
    x = tf.constant(np.nan_to_num(inputs, nan=0.0), dtype=tf.float32)
    valid = tf.constant(~np.isnan(inputs).any(axis=-1))
    layers = [model.get_layer(f"recurrent_{i}") for i in range(spec["n_layers"])]
    head = [model.get_layer(name) for name in
            (("head_mean", "head_variance") if spec["head"] == "gaussian" else ("head",))]
    sizes = state_sizes(spec)
    states = []
    for i in range(spec["n_layers"]):
        if spec["learned_initial_state"]:
            states.append(list(model.get_layer(f"initial_state_{i}")(x)))
        else:
            states.append([tf.zeros((n, s)) for s in sizes])
    with tf.GradientTape() as tape:
        hidden, outputs = [], []
        for t in range(T):
            inp, keep = x[:, t], valid[:, t:t + 1]
            for i, layer in enumerate(layers):
                out, new = layer.cell(inp, states[i], training=False)
                new = list(new) if isinstance(new, (list, tuple)) else [new]
                states[i] = [tf.where(keep, a, b) for a, b in zip(new, states[i])]
                if i == 0:
                    hidden.append(out)
                inp = out
            outputs.append(inp)
        seq = tf.stack(outputs, axis=1)
        if spec.get("attention") is not None:         # the head reads [h_t, c_t]
            real, steps = ~np.isnan(inputs).any(axis=-1), np.arange(T)
            allowed = ((steps[None, :] <= steps[:, None])[None] & real[:, None, :]
                       & real[:, :, None])
            context = model.get_layer("attention")(seq, seq, seq, allowed, training=False)
            seq = tf.concat([seq, context], axis=-1)
        pred = head[0](seq) if len(head) == 1 else tf.concat([h(seq) for h in head], axis=-1)
        loss, _ = per_entry_loss(spec["head"], tf.constant(targets, tf.float32), pred)
        per_step = tf.reduce_sum(loss, axis=-1)
        pick = np.zeros((n, T), dtype=np.float32)
        has = last >= 0
        pick[np.flatnonzero(has), last[has]] = 1.0
        total = tf.reduce_sum(per_step * pick)
    grads = tape.gradient(total, hidden, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    norms = np.stack([np.linalg.norm(g.numpy().astype(np.float64), axis=-1) for g in grads], axis=1)
    return norms, last
