"""Keras 3 layers of a decoder-only causal Transformer, and the graphs built from them.

Shapes: ``x`` is ``(n, T, units)`` (``n`` sequences, ``T`` steps, model width
``units``), split into ``n_heads`` heads of ``d = units / n_heads`` features.

* :class:`CausalSelfAttention`: multi-head scaled dot-product self-attention
  (Vaswani et al. 2017) whose step t attends to steps ``s <= t`` only, and with a
  ``window`` w to ``t - w < s <= t``. The mask is built here, from the step
  indices, and added to the scores before the softmax; Keras' own
  ``MultiHeadAttention`` is not used (it has dropped its causal mask in some
  releases, keras-team/keras#23038).
* :class:`PositionEncoding`: adds sinusoidal (computed for any position),
  learned (a table of ``max_length`` rows) or no position information.
* :class:`TransformerBlock`: one pre-norm block (Xiong et al. 2020; GPT-2)::

      h   = x + Dropout(Attention(LayerNorm(x)))
      out = h + Dropout(W_2 relu(W_1 LayerNorm(h) + b_1) + b_2)

* :func:`build_transformer`: the training graph with the heads, losses and
  training of :mod:`seqmodels.neural.networks`, and the two graphs ``forecast``
  steps with (the history once, then one step at a time over a key / value cache).

This module imports Keras at import time; the estimator imports it lazily.
"""

import math
import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
from keras import ops  # noqa: E402

from .networks import PaddingMask, _apply_head, _head_layers  # noqa: E402

__all__ = ["CausalSelfAttention", "PositionEncoding", "TransformerBlock", "build_transformer",
           "transformer_attention_weights", "sinusoidal_encoding", "POSITION_ENCODINGS",
           "ATTENTION_OBJECTS"]

POSITION_ENCODINGS = ("sinusoidal", "learned", "none")

#: Added to the score of a step a query may not see: ``exp(-1e9 - max)`` is exactly 0 in
#: float32, so a masked step gets weight 0 (not a small one) and its value never
#: enters the sum; unlike ``-inf`` it cannot make ``0 * inf`` NaN.
_MASKED = -1e9


def sinusoidal_encoding(positions, units):
    """Sinusoidal position encodings (Vaswani et al. 2017, section 3.5).

    ``PE(p, 2i) = sin(p / 10000^(2i / units))``, ``PE(p, 2i + 1) = cos(p / 10000^(2i / units))``
    for ``i = 0, 1, ...``; an odd ``units`` ends with a sine.

    Parameters
    ----------
    positions : tensor of shape (..., )
        Step indices (any numeric dtype), 0 for the first step.
    units : int
        Width of the encoding.

    Returns
    -------
    tensor of shape (..., units), float32
    """
    half = (units + 1) // 2
    exponents = ops.arange(half, dtype="float32") * (2.0 / units)
    inverse_frequency = ops.power(10000.0, -exponents)
    angles = ops.expand_dims(ops.cast(positions, "float32"), -1) * inverse_frequency
    pairs = ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1)
    shape = ops.shape(angles)
    interleaved = ops.reshape(pairs, (*shape[:-1], 2 * half))
    return interleaved[..., :units]


def _allowed(query_positions, key_positions, window):
    """Boolean mask: the key step ``s`` is visible from the query step ``t``.

    ``s <= t``, and ``s > t - window`` when a window is set. Shapes broadcast:
    ``(..., Tq, 1)`` against ``(..., 1, Tk)``.
    """
    allowed = key_positions <= query_positions
    if window is not None:
        allowed = ops.logical_and(allowed, key_positions > query_positions - window)
    return allowed


@keras.saving.register_keras_serializable(package="seqmodels")
class CausalSelfAttention(keras.layers.Layer):
    """Causal multi-head self-attention, optionally within a window of past steps.

    With ``Q = x W_Q + b_Q``, ``K = x W_K + b_K``, ``V = x W_V + b_V`` split into
    heads ``Q_h, K_h, V_h`` of ``d = units / n_heads`` features::

        A_h  = softmax(Q_h K_h^T / sqrt(d) + M)        (T x T, rows sum to 1)
        out  = concat_h(Dropout(A_h) V_h) W_O + b_O

    ``M[t, s] = 0`` where step t may see step s (``s <= t``, and ``s > t - window``
    when ``window`` is set), ``-1e9`` elsewhere, so those weights are exactly 0:
    the output at t is a function of ``x_{max(0, t-window+1)} .. x_t`` only. With a
    window, sequences longer than ``2 window`` are computed block by block
    (:meth:`_banded`): O(T window) work instead of O(T^2).

    Called on ``x`` ``(n, T, units)`` it returns ``(n, T, units)`` (with
    ``return_cache=True`` also ``K`` and ``V``, ``(n, T, units)``, for the cache
    :func:`build_transformer`'s step graph reads). Called on
    ``[x, position, K_cache, V_cache]`` with ``x`` ``(n, 1, units)``, ``position``
    ``(n, 1)`` int32 (the step index of ``x`` in each sequence) and caches
    ``(n, S, units)``, it writes this step's key and value into slot ``position``
    and attends from it to the slots it may see; returns ``[out, K_cache, V_cache]``.

    Parameters
    ----------
    units : int
        Model width; a multiple of ``n_heads``.
    n_heads : int
    window : int or None, default=None
        Steps a query sees, itself included; None: the whole prefix.
    dropout : float, default=0.0
        Dropout on the attention weights (training only).

    Examples
    --------
    >>> import numpy as np
    >>> layer = CausalSelfAttention(8, n_heads=2, window=3)
    >>> tuple(layer(np.zeros((1, 5, 8), "float32")).shape)
    (1, 5, 8)
    """

    def __init__(self, units, n_heads, window=None, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.n_heads = int(n_heads)
        if self.units % self.n_heads:
            raise ValueError(f"units={units} is not a multiple of n_heads={n_heads}.")
        self.head_units = self.units // self.n_heads
        self.window = None if window is None else int(window)
        self.dropout = float(dropout)
        self.attention_dropout = keras.layers.Dropout(self.dropout, name="attention_dropout")

    def build(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)):
            input_shape = input_shape[0]
        n_in = input_shape[-1]
        for name in ("query", "key", "value"):
            setattr(self, f"{name}_kernel", self.add_weight(
                shape=(n_in, self.units), initializer="glorot_uniform", name=f"{name}_kernel"))
            setattr(self, f"{name}_bias", self.add_weight(
                shape=(self.units,), initializer="zeros", name=f"{name}_bias"))
        self.output_kernel = self.add_weight(shape=(self.units, self.units),
                                             initializer="glorot_uniform", name="output_kernel")
        self.output_bias = self.add_weight(shape=(self.units,), initializer="zeros",
                                           name="output_bias")

    def _project(self, x):
        return [ops.matmul(x, getattr(self, f"{name}_kernel")) + getattr(self, f"{name}_bias")
                for name in ("query", "key", "value")]

    def _heads(self, x):
        """``(n, T, units)`` -> ``(n, heads, T, d)``."""
        shape = ops.shape(x)
        x = ops.reshape(x, (shape[0], shape[1], self.n_heads, self.head_units))
        return ops.transpose(x, (0, 2, 1, 3))

    def _attend(self, q, k, v, allowed, training):
        """``concat_h(softmax(Q K^T / sqrt(d) + M) V) W_O + b_O``; ``allowed`` broadcasts."""
        scores = ops.matmul(self._heads(q), ops.transpose(self._heads(k), (0, 1, 3, 2)))
        scores = scores / math.sqrt(self.head_units)
        scores = ops.where(allowed, scores, ops.full_like(scores, _MASKED))
        weights = ops.softmax(scores, axis=-1)
        weights = self.attention_dropout(weights, training=training)
        mixed = ops.transpose(ops.matmul(weights, self._heads(v)), (0, 2, 1, 3))
        shape = ops.shape(mixed)
        mixed = ops.reshape(mixed, (shape[0], shape[1], self.units))
        return ops.matmul(mixed, self.output_kernel) + self.output_bias, weights

    def _banded(self, q, k, v, training):
        """Windowed attention block by block: O(T window) work instead of O(T^2).

        The steps are cut into blocks of ``w = window`` (zeros pad the last one); the
        queries of block b (steps ``b w .. b w + w - 1``) can only see keys of blocks
        ``b - 1`` and ``b``, so each block's scores are ``w x 2w``. Query ``b w + i``
        sees key ``b w + j - w`` where ``i < j <= i + w`` (the window) and the key is
        a real step (``b w + j >= w``); every other score gets ``-1e9``, as in the
        full matrix, so the result is the same attention computed with less work.
        """
        w, heads, d = self.window, self.n_heads, self.head_units
        shape = ops.shape(q)
        n, T = shape[0], shape[1]
        blocks = (T + w - 1) // w

        def blocked(x):
            """``(n, T, units)`` -> ``(n, heads, blocks, w, d)``."""
            x = ops.concatenate([x, ops.zeros((n, blocks * w - T, self.units), x.dtype)], axis=1)
            return ops.transpose(ops.reshape(x, (n, blocks, w, heads, d)), (0, 3, 1, 2, 4))

        def with_previous(x):
            """Each block's keys (values) and its predecessor's: ``(n, heads, blocks, 2w, d)``."""
            previous = ops.concatenate([ops.zeros_like(x[:, :, :1]), x[:, :, :-1]], axis=2)
            return ops.concatenate([previous, x], axis=3)

        keys, values = with_previous(blocked(k)), with_previous(blocked(v))
        scores = ops.matmul(blocked(q), ops.swapaxes(keys, -1, -2)) / math.sqrt(d)
        i, j = ops.arange(w)[:, None], ops.arange(2 * w)[None, :]
        block = ops.arange(blocks)[:, None, None]
        allowed = ops.logical_and(ops.logical_and(j > i, j <= i + w), block * w + j >= w)
        scores = ops.where(allowed, scores, ops.full_like(scores, _MASKED))
        weights = self.attention_dropout(ops.softmax(scores, axis=-1), training=training)
        mixed = ops.transpose(ops.matmul(weights, values), (0, 2, 3, 1, 4))
        mixed = ops.reshape(mixed, (n, blocks * w, self.units))[:, :T]
        return ops.matmul(mixed, self.output_kernel) + self.output_bias

    def _full(self, q, k, v, training):
        steps = ops.arange(ops.shape(q)[1])
        allowed = _allowed(steps[:, None], steps[None, :], self.window)
        return self._attend(q, k, v, allowed, training)[0]

    def call(self, inputs, return_cache=False, training=None):
        if isinstance(inputs, (list, tuple)):
            return self._step(*inputs)
        q, k, v = self._project(inputs)
        if self.window is None:
            out = self._full(q, k, v, training)
        else:
            # Blocks pay off once the sequence is longer than two windows.
            T = ops.shape(inputs)[1]
            banded = lambda: self._banded(q, k, v, training)  # noqa: E731
            full = lambda: self._full(q, k, v, training)  # noqa: E731
            if isinstance(T, int):
                out = banded() if T > 2 * self.window else full()
            else:
                out = ops.cond(T > 2 * self.window, banded, full)
        return (out, k, v) if return_cache else out

    def attention_weights(self, x):
        """The weights ``A`` ``(n, n_heads, T, T)`` for ``x`` (no dropout)."""
        q, k, v = self._project(x)
        steps = ops.arange(ops.shape(x)[1])
        return self._attend(q, k, v, _allowed(steps[:, None], steps[None, :], self.window),
                            False)[1]

    def _step(self, x, position, key_cache, value_cache):
        q, k, v = self._project(x)
        slots = ops.arange(ops.shape(key_cache)[1])[None, :]             # (1, S)
        position = ops.cast(position, slots.dtype)                        # (n, 1)
        write = ops.expand_dims(ops.cast(slots == position, key_cache.dtype), -1)
        key_cache = key_cache * (1.0 - write) + k * write
        value_cache = value_cache * (1.0 - write) + v * write
        allowed = _allowed(position, slots, self.window)[:, None, None, :]  # (n, 1, 1, S)
        out, _ = self._attend(q, key_cache, value_cache, allowed, False)
        return out, key_cache, value_cache

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, n_heads=self.n_heads, window=self.window,
                      dropout=self.dropout)
        return config


@keras.saving.register_keras_serializable(package="seqmodels")
class PositionEncoding(keras.layers.Layer):
    """Add the position of each step to its embedding: ``x_t + P(t)``.

    ``kind="sinusoidal"``: ``P`` is :func:`sinusoidal_encoding`, defined for every
    ``t``; ``"learned"``: ``P(t)`` is row t of a trained ``(max_length, units)``
    table (GPT-2's), so only ``t < max_length`` exists; ``"none"``: ``P = 0`` (the
    causal mask alone lets a network count steps).

    Called on ``x`` ``(n, T, units)`` the positions are ``0 .. T-1``; called on
    ``[x, position]`` with ``position`` ``(n, 1)`` int32 (one step of each
    sequence, for forecasting), ``P(position)``.
    """

    def __init__(self, kind="sinusoidal", units=None, max_length=None, **kwargs):
        super().__init__(**kwargs)
        if kind not in POSITION_ENCODINGS:
            raise ValueError(f"kind must be one of {POSITION_ENCODINGS}; got {kind!r}.")
        if kind == "learned" and not max_length:
            raise ValueError("learned positions need max_length, the rows of their table.")
        self.kind = kind
        self.units = None if units is None else int(units)
        self.max_length = None if max_length is None else int(max_length)

    def build(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)):
            input_shape = input_shape[0]
        self.units = int(input_shape[-1])
        if self.kind == "learned":
            self.table = self.add_weight(
                shape=(self.max_length, self.units), name="table",
                initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            x, positions = inputs
            positions = ops.cast(positions, "int32")
        else:
            x = inputs
            positions = ops.arange(ops.shape(x)[1], dtype="int32")[None, :]
        if self.kind == "none":
            return x
        if self.kind == "sinusoidal":
            return x + sinusoidal_encoding(positions, self.units)
        return x + ops.take(self.table, positions, axis=0)

    def get_config(self):
        config = super().get_config()
        config.update(kind=self.kind, units=self.units, max_length=self.max_length)
        return config


@keras.saving.register_keras_serializable(package="seqmodels")
class TransformerBlock(keras.layers.Layer):
    """One pre-norm Transformer decoder block (no cross-attention)::

        h   = x + Dropout(CausalSelfAttention(LayerNorm_1(x)))
        out = h + Dropout(W_2 relu(W_1 LayerNorm_2(h) + b_1) + b_2)

    Pre-norm (the normalisation inside the residual branch, as GPT-2; Xiong et al.
    2020) trains without a learning-rate warm-up, which the post-norm block of
    Vaswani et al. (2017) needs. Every operation but the attention acts on each step
    alone, so the block is as causal as its attention.

    Called on ``x`` ``(n, T, units)`` it returns ``[out, K, V]``, the keys and values
    of its attention too (the forecasting cache); on ``[x, position, K_cache,
    V_cache]`` (one step, as :class:`CausalSelfAttention`) ``[out, K_cache, V_cache]``.
    (One output structure for both: a Keras layer shared between graphs must
    return the same number of tensors at every call.)

    Parameters
    ----------
    units, n_heads, window
        As :class:`CausalSelfAttention`.
    ff_units : int
        Width of the feed-forward layer ``W_1``.
    dropout : float, default=0.0
        On the attention weights and on both residual branches (training only).
    """

    def __init__(self, units, n_heads, ff_units, window=None, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.units, self.n_heads, self.ff_units = int(units), int(n_heads), int(ff_units)
        self.window = None if window is None else int(window)
        self.dropout = float(dropout)
        self.norm_attention = keras.layers.LayerNormalization(epsilon=1e-5, name="norm_attention")
        self.attention = CausalSelfAttention(units, n_heads, window, dropout, name="attention")
        self.norm_feedforward = keras.layers.LayerNormalization(epsilon=1e-5,
                                                                name="norm_feedforward")
        self.feedforward_in = keras.layers.Dense(self.ff_units, activation="relu",
                                                 name="feedforward_in")
        self.feedforward_out = keras.layers.Dense(self.units, name="feedforward_out")
        self.residual_dropout = keras.layers.Dropout(self.dropout, name="residual_dropout")

    def build(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)):
            input_shape = input_shape[0]
        shape = tuple(input_shape)
        self.norm_attention.build(shape)
        self.attention.build(shape)
        self.norm_feedforward.build(shape)
        self.feedforward_in.build(shape)
        self.feedforward_out.build(shape[:-1] + (self.ff_units,))

    def _feedforward(self, h, training):
        z = self.feedforward_out(self.feedforward_in(self.norm_feedforward(h)))
        return h + self.residual_dropout(z, training=training)

    def call(self, inputs, training=None):
        if isinstance(inputs, (list, tuple)):
            x, position, key_cache, value_cache = inputs
            a, key_cache, value_cache = self.attention(
                [self.norm_attention(x), position, key_cache, value_cache])
            return self._feedforward(x + a, False), key_cache, value_cache
        x = inputs
        a, key, value = self.attention(self.norm_attention(x), return_cache=True,
                                       training=training)
        out = self._feedforward(x + self.residual_dropout(a, training=training), training)
        return out, key, value

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, n_heads=self.n_heads, ff_units=self.ff_units,
                      window=self.window, dropout=self.dropout)
        return config


def transformer_attention_weights(model, inputs, layer=-1):
    """Attention weights of one layer of a built Transformer, in inference mode.

    Runs the embedding, the positions and the blocks before ``layer`` (no dropout),
    then returns that block's attention weights on its normalised input.

    Parameters
    ----------
    model : keras.Model
        The ``train`` graph of :func:`build_transformer` (or the same network loaded).
    inputs : array of shape (n, T, n_inputs)
        Network inputs (standardised, NaN on padding).
    layer : int, default=-1
        Which block (Python indexing: -1 is the last).

    Returns
    -------
    ndarray of shape (n, n_heads, T, T)
        ``A[i, h, t, s]``: the weight of step s in the output of step t (0 where the
        mask hides s; each row sums to 1).
    """
    blocks = sorted((lay for lay in model.layers if isinstance(lay, TransformerBlock)),
                    key=lambda lay: int(lay.name.rsplit("_", 1)[1]))
    block = blocks[layer]
    x = model.get_layer("padding")(inputs)
    x = model.get_layer("position_encoding")(model.get_layer("embedding")(x))
    for earlier in blocks[:blocks.index(block)]:
        x = earlier(x, training=False)[0]
    weights = block.attention.attention_weights(block.norm_attention(x))
    return ops.convert_to_numpy(weights)


#: The custom layers, for ``keras.saving.load_model(custom_objects=...)``.
ATTENTION_OBJECTS = {
    "CausalSelfAttention": CausalSelfAttention,
    "PositionEncoding": PositionEncoding,
    "TransformerBlock": TransformerBlock,
}


def build_transformer(spec):
    """Build the Transformer's training graph and its two forecasting graphs.

    ``x_t`` (standardised, NaN on padding -> 0) is embedded, ``e_t = W_E x_t + b_E``,
    the position added, ``z_t^0 = Dropout(e_t + P(t))``; ``n_layers``
    :class:`TransformerBlock` s map ``z^0`` to ``z^L``; a final LayerNorm and the heads of
    :mod:`seqmodels.neural.networks` (point, Gaussian mean and raw variance, softmax
    logits) give the output at every step.

    Parameters
    ----------
    spec : dict
        ``n_inputs``, ``n_outputs``, ``head``, ``units``, ``n_heads``, ``n_layers``,
        ``ff_units``, ``dropout``, ``position_encoding``, ``window``, ``max_length``
        (rows of the learned position table; None otherwise).

    Returns
    -------
    dict
        ``train``: ``(n, T, n_inputs) -> (n, T, width)``. ``state``: the same inputs
        to ``[outputs, K_1, V_1, ..., K_L, V_L]`` (keys and values of every step and
        layer, ``(n, T, units)``). ``step``: ``[x (n, 1, n_inputs), position (n, 1),
        K_1, V_1, ...]`` (caches ``(n, S, units)``) to ``[output (n, 1, width), K_1,
        V_1, ...]`` with this step's keys and values written at ``position``.
        All three share the weights.
    """
    units = spec["units"]
    embedding = keras.layers.Dense(units, name="embedding")
    positions = PositionEncoding(spec["position_encoding"], units, spec.get("max_length"),
                                 name="position_encoding")
    dropout = keras.layers.Dropout(spec["dropout"], name="embedding_dropout")
    blocks = [TransformerBlock(units, spec["n_heads"], spec["ff_units"], spec["window"],
                               spec["dropout"], name=f"block_{i}")
              for i in range(spec["n_layers"])]
    norm = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")
    head = _head_layers(spec)

    inputs = keras.Input((None, spec["n_inputs"]), name="inputs")
    padding = PaddingMask(emit_mask=False, name="padding")
    z = dropout(positions(embedding(padding(inputs))))
    x = z
    for block in blocks:
        x = block(x)[0]
    train = keras.Model(inputs, _apply_head(head, norm(x)), name="transformer_network")

    x, caches = z, []
    for block in blocks:
        x, key, value = block(x)
        caches += [key, value]
    state = keras.Model(inputs, [_apply_head(head, norm(x)), *caches], name="state_model")

    step_in = keras.Input((1, spec["n_inputs"]), name="step_inputs")
    position = keras.Input((1,), dtype="int32", name="position")
    cache_in = [keras.Input((None, units), name=f"{kind}_cache_{i}")
                for i in range(spec["n_layers"]) for kind in ("key", "value")]
    x, caches = positions([embedding(padding(step_in)), position]), []
    for i, block in enumerate(blocks):
        x, key, value = block([x, position, *cache_in[2 * i:2 * i + 2]])
        caches += [key, value]
    step = keras.Model([step_in, position, *cache_in], [_apply_head(head, norm(x)), *caches],
                       name="step_model")
    return {"train": train, "state": state, "step": step}


# -- content attention (issue #21, item 2): a recurrent network over its own past, and a
# -- decoder over its encoder ------------------------------------------------------------------

#: The score functions of :class:`ContentAttention`.
ATTENTION_SCORES = ("additive", "dot")


@keras.saving.register_keras_serializable(package="seqmodels")
class ContentAttention(keras.layers.Layer):
    """Single-head content-based attention with a mask given by the caller.

    Called as ``layer(query, keys, values, allowed)`` with ``query`` ``(n, Tq, d_q)``,
    ``keys`` ``(n, Tk, d_k)``, ``values`` ``(n, Tk, d_in)`` and ``allowed`` a boolean
    ``(n or 1, Tq, Tk)`` (True where query t may attend to key s), it returns the
    context ``c`` ``(n, Tq, d_v)``::

        score(t, s) = v^T tanh(W_q q_t + W_k k_s)              score="additive"
                                                                 (Bahdanau, Cho & Bengio 2015)
        score(t, s) = (W_q q_t) . (W_k k_s) / sqrt(units)      score="dot"  (scaled dot product,
                                                                 Luong et al. 2015; Vaswani et al.)
        a(t, s)     = softmax_s(score(t, s) + M(t, s)),   M = 0 where allowed, -1e9 elsewhere
        c_t         = sum_s Dropout(a)(t, s) W_v v_s           (v_s itself when value_units=None)

    ``W_q`` ``(d_q, units)``, ``W_k`` ``(d_k, units)``, ``v`` ``(units,)`` (additive only),
    ``W_v`` ``(d_in, value_units)``; no biases (a key bias cancels in the softmax, and
    Bahdanau's alignment model has none). The mask is the caller's, applied to the scores
    before the softmax and again to the weights after it: a disallowed key gets weight
    exactly 0 (also under dropout, in training mode), and a query with no allowed key at
    all (a padding row) gets all-zero weights and a zero context, not a uniform average.
    Keras' ``MultiHeadAttention`` mask is not used (keras-team/keras#23038).

    Cost: the additive score forms ``tanh(W_q q_t + W_k k_s)`` for every pair,
    ``n Tq Tk units`` numbers; the dot score only ``n Tq Tk``.

    Parameters
    ----------
    score : {"additive", "dot"}, default="additive"
    units : int, default=32
        Width of the projected queries and keys (the additive score's hidden width).
    value_units : int or None, default=None
        Project the values by ``W_v`` to this width; None: the context is a weighted
        average of the values themselves (``d_v = d_in``), as in Bahdanau et al.
    dropout : float, default=0.0
        Dropout on the attention weights (training only).

    Examples
    --------
    >>> import numpy as np
    >>> layer = ContentAttention("dot", units=4)
    >>> h = np.ones((2, 5, 3), "float32")
    >>> allowed = np.tril(np.ones((5, 5), bool))[None]         # causal: s <= t
    >>> context, weights = layer(h, h, h, allowed, return_weights=True)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 5, 3), (2, 5, 5))
    """

    def __init__(self, score="additive", units=32, value_units=None, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if score not in ATTENTION_SCORES:
            raise ValueError(f"score must be one of {ATTENTION_SCORES}; got {score!r}.")
        self.score = score
        self.units = int(units)
        self.value_units = None if value_units is None else int(value_units)
        self.dropout = float(dropout)
        self.weight_dropout = keras.layers.Dropout(self.dropout, name="weight_dropout")
        # `allowed` carries the masking; a Keras mask on the inputs (a recurrent layer's
        # padding mask) is accepted and not passed on: the context has none of its own.
        self.supports_masking = True

    def compute_mask(self, *args, **kwargs):
        return None

    def build(self, query_shape, keys_shape, values_shape=None, allowed_shape=None):
        self.query_kernel = self.add_weight(shape=(int(query_shape[-1]), self.units),
                                            initializer="glorot_uniform", name="query_kernel")
        self.key_kernel = self.add_weight(shape=(int(keys_shape[-1]), self.units),
                                          initializer="glorot_uniform", name="key_kernel")
        if self.score == "additive":
            self.score_vector = self.add_weight(shape=(self.units,), initializer="glorot_uniform",
                                                name="score_vector")
        if self.value_units is not None:
            d_in = int((keys_shape if values_shape is None else values_shape)[-1])
            self.value_kernel = self.add_weight(shape=(d_in, self.value_units),
                                                initializer="glorot_uniform",
                                                name="value_kernel")

    def scores(self, query, keys):
        """The unmasked scores ``score(t, s)``, ``(n, Tq, Tk)``."""
        q = ops.matmul(query, self.query_kernel)                       # (n, Tq, units)
        k = ops.matmul(keys, self.key_kernel)                          # (n, Tk, units)
        if self.score == "dot":
            return ops.matmul(q, ops.swapaxes(k, -1, -2)) / math.sqrt(self.units)
        hidden = ops.tanh(ops.expand_dims(q, 2) + ops.expand_dims(k, 1))  # (n, Tq, Tk, units)
        return ops.tensordot(hidden, self.score_vector, axes=[[3], [0]])

    def attention_weights(self, query, keys, allowed):
        """The weights ``a(t, s)`` ``(n, Tq, Tk)``: rows sum to 1, 0 where not allowed.

        A row with no allowed key is all zeros. No dropout (these are the weights
        :meth:`call` drops from in training).
        """
        scores = self.scores(query, keys)
        allowed = ops.cast(allowed, "bool")
        scores = ops.where(allowed, scores, ops.full_like(scores, _MASKED))
        with warnings.catch_warnings():
            # One key (a one-step sequence): Keras warns that the softmax is 1; it is.
            warnings.filterwarnings("ignore", message="You are using a softmax over axis",
                                    category=UserWarning)
            weights = ops.softmax(scores, axis=-1)
        return ops.where(allowed, weights, ops.zeros_like(weights))

    def call(self, query, keys, values, allowed, return_weights=False, training=None):
        weights = self.attention_weights(query, keys, allowed)
        if self.value_units is not None:
            values = ops.matmul(values, self.value_kernel)
        context = ops.matmul(self.weight_dropout(weights, training=training), values)
        return (context, weights) if return_weights else context

    def get_config(self):
        config = super().get_config()
        config.update(score=self.score, units=self.units, value_units=self.value_units,
                      dropout=self.dropout)
        return config


ATTENTION_OBJECTS["ContentAttention"] = ContentAttention


@keras.saving.register_keras_serializable(package="seqmodels")
class PastSteps(keras.layers.Layer):
    """Which steps each step may attend to: ``allowed[i, t, s] = s <= t`` on real steps.

    Called on the step mask ``(n, T)`` (True on real steps, False on padding) it returns
    the boolean ``(n, T, T)`` with ``allowed[i, t, s]`` True where ``s <= t`` and both
    steps are real: a padded step is never attended to, and attends to nothing.
    """

    def call(self, step_mask):
        valid = ops.cast(step_mask, "bool")
        steps = ops.arange(ops.shape(valid)[1])
        causal = ops.expand_dims(steps[None, :] <= steps[:, None], 0)   # (1, T, T): s <= t
        both = ops.logical_and(ops.expand_dims(valid, 1), ops.expand_dims(valid, 2))
        return ops.logical_and(causal, both)

    def compute_output_spec(self, step_mask):
        shape = tuple(step_mask.shape)
        return keras.KerasTensor(shape + (shape[-1],), dtype="bool")


@keras.saving.register_keras_serializable(package="seqmodels")
class StepCache(keras.layers.Layer):
    """Write one step's hidden state into a cache of past states, and say what it may see.

    Called as ``layer(h, position, cache)`` with ``h`` ``(n, 1, d)`` (this step's state),
    ``position`` ``(n, 1)`` int32 (its step index in each sequence) and ``cache``
    ``(n, S, d)``, it returns ``[cache', allowed]``: the cache with slot ``position``
    replaced by ``h``, and the boolean ``(n, 1, S)`` mask ``slot <= position`` (this step
    and the earlier ones) for :class:`ContentAttention`. Slots past ``position`` may
    hold anything: they are never seen.
    """

    def call(self, h, position, cache):
        slots = ops.arange(ops.shape(cache)[1])[None, :]                  # (1, S)
        position = ops.cast(position, slots.dtype)                          # (n, 1)
        write = ops.expand_dims(ops.cast(slots == position, cache.dtype), -1)
        cache = cache * (1.0 - write) + h * write
        return cache, ops.expand_dims(slots <= position, 1)

    def compute_output_spec(self, h, position, cache):
        n, S = cache.shape[0], cache.shape[1]
        return (keras.KerasTensor(tuple(cache.shape), dtype=cache.dtype),
                keras.KerasTensor((n, 1, S), dtype="bool"))


ATTENTION_OBJECTS.update(PastSteps=PastSteps, StepCache=StepCache)
