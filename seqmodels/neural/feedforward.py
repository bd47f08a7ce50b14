"""FeedForwardNetwork: the memoryless baseline, an MLP over a fixed window of steps."""

import numpy as np

from .._parameters import Integer
from .base import _TRAINING_CONSTRAINTS, _NeuralNetwork, _networks

__all__ = ["FeedForwardNetwork"]


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
