"""Seq2SeqNetwork: a recurrent encoder-decoder trained on the direct multiple-output strategy.

The layers and graphs live in :mod:`seqmodels.neural.decoder`, the heads, losses and
training in :mod:`seqmodels.neural.networks`, the shared estimator code
(standardisation, training controls, persistence) in :class:`_NeuralNetwork`. Keras is
imported only when a network is fitted or loaded.
"""

import numpy as np
from sklearn.utils.metaestimators import available_if

from .._parameters import Integer, Options
from .base import _TRAINING_CONSTRAINTS, _NeuralNetwork, _networks, attention_batch_size
from .recurrent import CELLS

__all__ = ["Seq2SeqNetwork"]

#: Scores of the decoder-to-encoder attention (``attention``); None: no attention.
ATTENTION_SCORES = ("additive", "dot")
#: The clockwork cell's modules (``RecurrentNetwork``'s default ``n_modules``): periods
#: 1, 2, 4, 8.
CLOCKWORK_MODULES = 4


def _decoder():
    """The Keras layers (imported lazily; importing them registers them for loading)."""
    _networks()
    from . import decoder

    return decoder


class Seq2SeqNetwork(_NeuralNetwork):
    """Recurrent encoder-decoder (Keras) forecasting ``horizon`` steps at once from every step.

    The direct multiple-output strategy (Sutskever, Vinyals & Le 2014; Cho et al. 2014;
    Taieb et al. 2012 on multi-step strategies): one network is trained to emit the next
    ``H = horizon`` values from every prefix of every training sequence, rather than one
    step to be iterated. With ``u_t = x_{t-1}`` (``u_0 = 0``, the standardised start value):

    * **Encoder**, ``n_layers`` recurrent layers of ``units`` units (any cell of
      :class:`RecurrentNetwork`)::

          e_t = Encoder(u_0, ..., u_t)          (layer l's output e^l_t summarises x_<t)

    * **Bridge**, from every origin t: decoder layer l starts from
      ``s^l_0 = tanh(B^l_k e^l_t + b^l_k)``, one dense map per state tensor k of the cell
      (``h``; ``h`` and ``c`` for the LSTM cells; a clockwork cell's step counter starts
      at 0);
    * **Decoder**, ``n_layers`` recurrent layers of the same cell, and the head::

          s_k = Decoder(s_{k-1}, v_k),   xhat_{t+k-1} = head(s_k [; c_k]),   k = 1 .. H
          v_1 = u_t = x_{t-1}            (the last observation the encoder read)
          v_k = x_{t+k-2}                while training (teacher forcing)
          v_k = mean(xhat_{t+k-2})       when forecasting (its own previous output)

    * **Attention** (``attention="additive"``, Bahdanau, Cho & Bengio 2015): decoder step k
      from origin t also reads ``c_k = sum_{s <= t} a_{ks} e_s`` with
      ``a_k = softmax_s(v^T tanh(W_q s_k + W_k e_s))`` over the top encoder outputs of its
      own prefix only (positions ``s <= t``: causal), concatenated with ``s_k`` before the
      head.

    Loss: the mean over every origin t, every step k and every observed target entry of
    the head's loss on ``x_{t+k-1}`` (squared error, or the Gaussian negative
    log-likelihood with ``output="gaussian"``); targets past a sequence's end are NaN and
    skipped. All ``n * T`` origins decode in one batch (no loop over origins).

    **Exposure bias.** Training feeds the decoder the observed ``x_{t+k-2}`` at step k;
    forecasting feeds it its own previous mean, which it never saw while training, so
    errors can compound over the ``H`` steps (Bengio et al. 2015). Step 1 is the same in
    both: it reads ``x_{t-1}``.

    Contract (forecasting mode, ``fit(X)`` only):

    * ``predict(X)[i, t]`` is decoder step 1 from origin t, the estimate of ``X[i, t]``
      from ``X[i, :t]`` (step 0 from the start value): causal;
    * ``forecast(X, h)`` runs the encoder over each whole sequence and decodes from the
      origin after its last step: for ``h <= horizon`` the decoder's first h outputs
      (so ``forecast(X, h)[:, :h'] == forecast(X, h')``). For ``h > horizon`` it goes on
      block by block: the ``horizon`` means are fed to the encoder as if observed and the
      decoder starts again from the origin after them (direct within a block, recursive
      between blocks); ``h`` up to 10,000 as for the other networks;
    * ``output="gaussian"``: a variance head ``v = softplus(a) + 1e-6``, so
      ``predict(..., return_std=True)``, ``forecast(..., return_std=True)`` (each step's
      own predicted variance; the feedback uses the mean only) and ``log_likelihood``
      (of the one-step predictions) are available as for :class:`RecurrentNetwork`.

    There is **no supervised mode**: ``fit(X, y)`` is refused (a ValueError naming y).
    The decoder's later steps read the values it forecasts, which for targets ``y``
    other than ``X`` are not inputs at prediction time; class labels are refused with it.

    **Cost.** Training runs ``n T`` decoders of ``H`` steps, H times the recurrent work of
    :class:`RecurrentNetwork` on the same data, with ``n T H`` targets in memory.
    Attention scores every origin's ``H`` queries against the ``T`` encoder positions:
    ``n T^2 H`` weights per batch, and the additive score computes a ``units``-wide
    vector for each, ``n T^2 H units`` floats (a training batch of 64 sequences of 300
    steps, ``H = 10``, 32 units: 7 GB; of 20 sequences of 300 steps, ``H = 5``, 16 units:
    0.6 GB) -- train it on short sequences or small batches. Prediction scores step 1
    only, in chunks of sequences holding at most 2**25 numbers (as
    :class:`RecurrentNetwork` with attention).

    Parameters
    ----------
    cell : {"simple", "lstm", "gru", "peephole_lstm", "cifg_lstm", "leaky", "clockwork"}, \
default="lstm"
        The encoder's and the decoder's cell (see :class:`RecurrentNetwork`; the leaky
        cell's leak is 0.5, the clockwork cell's periods 1, 2, 4, 8).
    units : int, default=32
        Units of every encoder and decoder layer.
    n_layers : int, default=1
        Layers of the encoder and, as many, of the decoder.
    horizon : int, default=10
        ``H``: steps the decoder emits from each origin.
    attention : {None, "additive", "dot"}, default=None
        Decoder-to-encoder attention over each origin's prefix
        (:class:`~seqmodels.neural.attention.ContentAttention` of ``units`` units and
        ``dropout`` on its weights): Bahdanau's additive score, or the scaled dot
        product ``(W_q s_k) . (W_k e_s) / sqrt(units)`` (Luong et al. 2015).
    dropout : float, default=0.0
        Fraction of each recurrent layer's inputs dropped while training.
    output : {"point", "gaussian"}, default="point"
    optimizer : {"adam", "sgd", "rmsprop", "momentum"}, default="adam"
    learning_rate : float, default=0.003
    epochs : int, default=100
    batch_size : int or "auto", default="auto"
    clipnorm : float or None, default=1.0
    clipvalue : float or None, default=None
    validation_fraction : float, default=0.0
    patience : int or None, default=None
    random_state : None, int, numpy RandomState or numpy Generator, default=None
    verbose : int, default=0
        As in :class:`RecurrentNetwork`.

    Attributes
    ----------
    model_ : keras.Model
        The training graph ``(n, T, n_features) -> (n, T, horizon, width)``: every
        origin's teacher-forced outputs.
    network_spec_ : dict
        The architecture, to rebuild the inference graphs.
    n_params_, history_, validation_history_, n_epochs_, x_mean_, x_scale_, y_mean_, y_scale_
        As in :class:`RecurrentNetwork`.

    Examples
    --------
    >>> import numpy as np
    >>> from seqmodels import Seq2SeqNetwork
    >>> X = np.sin(np.linspace(0, 20, 100))[None, :, None].repeat(4, axis=0)
    >>> model = Seq2SeqNetwork(cell="gru", units=8, horizon=5, epochs=3,
    ...                        random_state=0).fit(X)
    >>> model.predict(X).shape, model.forecast(X, horizon=5).shape
    ((4, 100, 1), (4, 5, 1))
    """

    _parameter_constraints = {
        **_TRAINING_CONSTRAINTS,
        "cell": [Options(*CELLS)],
        "horizon": [Integer(1)],
        "attention": [None, Options(*ATTENTION_SCORES)],
    }

    def __init__(self, cell="lstm", units=32, n_layers=1, horizon=10, attention=None,
                 dropout=0.0, output="point", optimizer="adam", learning_rate=0.003,
                 epochs=100, batch_size="auto", clipnorm=1.0, clipvalue=None,
                 validation_fraction=0.0, patience=None, random_state=None, verbose=0):
        self.cell = cell
        self.units = units
        self.n_layers = n_layers
        self.horizon = horizon
        self.attention = attention
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
        # horizon 3 < the checks' 4 and 5 steps: the block-by-block path is checked too;
        # dropout > 0: the causality checks cover a network trained with dropout.
        return {"units": 4, "horizon": 3, "dropout": 0.1, "epochs": 2, "batch_size": 4,
                "output": "gaussian", "random_state": 0}

    @classmethod
    def _unit_test_targets(cls):
        return None                                    # forecasting only

    # -- fitting -------------------------------------------------------------------------

    def _check_target_kind(self, is_labels):
        """``fit(X, y)``: refused, whatever ``y`` holds (no supervised mode)."""
        raise ValueError(
            f"{type(self).__name__} forecasts only: fit(X) learns to continue X itself, "
            f"and y must be None (got {'integer class labels' if is_labels else 'targets'} "
            "y). Its decoder reads its own forecasts back, which targets other than X are "
            "not; for supervised tagging or regression use RecurrentNetwork or "
            "TransformerNetwork."
        )

    def _architecture(self, X, y):
        periods = None
        if self.cell == "clockwork":
            from .cells import clockwork_periods

            periods = clockwork_periods(CLOCKWORK_MODULES)
            if int(self.units) < len(periods):
                raise ValueError(f"units ({self.units}) must be at least the number of "
                                 f"clockwork modules ({len(periods)}) with cell='clockwork': "
                                 "every module needs a unit.")
        return dict(
            kind="seq2seq",
            cell=self.cell,
            units=int(self.units),
            n_layers=int(self.n_layers),
            horizon=int(self.horizon),
            attention=self.attention,
            dropout=float(self.dropout),
            leak=0.5,
            periods=periods,
        )

    def _network_targets(self, X, y):
        """Every origin's targets: ``out[i, t, k] = x[i, t + k]`` (step k + 1), NaN past the end.

        Shape ``(n, T, horizon, n_features)``, standardised as the inputs are.
        """
        single = super()._network_targets(X, y)                 # (n, T, m), NaN on padding
        n, T, m = single.shape
        H = int(self.horizon)
        padded = np.concatenate([single, np.full((n, H - 1, m), np.nan, np.float32)], axis=1)
        return np.stack([padded[:, k:k + T] for k in range(H)], axis=2)

    # -- prediction ----------------------------------------------------------------------

    def _run_origins(self, graph, inputs):
        """Run a graph over every origin, in chunks of sequences whose attention fits memory.

        With attention, a sequence's first decoder steps score ``T^2`` pairs (times
        ``units`` for the additive score's ``tanh``); a chunk holds at most
        ``base.ATTENTION_CHUNK_NUMBERS`` of them (:func:`~.base.attention_batch_size`).
        """
        return _networks().run(self._graph(graph), inputs,
                               batch_size=attention_batch_size(self.network_spec_,
                                                               inputs.shape[1]))

    def _outputs(self, X):
        """Decoder step 1 from every origin: ``(n, T, width)``."""
        return self._run_origins("predict", self._network_inputs(X))[:, :, 0]

    def _forecast_network(self, X, horizon):
        """Encode each whole sequence, then decode ``horizon`` steps from the origin after it.

        Past the decoder's ``H`` steps: the ``H`` means go through the encoder as if
        observed and the decoder starts again from the origin after them.
        """
        nw = _networks()
        n, m = X.n_sequences, self.n_targets_
        spec = self.network_spec_
        H, L = spec["horizon"], spec["n_layers"]
        history = self._network_inputs(X, extra=1)              # u_0 .. u_length, NaN after
        top, *states = nw.run(self._graph("encode"), history)
        per_layer = len(states) // L
        rows = np.arange(n)
        first = history[rows, X.lengths][:, None]               # u_length = x_{length-1}
        n_blocks = -(-horizon // H)
        attention = spec.get("attention") is not None
        if attention:
            slots = history.shape[1] + (n_blocks - 1) * H
            keys = np.zeros((n, slots, top.shape[-1]), np.float32)
            keys[:, :history.shape[1]] = top
            allowed = np.zeros((n, 1, slots), bool)
            allowed[:, 0] = np.arange(slots)[None, :] <= X.lengths[:, None]
        # Eager calls for short forecasts; a compiled trace pays back over many blocks.
        compiled = horizon > nw.EAGER_MAX_FORECAST_STEPS
        blocks = []
        for b in range(n_blocks):
            summaries = [states[i * per_layer].astype(np.float32) for i in range(L)]
            feed = [first.astype(np.float32), *summaries]
            if attention:
                feed += [keys, allowed]
            out = nw.run(self._graph("decode"), feed, compiled=compiled)
            blocks.append(out)
            if b == n_blocks - 1:
                break
            means = out[..., :m].astype(np.float32)             # x_{origin} .. x_{origin+H-1}
            top, *states = nw.run(self._graph("encoder_step"),
                                  [means, *[s.astype(np.float32) for s in states]],
                                  compiled=compiled)
            first = means[:, -1:]
            if attention:
                start = history.shape[1] + b * H
                keys[:, start:start + H] = top
                allowed[:, 0, start:start + H] = True
        return np.concatenate(blocks, axis=1)[:, :horizon]

    # -- attention weights ---------------------------------------------------------------

    @available_if(lambda self: self.attention is not None)
    def attention_weights(self, X, per_head=False):
        """Where each origin's first decoder step looks among the encoder positions.

        Row t holds the weights ``a_1(t, s)`` that decoder step 1 from origin t (the
        prediction of ``X[i, t]``) gives to the top encoder outputs ``e_s``, ``s <= t``;
        ``e_s`` has read ``x_0 .. x_{s-1}`` (``e_0`` the start value only). Inference
        mode: no dropout. Available only with ``attention`` set.

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_features)
            Or a list of 2-D arrays, or a 1-D array.
        per_head : bool, default=False
            Keep a head axis (of length 1: the attention has one head), as
            ``TransformerNetwork.attention_weights`` does.

        Returns
        -------
        weights : ndarray of shape (n_sequences, n_timesteps, n_timesteps)
            ``(n_sequences, 1, n_timesteps, n_timesteps)`` with ``per_head``; a list of
            ``(T_i, T_i)`` (or ``(1, T_i, T_i)``) arrays for list input, one such array for
            a 1-D input. Each row of a real step sums to 1; entries above the diagonal
            and on padding are 0.
        """
        X_batch = self._attention_inputs(X, per_head)
        weights = self._run_origins("weights", self._network_inputs(X_batch))
        return self._restore_weights(X_batch, weights[:, None], per_head)

    # -- persistence ---------------------------------------------------------------------

    def __setstate__(self, state):
        if "model_" in state:
            _decoder()  # registers the layers the pickled Keras archive names
        super().__setstate__(state)

    @classmethod
    def load(cls, path):
        _decoder()  # registers the layers the archive names, for Keras' safe mode
        return super().load(path)

    load.__doc__ = _NeuralNetwork.load.__doc__
