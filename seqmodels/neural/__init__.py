"""Neural sequence models (Keras 3, TensorFlow backend) behind the seqmodels contract.

:class:`RecurrentNetwork` (SimpleRNN, LSTM, GRU, peephole LSTM, CIFG LSTM, leaky
integrator units), :class:`FeedForwardNetwork` (an MLP over a fixed window, the
memoryless baseline) and :class:`TransformerNetwork` (a decoder-only causal Transformer,
its layers in :mod:`seqmodels.neural.attention`). Keras is imported only when a network
is fitted or loaded, so importing this package does not load TensorFlow; the custom cells live in
:mod:`seqmodels.neural.cells` and the graphs in :mod:`seqmodels.neural.networks`
(both import Keras).
"""

from .feedforward import FeedForwardNetwork
from .recurrent import RecurrentNetwork
from .transformer import TransformerNetwork

__all__ = ["RecurrentNetwork", "FeedForwardNetwork", "TransformerNetwork"]
