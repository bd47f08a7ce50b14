"""Pure-function numerical core of the hidden Markov model, vectorised across sequences.

Every function works on padded arrays: ``log_b`` of shape ``(n_sequences, T, K)`` holds
the emission log-densities ``log p(x_t | z_t = k)`` and ``mask`` of shape
``(n_sequences, T)`` marks the real timesteps (False past each sequence's end).
Each recursion loops over time once and updates every sequence at once; nothing loops
over sequences.

Notation: ``pi`` the initial state distribution (K,), ``A`` the transition matrix
(K, K) with ``A[j, k] = p(z_t = k | z_{t-1} = j)``, ``b_k(x) = p(x | z = k)``.
"""

import numpy as np
from scipy.special import logsumexp

__all__ = [
    "full_covariances",
    "gaussian_log_density",
    "GaussianBlocks",
    "gmm_log_density",
    "categorical_log_prob",
    "forward",
    "forward_log_likelihood",
    "log_filter",
    "backward_smooth",
    "viterbi",
    "propagate",
    "state_moments",
    "mixture_moments",
    "sample_states",
    "count_chain",
    "gaussian_mle",
    "categorical_mle",
]

_LOG_2PI = np.log(2.0 * np.pi)
# Elements (float64) of the temporaries processed per block of rows or of timesteps:
# 128 KiB, small enough to stay in cache and be reused from block to block.
_BLOCK_ELEMENTS = 16384


# -- emissions ------------------------------------------------------------------------


def full_covariances(covars, covariance_type, n_features):
    """Expand hmmlearn's compact covariance parameters to full matrices.

    Parameters
    ----------
    covars : ndarray
        ``full``: (..., d, d); ``diag``: (..., d); ``spherical``: (...,);
        ``tied``: (d, d) for Gaussian emissions (one matrix shared by all
        states) -- pass it already broadcast for mixtures.
    covariance_type : {"full", "diag", "spherical", "tied"}
    n_features : int

    Returns
    -------
    ndarray of shape (..., d, d)
    """
    covars = np.asarray(covars, dtype=float)
    d = n_features
    if covariance_type in ("full", "tied"):
        return covars.copy()
    if covariance_type == "diag":
        return covars[..., :, None] * np.eye(d)
    if covariance_type == "spherical":
        return covars[..., None, None] * np.eye(d)
    raise ValueError(f"unknown covariance_type {covariance_type!r}")


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
    (B, d) @ (d, K d): thin and memory-bound (hmm.py runs it under one BLAS thread).
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
    # Time-major (a view when log_b is, as hmm.py makes it), so that each step reads and
    # writes contiguous (n, K) blocks.
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
    return filtered.transpose(1, 0, 2), predicted, loglik


def _forward_fast(log_bt, mask_t, startprob, transmat, filtered):
    """The forward pass of :func:`forward` without the underflow check, in blocks of steps.

    The scaled densities of a block of B steps are exponentiated at once into a
    (B, n, K) buffer reused from block to block (in cache, no fresh memory), and the
    block's ``log c_t`` summed into the log-likelihoods. Fills ``filtered``
    (time-major) in place and returns the log-likelihoods, or None as soon as a block
    has a step with ``c_t e^{-m_t} < 1e-280`` or a NaN (the caller then runs
    :func:`_forward_checked`).
    """
    T, n, K = log_bt.shape
    full = mask_t.all(axis=1)
    steps = max(1, min(T, _BLOCK_ELEMENTS // (n * K)))
    scaled = np.empty((steps, n, K))
    top = np.empty((steps, n))
    totals = np.empty((steps, n))
    columns = totals[..., None]
    pred = np.empty((n, K))
    ones = np.ones(K)  # row sums as a matrix-vector product: much faster than .sum(axis=1)
    loglik = np.zeros(n)
    alpha = np.broadcast_to(startprob, (n, K))
    for start in range(0, T, steps):
        B = min(steps, T - start)
        block, m, c = log_bt[start:start + B], top[:B], totals[:B]
        # m_t = max_k log b_k(x_t) without numpy's slow reduction over a short axis
        np.copyto(m, block[..., 0])
        for k in range(1, K):
            np.maximum(m, block[..., k], out=m)
        m[~np.isfinite(m)] = 0.0
        e = np.subtract(block, m[..., None], out=scaled[:B])
        np.exp(e, out=e)
        with np.errstate(divide="ignore", invalid="ignore"):  # any trouble: see below
            for i in range(B):
                t = start + i
                joint = filtered[t]
                if t:
                    np.matmul(alpha, transmat, out=pred)
                    np.multiply(pred, e[i], out=joint)
                else:
                    np.multiply(alpha, e[0], out=joint)
                np.matmul(joint, ones, out=c[i])
                np.divide(joint, columns[i], out=joint)
                if not full[t]:
                    ended = ~mask_t[t]
                    joint[ended] = alpha[ended]
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
    T, n = mask_t.shape
    K = startprob.shape[0]
    full = mask_t.all(axis=1)
    # State-major (K, n) vectors: the products by A' and by a vector of ones and the
    # division by c_t then run along rows of n elements, where numpy's and BLAS's inner
    # loops are fast (measured per step on (1000, 4): 8 us against 15 us sequence-major).
    scaled = np.empty((steps, K, n))
    top = np.empty((steps, n))
    totals = np.empty((steps, n))
    transposed = np.ascontiguousarray(np.asarray(transmat, dtype=float).T)
    pred = np.empty((K, n))
    buffers = (np.empty((K, n)), np.empty((K, n)))
    ones = np.ones(K)
    loglik = np.zeros(n)
    alpha = np.broadcast_to(np.asarray(startprob, dtype=float)[:, None], (K, n))
    for start in range(0, T, steps):
        B = min(steps, T - start)
        block, m, c = block_log_b(start, start + B), top[:B], totals[:B]
        np.copyto(m, block[0])
        for k in range(1, K):
            np.maximum(m, block[k], out=m)
        m[~np.isfinite(m)] = 0.0
        e = np.subtract(block.transpose(1, 0, 2), m[:, None, :], out=scaled[:B])
        np.exp(e, out=e)
        with np.errstate(divide="ignore", invalid="ignore"):
            for i in range(B):
                t = start + i
                joint = buffers[t % 2]
                if t:
                    np.matmul(transposed, alpha, out=pred)
                    np.multiply(pred, e[i], out=joint)
                else:
                    np.multiply(alpha, e[0], out=joint)
                np.matmul(ones, joint, out=c[i])
                np.divide(joint, c[i], out=joint)
                if not full[t]:
                    ended = ~mask_t[t]
                    joint[:, ended] = alpha[:, ended]
                alpha = joint
        if not _add_log_normalisers(c, m, mask_t[start:start + B], loglik):
            return None
    return loglik


def _forward_checked(log_bt, mask_t, startprob, transmat, filtered):
    """The forward pass of :func:`forward` with the underflow check at every step.

    A step whose scaled sum ``c_t e^{-m_t}`` falls below 1e-280 is redone in log
    space, ``log c_t = logsumexp_k (log p_t[k] + log b_k(x_t))``. Fills ``filtered``
    (time-major) in place and returns the log-likelihoods.
    """
    T, n, K = log_bt.shape
    top = log_bt[..., 0].copy()
    for k in range(1, K):
        np.maximum(top, log_bt[..., k], out=top)
    top[~np.isfinite(top)] = 0.0
    scaled = np.exp(log_bt - top[..., None])
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


# -- moments --------------------------------------------------------------------------


def state_moments(kind, params):
    """Mean and second moment of each state's emission distribution.

    Gaussian: ``E[x|k] = mu_k``, ``E[x x'|k] = Sigma_k + mu_k mu_k'``.
    Gaussian mixture: ``E[x|k] = sum_m w_km mu_km``,
    ``E[x x'|k] = sum_m w_km (Sigma_km + mu_km mu_km')``.
    Categorical (symbols 0..S-1 read as numbers): ``E[x|k] = sum_s s B[k, s]``,
    ``E[x^2|k] = sum_s s^2 B[k, s]``.

    Returns
    -------
    means : ndarray of shape (K, d)
    second : ndarray of shape (K, d)
        Diagonal of the second moment (only the marginal variances are needed).
    """
    if kind == "gaussian":
        means, covs = params["means"], params["covs"]
        return means, np.diagonal(covs, axis1=-2, axis2=-1) + means**2
    if kind == "gmm":
        w, means, covs = params["weights"], params["means"], params["covs"]
        m = np.einsum("km,kmd->kd", w, means)
        second = np.einsum("km,kmd->kd", w, np.diagonal(covs, axis1=-2, axis2=-1) + means**2)
        return m, second
    if kind == "categorical":
        B = params["emissionprob"]
        s = np.arange(B.shape[1], dtype=float)
        return (B @ s)[:, None], (B @ s**2)[:, None]
    raise ValueError(f"unknown emission kind {kind!r}")


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


# -- supervised maximum likelihood (counting) -------------------------------------------


def count_chain(states, n_states):
    """Maximum-likelihood initial and transition probabilities from labelled paths.

    ``pi[k] = #{i : z_i0 = k} / #{i : z_i0 labelled}`` and
    ``A[j, k] = #{(i, t) : z_{i,t-1} = j, z_it = k} / #{(i, t) : z_{i,t-1} = j}``,
    counting only pairs of consecutive labelled steps. A state never seen at the
    start, or never left, gets a uniform row (no data says otherwise).

    Parameters
    ----------
    states : ndarray of int of shape (n, T)
        State index per step, ``-1`` where unlabelled or past the end.
    n_states : int

    Returns
    -------
    startprob : ndarray of shape (K,)
    transmat : ndarray of shape (K, K)
    """
    K = n_states
    first = states[:, 0]
    start = np.bincount(first[first >= 0], minlength=K).astype(float)
    prev, nxt = states[:, :-1].ravel(), states[:, 1:].ravel()
    both = (prev >= 0) & (nxt >= 0)
    trans = np.bincount(prev[both] * K + nxt[both], minlength=K * K).reshape(K, K).astype(float)
    startprob = start / start.sum() if start.sum() > 0 else np.full(K, 1.0 / K)
    rows = trans.sum(axis=1, keepdims=True)
    transmat = np.where(rows > 0, trans / np.where(rows > 0, rows, 1.0), 1.0 / K)
    return startprob, transmat


def gaussian_mle(x, states, n_states, covariance_type, min_covar):
    """Maximum-likelihood Gaussian emission parameters from labelled observations.

    ``mu_k`` is the mean of the observations labelled k; the covariance is their
    (biased) scatter: per state (``full``), its diagonal (``diag``), the mean of
    the diagonal (``spherical``), or pooled over states (``tied``:
    ``sum_k n_k Sigma_k / N``); ``min_covar`` is added to the variances.

    Parameters
    ----------
    x : ndarray of shape (N, d)
    states : ndarray of int of shape (N,)
        Values in 0..K-1.

    Returns
    -------
    means : ndarray of shape (K, d)
    covars : ndarray in hmmlearn's compact shape for ``covariance_type``
        full (K, d, d), diag (K, d), spherical (K,), tied (d, d).
    """
    K, d = n_states, x.shape[1]
    counts = np.bincount(states, minlength=K).astype(float)
    means = np.empty((K, d))
    scatter = np.empty((K, d, d))
    for k in range(K):  # a loop over states, not sequences
        xk = x[states == k]
        means[k] = xk.mean(axis=0)
        diff = xk - means[k]
        scatter[k] = diff.T @ diff
    cov = scatter / counts[:, None, None]
    eye = np.eye(d)
    if covariance_type == "full":
        covars = cov + min_covar * eye
    elif covariance_type == "diag":
        covars = np.diagonal(cov, axis1=1, axis2=2) + min_covar
    elif covariance_type == "spherical":
        covars = np.diagonal(cov, axis1=1, axis2=2).mean(axis=1) + min_covar
    elif covariance_type == "tied":
        covars = scatter.sum(axis=0) / counts.sum() + min_covar * eye
    else:
        raise ValueError(f"unknown covariance_type {covariance_type!r}")
    return means, covars


def categorical_mle(symbols, states, n_states, n_symbols):
    """Maximum-likelihood emission probabilities ``B[k, s] = #(k, s) / #k`` by counting.

    Parameters
    ----------
    symbols, states : ndarray of int of shape (N,)

    Returns
    -------
    ndarray of shape (K, S)
    """
    counts = np.bincount(states * n_symbols + symbols, minlength=n_states * n_symbols)
    counts = counts.reshape(n_states, n_symbols).astype(float)
    return counts / counts.sum(axis=1, keepdims=True)
