"""Dynamic N-grams (Graves, Wayne & Danihelka 2014): bits whose statistics change every sequence.

Each sequence comes from an N-gram model of its own, so nothing about a particular
context's statistics carries over from training: what a model can learn is *how to
learn* them while it reads, i.e. to count. The Bayes-optimal predictor is known in
closed form (a Beta-Bernoulli counter per context); the dataset's oracle is
:class:`seqmodels.ContextCounter` with the true prior.
"""

import numpy as np

from ..counting import ContextCounter
from ..metrics import Metric
from .checks import check_int, check_random_state, check_size, check_split_sizes
from ._record import Dataset
from ._registry import register

__all__ = ["dynamic_ngrams"]

#: Longest N-gram: a context of 20 bits, a million probabilities per sequence.
MAX_ORDER = 21

#: The Beta(a, a) prior the NTM paper draws each context's probability from.
PRIOR = 0.5


def _simulate(probabilities, n_timesteps, context_length, rng):
    """Bits ``(n, T)``: fair coins for ``t < L``, then ``x_t ~ Bernoulli(probabilities[i, c_t])``.

    ``c_t`` codes the last L bits with ``x_{t-1}`` least significant (the convention of
    :mod:`seqmodels.inference.counting`). One loop over time for every sequence.
    """
    n = probabilities.shape[0]
    uniform = rng.random_sample((n, n_timesteps))
    bits = np.empty((n, n_timesteps), dtype=np.int64)
    start = min(context_length, n_timesteps)
    bits[:, :start] = uniform[:, :start] < 0.5
    rows = np.arange(n)
    mask = (1 << context_length) - 1
    code = np.zeros(n, dtype=np.int64)
    for t in range(start):
        code = (code << 1) | bits[:, t]
    for t in range(start, n_timesteps):
        bits[:, t] = uniform[:, t] < probabilities[rows, code & mask]
        code = (code << 1) | bits[:, t]
    return bits


@register("dynamic_ngrams", oracle=True)
def dynamic_ngrams(n_train=1000, n_test=200, n_timesteps=200, order=6, random_state=None):
    """Dynamic N-grams (Graves et al. 2014): bits from an N-gram model redrawn for every sequence.

    The task of the Neural Turing Machine paper (Graves, Wayne & Danihelka 2014,
    arXiv:1410.5401, section 4.4): each sequence has its own ``order``-gram model over
    bits, whose ``2^(order-1)`` conditional probabilities ``P(1 | context)`` (one per
    context of the last ``order - 1`` bits) are drawn independently from
    ``Beta(1/2, 1/2)`` afresh for every sequence. The first ``order - 1`` bits are fair
    coin flips; every later bit is 1 with the probability of its context. A model sees
    ``x_<t`` and forecasts ``x_t``.

    No fixed predictor does well: a model must count, while it reads, how often each
    context was followed by 1 and 0. The Bayes-optimal predictor (the paper's "optimal
    estimator") is ``P(x_t = 1 | x_<t) = (N1 + 1/2) / (N1 + N0 + 1)`` with the counts
    of ``x_t``'s context earlier in the same sequence: the oracle is
    ``ContextCounter(context_length=order - 1, prior=0.5)``, exact.

    Headline metric: the negative log-likelihood per step, in nats, over every step
    (the first bits included). The memoryless fair coin scores ``log 2 = 0.693``
    (``baselines["nll_per_step"]``). The paper reports bits per sequence: NLL per step
    ``x n_timesteps / log 2``; the fair coin costs ``n_timesteps`` bits (200), the
    oracle about 133 bits at the defaults (0.46 nats per step).

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sequences.
    n_timesteps : int
        Length of every sequence (200 in the paper).
    order : int
        N, in ``[1, 21]``: a bit depends on the ``order - 1`` bits before it (6 in
        the paper: 32 probabilities per sequence). ``order=1``: every bit of a sequence
        is a coin of one probability drawn from ``Beta(1/2, 1/2)``.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    Every size is at most 1e8, and so are ``(n_train + n_test) * n_timesteps`` and
    ``(n_train + n_test) * 2^(order-1)`` (the true probabilities kept in ``truth``).

    Returns
    -------
    Dataset
        Task "forecast"; X of 0.0 / 1.0 of shape (n, n_timesteps, 1). ``truth`` holds
        ``order``, ``prior`` (1/2) and ``probabilities`` of shape
        ``(n_train + n_test, 2^(order-1))`` (training sequences first):
        ``probabilities[i, c]`` is ``P(1 | context c)`` in sequence i, ``c`` the last
        ``order - 1`` bits read as a binary number whose least significant digit is
        the most recent bit.
    """
    order = check_int(order, "order", maximum=MAX_ORDER)
    n_train, n_test, n_timesteps = check_split_sizes(n_train, n_test, n_timesteps, 1)
    context_length = order - 1
    n = n_train + n_test
    check_size(n << context_length, f"n_train + n_test = {n} sequences with 2^(order-1) = "
               f"{1 << context_length} probabilities each (order = {order})")
    rng = check_random_state(random_state)
    probabilities = rng.beta(PRIOR, PRIOR, size=(n, 1 << context_length))
    X = _simulate(probabilities, n_timesteps, context_length, rng)[..., None].astype(float)
    X_train, X_test = X[:n_train], X[n_train:]
    oracle = ContextCounter(context_length=context_length, prior=PRIOR).fit(X_train)
    description = (
        f"Dynamic {order}-grams (Graves et al. 2014): {n_timesteps} bits per sequence from an "
        f"{order}-gram model whose {1 << context_length} probabilities are drawn from "
        "Beta(1/2, 1/2) afresh for every sequence. The oracle counts each context's 0s and "
        "1s within the sequence (ContextCounter, prior 1/2: exact). A fair coin scores "
        f"log 2 = 0.693 nats per step ({n_timesteps} bits per sequence); bits per sequence = "
        f"NLL per step x {n_timesteps} / log 2.")
    return Dataset(
        name="dynamic_ngrams", X_train=X_train, y_train=None, X_test=X_test, y_test=None,
        task="forecast",
        truth={"order": order, "prior": PRIOR, "probabilities": probabilities},
        oracle=oracle, description=description,
        baselines={"nll_per_step": float(np.log(2.0))},
        metric=Metric("nll_per_step", label="NLL per step (nats)"),
        params=dict(n_train=n_train, n_test=n_test, n_timesteps=n_timesteps, order=order,
                    random_state=random_state),
    )
