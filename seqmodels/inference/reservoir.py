"""The numerical core of the echo-state network: pure functions over padded arrays.

A reservoir of N leaky tanh units driven by the inputs ``u_t`` (d features)::

    x_t = (1 - a) x_{t-1} + a tanh(W x_{t-1} + W_in u_t + b),      x_{-1} = 0

with a fixed random recurrent matrix ``W`` (N, N), input matrix ``W_in`` (N, d), bias ``b``
(N,) and leak rate ``a`` in (0, 1] (reservoirpy's ``Reservoir``: the same update, in the same
order). Only the linear readout is learned::

    target_t = c + A z_t + e_t,      e_t ~ N(0, Sigma),      z_t = x_t  or  [x_t, u_t]

by ridge regression in closed form (reservoirpy's ``Ridge``: the intercept is not penalised,
the penalty ``ridge`` is added to the centred Gram matrix of all rows)::

    A' = (Zc' Zc + ridge I)^+ Zc' Yc,      c = mean(Y) - A mean(Z)

``offset`` is 1 in forecasting mode (``z_{t-1}`` predicts ``u_t``: the readout of the state
that has read ``u_0..u_{t-1}``) and 0 in supervised mode (``z_t`` estimates ``y_t``).

Sequences are a NaN-padded array ``(n_sequences, n_timesteps, d)``. Every function runs one
recursion over time for all sequences at once, in blocks of time so that the states of a
long batch are never held whole, with one BLAS thread (:mod:`seqmodels.utils.threads`: on the
loaded 2-core development machine a second pool thread made the per-step product ten times
slower), and keeps no state; :class:`seqmodels.EchoStateNetwork`
validates, calls them and stores the results.

Speed (:func:`state_blocks`, :func:`fit_readout`): the states are held unit-major, ``(N,
n_sequences)`` per step, in one reused buffer laid out so that each step is a single product
``[W, W_in, b] [x_{t-1}; u_t; 1]`` written where the state belongs, then ``tanh`` in place:
no input-drive array, no temporary, no copy. ``[W, W_in, b]`` is multiplied as a
scipy.sparse CSR matrix when at most ``SPARSE_DENSITY`` (8 %) of it is non-zero and it has
``SPARSE_MIN_UNITS`` (64) units or more. Measured per step against the dense product (2
busy cores, one BLAS thread, min of 5): at 100-400 units the sparse product took 0.4-0.7
of the time at 3-4 % density, 0.5-0.9 at 5-6 %, 0.7-0.9 at 7-8 % for up to 1,000
sequences (0.7-1.2 for 4,000), about the same at 10-11 % (the default connectivity 0.1
gives 11 % at 100 units: dense) and 1.1-2.1 times as long at 15 %. At 50 units the sparse
product took 1.3-1.6 times as long at every density for 100 sequences (0.75-0.96 below 9 %
for 1,000-4,000): small reservoirs stay dense. The readout's Gram matrix is a BLAS
symmetric rank-k update per step (half a general product's work), its sums and count
come from the row of ones. For 1,000 sequences of 100 units a step costs about 0.3 ms for
the product, 0.16 ms for ``tanh`` and, in the fit, 0.26 ms for the Gram update.
"""

from collections import namedtuple

import numpy as np
from scipy.linalg.blas import dsyrk
from scipy.sparse import csr_matrix

from ..utils.threads import one_blas_thread

__all__ = ["Reservoir", "Readout", "spectral_radius", "random_reservoir", "state_blocks",
           "reservoir_states", "final_states", "readout_rows", "fit_readout", "readout_steps",
           "gaussian_log_density", "forecast_paths", "step_matrix", "BLOCK",
           "SPARSE_DENSITY", "SPARSE_MIN_UNITS"]

#: Timesteps of states computed and consumed together (bounds the memory of the states).
#: 16 steps of 1,000 sequences of 100 units (13 MB) were still read back from cache: a fit
#: of 1,000 x 500 steps took 0.45 s in blocks of 4 to 16 steps, 0.65 s in blocks of 64.
BLOCK = 16

#: ``M = [W, W_in, b]`` is multiplied as a CSR matrix at or below this fraction of non-zeros
#: (:func:`step_matrix`; the crossover is measured in the module's docstring) ...
SPARSE_DENSITY = 0.08

#: ... and with at least this many units (below, the dense product wins at any density).
SPARSE_MIN_UNITS = 64

_LOG_2PI = np.log(2.0 * np.pi)

Reservoir = namedtuple("Reservoir", "W W_in bias leak_rate")
Reservoir.__doc__ = """The fixed part of an echo-state network.

W : ndarray of shape (N, N)
W_in : ndarray of shape (N, d)
bias : ndarray of shape (N,)
leak_rate : float in (0, 1]
"""

Readout = namedtuple("Readout", "coef intercept noise_cov")
Readout.__doc__ = """The learned linear readout ``target = intercept + coef @ z + e``.

coef : ndarray of shape (m, F)
    ``F = N`` (states) or ``N + d`` (states, then the inputs).
intercept : ndarray of shape (m,)
noise_cov : ndarray of shape (m, m)
    Maximum-likelihood covariance of the residuals on the fitted rows.
"""


@one_blas_thread
def spectral_radius(W):
    """Largest absolute eigenvalue of the square matrix ``W``."""
    if W.size == 0:
        return 0.0
    return float(np.max(np.abs(np.linalg.eigvals(W))))


def _sparse_draw(shape, density, draw, rng):
    """A dense array with ``max(1, round(density * size))`` non-zeros drawn by ``draw(k)``
    at distinct random positions (scipy.sparse.random's count, as reservoirpy draws)."""
    size = int(np.prod(shape))
    k = min(size, max(1, int(round(density * size))))
    out = np.zeros(size)
    out[rng.choice(size, size=k, replace=False)] = draw(k)
    return out.reshape(shape)


def random_reservoir(units, n_inputs, spectral_radius_, input_scaling, bias_scaling,
                     connectivity, input_connectivity, rng):
    """Draw ``(W, W_in, bias)`` as reservoirpy's defaults do.

    ``W``: standard normal weights at a fraction ``connectivity`` of random positions,
    rescaled to the spectral radius ``spectral_radius_`` (left as drawn when its radius is
    0); ``W_in``: weights ``±1`` at a fraction ``input_connectivity`` of positions, times
    ``input_scaling`` (a number, or one per input feature); ``bias``: ``±bias_scaling``
    for every unit. Each matrix draws from its own stream seeded from ``rng`` (a
    RandomState), so one given matrix leaves the others' draws unchanged.

    Returns
    -------
    Reservoir
        With ``leak_rate`` None (the caller's).
    """
    seeds = rng.randint(np.iinfo(np.int32).max, size=3)
    w_rng, in_rng, b_rng = (np.random.RandomState(int(s)) for s in seeds)
    W = _sparse_draw((units, units), connectivity, w_rng.standard_normal, w_rng)
    radius = spectral_radius(W)
    if radius > 0:
        W *= spectral_radius_ / radius
    W_in = _sparse_draw((units, n_inputs), input_connectivity,
                        lambda k: in_rng.choice([-1.0, 1.0], size=k), in_rng)
    W_in *= np.asarray(input_scaling, dtype=float).reshape(1, -1)
    bias = bias_scaling * b_rng.choice([-1.0, 1.0], size=units)
    return Reservoir(W, W_in, bias, None)


def step_matrix(reservoir, sparse=None):
    """The weights of one step, ``M = [W, W_in, b]`` (N, N + d + 1), dense or CSR.

    ``tanh(M [x_{t-1}; u_t; 1])`` is the new activation: the input drive and the bias
    come within the recurrent product (:func:`state_blocks`).

    Parameters
    ----------
    reservoir : Reservoir
    sparse : bool, optional
        Return a ``scipy.sparse`` CSR matrix. By default, when ``M`` has at least
        ``SPARSE_MIN_UNITS`` rows and at most a fraction ``SPARSE_DENSITY`` of non-zeros.

    Returns
    -------
    ndarray or scipy.sparse.csr_matrix of shape (N, N + d + 1)
    """
    W, W_in, bias, _ = reservoir
    M = np.hstack([np.asarray(W, dtype=float), np.asarray(W_in, dtype=float),
                   np.asarray(bias, dtype=float).reshape(-1, 1)])
    if sparse is None:
        sparse = (M.shape[0] >= SPARSE_MIN_UNITS
                  and np.count_nonzero(M) <= SPARSE_DENSITY * M.size)
    return csr_matrix(M) if sparse else M


def state_blocks(inputs, reservoir, block=BLOCK, initial_state=None, sparse=None):
    """Run the reservoir over every sequence at once; yield ``(start, slots)`` per block.

    ``slots[k]`` is step ``t = start + k`` of every sequence, unit-major: ``d + 1 + N``
    rows of length n_sequences, the inputs ``u_t`` (rows ``0..d-1``, NaN read as 0), a
    row of ones (row ``d``), then the state ``x_t`` (rows ``d + 1..``), the state after
    reading ``u_0..u_t``. So ``slots[:, d + 1:]`` are the states and a readout with the
    intercept in column ``d`` is one product per block. The states past a sequence's end
    (its NaN padding read as 0) are not meaningful and callers mask them.

    All slots lie one after the other in one buffer, so that the rows
    ``[x_{t-1}; u_t; 1]`` (the end of slot ``k - 1`` and the start of slot ``k``) are
    contiguous: each step is one product by ``M = [W, W_in, b]`` (:func:`step_matrix`)
    written into its slot, then ``tanh`` in place (and the leak, in place), with no
    temporary array and no copy. The buffer is reused from block to block: ``slots``
    is valid until the next block is asked for, and callers must not write to it.

    Parameters
    ----------
    inputs : ndarray of shape (n_sequences, n_timesteps, d)
    reservoir : Reservoir
    block : int
        Timesteps per yielded block.
    initial_state : ndarray of shape (n_sequences, N), optional
        ``x_{-1}``; zeros by default.
    sparse : bool, optional
        Multiply by ``M`` as a scipy.sparse CSR matrix; by default when it is sparse
        enough (:func:`step_matrix`).

    Yields
    ------
    start : int
    slots : ndarray of shape (n_steps_in_block, d + 1 + N, n_sequences)
    """
    a = float(reservoir.leak_rate)
    n, T, d = inputs.shape
    N = reservoir.W.shape[0]
    S = d + 1 + N
    M = step_matrix(reservoir, sparse)
    sparse = not isinstance(M, np.ndarray)
    clean = np.nan_to_num(inputs, nan=0.0) if np.isnan(inputs).any() else inputs
    size = max(1, min(block, T))
    flat = np.empty(((size + 1) * S, n))
    slots = flat.reshape(size + 1, S, n)        # slot 0: the state before the block
    slots[0, d + 1:] = 0.0 if initial_state is None else np.asarray(initial_state).T
    slots[:, d] = 1.0
    kept = None if a == 1.0 else np.empty((N, n))
    for start in range(0, T, block):
        steps = min(T, start + block) - start
        slots[1:steps + 1, :d] = clean[:, start:start + steps].transpose(1, 2, 0)
        for k in range(1, steps + 1):
            x = slots[k, d + 1:]
            before = flat[k * S - N: k * S + d + 1]         # [x_{t-1}; u_t; 1]
            if sparse:
                np.tanh(M @ before, out=x)
            else:
                np.matmul(M, before, out=x)
                np.tanh(x, out=x)
            if kept is not None:                           # (1 - a) x_{t-1} + a tanh(.)
                x *= a
                np.multiply(slots[k - 1, d + 1:], 1.0 - a, out=kept)
                x += kept
        slots[0, d + 1:] = slots[steps, d + 1:]
        yield start, slots[1:steps + 1]


@one_blas_thread
def reservoir_states(inputs, reservoir, initial_state=None):
    """Every state ``x_t`` of every sequence: ndarray of shape (n_sequences, n_timesteps, N)."""
    n, T, d = inputs.shape
    out = np.empty((n, T, reservoir.W.shape[0]))
    for start, slots in state_blocks(inputs, reservoir, initial_state=initial_state):
        out[:, start:start + slots.shape[0]] = slots[:, d + 1:].transpose(2, 0, 1)
    return out


@one_blas_thread
def final_states(inputs, lengths, reservoir):
    """The state after each sequence's last input, ``x_{T_i - 1}``: (n_sequences, N)."""
    n, _, d = inputs.shape
    last = np.zeros((n, reservoir.W.shape[0]))
    for start, slots in state_blocks(inputs, reservoir):
        idx = lengths - 1 - start
        here = np.flatnonzero((idx >= 0) & (idx < slots.shape[0]))
        last[here] = slots[idx[here], d + 1:, here]
    return last


def readout_rows(lengths, targets, offset, warmup, T):
    """Which states feed the readout fit: (n_sequences, n_timesteps) booleans.

    State ``t`` pairs with the target at ``t + offset``; it is used when ``t >= warmup``,
    that target lies inside the sequence and is observed (finite in every component).
    """
    t = np.arange(T)
    inside = (t[None, :] + offset) < lengths[:, None]
    observed = np.zeros_like(inside)
    if offset:
        observed[:, :-offset] = np.isfinite(targets[:, offset:]).all(axis=-1)
    else:
        observed = np.isfinite(targets).all(axis=-1)
    return inside & observed & (t >= warmup)[None, :]


def _shifted(values, start, stop):
    """``values[:, start:stop]``, NaN where ``stop`` runs past the end."""
    part = values[:, start:stop]
    if part.shape[1] == stop - start:
        return part
    out = np.full((values.shape[0], stop - start) + values.shape[2:], np.nan)
    out[:, : part.shape[1]] = part
    return out


def _solve_ridge(gram, cross, ridge):
    """``(gram + ridge I)^+ cross`` by a symmetric eigendecomposition.

    Eigenvalues at or below ``F * eps * max`` count as 0 (a pseudo-inverse: collinear
    or constant states give the minimum-norm solution instead of an error); for a
    well-conditioned system this equals ``scipy.linalg.solve(..., assume_a="sym")``
    (reservoirpy's) to rounding.
    """
    F = gram.shape[0]
    values, vectors = np.linalg.eigh(gram + ridge * np.eye(F))
    cutoff = F * np.finfo(float).eps * max(values.max(initial=0.0), 0.0)
    keep = values > cutoff
    inverse = np.zeros_like(values)
    inverse[keep] = 1.0 / values[keep]
    return vectors @ (inverse[:, None] * (vectors.T @ cross))


@one_blas_thread
def fit_readout(inputs, lengths, targets, reservoir, offset, warmup, ridge,
                input_to_readout):
    """The ridge readout over every sequence at once, in one pass over the states.

    Each step's slot (:func:`state_blocks`: inputs, a row of ones, states) and targets,
    shifted by the means of the first block's rows (so the centring loses no precision),
    with the unused rows (:func:`readout_rows`) zeroed, are stacked into one
    ``(d + 1 + N + m, n_sequences)`` array whose Gram matrix is accumulated by a
    symmetric rank-k update (BLAS ``dsyrk``, half a general product's work). It holds
    the features' Gram matrix, their cross products with the targets, the targets'
    own, and (from the row of ones) the sums and the number of rows. The readout is
    then solved in closed form (:func:`_solve_ridge`). The residual covariance follows
    from the same sums::

        n Sigma = Yc'Yc - A Zc'Yc - Yc'Zc A' + A Zc'Zc A'

    floored at ``1e-12`` times the targets' mean variance (a fit exact to rounding).

    Parameters
    ----------
    inputs : ndarray of shape (n_sequences, n_timesteps, d)
    lengths : ndarray of int of shape (n_sequences,)
    targets : ndarray of shape (n_sequences, n_timesteps, m)
        ``inputs`` itself in forecasting mode (with ``offset=1``).
    reservoir : Reservoir
    offset : {0, 1}
    warmup : int
        States ``x_0..x_{warmup-1}`` of each sequence are left out.
    ridge : float
    input_to_readout : bool

    Returns
    -------
    readout : Readout
    n_rows : int
        The number of rows fitted.
    """
    n, T, d = inputs.shape
    m = targets.shape[-1]
    S = d + 1 + reservoir.W.shape[0]
    use = readout_rows(lengths, targets, offset, warmup, T)
    shift = work = sums = None
    for start, slots in state_blocks(inputs, reservoir):
        steps = slots.shape[0]
        rows = use[:, start:start + steps].T                 # (steps, n_sequences)
        if not rows.any():
            continue
        Y = _shifted(targets, start + offset, start + steps + offset).transpose(1, 2, 0)
        if shift is None:
            count = rows.sum()
            shift = np.concatenate([
                np.where(rows[:, None], slots, 0.0).sum(axis=(0, 2)) / count,
                np.where(rows[:, None], Y, 0.0).sum(axis=(0, 2)) / count])[:, None]
            shift[d] = 0.0                                   # the row of ones stays 1
            work = np.empty((S + m, n))
        some, every = rows.any(axis=1), rows.all(axis=1)
        for k in np.flatnonzero(some):
            np.subtract(slots[k], shift[:S], out=work[:S])
            np.subtract(Y[k], shift[S:], out=work[S:])
            if not every[k]:
                work[:, ~rows[k]] = 0.0
            sums = dsyrk(1.0, work.T, trans=1) if sums is None else dsyrk(
                1.0, work.T, beta=1.0, c=sums, trans=1, overwrite_c=1)
    if sums is None:
        return None, 0
    sums = np.triu(sums)
    sums += np.triu(sums, 1).T
    count = int(round(sums[d, d]))
    z = np.r_[d + 1:S, :d] if input_to_readout else np.arange(d + 1, S)
    y = np.arange(S, S + m)
    gram, cross, yy = sums[np.ix_(z, z)], sums[np.ix_(z, y)], sums[np.ix_(y, y)]
    shift_z, shift_y = shift[z, 0], shift[y, 0]
    dz, dy = sums[z, d] / count, sums[y, d] / count
    gram -= count * np.outer(dz, dz)
    cross -= count * np.outer(dz, dy)
    yy -= count * np.outer(dy, dy)
    if not (np.isfinite(gram).all() and np.isfinite(cross).all() and np.isfinite(yy).all()):
        return None, count
    B = _solve_ridge(0.5 * (gram + gram.T), cross, float(ridge))      # (F, m)
    coef = B.T
    intercept = shift_y + dy - coef @ (shift_z + dz)
    BtC = B.T @ cross
    resid = (yy - BtC - BtC.T + B.T @ gram @ B) / count
    return Readout(coef, intercept, _floor_covariance(resid, yy / count)), count


def _floor_covariance(cov, scale_cov):
    """Symmetric, eigenvalues at least ``1e-12`` times the mean variance of ``scale_cov``."""
    cov = 0.5 * (cov + cov.T)
    m = cov.shape[0]
    floor = max(1e-12 * np.trace(scale_cov) / m, 1e-300)
    values, vectors = np.linalg.eigh(cov)
    if values.min() >= floor:
        return cov
    values = np.maximum(values, floor)
    out = (vectors * values) @ vectors.T
    return 0.5 * (out + out.T)


@one_blas_thread
def readout_steps(inputs, reservoir, readout, offset, input_to_readout, first=None):
    """The readout's output at every step: ``mean[:, t] = c + A z_{t - offset}``.

    One product per block of slots (:func:`state_blocks`) by the readout's weights laid
    out as a slot's rows (the intercept against the row of ones).

    Parameters
    ----------
    first : ndarray of shape (m,), optional
        The prediction at step 0 in forecasting mode (``offset=1``), where no state has
        read an input yet: the model's prior mean.

    Returns
    -------
    ndarray of shape (n_sequences, n_timesteps, m)
    """
    n, T, d = inputs.shape
    coef, intercept, _ = readout
    N = reservoir.W.shape[0]
    weights = np.zeros((coef.shape[0], d + 1 + N))       # by the rows of a slot
    weights[:, d] = intercept
    weights[:, d + 1:] = coef[:, :N]
    if input_to_readout:
        weights[:, :d] = coef[:, N:]
    out = np.empty((n, T, coef.shape[0]))
    for start, slots in state_blocks(inputs, reservoir):
        values = np.matmul(weights, slots)                  # (steps, m, n_sequences)
        stop = min(T, start + slots.shape[0] + offset)
        out[:, start + offset:stop] = values[: stop - start - offset].transpose(2, 0, 1)
    if offset:
        out[:, 0] = first
    return out


def gaussian_log_density(residuals, covs, which, observed):
    """Sum over observed steps of ``log N(r_t; 0, covs[which[t]])`` per sequence.

    Parameters
    ----------
    residuals : ndarray of shape (n_sequences, n_timesteps, m)
    covs : ndarray of shape (K, m, m)
    which : ndarray of int of shape (n_timesteps,)
    observed : ndarray of bool of shape (n_sequences, n_timesteps)

    Returns
    -------
    ndarray of shape (n_sequences,)
    """
    m = residuals.shape[-1]
    chol = np.linalg.cholesky(covs)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    inv_chol = np.linalg.inv(chol)
    clean = np.where(observed[..., None], residuals, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        z = np.einsum("tij,ntj->nti", inv_chol[which], clean)
        per_step = -0.5 * (m * _LOG_2PI + logdet[which][None] + np.sum(z**2, axis=-1))
    return np.where(observed, per_step, 0.0).sum(axis=1)


@one_blas_thread
def forecast_paths(inputs, lengths, reservoir, readout, horizon, input_to_readout,
                   return_cov=False):
    """Free-run forecasts: each prediction is fed back as the next input.

    From the state ``x`` after a sequence's last input ``u``::

        u^_1 = c + A z(x, u),  x_1 = (1 - a) x + a tanh(W x + W_in u^_1 + b),
        u^_2 = c + A z(x_1, u^_1),  ...

    With ``return_cov`` the covariance is propagated to first order, as an extended
    Kalman filter does: the readout's noise ``Sigma`` enters each fed-back input, and the
    state update is linearised at the mean, ``J_x = (1 - a) I + a D W``,
    ``J_u = a D W_in``, ``D = diag(1 - tanh²)``; step 1's covariance is ``Sigma`` itself.
    It costs ``O(N³)`` per sequence and step (the mean alone ``O(N²)``).

    Returns
    -------
    mean : ndarray of shape (n_sequences, horizon, d)
    cov : ndarray of shape (n_sequences, horizon, d, d), only with ``return_cov``
    """
    W, W_in, bias, a = reservoir
    coef, intercept, noise_cov = readout
    n = inputs.shape[0]
    N = W.shape[0]
    x = final_states(inputs, lengths, reservoir)
    u = inputs[np.arange(n), lengths - 1]
    d = u.shape[1]
    means = np.empty((n, horizon, d))
    covs = np.empty((n, horizon, d, d)) if return_cov else None
    F = coef.shape[1]
    P = np.zeros((n, F, F)) if return_cov else None
    eye = np.eye(N)
    for h in range(horizon):
        z = np.concatenate([x, u], axis=1) if input_to_readout else x
        u = z @ coef.T + intercept
        means[:, h] = u
        pre = x @ W.T + u @ W_in.T + bias
        act = np.tanh(pre)
        if return_cov:
            CP = np.einsum("mf,nfg->nmg", coef, P)                 # Cov(u^, z) (n, m, F)
            S = np.einsum("nmg,kg->nmk", CP, coef) + noise_cov     # Var(u^)
            covs[:, h] = S
            D = 1.0 - act**2
            J_x = (1.0 - a) * eye + a * D[:, :, None] * W          # (n, N, N)
            J_u = a * D[:, :, None] * W_in                         # (n, N, d)
            P_xx = P[:, :N, :N]
            C_xu = CP[:, :, :N].transpose(0, 2, 1)                 # Cov(x, u^) (n, N, d)
            Jx_Cxu = J_x @ C_xu
            mixed = Jx_Cxu @ J_u.transpose(0, 2, 1)
            new_xx = (J_x @ P_xx @ J_x.transpose(0, 2, 1) + mixed + mixed.transpose(0, 2, 1)
                      + J_u @ S @ J_u.transpose(0, 2, 1))
            if input_to_readout:
                new_xu = Jx_Cxu + J_u @ S                           # Cov(x', u^)
                P = np.concatenate([
                    np.concatenate([new_xx, new_xu], axis=2),
                    np.concatenate([new_xu.transpose(0, 2, 1), S], axis=2)], axis=1)
            else:
                P = new_xx
            P = 0.5 * (P + P.transpose(0, 2, 1))
        x = (1.0 - a) * x + a * act
    return (means, covs) if return_cov else means
