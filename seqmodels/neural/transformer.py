"""TransformerNetwork: a decoder-only causal Transformer behind the sequence contract.

The layers live in :mod:`seqmodels.neural.attention`, the heads, losses and training in
:mod:`seqmodels.neural.networks`, the shared estimator code (standardisation,
alignment, training controls, persistence) in :class:`_NeuralNetwork`. Keras is
imported only when a network is fitted or loaded.
"""

import numpy as np

from .._parameters import Integer, Options
from .base import _TRAINING_CONSTRAINTS, _NeuralNetwork, _networks

__all__ = ["TransformerNetwork"]

#: The position encodings (``attention.POSITION_ENCODINGS``, repeated here so that the
#: declared constraints do not import Keras).
POSITION_ENCODINGS = ("sinusoidal", "learned", "none")


def _attention():
    """The Keras layers (imported lazily; importing them registers them for loading)."""
    _networks()
    from . import attention

    return attention


class TransformerNetwork(_NeuralNetwork):
    """Decoder-only causal Transformer (Keras): self-attention over each sequence's past.

    Each input ``x_t`` is embedded and given its position, then ``n_layers``
    pre-norm blocks mix the steps by causal multi-head attention (Vaswani et al.
    2017; Radford et al. 2019)::

        z_t^0 = W_E x_t + b_E + P(t)
        h^l   = z^{l-1} + Attention(LayerNorm(z^{l-1}))
        z^l   = h^l + W_2 relu(W_1 LayerNorm(h^l) + b_1) + b_2
        out_t = head(LayerNorm(z_t^L))

    Attention of one head, with ``Q, K, V`` the projections ``x W + b`` of its input
    and ``d = units / n_heads``::

        A = softmax(Q K^T / sqrt(d) + M),   head output = A V,
        M[t, s] = 0 if t - window < s <= t else -1e9   (no lower bound when window=None)

    and the heads' outputs are concatenated and projected by ``W_O``. The mask ``M``
    is built by this package, not by Keras' ``MultiHeadAttention`` (whose causal
    mask some releases dropped: keras-team/keras#23038), so causality holds in
    training mode too, with dropout: a masked weight is exactly 0 before and after
    dropout. Everything else acts on each step alone.

    **Receptive field.** With ``window=w`` each layer reads the last ``w`` steps
    (itself included), so the output at t depends on the inputs
    ``t - n_layers (w - 1) .. t``: ``n_layers (w - 1) + 1`` steps (in forecasting
    mode the input at t is ``x_{t-1}``, so ``predict(X)[:, t]`` reads
    ``X[:, t - 1 - n_layers (w - 1) .. t - 1]``). ``window=None`` reads the whole
    prefix, at O(T^2) cost per layer; with a window, sequences longer than ``2 w``
    are attended block by block (blocks of ``w`` steps see their own and the
    previous block), O(T w): the same weights, less work.

    **Positions and length.** ``"sinusoidal"`` (default):
    ``P(t)_{2i} = sin(t / 10000^(2i/units))``, ``P(t)_{2i+1} = cos(t / 10000^(2i/units))``,
    defined for every t, so the network runs on sequences longer than any it was
    trained on (how well it extrapolates is another matter). ``"none"``: no ``P``;
    the causal mask alone lets the network tell steps apart, and any length runs.
    ``"learned"``: ``P(t)`` is row t of a trained table with one row per step of
    the longest training sequence (``network_spec_["max_length"]``); a longer
    sequence, or a forecast past that many steps, is refused with a ValueError naming
    the limit, since rows past it were never trained. A window does not lift
    the limit (the positions are absolute).

    Alignment, heads, losses, standardisation and training controls are those of
    :class:`RecurrentNetwork`: forecasting mode (``fit(X)``) reads ``x_{t-1}`` at t (a
    start value 0 at t = 0) to predict ``x_t``; supervised mode (``fit(X, y)``)
    reads ``x_1..t`` to estimate ``y_t``, integer ``y`` meaning labels (softmax
    head, cross-entropy, ``predict_proba``). ``output="gaussian"`` adds a variance
    head ``v_t = softplus(a_t) + 1e-6`` trained by the Gaussian negative
    log-likelihood, giving ``predict(..., return_std=True)`` and
    ``log_likelihood``. Padded steps of unequal-length sequences come after the
    real ones, so the causal mask already keeps them out of every real step.

    ``forecast`` runs the history once, keeping every layer's keys and values, then
    steps one position at a time through the compiled prediction path, feeding each
    predicted mean back as the next input and attending over the cached keys and
    values (O(T + horizon) per step, not a rerun of the whole sequence).

    Parameters
    ----------
    units : int, default=32
        Model width ``d_model``: the embedding, attention and residual width (the
        name :class:`RecurrentNetwork` uses for its state width). A multiple of
        ``n_heads``.
    n_heads : int, default=4
        Attention heads per layer, each of ``units / n_heads`` features.
    n_layers : int, default=2
        Transformer blocks.
    ff_units : int or None, default=None
        Width of each block's feed-forward layer; None: ``4 * units`` (Vaswani et al.).
    dropout : float, default=0.0
        Dropout on the embedding, the attention weights and both residual branches
        (training only).
    position_encoding : {"sinusoidal", "learned", "none"}, default="sinusoidal"
    window : int or None, default=None
        Steps each query attends to, itself included; None: the whole prefix.
    output : {"point", "gaussian"}, default="point"
        Regression head (ignored for class labels).
    optimizer : {"adam", "sgd", "rmsprop"}, default="adam"
    learning_rate : float, default=0.001
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
        The trained network ``(n, T, n_features) -> (n, T, width)``.
    network_spec_ : dict
        The architecture (``max_length``: the learned table's rows, or None).
    n_params_, history_, validation_history_, n_epochs_, x_mean_, x_scale_, y_mean_, y_scale_
        As in :class:`RecurrentNetwork`.

    Examples
    --------
    >>> import numpy as np
    >>> from seqmodels import TransformerNetwork
    >>> X = np.sin(np.linspace(0, 20, 200))[None, :, None].repeat(4, axis=0)
    >>> model = TransformerNetwork(units=8, n_heads=2, n_layers=1, epochs=3,
    ...                            random_state=0).fit(X)
    >>> model.predict(X).shape, model.forecast(X, horizon=10).shape
    ((4, 200, 1), (4, 10, 1))
    """

    _parameter_constraints = {
        **_TRAINING_CONSTRAINTS,
        "n_heads": [Integer(1)],
        "ff_units": [None, Integer(1)],
        "position_encoding": [Options(*POSITION_ENCODINGS)],
        "window": [None, Integer(1)],
    }

    def __init__(self, units=32, n_heads=4, n_layers=2, ff_units=None, dropout=0.0,
                 position_encoding="sinusoidal", window=None, output="point", optimizer="adam",
                 learning_rate=0.001, epochs=100, batch_size="auto", clipnorm=1.0,
                 clipvalue=None, validation_fraction=0.0, patience=None, random_state=None,
                 verbose=0):
        self.units = units
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.ff_units = ff_units
        self.dropout = dropout
        self.position_encoding = position_encoding
        self.window = window
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
        # dropout > 0: the contract's causality checks then cover a network trained
        # with dropout (issue #21, item 5).
        return {"units": 8, "n_heads": 2, "n_layers": 1, "dropout": 0.1, "epochs": 2,
                "batch_size": 4, "output": "gaussian", "random_state": 0}

    @classmethod
    def _unit_test_targets(cls):
        return "continuous"

    def _architecture(self, X, y):
        units, n_heads = int(self.units), int(self.n_heads)
        if units % n_heads:
            raise ValueError(f"units={units} must be a multiple of n_heads={n_heads} (each "
                             f"head has units / n_heads features) ({type(self).__name__}).")
        learned = self.position_encoding == "learned"
        return dict(
            kind="transformer",
            units=units,
            n_heads=n_heads,
            n_layers=int(self.n_layers),
            ff_units=4 * units if self.ff_units is None else int(self.ff_units),
            dropout=float(self.dropout),
            position_encoding=self.position_encoding,
            window=None if self.window is None else int(self.window),
            max_length=int(X.lengths.max()) if learned else None,
        )

    # -- length limit of learned positions ---------------------------------------------

    def _check_positions(self, X, horizon=0):
        """Refuse inputs that need a learned position past the table (``max_length``)."""
        limit = self.network_spec_.get("max_length")
        if limit is None:
            return
        needed = X.lengths + horizon
        if needed.max() <= limit:
            return
        i = int(np.argmax(needed))
        what = (f"X[{i}] has {X.lengths[i]} steps" if horizon == 0 else
                f"forecast(X, horizon={horizon}) from X[{i}] of {X.lengths[i]} steps needs "
                f"{needed[i]} positions")
        raise ValueError(
            f"{what}, but {type(self).__name__}(position_encoding='learned') has positions "
            f"for at most {limit} steps (the longest training sequence): later rows of its "
            "position table were never trained. Use sequences of at most that many steps "
            "(history + horizon when forecasting), train on longer ones, or use "
            "position_encoding='sinusoidal' or 'none', which run on any length."
        )

    def _outputs(self, X):
        self._check_positions(X)
        return super()._outputs(X)

    # -- forecasting -------------------------------------------------------------------

    def _forecast_network(self, X, horizon):
        """Run the history once keeping keys and values, then one cached step at a time.

        The history input (the shifted sequence, one step longer: its last input is
        each sequence's last value) gives the first forecast at index ``length`` and
        every layer's keys and values; the caches are padded to
        ``T + horizon`` slots and each step writes its own at ``length + k``.
        """
        self._check_positions(X, horizon)
        nw = _networks()
        n, m = X.n_sequences, self.n_targets_
        history = self._network_inputs(X, extra=1)
        outputs, *caches = nw.run(self._graph("state"), history)
        current = outputs[np.arange(n), X.lengths]
        steps = [current]
        if horizon > 1:
            slots = history.shape[1] + horizon - 1
            caches = [np.pad(c, ((0, 0), (0, slots - c.shape[1]), (0, 0))).astype(np.float32)
                      for c in caches]
            compiled = horizon > nw.EAGER_MAX_FORECAST_STEPS
            for k in range(1, horizon):
                feed = current[:, None, :m].astype(np.float32)
                position = (X.lengths + k)[:, None].astype(np.int32)
                outputs, *caches = nw.run(self._graph("step"), [feed, position, *caches],
                                          compiled=compiled)
                caches = [c.astype(np.float32) for c in caches]
                current = outputs[:, 0]
                steps.append(current)
        return np.stack(steps, axis=1)

    # -- attention weights -------------------------------------------------------------

    def attention_weights(self, X, layer=-1, per_head=False):
        """Where each step looks: the attention weights of one layer.

        Row t holds the weights the output at step t gives to the network positions
        s <= t (within the window, if one is set). Position s holds the network's
        input at step s: ``x_s`` in supervised mode; in forecasting mode ``x_{s-1}``,
        with position 0 the start value (the estimate of ``x_t`` reads ``x_{<t}``).
        Inference mode: no dropout.

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_features)
            Or a list of 2-D arrays, or a 1-D array.
        layer : int, default=-1
            The block whose weights are returned (Python indexing: 0 is the first,
            -1 the last).
        per_head : bool, default=False
            Return each head's weights instead of their mean.

        Returns
        -------
        weights : ndarray of shape (n_sequences, n_timesteps, n_timesteps)
            ``(n_sequences, n_heads, n_timesteps, n_timesteps)`` with ``per_head``; a
            list of ``(T_i, T_i)`` (or ``(n_heads, T_i, T_i)``) arrays for list input, one
            such array for a 1-D input. Each row of a real step sums to 1; entries
            above the diagonal, outside the window and on padding are 0.
        """
        X_batch = self._attention_inputs(X, per_head)
        n_layers = self.network_spec_["n_layers"]
        if (isinstance(layer, bool) or not isinstance(layer, (int, np.integer))
                or not -n_layers <= layer < n_layers):
            raise ValueError(f"layer must be an int in [{-n_layers}, {n_layers - 1}] (this "
                             f"network has n_layers={n_layers}); got {layer!r}.")
        self._check_positions(X_batch)
        weights = _attention().transformer_attention_weights(
            self.model_, self._network_inputs(X_batch), int(layer))
        return self._restore_weights(X_batch, weights, per_head)

    # -- persistence -------------------------------------------------------------------

    def __setstate__(self, state):
        if "model_" in state:
            _attention()  # registers the layers the pickled Keras archive names
        super().__setstate__(state)

    @classmethod
    def load(cls, path):
        _attention()  # registers the layers the archive names, for Keras' safe mode
        return super().load(path)

    load.__doc__ = _NeuralNetwork.load.__doc__
