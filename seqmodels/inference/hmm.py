"""The numerical core of the hidden Markov model: pure functions, vectorised across sequences.

The model: a hidden Markov chain ``z_1, z_2, ...`` over K states with initial
distribution ``pi`` (``startprob``) and transition matrix ``A`` (``transmat``,
``A[j, k] = p(z_t = k | z_{t-1} = j)``) emits one observation per step from
``b_k(x) = p(x_t = x | z_t = k)``::

    Gaussian:     b_k(x) = N(x; mu_k, Sigma_k)
    mixture:      b_k(x) = sum_m w_km N(x; mu_km, Sigma_km)
    categorical:  b_k(s) = B[k, s],  s in {0, ..., S-1}

The parameters travel together as one :class:`HMMParams`. Sequences are padded
arrays: ``obs`` holds the observations, ``(n_sequences, T, d)`` floats, or the symbols
``(n_sequences, T)`` (integers, -1 past each sequence's end) for categorical
emissions; ``mask`` of shape ``(n_sequences, T)`` marks the real timesteps. Inside,
``log_b`` of shape ``(n_sequences, T, K)`` holds the emission log-densities
``log b_k(x_t)``. Each recursion loops over time once and updates every sequence at
once; nothing loops over sequences, and no function keeps state.
:class:`seqmodels.HiddenMarkovModel` validates its input, calls these functions and
stores what they return; the fits are in :mod:`seqmodels.inference.hmm_fit` and
:mod:`seqmodels.hmmlearn_bridge`.
"""

from typing import NamedTuple, Optional

import numpy as np
from scipy.special import logsumexp

from ..utils.threads import one_blas_thread

__all__ = [
    "HMMParams",
    "PARAMETER_NAMES",
    "ForwardResult",
    "FilterResult",
    "full_covariances",
    "covariance_shape",
    "emission_covariances",
    "gaussian_log_density",
    "GaussianBlocks",
    "gmm_log_density",
    "categorical_log_prob",
    "emission_log_density",
    "forward",
    "forward_log_likelihood",
    "log_filter",
    "backward_smooth",
    "viterbi",
    "propagate",
    "filter_states",
    "state_probabilities",
    "decode",
    "marginal_log_likelihood",
    "label_log_likelihood",
    "state_moments",
    "mixture_moments",
    "predictive_moments",
    "one_step_moments",
    "forecast_moments",
    "sample_states",
    "sample",
]

_LOG_2PI = np.log(2.0 * np.pi)
# Elements (float64) of the temporaries processed per block of rows or of timesteps:
# 128 KiB, small enough to stay in cache and be reused from block to block.
_BLOCK_ELEMENTS = 16384

#: The parameter arrays of :class:`HMMParams`, in its order.
PARAMETER_NAMES = ("startprob", "transmat", "means", "covars", "weights", "emissionprob")


class HMMParams(NamedTuple):
    """Parameters of a hidden Markov model, covariances in hmmlearn's compact shapes.

    A field left None is absent: the emission kind has no such parameter, or (for
    the parameters given to a fit) it is to be learned.

    Attributes
    ----------
    startprob : ndarray of shape (K,)
        ``pi_k = p(z_1 = k)``.
    transmat : ndarray of shape (K, K)
        ``A[j, k] = p(z_t = k | z_{t-1} = j)``.
    means : ndarray of shape (K, d), or (K, M, d) for mixtures
    covars : ndarray
        Gaussian: full (K, d, d), diag (K, d), spherical (K,), tied (d, d).
        Mixture: full (K, M, d, d), diag (K, M, d), spherical (K, M), tied (K, d, d).
    weights : ndarray of shape (K, M)
        Mixture weights ``w_km``.
    emissionprob : ndarray of shape (K, S)
        ``B[k, s] = p(x_t = s | z_t = k)``.
    emission : {"gaussian", "gmm", "categorical"}
    covariance_type : {"full", "diag", "spherical", "tied"}
    """

    startprob: Optional[np.ndarray] = None
    transmat: Optional[np.ndarray] = None
    means: Optional[np.ndarray] = None
    covars: Optional[np.ndarray] = None
    weights: Optional[np.ndarray] = None
    emissionprob: Optional[np.ndarray] = None
    emission: str = "gaussian"
    covariance_type: str = "diag"


class ForwardResult(NamedTuple):
    """Output of :func:`forward`: ``filtered``, ``predicted`` (or None), ``loglik``."""

    filtered: np.ndarray
    predicted: Optional[np.ndarray]
    loglik: np.ndarray


class FilterResult(NamedTuple):
    """Output of :func:`filter_states`: the emission log-densities and :func:`forward`'s."""

    log_b: np.ndarray
    filtered: np.ndarray
    predicted: Optional[np.ndarray]
    loglik: np.ndarray


# -- emissions ------------------------------------------------------------------------


def full_covariances(covars, covariance_type, n_features, lead=None):
    """Expand hmmlearn's compact covariance parameters to full matrices.

    ``diag``: ``Sigma = diag(sigma^2)``; ``spherical``: ``Sigma = sigma^2 I``;
    ``full`` and ``tied`` are full matrices already.

    Parameters
    ----------
    covars : ndarray
        ``full``: (..., d, d); ``diag``: (..., d); ``spherical``: (...,);
        ``tied``: (d, d) for Gaussian emissions (one matrix shared by all states),
        (K, d, d) for mixtures (one per state, shared by its components).
    covariance_type : {"full", "diag", "spherical", "tied"}
    n_features : int
    lead : tuple of int, optional
        The leading shape to broadcast a ``tied`` covariance to: ``(K,)`` for
        Gaussian emissions, ``(K, M)`` for mixtures. By default it is left as it is.

    Returns
    -------
    ndarray of shape (..., d, d)
    """
    covars = np.asarray(covars, dtype=float)
    d = n_features
    if covariance_type == "tied" and lead is not None:
        missing = len(lead) - (covars.ndim - 2)
        shared = covars.reshape(covars.shape[:-2] + (1,) * missing + (d, d))
        return np.broadcast_to(shared, tuple(lead) + (d, d)).copy()
    if covariance_type in ("full", "tied"):
        return covars.copy()
    if covariance_type == "diag":
        return covars[..., :, None] * np.eye(d)
    if covariance_type == "spherical":
        return covars[..., None, None] * np.eye(d)
    raise ValueError(f"unknown covariance_type {covariance_type!r}")


def covariance_shape(emission, covariance_type, n_states, n_features, n_mix=None):
    """The shape of ``covars`` in hmmlearn's compact form (see :class:`HMMParams`).

    Returns
    -------
    tuple of int
        Gaussian: full (K, d, d), diag (K, d), spherical (K,), tied (d, d).
        Mixture: full (K, M, d, d), diag (K, M, d), spherical (K, M), tied (K, d, d).
    """
    K, d, M = n_states, n_features, n_mix
    if emission == "gaussian":
        return {"full": (K, d, d), "diag": (K, d), "spherical": (K,),
                "tied": (d, d)}[covariance_type]
    return {"full": (K, M, d, d), "diag": (K, M, d), "spherical": (K, M),
            "tied": (K, d, d)}[covariance_type]


def emission_covariances(params):
    """Full covariance matrices of every state (mixtures: every component).

    Parameters
    ----------
    params : HMMParams
        Gaussian or mixture emissions.

    Returns
    -------
    ndarray of shape (K, d, d), or (K, M, d, d) for mixtures
    """
    lead = np.shape(params.means)[:-1]
    return full_covariances(params.covars, params.covariance_type, np.shape(params.means)[-1],
                            lead)


def gaussian_log_density(x, means, covs):
    """``log N(x; mu_k, Sigma_k)`` for every observation and every component.

    ``log N = -0.5 (d log 2 pi + log|Sigma_k| + ||L_k^{-1} (x - mu_k)||^2)`` with
    ``Sigma_k = L_k L_k'`` (Cholesky).

    Parameters
    ----------
    x : ndarray of shape (..., d)
    means : ndarray of shape (K, d)
    covs : ndarray of shape (K, d, d)

    Returns
    -------
    ndarray of shape (..., K)
    """
    K, d = means.shape
    flat = x.reshape(-1, d)
    N = flat.shape[0]
    out = np.empty((N, K))
    kernel = GaussianBlocks(means, covs, max(1, min(N, _BLOCK_ELEMENTS // (K * d))))
    rows = kernel.rows
    for start in range(0, N, rows):
        stop = min(N, start + rows)
        kernel(flat[start:stop], out[start:stop])
    return out.reshape(x.shape[:-1] + (K,))


class GaussianBlocks:
    """``log N(x; mu_k, Sigma_k)`` of blocks of at most ``rows`` observations, no fresh memory.

    The factors are computed once; each call writes one block's (B, K) log-densities
    into ``out`` through a (rows, K d) buffer reused from call to call (in cache: fresh
    memory for an (N, K d) array costs as much again in page faults as the arithmetic).
    ``z_k = L_k^{-1} x - L_k^{-1} mu_k`` for every k is one matrix product per block,
    (B, d) @ (d, K d): thin and memory-bound (run under one BLAS thread).
    """

    def __init__(self, means, covs, rows):
        K, d = means.shape
        chol = _cholesky(covs)
        logdet = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
        inv_chol = np.linalg.inv(chol)  # (K, d, d)
        self.K, self.d, self.rows = K, d, rows
        self.W = inv_chol.transpose(2, 0, 1).reshape(d, K * d)
        self.shift = np.einsum("kab,kb->ka", inv_chol, means).reshape(K * d)
        self.const = d * _LOG_2PI + logdet
        self.buffer = np.empty((rows, K * d))
        self.W_t = None

    def __call__(self, flat, out):
        """Fill ``out`` (B, K) with the log-densities of ``flat`` (B, d), B <= rows."""
        K, d = self.K, self.d
        z = np.matmul(flat, self.W, out=self.buffer[:flat.shape[0]])
        z -= self.shift
        np.square(z, out=z)
        # ||z_k||^2 as d - 1 additions of strided (B, K) views, in place of a reduction
        # over a short axis (numpy's slowest case).
        z = z.reshape(-1, K, d)
        if d == 1:
            out[...] = z[..., 0]
        else:
            np.add(z[..., 0], z[..., 1], out=out)
        for f in range(2, d):
            out += z[..., f]
        out += self.const
        out *= -0.5
        return out

    def transposed(self, flat_t, out):
        """Fill ``out`` (K, B) with the log-densities of ``flat_t`` (d, B), B <= rows.

        The same arithmetic state-major: every elementwise operation then runs along
        rows of B elements (fast inner loops) instead of the short K or K d axis.
        """
        K, d = self.K, self.d
        B = flat_t.shape[1]
        if self.W_t is None:
            self.W_t = np.ascontiguousarray(self.W.T)
            self.shift_t = self.shift[:, None]
            self.const_t = self.const[:, None]
        z = np.matmul(self.W_t, flat_t, out=self.buffer.reshape(-1)[:K * d * B].reshape(K * d, B))
        z -= self.shift_t
        np.square(z, out=z)
        z = z.reshape(K, d, B)
        if d == 1:
            out[...] = z[:, 0]
        else:
            np.add(z[:, 0], z[:, 1], out=out)
        for f in range(2, d):
            out += z[:, f]
        out += self.const_t
        out *= -0.5
        return out


def _cholesky(covs, jitter=1e-7):
    """Cholesky factors of a stack of covariances.

    A matrix that is not numerically positive definite (EM's covariance for a
    state that lost all its data is singular) is retried with ``jitter * I``
    added -- what hmmlearn's own density does, so the log-likelihoods agree.
    """
    try:
        return np.linalg.cholesky(covs)
    except np.linalg.LinAlgError:
        pass
    eye = np.eye(covs.shape[-1])
    chol = np.empty_like(covs)
    for index in np.ndindex(covs.shape[:-2]):  # a loop over states, only on this rare path
        try:
            chol[index] = np.linalg.cholesky(covs[index])
        except np.linalg.LinAlgError:
            try:
                chol[index] = np.linalg.cholesky(covs[index] + jitter * eye)
            except np.linalg.LinAlgError:
                raise ValueError(
                    f"the covariance of emission component {index} is not positive "
                    "definite; raise min_covar, use fewer states or a simpler "
                    "covariance_type."
                ) from None
    return chol


def gmm_log_density(x, weights, means, covs):
    """Log-density of a Gaussian mixture per state.

    ``log b_k(x) = logsumexp_m (log w_km + log N(x; mu_km, Sigma_km))``.

    Parameters
    ----------
    x : ndarray of shape (..., d)
    weights : ndarray of shape (K, M)
    means : ndarray of shape (K, M, d)
    covs : ndarray of shape (K, M, d, d)

    Returns
    -------
    ndarray of shape (..., K)
    """
    K, M, d = means.shape
    comp = gaussian_log_density(x, means.reshape(K * M, d), covs.reshape(K * M, d, d))
    comp = comp.reshape(x.shape[:-1] + (K, M))
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    return logsumexp(comp + log_w, axis=-1)


def categorical_log_prob(symbols, emissionprob):
    """``log B[k, x]`` for integer symbols.

    Parameters
    ----------
    symbols : ndarray of int of shape (...)
    emissionprob : ndarray of shape (K, S)

    Returns
    -------
    ndarray of shape (..., K)
    """
    with np.errstate(divide="ignore"):
        log_e = np.log(emissionprob)
    return log_e.T[symbols]


def emission_log_density(params, obs, mask):
    """Emission log-densities ``log b_k(x_t)`` of every step; 0 past the sequences' ends.

    Gaussian ``log N(x_t; mu_k, Sigma_k)`` (:func:`gaussian_log_density`), mixture
    (:func:`gmm_log_density`) or categorical ``log B[k, x_t]``
    (:func:`categorical_log_prob`).

    Parameters
    ----------
    params : HMMParams
    obs : ndarray of shape (n, T, d), or of int of shape (n, T) for categorical emissions
    mask : ndarray of bool of shape (n, T)

    Returns
    -------
    ndarray of shape (n, T, K)
        Computed time-major and returned as a transposed view, so that the forward
        recursion reads each step's (n, K) block contiguously without a copy.
    """
    mask_t = mask.T
    if params.emission == "categorical":
        log_b = categorical_log_prob(np.maximum(obs.T, 0), params.emissionprob)
    else:
        values = np.where(mask_t[..., None], obs.transpose(1, 0, 2), 0.0)
        covs = emission_covariances(params)
        if params.emission == "gaussian":
            log_b = gaussian_log_density(values, params.means, covs)
        else:
            log_b = gmm_log_density(values, params.weights, params.means, covs)
    if not mask.all():
        log_b = np.where(mask_t[..., None], log_b, 0.0)
    return np.ascontiguousarray(log_b).transpose(1, 0, 2)


# -- inference ------------------------------------------------------------------------


def _log(p):
    with np.errstate(divide="ignore"):
        return np.log(p)


def forward(log_b, mask, startprob, transmat, return_predicted=True):
    """Scaled forward recursion (filtering) over all sequences at once.

    With the one-step predictive state distribution ``p_t = alpha_{t-1} A``
    (``p_0 = pi``), each step computes::

        c_t     = sum_k p_t[k] b_k(x_t)            = p(x_t | x_<t)
        alpha_t = p_t * b(x_t) / c_t                = p(z_t | x_<=t)
        log p(x_1..T) = sum_t log c_t

    The emission densities enter scaled by their largest value at each step,
    ``b_k(x_t) = exp(log b_k(x_t) - m_t) e^{m_t}`` with ``m_t = max_k log b_k(x_t)``,
    so ``alpha_t`` stays normalised, ``log c_t = m_t + log sum_k p_t[k] exp(log b_k(x_t)
    - m_t)`` and nothing underflows however long the sequence. The scaled densities
    are exponentiated once for all steps, so that a step is one product by ``A``, one
    elementwise product, one row sum (a product by a vector of ones) and one division,
    each over all sequences at once and into preallocated buffers. A step where that
    scaled sum underflows (``c_t e^{-m_t} < 1e-280``: an observation far more likely
    under a state the prediction all but excludes) is redone in log space,
    ``log c_t = logsumexp_k (log p_t[k] + log b_k(x_t))``; such a step is found after
    the fast pass, which is then run again with that check at every step. Past a
    sequence's end (``mask`` False) ``alpha`` is frozen and nothing is added.

    Parameters
    ----------
    log_b : ndarray of shape (n, T, K)
    mask : ndarray of bool of shape (n, T)
    startprob : ndarray of shape (K,)
    transmat : ndarray of shape (K, K)
    return_predicted : bool, default True
        False skips ``predicted`` (returned as None): the log-likelihood does not need it.

    Returns
    -------
    ForwardResult
        ``(filtered, predicted, loglik)``:
    filtered : ndarray of shape (n, T, K)
        ``p(z_t | x_1..t)``.
    predicted : ndarray of shape (n, T, K) or None
        ``p(z_t | x_1..t-1)`` (``pi`` at t = 0).
    loglik : ndarray of shape (n,)
        ``log p(x_1..T_i)`` per sequence.
    """
    n, T, K = log_b.shape
    startprob = np.asarray(startprob, dtype=float)
    transmat = np.asarray(transmat, dtype=float)
    # Time-major (a view when log_b is, as emission_log_density makes it), so that each
    # step reads and writes contiguous (n, K) blocks.
    log_bt = np.ascontiguousarray(log_b.transpose(1, 0, 2))
    mask_t = np.ascontiguousarray(mask.T)
    filtered = np.empty((T, n, K))
    loglik = _forward_fast(log_bt, mask_t, startprob, transmat, filtered)
    if loglik is None:  # an underflow (or a NaN) somewhere: the careful pass
        loglik = _forward_checked(log_bt, mask_t, startprob, transmat, filtered)
    predicted = None
    if return_predicted:
        predicted = np.empty((T, n, K))
        predicted[0] = startprob
        np.matmul(filtered[:-1], transmat, out=predicted[1:])
        predicted = predicted.transpose(1, 0, 2)
    return ForwardResult(filtered.transpose(1, 0, 2), predicted, loglik)


def _forward_fast(log_bt, mask_t, startprob, transmat, filtered):
    """The forward pass of :func:`forward` without the underflow check, in blocks of steps.

    :func:`_blocked_forward` sequence-major, ``alpha_t`` written into ``filtered``
    (time-major) in place. Returns the log-likelihoods, or None when a step has
    ``c_t e^{-m_t} < 1e-280`` or a NaN (the caller then runs :func:`_forward_checked`).
    """
    T, n, K = log_bt.shape
    steps = max(1, min(T, _BLOCK_ELEMENTS // (n * K)))
    return _blocked_forward(lambda start, stop: log_bt[start:stop], mask_t, startprob,
                            transmat, steps, filtered.__getitem__, state_major=False)


def _scale_block(block, state_major, top, out):
    """``m_t = max_k log b_k(x_t)`` into ``top`` and ``exp(log b_k(x_t) - m_t)`` into ``out``.

    ``block`` holds the log-densities (B, n, K), or (K, B, n) when ``state_major``;
    ``out`` receives them as (B, n, K), or (B, K, n). An ``m_t`` that is not finite
    (every state impossible) is taken as 0. The maximum is taken state by state,
    without numpy's slow reduction over a short axis.
    """
    per_state = block if state_major else block.transpose(2, 0, 1)
    np.copyto(top, per_state[0])
    for view in per_state[1:]:
        np.maximum(top, view, out=top)
    top[~np.isfinite(top)] = 0.0
    if state_major:
        e = np.subtract(block.transpose(1, 0, 2), top[:, None, :], out=out)
    else:
        e = np.subtract(block, top[..., None], out=out)
    return np.exp(e, out=e)


def _blocked_forward(block_log_b, mask_t, startprob, transmat, steps, joint_at, state_major):
    """The scaled forward recursion of :func:`forward` in blocks of ``steps`` steps.

    ``block_log_b(start, stop)`` gives a block's emission log-densities: (B, n, K)
    sequence-major, (K, B, n) state-major. Their scaled densities are exponentiated at
    once into a buffer reused from block to block (in cache, no fresh memory), then
    each step is one product by ``A``, one elementwise product, one row sum (a product
    by a vector of ones) and one division, for all sequences at once, ``alpha_t``
    written into ``joint_at(t)``: (n, K) sequence-major, (K, n) state-major. State-major,
    the products by ``A'`` and by the ones and the division by ``c_t`` run along rows
    of n elements, where numpy's and BLAS's inner loops are fast (measured per step on
    (1000, 4): 8 us against 15 us sequence-major); sequence-major, ``alpha_t`` is laid
    out as :func:`forward` returns it. The block's ``log c_t`` are summed into the
    log-likelihoods, which are returned, or None as soon as a block has a step with
    ``c_t e^{-m_t} < 1e-280`` or a NaN.
    """
    T, n = mask_t.shape
    K = startprob.shape[0]
    full = mask_t.all(axis=1)
    vector = (K, n) if state_major else (n, K)
    scaled = np.empty((steps,) + vector)
    top = np.empty((steps, n))
    totals = np.empty((steps, n))
    divisors = totals[:, None, :] if state_major else totals[..., None]
    transposed = np.ascontiguousarray(transmat.T)
    pred = np.empty(vector)
    ones = np.ones(K)  # row sums as a matrix-vector product: much faster than .sum(axis=1)
    loglik = np.zeros(n)
    alpha = np.broadcast_to(startprob[:, None] if state_major else startprob, vector)
    for start in range(0, T, steps):
        B = min(steps, T - start)
        m, c = top[:B], totals[:B]
        e = _scale_block(block_log_b(start, start + B), state_major, m, scaled[:B])
        with np.errstate(divide="ignore", invalid="ignore"):  # any trouble: see above
            for i in range(B):
                t = start + i
                joint = joint_at(t)
                if t and state_major:
                    np.matmul(transposed, alpha, out=pred)
                elif t:
                    np.matmul(alpha, transmat, out=pred)
                np.multiply(pred if t else alpha, e[i], out=joint)
                if state_major:
                    np.matmul(ones, joint, out=c[i])
                else:
                    np.matmul(joint, ones, out=c[i])
                np.divide(joint, divisors[i], out=joint)
                if not full[t]:
                    ended = ~mask_t[t]
                    np.copyto(joint, alpha, where=ended if state_major else ended[:, None])
                alpha = joint
        if not _add_log_normalisers(c, m, mask_t[start:start + B], loglik):
            return None
    return loglik


def _add_log_normalisers(c, m, mask, loglik):
    """Add a block's ``log c_t + m_t`` to ``loglik`` (in place), steps past an end excluded.

    ``c`` (B, n) holds the scaled normalisers ``c_t e^{-m_t}`` and is overwritten. Returns
    False, adding nothing, when one is below 1e-280 or NaN: the caller's careful pass
    takes over.
    """
    if not c.min() >= 1e-280:
        return False
    np.log(c, out=c)
    c += m
    if not mask.all():
        c[~mask] = 0.0
    loglik += c.sum(axis=0)
    return True


def forward_log_likelihood(block_log_b, mask_t, startprob, transmat, steps):
    """``log p(x_1..T_i)`` per sequence by the forward pass of :func:`forward`, kept small.

    The recursion of :func:`_forward_fast` (the same equations and the same underflow
    test; the vectors held state-major), for callers that need only the
    log-likelihoods. The emission log-densities are computed a block of ``steps``
    steps at a time by ``block_log_b(start, stop)``, which returns them state-major,
    (K, stop - start, n), 0 past the sequences' ends; nothing of size (n, T, K) is
    kept -- only ``alpha_t`` (K, n), the block's buffers and the running sums of
    ``log c_t``. Having fresh memory mapped in for the full-size densities and filtered
    probabilities took about a third of ``log_likelihood``'s time (1,000 x 100 steps).

    Returns
    -------
    ndarray of shape (n,) or None
        None when a step has ``c_t e^{-m_t} < 1e-280`` or a NaN: the caller then runs
        :func:`forward`, whose careful pass handles it.
    """
    K, n = np.shape(startprob)[0], mask_t.shape[1]
    buffers = (np.empty((K, n)), np.empty((K, n)))
    return _blocked_forward(block_log_b, mask_t, np.asarray(startprob, dtype=float),
                            np.asarray(transmat, dtype=float), steps,
                            lambda t: buffers[t % 2], state_major=True)


def _forward_checked(log_bt, mask_t, startprob, transmat, filtered):
    """The forward pass of :func:`forward` with the underflow check at every step.

    A step whose scaled sum ``c_t e^{-m_t}`` falls below 1e-280 is redone in log
    space, ``log c_t = logsumexp_k (log p_t[k] + log b_k(x_t))``. Fills ``filtered``
    (time-major) in place and returns the log-likelihoods.
    """
    T, n, K = log_bt.shape
    top = np.empty((T, n))
    scaled = _scale_block(log_bt, False, top, np.empty((T, n, K)))
    full = mask_t.all(axis=1)
    totals = np.empty((T, n))
    exact = np.full((T, n), np.nan)  # log c_t of the steps redone in log space
    ones = np.ones(K)
    alpha = np.broadcast_to(startprob, (n, K))
    for t in range(T):
        pred = alpha @ transmat if t else alpha
        joint = filtered[t]
        np.multiply(pred, scaled[t], out=joint)
        total = joint @ ones
        if total.min() < 1e-280:
            bad = total < 1e-280
            log_joint = _log(pred[bad]) + log_bt[t, bad]
            lse = logsumexp(log_joint, axis=1)
            exact[t, bad] = lse
            with np.errstate(invalid="ignore"):
                redone = np.exp(log_joint - lse[:, None])
            # x_t impossible under every state: log c_t = -inf, keep the prediction.
            joint[bad] = np.where(np.isfinite(lse)[:, None], redone, pred[bad])
            total = np.where(bad, 1.0, total)
        totals[t] = total
        joint /= total[:, None]
        if not full[t]:
            ended = ~mask_t[t]
            joint[ended] = alpha[ended]
        alpha = joint
    with np.errstate(divide="ignore"):
        log_c = np.where(np.isnan(exact), np.log(totals) + top, exact)
    return np.where(mask_t, log_c, 0.0).sum(axis=0)


def log_filter(log_b, mask, startprob, transmat):
    """Filtered state log-probabilities ``log p(z_t | x_1..t)`` by a forward pass in log space.

    ``log alpha_t = log b(x_t) + logsumexp_j (log alpha_{t-1}[j] + log A[j, :])``,
    normalised at every step (``log alpha_0 = log pi + log b(x_0)``), for all sequences at
    once; frozen past a sequence's end. :func:`forward` keeps ``alpha_t`` as
    probabilities, in which a state all but excluded (``p < 1e-308``: an observation many
    standard deviations from its mean) is exactly 0 and its log -inf; here it keeps its
    finite log (e.g. -1e24). It costs a (n, K, K) logsumexp per step: used only where
    :func:`forward` gave an exact zero that matters.

    Returns
    -------
    ndarray of shape (n, T, K)
    """
    n, T, K = log_b.shape
    log_A = _log(np.asarray(transmat, dtype=float))
    out = np.empty((n, T, K))
    current = _log(np.asarray(startprob, dtype=float))[None, :] + log_b[:, 0]
    current = current - logsumexp(current, axis=1, keepdims=True)
    out[:, 0] = current
    for t in range(1, T):
        step = logsumexp(current[:, :, None] + log_A[None], axis=1) + log_b[:, t]
        step = step - logsumexp(step, axis=1, keepdims=True)
        current = np.where(mask[:, t, None], step, current)
        out[:, t] = current
    return out


def backward_smooth(mask, transmat, filtered, predicted):
    """Smoothed state distributions ``p(z_t | x_1..T)`` (forward-backward; looks ahead).

    The backward pass in its normalised (Rauch-Tung-Striebel) form for discrete
    states, starting from ``gamma_T = alpha_T`` at each sequence's last step::

        gamma_t[j] = alpha_t[j] * sum_k A[j, k] gamma_{t+1}[k] / p_{t+1}[k]

    with ``p_{t+1} = alpha_t A`` the predicted distribution from :func:`forward`.
    It needs no emission terms and every ``gamma_t`` stays normalised, so it is as
    stable as the scaled forward pass.

    Parameters
    ----------
    mask : ndarray of bool of shape (n, T)
    transmat : ndarray of shape (K, K)
    filtered, predicted : ndarray of shape (n, T, K)
        From :func:`forward`.

    Returns
    -------
    ndarray of shape (n, T, K)
    """
    n, T, K = filtered.shape
    smoothed = np.array(filtered, copy=True)
    gamma = filtered[:, T - 1].copy()
    for t in range(T - 2, -1, -1):
        nxt = mask[:, t + 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(predicted[:, t + 1] > 0, gamma / predicted[:, t + 1], 0.0)
        back = filtered[:, t] * (ratio @ transmat.T)
        total = back.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            # total == 0 only after an impossible observation: keep the filtered value
            back = np.where(total > 0, back / total, filtered[:, t])
        # The last real step of each sequence starts its own backward pass.
        gamma = np.where(nxt[:, None], back, filtered[:, t])
        smoothed[:, t] = gamma
    return smoothed


def viterbi(log_b, mask, startprob, transmat):
    """Most probable state path per sequence (Viterbi, max-product in log space; looks ahead).

    ``delta_t[k] = max_j (delta_{t-1}[j] + log A[j, k]) + log b_k(x_t)``, then backtrack
    from each sequence's last real step.

    Returns
    -------
    ndarray of int of shape (n, T)
        Past a sequence's end the entries repeat its last state.
    """
    n, T, K = log_b.shape
    log_a = _log(transmat)
    back = np.zeros((n, T, K), dtype=np.intp)
    delta = _log(startprob)[None, :] + log_b[:, 0]
    for t in range(1, T):
        scores = delta[:, :, None] + log_a[None]  # (n, j, k)
        best = scores.argmax(axis=1)
        new = np.take_along_axis(scores, best[:, None, :], axis=1)[:, 0] + log_b[:, t]
        live = mask[:, t]
        back[:, t] = np.where(live[:, None], best, np.arange(K)[None, :])
        delta = np.where(live[:, None], new, delta)
    path = np.empty((n, T), dtype=np.intp)
    state = delta.argmax(axis=1)
    path[:, T - 1] = state
    for t in range(T - 1, 0, -1):
        state = back[np.arange(n), t, state]
        path[:, t - 1] = state
    return path


def propagate(probs, transmat, horizon):
    """State distributions ``h`` steps ahead: ``p_{T+h} = p_T A^h`` for h = 1..horizon.

    Parameters
    ----------
    probs : ndarray of shape (n, K)
    transmat : ndarray of shape (K, K)
    horizon : int

    Returns
    -------
    ndarray of shape (n, horizon, K)
    """
    out = np.empty((probs.shape[0], horizon, probs.shape[1]))
    for h in range(horizon):
        probs = probs @ transmat
        out[:, h] = probs
    return out


# -- the model's inference ----------------------------------------------------------


@one_blas_thread
def filter_states(params, obs, mask, return_predicted=True):
    """Emission log-densities and the forward pass (filtering) over padded sequences.

    ``log_b = log b_k(x_t)`` (:func:`emission_log_density`), then :func:`forward`:
    ``alpha_t = p(z_t | x_1..t)``, ``p_t = p(z_t | x_1..t-1)`` and
    ``log p(x_1..T_i)``. Its matrix products are thin ((n T, d) by (d, K d), (n, K) by
    (K, K)) and memory-bound: they run under one BLAS thread, like the Kalman filter
    (:mod:`seqmodels.utils.threads`). Measured on the loaded 2-core development
    machine, ``log_likelihood`` on 50,000 x 50 steps took 2.4 s with the default pool
    against 0.56 s with one thread.

    Parameters
    ----------
    params : HMMParams
    obs : ndarray of shape (n, T, d), or of int of shape (n, T) for categorical emissions
    mask : ndarray of bool of shape (n, T)
    return_predicted : bool, default True

    Returns
    -------
    FilterResult
        ``log_b`` and ``filtered`` (n, T, K), ``predicted`` (n, T, K) or None,
        ``loglik`` (n,).
    """
    log_b = emission_log_density(params, obs, mask)
    return FilterResult(log_b, *forward(log_b, mask, params.startprob, params.transmat,
                                        return_predicted))


def state_probabilities(params, obs, mask, method="filter"):
    """State probabilities at every step: filtered (causal) or smoothed (looks ahead).

    ``"filter"``: ``p(z_t | x_1..t)`` by :func:`forward`; ``"smooth"``:
    ``p(z_t | x_1..T)`` by :func:`backward_smooth`.

    Returns
    -------
    ndarray of shape (n, T, K)
    """
    result = filter_states(params, obs, mask, return_predicted=method == "smooth")
    if method == "smooth":
        return backward_smooth(mask, params.transmat, result.filtered, result.predicted)
    return result.filtered


def decode(params, obs, mask, method="filter"):
    """Most probable state at every step.

    ``"filter"``: ``argmax_k p(z_t = k | x_1..t)`` (causal); ``"smooth"``:
    ``argmax_k p(z_t = k | x_1..T)``; ``"viterbi"``: the jointly most probable path
    ``argmax_z p(z_1..T | x_1..T)`` (:func:`viterbi`). The last two look ahead.

    Returns
    -------
    ndarray of int of shape (n, T)
    """
    result = filter_states(params, obs, mask)
    if method == "viterbi":
        return viterbi(result.log_b, mask, params.startprob, params.transmat)
    filtered = result.filtered
    if method == "smooth":
        filtered = backward_smooth(mask, params.transmat, filtered, result.predicted)
    return filtered.argmax(axis=2)


@one_blas_thread
def marginal_log_likelihood(params, obs, mask):
    """``log p(x_1..T_i)`` per sequence, without the full-size arrays of :func:`filter_states`.

    :func:`forward_log_likelihood`, with the emission densities computed a block of
    steps at a time inside the forward pass and kept neither they nor the filtered
    probabilities: measured on the development machine, ``log_likelihood`` of 1,000
    x 100 steps spent about a third of its time having fresh memory for those
    (n, T, K) arrays mapped in. A step that underflows (or a NaN) makes it return
    None: then the careful path of :func:`filter_states`, whose results it equals.
    Under one BLAS thread, like :func:`filter_states`.

    Parameters
    ----------
    params, obs, mask
        As for :func:`filter_states`.

    Returns
    -------
    ndarray of shape (n,)
    """
    K = params.startprob.shape[0]
    n, T = mask.shape
    mask_t = np.ascontiguousarray(mask.T)
    full = mask.all()
    steps = max(1, min(T, _BLOCK_ELEMENTS // (n * K)))
    out = np.empty(K * steps * n)
    if params.emission == "categorical":
        symbols = np.maximum(obs, 0)
        log_e = _log(params.emissionprob)  # (K, S)

        def density(start, stop):
            block = out[:K * (stop - start) * n].reshape(K, stop - start, n)
            return np.take(log_e, symbols[:, start:stop].T, axis=1, out=block)
    else:
        d = obs.shape[2]
        values = np.empty(d * steps * n)
        covs = emission_covariances(params)
        if params.emission == "gaussian":
            kernel = GaussianBlocks(params.means, covs, steps * n)

        def density(start, stop):
            B = stop - start
            x = values[:d * B * n].reshape(d, B, n)  # feature-major: out is (K, B, n)
            np.copyto(x, obs[:, start:stop].transpose(2, 1, 0))
            if not full:
                x[:, ~mask_t[start:stop]] = 0.0
            if params.emission == "gaussian":
                block = out[:K * B * n].reshape(K, B, n)
                kernel.transposed(x.reshape(d, B * n), block.reshape(K, B * n))
                return block
            return gmm_log_density(x.transpose(1, 2, 0), params.weights, params.means,
                                   covs).transpose(2, 0, 1)

    def block_log_b(start, stop):
        block = density(start, stop)
        if not full:
            block[:, ~mask_t[start:stop]] = 0.0
        return block

    loglik = forward_log_likelihood(block_log_b, mask_t, params.startprob, params.transmat,
                                    steps)
    if loglik is None:
        loglik = filter_states(params, obs, mask, return_predicted=False).loglik
    return loglik


def label_log_likelihood(params, obs, mask, states):
    """``sum_t log p(z_t = y_t | x_1..t)`` per sequence, over the labelled steps.

    The filtered probability of each step's labelled state (:func:`forward`). A label
    the filter all but excludes (an observation far from its state's mean) has a
    probability that underflows to 0; then the filter is redone in log space
    (:func:`log_filter`), where it keeps its finite log-probability instead of -inf.

    Parameters
    ----------
    params, obs, mask
        As for :func:`filter_states`.
    states : ndarray of int of shape (n, T)
        The labelled state index of each step, -1 where unlabelled or past the end.

    Returns
    -------
    ndarray of shape (n,)
    """
    observed = states >= 0
    index = np.maximum(states, 0)[..., None]
    result = filter_states(params, obs, mask, return_predicted=False)
    prob = np.take_along_axis(result.filtered, index, axis=2)[..., 0]
    if (prob[observed] == 0.0).any():
        log_filtered = log_filter(result.log_b, mask, params.startprob, params.transmat)
        log_prob = np.take_along_axis(log_filtered, index, axis=2)[..., 0]
        return np.where(observed, log_prob, 0.0).sum(axis=1)
    return np.where(observed, _log(prob), 0.0).sum(axis=1)


# -- moments --------------------------------------------------------------------------


def state_moments(params):
    """Mean and second moment of each state's emission distribution.

    Gaussian: ``E[x|k] = mu_k``, ``E[x x'|k] = Sigma_k + mu_k mu_k'``.
    Gaussian mixture: ``E[x|k] = sum_m w_km mu_km``,
    ``E[x x'|k] = sum_m w_km (Sigma_km + mu_km mu_km')``.
    Categorical (symbols 0..S-1 read as numbers): ``E[x|k] = sum_s s B[k, s]``,
    ``E[x^2|k] = sum_s s^2 B[k, s]``.

    Parameters
    ----------
    params : HMMParams

    Returns
    -------
    means : ndarray of shape (K, d)
    second : ndarray of shape (K, d)
        Diagonal of the second moment (only the marginal variances are needed).
    """
    if params.emission == "categorical":
        B = params.emissionprob
        s = np.arange(B.shape[1], dtype=float)
        return (B @ s)[:, None], (B @ s**2)[:, None]
    means, covs = params.means, emission_covariances(params)
    second = np.diagonal(covs, axis1=-2, axis2=-1) + means**2
    if params.emission == "gaussian":
        return means, second
    if params.emission == "gmm":
        w = params.weights
        return np.einsum("km,kmd->kd", w, means), np.einsum("km,kmd->kd", w, second)
    raise ValueError(f"unknown emission kind {params.emission!r}")


def mixture_moments(state_probs, means, second):
    """Mean and standard deviation of a mixture over states.

    ``E[x] = sum_k p_k E[x|k]``, ``Var[x] = sum_k p_k E[x^2|k] - E[x]^2`` (per feature).

    Parameters
    ----------
    state_probs : ndarray of shape (..., K)
    means, second : ndarray of shape (K, d)

    Returns
    -------
    mean, std : ndarray of shape (..., d)
    """
    mean = state_probs @ means
    var = state_probs @ second - mean**2
    return mean, np.sqrt(np.maximum(var, 0.0))


def predictive_moments(params, state_probs):
    """Mean and standard deviation of the observation under a distribution over states.

    With ``p = p(z_t | x_<t)`` (:func:`forward`'s ``predicted``), ``E[x_t | x_<t]`` and
    its standard deviation; with ``p = alpha_T A^h`` (:func:`propagate`), the forecast
    ``h`` steps ahead: :func:`mixture_moments` of :func:`state_moments`.

    Returns
    -------
    mean, std : ndarray of shape (..., d)
    """
    return mixture_moments(state_probs, *state_moments(params))


def one_step_moments(params, obs, mask):
    """Mean and standard deviation of each observation given the ones before it.

    ``E[x_t | x_<t] = sum_k p_t[k] E[x | z = k]`` with ``p_t = p(z_t | x_<t)`` from
    :func:`forward` (``pi`` at the first step), and its standard deviation
    (:func:`predictive_moments`).

    Returns
    -------
    mean, std : ndarray of shape (n, T, d)
    """
    return predictive_moments(params, filter_states(params, obs, mask).predicted)


def forecast_moments(params, obs, mask, horizon):
    """Mean and standard deviation of ``x_{T_i + h}`` given each whole sequence.

    The state distribution ``alpha_T A^h`` (:func:`propagate` from the filtered
    distribution at each sequence's last step), then :func:`predictive_moments`.

    Returns
    -------
    mean, std : ndarray of shape (n, horizon, d)
    """
    filtered = filter_states(params, obs, mask, return_predicted=False).filtered
    last = filtered[np.arange(mask.shape[0]), mask.sum(axis=1) - 1]
    return predictive_moments(params, propagate(last, params.transmat, horizon))


# -- sampling -------------------------------------------------------------------------


def sample_states(startprob, transmat, n_sequences, n_timesteps, rng):
    """Draw state paths of a Markov chain, all sequences at once (inverse CDF).

    Returns
    -------
    ndarray of int of shape (n_sequences, n_timesteps)
    """
    K = startprob.shape[0]
    u = rng.random((n_sequences, n_timesteps))
    states = np.empty((n_sequences, n_timesteps), dtype=np.intp)
    cdf0 = np.cumsum(startprob)
    states[:, 0] = np.minimum(np.searchsorted(cdf0, u[:, 0] * cdf0[-1], side="right"), K - 1)
    cdf = np.cumsum(transmat, axis=1)
    for t in range(1, n_timesteps):
        rows = cdf[states[:, t - 1]]
        pick = (rows <= (u[:, t] * rows[:, -1])[:, None]).sum(axis=1)
        states[:, t] = np.minimum(pick, K - 1)
    return states


def _draw(probs, states, rng):
    """One draw per step from row ``states[i, t]`` of ``probs`` (inverse CDF)."""
    cdf = np.cumsum(probs, axis=1)[states]  # (n, T, S)
    u = rng.random(states.shape + (1,)) * cdf[..., -1:]
    return np.minimum((cdf <= u).sum(axis=-1), cdf.shape[-1] - 1)


def sample(params, n_sequences, n_timesteps, rng):
    """Draw sequences and their hidden states, all sequences at once.

    ``z_1 ~ pi``, ``z_t ~ A[z_{t-1}]`` (:func:`sample_states`), then ``x_t ~ b_{z_t}``:
    a symbol ``s ~ B[z_t]``; or ``x_t = mu + L eps`` with ``eps ~ N(0, I)`` and
    ``L L' = Sigma`` (Cholesky) of the state's Gaussian, or of the mixture component
    ``m ~ w[z_t]``.

    Parameters
    ----------
    params : HMMParams
    n_sequences, n_timesteps : int
    rng : numpy.random.Generator

    Returns
    -------
    X : ndarray of shape (n_sequences, n_timesteps, d)
        Float observations; int64 symbols (d = 1) for categorical emissions.
    states : ndarray of int of shape (n_sequences, n_timesteps)
    """
    z = sample_states(params.startprob, params.transmat, n_sequences, n_timesteps, rng)
    if params.emission == "categorical":
        return _draw(params.emissionprob, z, rng)[..., None].astype(np.int64), z
    means, covs = params.means, emission_covariances(params)
    if params.emission == "gmm":
        m = _draw(params.weights, z, rng)
        means, covs = means[z, m], covs[z, m]
    else:
        means, covs = means[z], covs[z]
    eps = rng.standard_normal(means.shape)
    return means + np.einsum("ntab,ntb->nta", np.linalg.cholesky(covs), eps), z
