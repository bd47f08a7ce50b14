"""RecurrentNetwork: SimpleRNN, LSTM, GRU and their classic variants behind the contract."""

import numpy as np
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from .._parameters import Integer, InvalidParameterError, Options, Real
from .base import _TRAINING_CONSTRAINTS, _NeuralNetwork, _networks, attention_batch_size

__all__ = ["RecurrentNetwork"]

CELLS = ("simple", "lstm", "gru", "peephole_lstm", "cifg_lstm", "leaky", "clockwork")
#: The cells that take skip connections through time (``skip=d``).
SKIP_CELLS = ("simple", "leaky")
#: Starting recurrent matrices (``recurrent_init``), and the cells that take an identity:
#: one square ``U`` each (the clockwork mask keeps the diagonal blocks).
RECURRENT_INITS = ("orthogonal", "identity")
IDENTITY_CELLS = ("simple", "leaky", "clockwork")
ACTIVATIONS = ("tanh", "relu")
#: Attention over the network's own past hidden states (``attention``), by score
#: (``attention.ATTENTION_SCORES``, repeated so that the constraints do not import Keras).
ATTENTION_SCORES = ("additive", "dot")


def _attention_layers():
    """Import the Keras layers of :mod:`.attention` (registers them for loading)."""
    _networks()
    from . import attention

    return attention


def _has_attention(estimator):
    """available_if check of ``attention_weights``: refused, saying why, without attention."""
    if getattr(estimator, "attention", None) is None:
        raise AttributeError(
            f"attention_weights needs a network with attention; this "
            f"{type(estimator).__name__} has attention=None. Use attention='additive' or "
            "'dot'.")
    return True


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

    Attention over the network's own past (``attention="additive"`` or ``"dot"``): the
    head reads ``[h_t, c_t]``, the last recurrent layer's state and a context vector
    that attends over that layer's states ``h_0 .. h_t`` of the same sequence::

        score(t, s) = v^T tanh(W_q h_t + W_k h_s)            "additive" (Bahdanau, Cho &
                                                              Bengio 2015)
        score(t, s) = (W_q h_t) . (W_k h_s) / sqrt(units)    "dot" (scaled dot product)
        a(t, s)     = softmax over s <= t of score(t, s)     (a(t, s) = 0 for s > t)
        c_t         = sum_{s <= t} a(t, s) h_s

    ``W_q, W_k`` are ``units x units``, ``v`` has ``units`` entries (additive only), no
    biases. The context averages the states themselves: a value projection ``W_v h_s``
    would add ``units^2`` parameters and no expressive power, since the linear head
    after it could absorb it. The mask ``s <= t`` (and no padded step) is built by
    this package from the step indices, not by Keras' ``MultiHeadAttention`` (whose
    causal mask some releases dropped, keras-team/keras#23038): a future or padded
    step gets weight exactly 0, in training mode and under dropout too, so the network
    stays causal. ``dropout`` also drops attention weights while training. The
    step-t estimate can read any earlier state directly, one hop instead of ``t - s``
    recurrent steps; the cost is ``O(T^2)`` per sequence (``O(T^2 units)`` memory for
    the additive score). :meth:`attention_weights` returns ``a(t, s)``. ``forecast``
    keeps the states of the history and of each forecast step in a cache and steps
    through one compiled graph. Not with ``bidirectional=True`` (a ValueError naming
    both).

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
    attention : {None, "additive", "dot"}, default=None
        Attention over the last recurrent layer's past hidden states (the equations
        above): the head reads ``[h_t, c_t]``. None: the plain recurrent network.
        Adds ``2 units^2`` parameters (``+ units`` for the additive score's ``v``) and
        ``units * width`` to the head. Causal networks only: refused with
        ``bidirectional=True``.
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
    >>> attentive = RecurrentNetwork(cell="gru", units=8, attention="dot", epochs=2,
    ...                              random_state=0).fit(X[:, :50])
    >>> attentive.attention_weights(X[:, :50]).shape
    (4, 50, 50)
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
        "attention": [None, Options(*ATTENTION_SCORES)],
    }

    def __init__(self, cell="lstm", units=32, n_layers=1, bidirectional=False, dropout=0.0,
                 recurrent_dropout=0.0, leak=0.5, learned_initial_state=False, forget_bias=1.0,
                 recurrent_gain=1.0, recurrent_init="orthogonal", activation="tanh", skip=None,
                 n_modules=4, periods=None, attention=None, output="point",
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
        self.attention = attention
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
        if self.attention is not None and self.bidirectional:
            raise ValueError(
                f"attention={self.attention!r} attends over the network's past hidden states "
                "and keeps it causal; bidirectional=True reads the future as well. Use "
                "attention=None with bidirectional=True, or bidirectional=False.")
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
            attention=self.attention,
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
        """Run the history once (state at each sequence's end), then step, feeding means back.

        With attention the state model also returns the last layer's hidden states,
        padded to a cache of ``T + horizon`` slots; forecast step k (its input the mean
        of step k - 1) writes its state at slot ``length + k`` and attends over the
        slots up to it, in the same one-step graph at every step (one compiled trace).
        """
        nw = _networks()
        n = X.n_sequences
        m = self.n_targets_
        history = self._network_inputs(X, extra=1)
        outputs, *states = nw.run(self._graph("state"), history)
        current = outputs[np.arange(n), X.lengths]
        steps = [current]
        compiled = horizon > nw.EAGER_MAX_FORECAST_STEPS
        attention = self.network_spec_.get("attention") is not None
        if attention and horizon > 1:
            *states, hidden = states
            slots = history.shape[1] + horizon - 1
            cache = np.pad(hidden, ((0, 0), (0, slots - hidden.shape[1]), (0, 0)))
        for k in range(1, horizon):
            feed = current[:, None, :m].astype(np.float32)
            extra = []
            if attention:
                extra = [(X.lengths + k)[:, None].astype(np.int32), cache.astype(np.float32)]
            outputs, *states = nw.run(self._graph("step"),
                                      [feed, *[s.astype(np.float32) for s in states], *extra],
                                      compiled=compiled)
            if attention:
                *states, cache = states
            current = outputs[:, 0]
            steps.append(current)
        return np.stack(steps, axis=1)

    # -- attention ---------------------------------------------------------------------

    def _outputs(self, X):
        if self.network_spec_.get("attention") is None:
            return super()._outputs(X)
        inputs = self._network_inputs(X)
        return _networks().run(self.model_, inputs,
                               batch_size=attention_batch_size(self.network_spec_,
                                                               inputs.shape[1]))

    @available_if(_has_attention)
    def attention_weights(self, X, per_head=False):
        """Where each step looks: the attention weights ``a(t, s)`` over the past states.

        Row t holds the weights the estimate at step t gives to the network positions
        ``s <= t`` (the last recurrent layer's states ``h_s``). Position s holds the
        network's input at step s: ``x_s`` in supervised mode; in forecasting mode
        ``x_{s-1}``, with position 0 the start value (the estimate of ``x_t`` reads
        ``x_{<t}``). Inference mode: no dropout. Available only with ``attention``
        set (an AttributeError saying so otherwise).

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_features)
            Or a list of 2-D arrays, or a 1-D array.
        per_head : bool, default=False
            Return the weights per head, ``(n_sequences, 1, n_timesteps, n_timesteps)``:
            this attention has one head (the argument is
            :meth:`TransformerNetwork.attention_weights`'s).

        Returns
        -------
        weights : ndarray of shape (n_sequences, n_timesteps, n_timesteps)
            A list of ``(T_i, T_i)`` arrays for list input, one ``(T, T)`` array for a
            1-D input (with ``per_head`` a head axis of 1 before the two step axes).
            Each row of a real step sums to 1; entries above the diagonal and on
            padding are 0.
        """
        X_batch = self._attention_inputs(X, per_head)
        inputs = self._network_inputs(X_batch)
        *_, hidden = _networks().run(self._graph("state"), inputs)
        real = ~np.isnan(inputs).any(axis=-1)
        steps = np.arange(inputs.shape[1])
        allowed = (steps[None, :] <= steps[:, None])[None] & real[:, None, :] & real[:, :, None]
        layer = self._graph("train").get_layer("attention")
        weights = layer.attention_weights(hidden.astype(np.float32), hidden.astype(np.float32),
                                          allowed)
        return self._restore_weights(X_batch, _networks().to_numpy(weights)[:, None], per_head)

    def gradient_norms(self, X, y=None):
        """How far back the loss reaches: ``||d loss_T / d h_t||`` against the lag ``T - t``.

        ``loss_T`` is each sequence's loss at its last step with a target (the
        last step in forecasting mode); ``h_t`` is the first recurrent layer's
        hidden state. Vanishing gradients show as norms that decay geometrically
        with the lag (SimpleRNN); gated cells keep them up for longer. With
        ``attention`` the derivative also follows the paths through the context
        vectors, which reach each earlier state of the last layer in one hop.

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

    # -- persistence -------------------------------------------------------------------

    def __setstate__(self, state):
        if "model_" in state and state.get("attention") is not None:
            _attention_layers()  # registers the layers the pickled Keras archive names
        super().__setstate__(state)

    @classmethod
    def load(cls, path):
        _attention_layers()  # registers the attention layers, for Keras' safe mode
        return super().load(path)

    load.__doc__ = _NeuralNetwork.load.__doc__
