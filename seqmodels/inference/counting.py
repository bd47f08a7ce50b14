"""The numerical core of the context counter: online Beta-Bernoulli counts over binary sequences.

Each binary stream (one feature of one sequence) is read as a sequence of bits
``x_0, x_1, ...``. At step ``t >= L`` its **context** is the last ``L`` bits, coded as
the integer::

    c_t = sum_{j=1..L} x_{t-j} 2^(j-1)          (x_{t-1} is the least significant bit)

so ``c_{t+1} = (2 c_t + x_t) mod 2^L``. With ``N1_t(c)`` and ``N0_t(c)`` the number of
earlier steps ``s < t`` of the same stream whose context was ``c`` and whose bit was 1
and 0, the predictive probability under independent ``Beta(a, a)`` priors on every
context's probability of a 1 is::

    P(x_t = 1 | x_<t) = (N1_t(c_t) + a) / (N1_t(c_t) + N0_t(c_t) + 2 a)     for t >= L
    P(x_t = 1 | x_<t) = 1/2                                                 for t <  L

(the posterior mean of the context's probability: Laplace's rule for ``a = 1``, the
Krichevsky-Trofimov estimator for ``a = 1/2``). The steps before ``L`` have no full
context: they are predicted at 1/2 and counted nowhere.

Sequences are padded arrays of bits ``(n_sequences, n_timesteps, n_features)`` with
their lengths; every function works on all streams at once and keeps no state;
:class:`seqmodels.ContextCounter` validates, calls them and stores nothing but its
hyperparameters.

* :func:`count_before` (for the predictions) runs the one recursion over time: a gather
  and a scatter of every stream's table of counts per step;
* :func:`bernoulli_log_likelihood` needs no recursion: the predictions of one context's
  steps multiply to the Beta-Bernoulli marginal of its bits, so each stream's final
  counts (:func:`context_table`, one ``bincount``) give the exact log-likelihood;
* :func:`forecast_probabilities` is exact, and therefore exponential in the horizon
  (:data:`MAX_EXACT_HORIZON`).
"""

from typing import NamedTuple

import numpy as np

__all__ = ["MAX_CONTEXT_LENGTH", "MAX_EXACT_HORIZON", "ContextCounts", "ContextTable",
           "context_codes", "count_before", "predictive_probabilities", "context_table",
           "bernoulli_log_likelihood", "forecast_probabilities"]

#: Longest context: codes and the (stream, context) keys stay well inside int64.
MAX_CONTEXT_LENGTH = 30

#: Longest exact forecast: step k sums over the 2^(k-1) continuations of the sequence.
MAX_EXACT_HORIZON = 12

#: Largest dense table of counts (streams x contexts) the recursion indexes directly;
#: beyond it the (stream, context) pairs that occur are numbered first (np.unique).
_DENSE_TABLE = 1 << 22

#: Largest (streams x continuations x steps) block a forecast holds at once.
_FORECAST_BLOCK = 1 << 22

#: One packed count: ``total << _SHIFT | ones`` (one gather and one scatter per step).
_SHIFT = 32


class ContextCounts(NamedTuple):
    """Counts of each step's context before that step (:func:`count_before`).

    Attributes
    ----------
    ones, total : ndarray of shape (n_sequences, n_timesteps, n_features)
        ``N1_t(c_t)`` and ``N1_t(c_t) + N0_t(c_t)``: how often the context of step t
        was followed by a 1, and at all, at earlier steps of the same stream; 0 at the
        steps ``t < L`` that have no context (so that the predictive rule gives them
        ``a / 2a = 1/2`` exactly); meaningless on padding.
    """

    ones: np.ndarray
    total: np.ndarray


def context_codes(bits, context_length):
    """Every step's context code, and the code of the step after the longest sequence.

    Parameters
    ----------
    bits : ndarray of int of shape (n_sequences, n_timesteps, n_features)
        0 or 1 (0 on padding).
    context_length : int
        L >= 0.

    Returns
    -------
    ndarray of int64 of shape (n_sequences, n_timesteps + 1, n_features)
        ``out[i, t, j] = sum_{k=1..min(L, t)} bits[i, t-k, j] 2^(k-1)``: the context of
        step t (a full one for ``t >= L``). Position ``length_i`` is the context of the
        step after sequence i's end (the first forecast step).
    """
    n, T, d = bits.shape
    codes = np.zeros((n, T + 1, d), dtype=np.int64)
    source = bits.astype(np.int64)
    for k in range(1, min(context_length, T) + 1):
        codes[:, k:] += source[:, : T + 1 - k] << (k - 1)
    return codes


def _real_steps(lengths, n_timesteps):
    return np.arange(n_timesteps)[None, :] < np.asarray(lengths)[:, None]


def count_before(bits, lengths, context_length):
    """The counts of each step's context at earlier steps of the same stream.

    One recursion over time for every stream at once: each stream keeps a table of
    ``(N0 + N1, N1)`` per context, packed in one integer; step t reads the entry of its
    context (every step's entry is computed beforehand from the codes), then adds its
    own bit to it. Where the tables of all streams would exceed ``2^22`` entries (long
    contexts), the (stream, context) pairs that occur are numbered first and only those
    are kept.

    Parameters
    ----------
    bits : ndarray of int of shape (n_sequences, n_timesteps, n_features)
        0 or 1, on padding too (padding steps come after a sequence's real ones, so
        what they add to the counts is never read).
    lengths : ndarray of int of shape (n_sequences,)
        Accepted for symmetry with the other functions: the counts need no lengths.
    context_length : int
        L in ``[0, MAX_CONTEXT_LENGTH]``.

    Returns
    -------
    ContextCounts
    """
    bits = np.asarray(bits)
    n, T, d = bits.shape
    S, L = n * d, int(context_length)
    ones = np.zeros((n, T, d))
    total = np.zeros((n, T, d))
    if T <= L:
        return ContextCounts(ones, total)
    # time-major (T, S): each step's row of streams is contiguous
    current = np.ascontiguousarray(bits.transpose(1, 0, 2), dtype=np.int64).reshape(T, S)
    increment = current + (np.int64(1) << _SHIFT)
    before = np.zeros((T, S), dtype=np.int64)
    # each step's slot in the tables, stream * 2^L + c_t, Horner from the oldest bit
    slots = np.zeros((T - L, S), dtype=np.int64)
    for j in range(L, 0, -1):
        slots <<= 1
        slots |= current[L - j:T - j]
    slots += np.arange(S, dtype=np.int64) << L
    size = S << L
    if size > _DENSE_TABLE:    # number the (stream, context) pairs that occur (<= n T d)
        unique, slots = np.unique(slots, return_inverse=True)
        slots, size = slots.reshape(T - L, S), unique.size
    table = np.zeros(size, dtype=np.int64)
    for t in range(L, T):                             # the one loop: over time
        row = slots[t - L]
        np.take(table, row, out=before[t])
        table[row] += increment[t]                    # one entry per stream: no repeats
    ones[:] = (before & ((np.int64(1) << _SHIFT) - 1)).reshape(T, n, d).transpose(1, 0, 2)
    total[:] = (before >> _SHIFT).reshape(T, n, d).transpose(1, 0, 2)
    return ContextCounts(ones, total)


def predictive_probabilities(counts, prior):
    """``P(x_t = 1 | x_<t) = (N1 + a) / (N + 2 a)`` at every step (1/2 without context).

    Parameters
    ----------
    counts : ContextCounts
    prior : float
        a > 0, the pseudo-count of each outcome (the prior is ``Beta(a, a)``).

    Returns
    -------
    ndarray of shape (n_sequences, n_timesteps, n_features)
        Meaningless (but in (0, 1)) on padding.
    """
    a = float(prior)
    return (counts.ones + a) / (counts.total + 2.0 * a)


class ContextTable(NamedTuple):
    """Every stream's counts over its whole sequence (:func:`context_table`).

    Attributes
    ----------
    keys : ndarray of int64 of shape (n_pairs,)
        Sorted (stream, context) keys ``stream * 2^L + c``, stream ``i * n_features + j``:
        every pair when all the streams' tables are small (dense), else the pairs that
        occur.
    ones, total : ndarray of shape (n_pairs,)
        How often the context was followed by a 1, and at all, in the stream.
    """

    keys: np.ndarray
    ones: np.ndarray
    total: np.ndarray


def context_table(bits, lengths, context_length):
    """Each stream's counts of 1s and of visits per context over its real steps ``t >= L``.

    No recursion: the context codes of every step at once, then one ``bincount``.

    Parameters
    ----------
    bits : ndarray of int of shape (n_sequences, n_timesteps, n_features)
        0 or 1 (anything on padding: it is not read).
    lengths : ndarray of int of shape (n_sequences,)
    context_length : int

    Returns
    -------
    ContextTable
    """
    bits = np.asarray(bits)
    n, T, d = bits.shape
    S, L = n * d, int(context_length)
    dense = S << L <= _DENSE_TABLE
    if T <= L:
        keys = np.arange(S << L, dtype=np.int64) if dense else np.zeros(0, dtype=np.int64)
        return ContextTable(keys, np.zeros(keys.size), np.zeros(keys.size))
    # Horner from the oldest bit: c_t = (...(x_{t-L} 2 + x_{t-L+1}) 2 + ...) 2 + x_{t-1};
    # keys below 2^23 when dense: int32 halves the memory traffic
    dtype = np.int32 if dense else np.int64
    flat = np.zeros((n, T - L, d), dtype=dtype)
    for j in range(L, 0, -1):
        flat <<= 1
        flat |= bits[:, L - j:T - j]
    flat += np.arange(S, dtype=dtype).reshape(n, 1, d) << L            # (stream, context)
    flat <<= 1
    flat |= bits[:, L:]                                                 # ... and the bit
    lengths = np.asarray(lengths)
    flat = flat[_real_steps(lengths - L, T - L)] if (lengths < T).any() else flat.reshape(-1)
    if dense:
        keys = np.arange(S << L, dtype=np.int64)
        counts = np.bincount(flat.reshape(-1), minlength=2 * keys.size)
    else:
        keys, inverse = np.unique(flat.reshape(-1) >> 1, return_inverse=True)
        counts = np.bincount(2 * inverse.reshape(-1) + (flat.reshape(-1) & 1),
                             minlength=2 * keys.size)
    zeros, ones = counts[0::2].astype(float), counts[1::2].astype(float)
    return ContextTable(keys, ones, zeros + ones)


def _log_rising(a, top):
    """``out[m] = sum_{k<m} log(a + k)`` for m = 0..top: the log of the rising factorial."""
    return np.concatenate([[0.0], np.cumsum(np.log(a + np.arange(top)))])


def bernoulli_log_likelihood(bits, lengths, context_length, prior):
    """``sum_t log P(x_t | x_<t)`` of each sequence (all its features), in nats.

    The predictive probabilities of one context's steps multiply, in any order, to the
    Beta-Bernoulli marginal of its bits: with ``n1`` ones and ``n0`` zeros,
    ``prod (N_x + a) / (N + 2 a) = (a)_n1 (a)_n0 / (2a)_(n1 + n0)`` (rising factorials:
    ``B(n1 + a, n0 + a) / B(a, a)``). So the log-likelihood needs only each stream's final
    counts (:func:`context_table`), no recursion::

        log p(x) = min(L, T) log(1/2)
                   + sum_c [ log (a)_n1(c) + log (a)_n0(c) - log (2a)_n(c) ]

    the ``log (a)_m = sum_{k<m} log(a + k)`` summed once for m up to the length (no
    ``lgamma`` differences, which lose digits for large ``a``). This equals the sum of
    the logarithms of :func:`predictive_probabilities` to rounding.

    Parameters
    ----------
    bits : ndarray of int of shape (n_sequences, n_timesteps, n_features)
    lengths : ndarray of int of shape (n_sequences,)
    context_length : int
    prior : float

    Returns
    -------
    ndarray of shape (n_sequences,)
    """
    n, T, d = np.shape(bits)
    L, a = int(context_length), float(prior)
    table = context_table(bits, lengths, L)
    first = np.minimum(np.asarray(lengths), L) * d * np.log(0.5)
    if table.keys.size == 0:
        return first.astype(float)
    top = int(table.total.max()) if table.total.size else 0
    single, double = _log_rising(a, top), _log_rising(2.0 * a, top)
    ones, total = table.ones.astype(np.int64), table.total.astype(np.int64)
    per_pair = single[ones] + single[total - ones] - double[total]
    per_stream = np.bincount(table.keys >> L, weights=per_pair, minlength=n * d)
    return per_stream.reshape(n, d).sum(axis=1) + first


def _look_up(table, queries):
    """Counts (ones, total) of each query key; 0 for keys that never occurred."""
    keys, ones, total = table
    if keys.size == 0:
        return np.zeros(queries.shape), np.zeros(queries.shape)
    where = np.searchsorted(keys, queries).clip(max=keys.size - 1)
    found = keys[where] == queries
    return np.where(found, ones[where], 0.0), np.where(found, total[where], 0.0)


def forecast_probabilities(bits, lengths, context_length, prior, horizon):
    """Exact ``P(x_{T+k} = 1 | x_1..T)`` for k = 1..horizon, for every stream.

    The bits the stream would emit after its end update the counts that later
    forecast steps read, so the k-step probability is a sum over the ``2^(k-1)``
    continuations ``b_1..b_{k-1}`` of the sequence::

        P(x_{T+k} = 1) = sum_b  prod_{j<k} P(b_j | x, b_<j)  P(x_{T+k} = 1 | x, b)

    every factor the predictive rule with the counts of the sequence and of the
    continuation so far. (Feeding the one-step probability back as if it were a bit
    would be wrong; a Markov chain on the posterior-mean probabilities would ignore
    that a context met twice on a continuation has been learned from in between.)
    The cost grows as ``2^horizon``: hence :data:`MAX_EXACT_HORIZON`.

    Parameters
    ----------
    bits : ndarray of int of shape (n_sequences, n_timesteps, n_features)
    lengths : ndarray of int of shape (n_sequences,)
    context_length : int
    prior : float
    horizon : int
        In ``[1, MAX_EXACT_HORIZON]``.

    Returns
    -------
    ndarray of shape (n_sequences, horizon, n_features)
    """
    n, T, d = bits.shape
    L = int(context_length)
    a = float(prior)
    mask = (1 << L) - 1
    lengths = np.asarray(lengths)
    table = context_table(bits, lengths, L)
    codes = context_codes(bits, L)
    tail = np.take_along_axis(codes, lengths.reshape(n, 1, 1), axis=1)[:, 0].reshape(-1)
    stream_lengths = np.repeat(lengths, d)
    streams = np.arange(n * d, dtype=np.int64)
    out = np.empty((n * d, horizon))
    block = max(1, _FORECAST_BLOCK // ((1 << (horizon - 1)) * horizon))
    for start in range(0, n * d, block):
        chosen = slice(start, min(start + block, n * d))
        out[chosen] = _continuations(table, streams[chosen], tail[chosen],
                                     stream_lengths[chosen], L, mask, a, horizon)
    return out.reshape(n, d, horizon).transpose(0, 2, 1)


def _continuations(table, streams, tail, lengths, L, mask, a, horizon):
    """:func:`forecast_probabilities` for a block of streams: (n_streams, horizon)."""
    B = streams.size
    code = tail[:, None].copy()                       # (B, P): context of the next step
    weight = np.ones((B, 1))                          # probability of each continuation
    seen = np.zeros((B, 1, 0), dtype=np.int64)        # contexts met on the continuation
    emitted = np.zeros((1, 0), dtype=np.int64)        # its bits (the same for every stream)
    out = np.empty((B, horizon))
    for k in range(horizon):
        full = (lengths + k >= L)[:, None]            # the step has a full context
        ones, total = _look_up(table, (streams[:, None] << L) + code)
        if k:
            same = seen == code[..., None]
            ones = ones + (same & (emitted[None] == 1)).sum(axis=-1)
            total = total + same.sum(axis=-1)
        p = np.where(full, (ones + a) / (total + 2.0 * a), 0.5)
        out[:, k] = (weight * p).sum(axis=1)
        if k + 1 == horizon:
            break
        P = code.shape[1]                             # branch: continuation 2q + b
        weight = np.stack([weight * (1.0 - p), weight * p], axis=-1).reshape(B, 2 * P)
        met = np.where(full, code, -1)                # no full context: counted nowhere
        seen = np.concatenate([np.repeat(seen, 2, axis=1),
                               np.repeat(met, 2, axis=1)[..., None]], axis=-1)
        emitted = np.concatenate([np.repeat(emitted, 2, axis=0),
                                  np.tile([0, 1], P)[:, None]], axis=-1)
        code = (((code << 1)[..., None] | np.array([0, 1])) & mask).reshape(B, 2 * P)
    return out
