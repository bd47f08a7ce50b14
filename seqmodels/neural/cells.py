"""Custom Keras 3 recurrent cells: LSTM variants, leaky units, clockwork RNN, skips in time.

Each cell computes one step ``(x_t, state_{t-1}) -> (h_t, state_t)`` for a batch and
is wrapped in ``keras.layers.RNN`` to run over a sequence. Shapes: ``x_t`` is
``(batch, n_inputs)``, every state is ``(batch, units)``. ``sigma`` is the logistic
sigmoid, ``*`` the element-wise product; ``W`` are input kernels, ``U`` recurrent
kernels, ``b`` biases.

This module imports Keras at import time; the estimators import it lazily, so
``import seqmodels`` does not load TensorFlow.
"""

import os

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
from keras import ops  # noqa: E402

# The RNN layer resets cached dropout masks only for subclasses of this mixin
# (an isinstance check in keras.layers.RNN), so the cells must inherit it.
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell  # noqa: E402

__all__ = ["PeepholeLSTMCell", "CIFGLSTMCell", "LeakyCell", "ClockworkCell", "SkipCell",
           "ForgetGateBias", "CUSTOM_CELLS", "clockwork_periods", "clockwork_module_sizes",
           "clockwork_mask"]


class _GatedCell(keras.layers.Layer, DropoutRNNCell):
    """Shared plumbing: fused kernels for ``n_blocks`` gate blocks, dropout, config."""

    n_blocks = 1
    n_states = 1
    forget_block = None  # index of the forget gate's block, for the LSTM variants

    def __init__(self, units, dropout=0.0, recurrent_dropout=0.0,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", forget_bias=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.forget_bias = float(forget_bias)
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = [self.units] * self.n_states
        self.output_size = self.units

    def build(self, input_shape):
        n_in = input_shape[-1]
        blocks = self.n_blocks * self.units
        self.kernel = self.add_weight(shape=(n_in, blocks), initializer=self.kernel_initializer,
                                      name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, blocks),
                                                initializer=self.recurrent_initializer,
                                                name="recurrent_kernel")
        self.bias = self.add_weight(shape=(blocks,), initializer=self._bias_init, name="bias")

    def _bias_init(self, shape, dtype=None):
        """``bias_initializer``, plus ``forget_bias`` on the forget-gate block (if any)."""
        bias = self.bias_initializer(shape, dtype=dtype)
        if self.forget_block is None:
            return bias
        return bias + ForgetGateBias(self.units, self.n_blocks, self.forget_block,
                                     self.forget_bias)(shape, dtype)

    def _preactivation(self, inputs, h_tm1, training, recurrent_kernel=None):
        """``W x_t + U h_{t-1} + b`` for all gate blocks at once, with variational dropout.

        ``recurrent_kernel`` replaces ``U`` (the clockwork cell's masked matrix).
        """
        if training and 0.0 < self.dropout < 1.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and 0.0 < self.recurrent_dropout < 1.0:
            h_tm1 = h_tm1 * self.get_recurrent_dropout_mask(h_tm1)
        U = self.recurrent_kernel if recurrent_kernel is None else recurrent_kernel
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_tm1, U)
        return ops.split(z + self.bias, self.n_blocks, axis=-1)

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)
                for _ in range(self.n_states)]

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "forget_bias": self.forget_bias,
            "seed": self.seed,
        })
        return config


@keras.saving.register_keras_serializable(package="seqmodels")
class ForgetGateBias(keras.initializers.Initializer):
    """Gate-bias initialiser: ``value`` on the forget-gate block, 0 on the other blocks.

    The bias vector of a fused LSTM kernel is ``n_blocks`` blocks of ``units``; block
    ``forget_block`` belongs to the forget gate. Gers, Schmidhuber & Cummins (2000) and
    Jozefowicz et al. (2015) start it at 1, so ``f_t = sigma(1) ~ 0.73`` and the cell
    keeps its content from the first update on; 0 gives ``f_t = 0.5``, a memory that
    halves at every step until training raises it.
    """

    def __init__(self, units, n_blocks, forget_block, value=1.0):
        self.units = int(units)
        self.n_blocks = int(n_blocks)
        self.forget_block = int(forget_block)
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        return ops.concatenate([
            ops.full((self.units,), self.value, dtype=dtype) if k == self.forget_block
            else ops.zeros((self.units,), dtype=dtype)
            for k in range(self.n_blocks)
        ])

    def get_config(self):
        return {"units": self.units, "n_blocks": self.n_blocks,
                "forget_block": self.forget_block, "value": self.value}


@keras.saving.register_keras_serializable(package="seqmodels")
class PeepholeLSTMCell(_GatedCell):
    """LSTM cell with peephole connections (Gers & Schmidhuber, 2000).

    The gates also see the cell state through diagonal weights ``p``::

        i_t = sigma(W_i x_t + U_i h_{t-1} + p_i * c_{t-1} + b_i)
        f_t = sigma(W_f x_t + U_f h_{t-1} + p_f * c_{t-1} + b_f)
        c_t = f_t * c_{t-1} + i_t * tanh(W_c x_t + U_c h_{t-1} + b_c)
        o_t = sigma(W_o x_t + U_o h_{t-1} + p_o * c_t + b_o)
        h_t = o_t * tanh(c_t)

    The output gate peeks at the *new* cell state ``c_t``, the input and forget
    gates at the old one. State: ``[h, c]``. The forget bias starts at ``forget_bias``
    (1 by default).

    Parameters
    ----------
    units : int
        Size of ``h`` and ``c``.
    dropout, recurrent_dropout : float
        Fraction of ``x_t`` / ``h_{t-1}`` entries dropped while training; one mask
        per sequence (variational dropout).

    Examples
    --------
    >>> import keras
    >>> layer = keras.layers.RNN(PeepholeLSTMCell(8), return_sequences=True)
    """

    n_blocks = 4
    n_states = 2
    forget_block = 1

    def build(self, input_shape):
        super().build(input_shape)
        self.peephole = self.add_weight(shape=(3, self.units), initializer="zeros", name="peephole")

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states[0], states[1]
        z_i, z_f, z_c, z_o = self._preactivation(inputs, h_tm1, training)
        i = ops.sigmoid(z_i + self.peephole[0] * c_tm1)
        f = ops.sigmoid(z_f + self.peephole[1] * c_tm1)
        c = f * c_tm1 + i * ops.tanh(z_c)
        o = ops.sigmoid(z_o + self.peephole[2] * c)
        h = o * ops.tanh(c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="seqmodels")
class CIFGLSTMCell(_GatedCell):
    """LSTM with coupled input and forget gates, CIFG (Greff et al., 2017).

    The input gate is tied to the forget gate, ``i_t = 1 - f_t``: the cell state is a
    convex mix of its past and the candidate. One gate fewer than the LSTM::

        f_t = sigma(W_f x_t + U_f h_{t-1} + b_f)
        c_t = f_t * c_{t-1} + (1 - f_t) * tanh(W_c x_t + U_c h_{t-1} + b_c)
        o_t = sigma(W_o x_t + U_o h_{t-1} + b_o)
        h_t = o_t * tanh(c_t)

    State: ``[h, c]``; the forget bias starts at ``forget_bias`` (1 by default). Kernel
    blocks are ordered ``(f, c, o)``.

    Examples
    --------
    >>> import keras
    >>> layer = keras.layers.RNN(CIFGLSTMCell(8), return_sequences=True)
    """

    n_blocks = 3
    n_states = 2
    forget_block = 0

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states[0], states[1]
        z_f, z_c, z_o = self._preactivation(inputs, h_tm1, training)
        f = ops.sigmoid(z_f)
        c = f * c_tm1 + (1.0 - f) * ops.tanh(z_c)
        o = ops.sigmoid(z_o)
        h = o * ops.tanh(c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="seqmodels")
class LeakyCell(_GatedCell):
    """Leaky integrator units (Jaeger et al., 2007)::

        h_t = mu * h_{t-1} + (1 - mu) * tanh(W x_t + U h_{t-1} + b)

    The fixed leak ``mu`` in [0, 1) slows the state down: ``mu = 0`` is the plain
    (Elman) RNN, ``mu`` near 1 integrates over about ``1 / (1 - mu)`` steps.
    State: ``[h]``.

    Parameters
    ----------
    units : int
    leak : float, default=0.5
        The leak ``mu``.

    Examples
    --------
    >>> import keras
    >>> layer = keras.layers.RNN(LeakyCell(8, leak=0.9), return_sequences=True)
    """

    n_blocks = 1
    n_states = 1

    def __init__(self, units, leak=0.5, **kwargs):
        super().__init__(units, **kwargs)
        self.leak = float(leak)

    def call(self, inputs, states, training=False):
        h_tm1 = states[0]
        (z,) = self._preactivation(inputs, h_tm1, training)
        h = self.leak * h_tm1 + (1.0 - self.leak) * ops.tanh(z)
        return h, [h]

    def get_config(self):
        config = super().get_config()
        config["leak"] = self.leak
        return config


def clockwork_periods(n_modules, periods=None):
    """The clockwork modules' periods: ``periods`` checked, or ``1, 2, 4, ..., 2^(g-1)``.

    Parameters
    ----------
    n_modules : int
        Number of modules ``g`` when ``periods`` is None.
    periods : sequence of int, optional
        Strictly increasing positive integers, one per module (fastest first).

    Returns
    -------
    list of int
    """
    if periods is None:
        return [2**i for i in range(int(n_modules))]
    values = np.asarray(periods, dtype=float).ravel()
    if (np.ndim(periods) != 1 or values.size == 0 or not np.isfinite(values).all()
            or (values != np.round(values)).any() or (values < 1).any()
            or (np.diff(values) <= 0).any()):
        raise ValueError(f"periods must be a list of strictly increasing integers >= 1, one per "
                         f"module, fastest first (e.g. [1, 2, 4, 8]); got {periods!r}.")
    return [int(v) for v in values]


def clockwork_module_sizes(units, n_modules):
    """Units per module: ``units`` split as evenly as possible, the first modules one larger."""
    if units < n_modules:
        raise ValueError(f"units ({units}) must be at least the number of clockwork modules "
                         f"({n_modules}): every module needs a unit.")
    base, extra = divmod(int(units), int(n_modules))
    return [base + (1 if i < extra else 0) for i in range(int(n_modules))]


def clockwork_mask(units, periods):
    """The block-triangular connectivity ``M`` of a clockwork recurrent matrix, ``(units, units)``.

    ``M[j, i] = 1`` when unit ``j``'s module is at least as slow as unit ``i``'s
    (``T(j) >= T(i)``): in Keras' layout ``h_{t-1} @ U`` (rows: the unit read,
    columns: the unit written) slow modules feed fast ones and never the reverse.
    With the modules ordered fastest first the nonzero blocks are the diagonal and
    those below it (the transpose, ``U' h``, of the paper's block upper-triangular
    ``W_H``).
    """
    sizes = clockwork_module_sizes(units, len(periods))
    unit_periods = np.repeat(np.asarray(periods, dtype=float), sizes)
    return (unit_periods[:, None] >= unit_periods[None, :]).astype(np.float32)


@keras.saving.register_keras_serializable(package="seqmodels")
class ClockworkCell(_GatedCell):
    """Clockwork RNN (Koutnik, Greff, Gomez & Schmidhuber 2014).

    The ``units`` hidden units are split into ``g`` modules (as evenly as possible,
    fastest first) with periods ``T_1 < T_2 < ... < T_g`` (by default
    ``1, 2, 4, ..., 2^(g-1)``). At step ``t`` (0 at a sequence's first step) module
    ``i`` is updated only where ``t mod T_i = 0`` and keeps its state otherwise::

        a_t     = tanh(W x_t + (U * M) h_{t-1} + b)        (written h_{t-1} @ (U * M))
        h_t[i]  = a_t[i]        if t mod T_i = 0
                  h_{t-1}[i]    otherwise

    ``M`` (:func:`clockwork_mask`) zeroes the blocks of ``U`` through which a faster
    module would feed a slower one: a module reads itself and the slower modules
    only, so the recurrent matrix is block-triangular. Slow modules thus keep
    information over ``T_i`` steps per update, and their gradients pass the steps
    between updates unchanged.

    The cell needs the step index, so it carries it in its state: ``[h, t]`` with
    ``t`` of shape ``(batch, 1)`` (a float, exact up to 2^24 steps), starting at 0
    and counting each real step (padding holds it, as it holds ``h``). Masked
    entries of ``U`` start at 0 and never receive a gradient: they stay 0 through
    training. This Keras cell computes every module at every step and keeps the
    idle ones' states, so a step costs as much as a SimpleRNN step plus the
    select; it does not realise the paper's saving of skipping idle modules.

    Parameters
    ----------
    units : int
        Size of ``h`` (at least the number of modules).
    periods : sequence of int, default=(1, 2, 4, 8)
        Strictly increasing periods, one per module.
    dropout, recurrent_dropout : float
        As in :class:`LeakyCell`.

    Examples
    --------
    >>> import keras
    >>> layer = keras.layers.RNN(ClockworkCell(16, periods=[1, 2, 4, 8]),
    ...                          return_sequences=True)
    """

    n_blocks = 1
    n_states = 2

    def __init__(self, units, periods=(1, 2, 4, 8), **kwargs):
        super().__init__(units, **kwargs)
        self.periods = clockwork_periods(None, periods)
        self.module_sizes = clockwork_module_sizes(self.units, len(self.periods))
        self.connectivity = clockwork_mask(self.units, self.periods)
        self.unit_periods = np.repeat(np.asarray(self.periods, dtype=np.float32),
                                      self.module_sizes)
        self.state_size = [self.units, 1]

    @property
    def n_masked(self):
        """Entries of ``U`` held at zero by the mask (not free parameters)."""
        return int((self.connectivity == 0).sum())

    def build(self, input_shape):
        n_in = input_shape[-1]
        self.kernel = self.add_weight(shape=(n_in, self.units),
                                      initializer=self.kernel_initializer, name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                initializer=self._masked_recurrent_init,
                                                name="recurrent_kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer=self.bias_initializer,
                                    name="bias")

    def _masked_recurrent_init(self, shape, dtype=None):
        return self.recurrent_initializer(shape, dtype=dtype) * ops.convert_to_tensor(
            self.connectivity, dtype=dtype)

    def call(self, inputs, states, training=False):
        h_tm1, step = states[0], states[1]
        U = self.recurrent_kernel * ops.convert_to_tensor(self.connectivity, dtype=h_tm1.dtype)
        (z,) = self._preactivation(inputs, h_tm1, training, recurrent_kernel=U)
        periods = ops.convert_to_tensor(self.unit_periods, dtype=step.dtype)
        active = ops.equal(ops.mod(step, periods), 0.0)          # (batch, units)
        h = ops.where(active, ops.tanh(z), h_tm1)
        return h, [h, step + 1.0]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype),
                ops.zeros((batch_size, 1), dtype=self.compute_dtype)]

    def get_config(self):
        config = super().get_config()
        config["periods"] = list(self.periods)
        return config


@keras.saving.register_keras_serializable(package="seqmodels")
class SkipCell(_GatedCell):
    """Skip connections through time (Lin, Horne, Tino & Giles 1996; Goodfellow et al. 2016, 10.9).

    Each step reads the state of ``d = skip`` steps earlier as well as the last one::

        h_t = mu h_{t-1} + (1 - mu) tanh(W x_t + U h_{t-1} + V h_{t-d} + b)

    ``mu = leak = 0`` is the simple (Elman) cell with a skip, ``0 < mu < 1`` the leaky
    integrator of :class:`LeakyCell` with one. Before the start, ``h_{-1} = ... =
    h_{-d} = 0`` (or a learned initial state). A gradient can travel back ``d`` steps
    through one factor ``V``, so over a lag ``tau`` it meets about ``tau / d``
    Jacobians instead of ``tau``: it vanishes ``d`` times more slowly with the lag.

    The state is a buffer of the last ``d`` states, newest first,
    ``s_t = [h_t, h_{t-1}, ..., h_{t-d+1}]`` of shape ``(batch, d * units)``: each step
    reads ``h_{t-1}`` from its first block and ``h_{t-d}`` from its last, and shifts
    the buffer by one state. The cell stays an ordinary causal Keras cell (the step
    model of ``forecast`` carries the whole buffer).

    ``U`` and ``V`` start as independent orthogonal matrices (``recurrent_initializer``
    for both, drawn separately).

    Parameters
    ----------
    units : int
    skip : int, default=2
        The skip ``d >= 2``.
    leak : float, default=0.0
        The leak ``mu`` in [0, 1).

    Examples
    --------
    >>> import keras
    >>> layer = keras.layers.RNN(SkipCell(8, skip=4), return_sequences=True)
    """

    n_blocks = 1
    n_states = 1

    def __init__(self, units, skip=2, leak=0.0, **kwargs):
        super().__init__(units, **kwargs)
        if int(skip) != skip or skip < 2:
            raise ValueError(f"skip must be an integer >= 2; got {skip!r}.")
        self.skip = int(skip)
        self.leak = float(leak)
        self.state_size = [self.units * self.skip]

    def build(self, input_shape):
        super().build(input_shape)
        # A separate instance: an initializer object draws the same matrix at every call.
        skip_init = self.recurrent_initializer.__class__.from_config(
            self.recurrent_initializer.get_config())
        self.skip_kernel = self.add_weight(shape=(self.units, self.units), initializer=skip_init,
                                           name="skip_kernel")

    def call(self, inputs, states, training=False):
        buffer = states[0]
        u = self.units
        h_tm1 = buffer[:, :u]
        h_tmd = buffer[:, (self.skip - 1) * u:]
        (z,) = self._preactivation(inputs, h_tm1, training)
        if training and 0.0 < self.recurrent_dropout < 1.0:
            h_tmd = h_tmd * self.get_recurrent_dropout_mask(h_tm1)
        z = z + ops.matmul(h_tmd, self.skip_kernel)
        h = self.leak * h_tm1 + (1.0 - self.leak) * ops.tanh(z)
        return h, [ops.concatenate([h, buffer[:, :(self.skip - 1) * u]], axis=-1)]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units * self.skip), dtype=self.compute_dtype)]

    def get_config(self):
        config = super().get_config()
        config.update(skip=self.skip, leak=self.leak)
        return config


CUSTOM_CELLS = {
    "peephole_lstm": PeepholeLSTMCell,
    "cifg_lstm": CIFGLSTMCell,
    "leaky": LeakyCell,
    "clockwork": ClockworkCell,
}
