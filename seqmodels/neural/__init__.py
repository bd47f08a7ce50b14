"""Neural sequence models (Keras 3, TensorFlow backend) behind the seqmodels contract.

:class:`RecurrentNetwork` (SimpleRNN, LSTM, GRU, peephole LSTM, CIFG LSTM, leaky
integrator units), :class:`FeedForwardNetwork` (an MLP over a fixed window, the
memoryless baseline), :class:`TransformerNetwork` (a decoder-only causal Transformer,
its layers in :mod:`seqmodels.neural.attention`) and :class:`Seq2SeqNetwork` (a recurrent
encoder-decoder forecasting several steps at once, its layers in
:mod:`seqmodels.neural.decoder`). Keras is imported only when a network
is fitted or loaded, so importing this package does not load TensorFlow; the custom cells live in
:mod:`seqmodels.neural.cells` and the graphs in :mod:`seqmodels.neural.networks`
(both import Keras).
"""

from .feedforward import FeedForwardNetwork
from .recurrent import RecurrentNetwork
from .seq2seq import Seq2SeqNetwork
from .transformer import TransformerNetwork

__all__ = ["RecurrentNetwork", "FeedForwardNetwork", "TransformerNetwork", "Seq2SeqNetwork"]
