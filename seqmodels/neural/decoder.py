"""Keras 3 layers and graphs of the encoder-decoder network (direct multiple-output forecasts).

The estimator is :class:`seqmodels.neural.seq2seq.Seq2SeqNetwork`; this module holds its
graph. Shapes: ``n`` sequences of ``T`` steps and ``f`` features (network form: the
shifted, standardised inputs ``u_t = x_{t-1}``, ``u_0 = 0``, NaN on padding), ``H`` the
decoder's steps (``horizon``), ``N = n * T`` forecast origins.

* The **encoder** (``n_layers`` recurrent layers, any cell of
  :func:`seqmodels.neural.networks._recurrent_layer`) reads ``u``; its layer-l output
  ``e^l_t`` summarises ``x_<t``.
* **Origins** are folded into the batch: every step t of every sequence starts a
  decoder, so the ``(n, T, ...)`` encoder outputs become ``(N, ...)``
  (:class:`FoldOrigins`) and the decoder's ``(N, H, ...)`` outputs go back to
  ``(n, T, H, ...)`` (:class:`UnfoldOrigins`). No Python loop over origins.
* The **bridge**: decoder layer l starts from ``s^l_0 = tanh(B_k e^l_t + b_k)`` for each
  of its state tensors k (``[h]``, or ``[h, c]`` for the LSTM cells); a clockwork
  cell's step counter starts at 0 (:class:`ZeroState`): each decoder has its own clock.
* The **decoder** (``n_layers`` recurrent layers of the same cell) reads, at step 1,
  ``u_t = x_{t-1}`` (the last observation the encoder read) and at step k > 1 the
  observed ``x_{t+k-2}`` while training (teacher forcing, :class:`DecoderWindows`) or
  its own previous mean when forecasting (the ``decode`` graph).
* Optional **attention** (:class:`PrefixAttention`): each decoder output queries the
  top encoder outputs ``e_0..e_t`` of its own origin's prefix (never later ones), and the
  context is concatenated with the decoder output before the head.

:func:`build_seq2seq` returns the graphs the estimator uses; all share one set of weights.

This module imports Keras at import time; the estimator imports it lazily.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
from keras import ops  # noqa: E402

from .attention import ContentAttention  # noqa: E402
from .networks import (PaddingMask, StepMask, _apply_head, _head_layers,  # noqa: E402
                       _recurrent_layer, learned_states, state_sizes)

__all__ = ["DecoderWindows", "FoldOrigins", "UnfoldOrigins", "ZeroState", "MeanFeedback",
           "PrefixAttention", "build_seq2seq", "DECODER_OBJECTS"]


@keras.saving.register_keras_serializable(package="seqmodels")
class DecoderWindows(keras.layers.Layer):
    """Teacher-forced decoder inputs of every origin: ``(n, T, f) -> (n * T, steps, f)``.

    ``out[i * T + t, k] = u[i, t + k]`` for ``k = 0 .. steps - 1``: the decoder started
    at origin t reads ``u_t = x_{t-1}`` at its step 1 and ``u_{t+k-1} = x_{t+k-2}`` at
    step k. Entries past the end (and NaN padding) are 0; their targets are NaN, and a
    decoder step reads only earlier inputs, so they never reach the loss.
    """

    def __init__(self, steps, **kwargs):
        super().__init__(**kwargs)
        self.steps = int(steps)

    def call(self, inputs):
        u = ops.where(ops.isnan(inputs), ops.zeros_like(inputs), inputs)
        T = ops.shape(u)[1]
        f = inputs.shape[-1]
        padded = ops.pad(u, [[0, 0], [0, self.steps - 1], [0, 0]])
        windows = ops.stack([padded[:, k:k + T] for k in range(self.steps)], axis=2)
        return ops.reshape(windows, (-1, self.steps, f))

    def compute_output_shape(self, input_shape):
        return (None, self.steps, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config["steps"] = self.steps
        return config


@keras.saving.register_keras_serializable(package="seqmodels")
class FoldOrigins(keras.layers.Layer):
    """``(n, T, ...) -> (n * T, ...)``: each step of each sequence becomes one batch row.

    The encoder's padding mask stops here: an origin past a sequence's end decodes like
    any other, and its targets (all NaN) keep it out of the loss.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs):
        return ops.reshape(inputs, (-1, *inputs.shape[2:]))

    def compute_output_shape(self, input_shape):
        return (None, *input_shape[2:])


@keras.saving.register_keras_serializable(package="seqmodels")
class UnfoldOrigins(keras.layers.Layer):
    """``[(n * T, ...), like (n, T, ...)] -> (n, T, ...)``: the inverse of :class:`FoldOrigins`."""

    def call(self, inputs):
        values, like = inputs
        shape = ops.shape(like)
        return ops.reshape(values, (shape[0], shape[1], *values.shape[1:]))

    def compute_output_shape(self, input_shape):
        values, like = input_shape
        return (like[0], like[1], *values[1:])


@keras.saving.register_keras_serializable(package="seqmodels")
class ZeroState(keras.layers.Layer):
    """A state tensor of zeros ``(batch, size)``, shaped after ``(batch, ...)``."""

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)

    def call(self, inputs):
        return ops.zeros((ops.shape(inputs)[0], self.size), dtype=inputs.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size)

    def get_config(self):
        config = super().get_config()
        config["size"] = self.size
        return config


@keras.saving.register_keras_serializable(package="seqmodels")
class MeanFeedback(keras.layers.Layer):
    """The first ``width`` features of the head's output: the mean, fed back as the next input."""

    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        self.width = int(width)

    def call(self, inputs):
        return inputs[..., :self.width]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.width)

    def get_config(self):
        config = super().get_config()
        config["width"] = self.width
        return config


@keras.saving.register_keras_serializable(package="seqmodels")
class PrefixAttention(keras.layers.Layer):
    """Every origin's decoder outputs attend to the encoder outputs of its own prefix.

    Called as ``layer(decoded, encoded)`` with ``decoded`` ``(n * T, S, d)`` (the
    decoders of the ``T`` origins of each sequence, ``S`` steps each, origins in the
    order of :class:`FoldOrigins`) and ``encoded`` ``(n, T, d)`` (the top encoder
    outputs), it returns ``[context (n * T, S, d), weights (n, T * S, T)]``: a
    :class:`~seqmodels.neural.attention.ContentAttention` whose queries are all the
    decoder outputs of a sequence, ``(n, T * S, d)``, against its ``T`` encoder outputs,
    with ``allowed[t * S + k, s] = s <= t`` (origin t sees ``e_0 .. e_t`` only). The
    keys are not copied per origin; the weights are ``n T^2 S`` numbers (and the
    additive score ``n T^2 S units``).

    :meth:`step` is the same attention for one query per sequence against given keys
    and ``allowed`` ``(n, 1, S')`` (forecasting, one origin per sequence).
    """

    def __init__(self, score="additive", units=32, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.score = score
        self.units = int(units)
        self.dropout = float(dropout)
        self.attention = ContentAttention(score=score, units=self.units, dropout=self.dropout,
                                          name="content_attention")
        self.supports_masking = True

    def compute_mask(self, *args, **kwargs):
        return None

    def build(self, decoded_shape, encoded_shape):
        self.attention.build(decoded_shape, encoded_shape, encoded_shape)

    def call(self, decoded, encoded, training=None):
        shape = ops.shape(encoded)
        n, T = shape[0], shape[1]
        S, d = decoded.shape[1], decoded.shape[-1]
        query = ops.reshape(decoded, (n, T * S, d))
        steps = ops.arange(T)
        origin = ops.repeat(steps, S)                                     # (T * S,)
        allowed = ops.expand_dims(steps[None, :] <= origin[:, None], 0)   # (1, T * S, T)
        context, weights = self.attention(query, encoded, encoded, allowed, return_weights=True,
                                          training=training)
        return ops.reshape(context, (-1, S, context.shape[-1])), weights

    def compute_output_spec(self, decoded, encoded, training=None):
        n, T = encoded.shape[0], encoded.shape[1]
        S = decoded.shape[1]
        queries = None if T is None else T * S
        return (keras.KerasTensor((None, S, encoded.shape[-1]), dtype=decoded.dtype),
                keras.KerasTensor((n, queries, T), dtype=decoded.dtype))

    def step(self, query, keys, allowed, training=None):
        """``(n, 1, d)`` queries against ``keys`` ``(n, S', d)`` where ``allowed``: the context."""
        return self.attention(query, keys, keys, allowed, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(score=self.score, units=self.units, dropout=self.dropout)
        return config


DECODER_OBJECTS = {
    "DecoderWindows": DecoderWindows,
    "FoldOrigins": FoldOrigins,
    "UnfoldOrigins": UnfoldOrigins,
    "ZeroState": ZeroState,
    "MeanFeedback": MeanFeedback,
    "PrefixAttention": PrefixAttention,
}


# -- the graphs ------------------------------------------------------------------------------


def _cell_spec(spec):
    """The spec :func:`~seqmodels.neural.networks._recurrent_layer` reads, for one stack."""
    return dict(cell=spec["cell"], units=spec["units"], dropout=spec["dropout"],
                recurrent_dropout=0.0, bidirectional=False, leak=spec.get("leak", 0.5),
                periods=spec.get("periods"), skip=None)


class _Layers:
    """Every layer of one network, created once and shared by all its graphs."""

    def __init__(self, spec):
        cell = _cell_spec(spec)
        L = spec["n_layers"]
        self.encoder = [_recurrent_layer(cell, f"encoder_{i}") for i in range(L)]
        self.decoder = [_recurrent_layer(cell, f"decoder_{i}") for i in range(L)]
        self.sizes = state_sizes(cell)
        learned = learned_states(cell)
        self.bridges = [[keras.layers.Dense(size, activation="tanh", name=f"bridge_{i}_{k}")
                         if learned[k] else ZeroState(size, name=f"zero_state_{i}_{k}")
                         for k, size in enumerate(self.sizes)] for i in range(L)]
        self.attention = None
        if spec.get("attention") is not None:
            self.attention = PrefixAttention(spec["attention"], spec["units"],
                                             dropout=spec["dropout"], name="attention")
        self.head = _head_layers(spec)

    def bridge(self, summaries):
        """Decoder start states from the encoder outputs of each layer at the origins."""
        return [[layer(e) for layer in per_layer]
                for per_layer, e in zip(self.bridges, summaries)]

    def decoder_stack(self, x, states):
        """Run the decoder layers from ``states``; returns the top output and the new states."""
        new = []
        for layer, initial in zip(self.decoder, states):
            out = layer(x, initial_state=initial)
            x = out[0]
            new.append(list(out[1:]))
        return x, new


def _encode(layers, inputs, masked=True):
    """Encoder outputs of every layer ``(n, T, units)`` and the final states (at each end).

    ``masked=False``: no padding mask (inputs without NaN: the masked recurrence is then
    the plain one, without a select per state per step).
    """
    if not masked:
        x, sequences = inputs, []
        for layer in layers.encoder:
            x = layer(x)[0]
            sequences.append(x)
        return sequences, []
    x = PaddingMask(emit_mask=False, name="padding")(inputs)
    mask = StepMask(name="step_mask")(inputs)
    sequences, finals = [], []
    for layer in layers.encoder:
        out = layer(x, mask=mask)
        x = out[0]
        sequences.append(x)
        finals.extend(out[1:])
    return sequences, finals


def _teacher_forced(layers, inputs, sequences, steps, name):
    """Every origin's decoder over ``steps`` teacher-forced steps: ``(n, T, steps, width)``."""
    fold = FoldOrigins(name=f"fold_{name}")
    summaries = [fold(e) for e in sequences]
    windows = DecoderWindows(steps, name=f"windows_{name}")(inputs)
    x, _ = layers.decoder_stack(windows, layers.bridge(summaries))
    weights = None
    if layers.attention is not None:
        context, weights = layers.attention(x, sequences[-1])
        x = keras.layers.Concatenate(axis=-1, name=f"with_context_{name}")([x, context])
    out = _apply_head(layers.head, x)
    return UnfoldOrigins(name=f"unfold_{name}")([out, inputs]), weights


def build_seq2seq(spec):
    """Build the encoder-decoder graphs.

    Parameters
    ----------
    spec : dict
        ``kind="seq2seq"``, ``n_inputs`` (f), ``n_outputs`` (the head's width in targets),
        ``head`` ("point" or "gaussian"), ``cell``, ``units``, ``n_layers``,
        ``horizon`` (H), ``attention`` (None or a score name), ``dropout``, and
        ``periods`` for the clockwork cell.

    Returns
    -------
    dict of keras.Model, sharing every weight
        ``train``: ``(n, T, f) -> (n, T, H, width)``, the teacher-forced outputs of every
        origin (width ``2 f`` for the Gaussian head: mean, raw variance);
        ``train_unpadded``: the same without the encoder's padding mask, for inputs
        without NaN (:func:`~seqmodels.neural.networks.training_graph` picks it);
        ``predict``: the same for the decoder's first step only, ``(n, T, 1, width)``;
        ``encode``: ``(n, T, f) -> [top outputs (n, T, units), *final states]`` (the
        states at each sequence's last real step, every layer's in turn);
        ``encoder_step``: ``[u (n, k, f), *states] -> [top outputs (n, k, units), *states]``
        (the encoder continued over k more inputs, no padding);
        ``decode``: ``[u_first (n, 1, f), e^0 .. e^{L-1} (n, units)`` (and, with
        attention, ``keys (n, S, units), allowed (n, 1, S)``) ``] -> (n, H, width)``, the
        decoder running free: step 1 reads ``u_first``, step k > 1 its own previous mean.
        With attention also ``weights``: ``(n, T, f) -> (n, T, T)``, the weights of each
        origin's first decoder step over the encoder positions.
    """
    layers = _Layers(spec)
    f, H, L = spec["n_inputs"], spec["horizon"], spec["n_layers"]
    inputs = keras.Input((None, f), name="inputs")
    sequences, finals = _encode(layers, inputs)
    train, _ = _teacher_forced(layers, inputs, sequences, H, "train")
    graphs = {"train": keras.Model(inputs, train, name="seq2seq_network")}
    full = keras.Input((None, f), name="inputs")
    unpadded, _ = _teacher_forced(layers, full, _encode(layers, full, masked=False)[0], H,
                                  "unpadded")
    graphs["train_unpadded"] = keras.Model(full, unpadded, name="seq2seq_network_unpadded")

    first, weights = _teacher_forced(layers, inputs, sequences, 1, "first")
    graphs["predict"] = keras.Model(inputs, first, name="seq2seq_first_step")
    if weights is not None:
        graphs["weights"] = keras.Model(inputs, weights, name="seq2seq_attention_weights")
    graphs["encode"] = keras.Model(inputs, [sequences[-1], *finals], name="seq2seq_encode")

    more = keras.Input((None, f), name="encoder_inputs")
    state_in = [keras.Input((s,), name=f"encoder_state_{i}_{k}")
                for i in range(L) for k, s in enumerate(layers.sizes)]
    x, new_states = more, []
    for i, layer in enumerate(layers.encoder):
        out = layer(x, initial_state=state_in[i * len(layers.sizes):(i + 1) * len(layers.sizes)])
        x = out[0]
        new_states.extend(out[1:])
    graphs["encoder_step"] = keras.Model([more, *state_in], [x, *new_states],
                                         name="seq2seq_encoder_step")
    graphs["decode"] = _free_running(layers, spec)
    return graphs


def _free_running(layers, spec):
    """The decoder from one origin per sequence, feeding its own means back (forecasting)."""
    f, H, L, units = spec["n_inputs"], spec["horizon"], spec["n_layers"], spec["units"]
    first = keras.Input((1, f), name="first_input")
    summaries = [keras.Input((units,), name=f"summary_{i}") for i in range(L)]
    extra = []
    if layers.attention is not None:
        extra = [keras.Input((None, units), name="keys"),
                 keras.Input((1, None), dtype="bool", name="allowed")]
    states = layers.bridge(summaries)
    x, steps = first, []
    feedback = MeanFeedback(f, name="feedback")
    for k in range(H):
        y, states = layers.decoder_stack(x, states)
        if layers.attention is not None:
            context = layers.attention.step(y, *extra)
            y = keras.layers.Concatenate(axis=-1)([y, context])
        out = _apply_head(layers.head, y)
        steps.append(out)
        x = feedback(out)
    out = steps[0] if H == 1 else keras.layers.Concatenate(axis=1, name="steps")(steps)
    return keras.Model([first, *summaries, *extra], out, name="seq2seq_decode")
