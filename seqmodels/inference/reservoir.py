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
"""

from collections import namedtuple

import numpy as np

from ..utils.threads import one_blas_thread

__all__ = ["Reservoir", "Readout", "spectral_radius", "random_reservoir", "state_blocks",
           "reservoir_states", "final_states", "readout_rows", "fit_readout", "readout_steps",
           "gaussian_log_density", "forecast_paths", "BLOCK"]

#: Timesteps of states computed and consumed together (bounds the memory of the states).
BLOCK = 64

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


def state_blocks(inputs, reservoir, block=BLOCK, initial_state=None):
    """Run the reservoir over every sequence at once; yield ``(start, states)`` per block.

    ``states[k, i]`` is ``x_{start + k}`` of sequence ``i``, the state after reading
    ``u_0..u_{start+k}``: time-major, so that each step reads and writes contiguous memory.
    NaN inputs (padding past a sequence's end) are read as 0: the states there are not
    meaningful and callers mask them. Each block is a new array, the caller's to overwrite.

    Parameters
    ----------
    inputs : ndarray of shape (n_sequences, n_timesteps, d)
    reservoir : Reservoir
    block : int
        Timesteps per yielded block.
    initial_state : ndarray of shape (n_sequences, N), optional
        ``x_{-1}``; zeros by default.

    Yields
    ------
    start : int
    states : ndarray of shape (n_steps_in_block, n_sequences, N)
    """
    W, W_in, bias, a = reservoir
    n, T, _ = inputs.shape
    N = W.shape[0]
    clean = np.nan_to_num(inputs, nan=0.0) if np.isnan(inputs).any() else inputs
    by_time = np.ascontiguousarray(clean.transpose(1, 0, 2))
    x = np.zeros((n, N)) if initial_state is None else np.array(initial_state, dtype=float)
    WT = np.ascontiguousarray(W.T)
    W_inT = np.ascontiguousarray(W_in.T)
    pre = np.empty((n, N))
    a = float(a)
    for start in range(0, T, block):
        stop = min(T, start + block)
        out = by_time[start:stop] @ W_inT            # the input drive, then the states
        out += bias
        for k in range(stop - start):
            np.matmul(x, WT, out=pre)
            pre += out[k]
            np.tanh(pre, out=pre)
            if a == 1.0:
                x, pre = pre, x
            else:
                x *= 1.0 - a
                x += a * pre
            out[k] = x
        yield start, out


@one_blas_thread
def reservoir_states(inputs, reservoir, initial_state=None):
    """Every state ``x_t`` of every sequence: ndarray of shape (n_sequences, n_timesteps, N)."""
    n, T, _ = inputs.shape
    out = np.empty((n, T, reservoir.W.shape[0]))
    for start, states in state_blocks(inputs, reservoir, initial_state=initial_state):
        out[:, start:start + states.shape[0]] = states.transpose(1, 0, 2)
    return out


@one_blas_thread
def final_states(inputs, lengths, reservoir):
    """The state after each sequence's last input, ``x_{T_i - 1}``: (n_sequences, N)."""
    n = inputs.shape[0]
    last = np.zeros((n, reservoir.W.shape[0]))
    for start, states in state_blocks(inputs, reservoir):
        idx = lengths - 1 - start
        here = np.flatnonzero((idx >= 0) & (idx < states.shape[0]))
        last[here] = states[idx[here], here]
    return last


def _features(states, inputs, start, input_to_readout):
    """The readout's features of a time-major block: the states, then the inputs."""
    if not input_to_readout:
        return states
    u = inputs[:, start:start + states.shape[0]].transpose(1, 0, 2)
    return np.concatenate([states, np.nan_to_num(u, nan=0.0)], axis=-1)


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

    The rows (:func:`readout_rows`) are accumulated block by block into the Gram
    matrices of the features and targets, shifted by the first block's means (so the
    centring loses no precision), then solved in closed form (:func:`_solve_ridge`).
    The residual covariance follows from the same sums::

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
    n, T, _ = inputs.shape
    m = targets.shape[-1]
    use = readout_rows(lengths, targets, offset, warmup, T)
    shift_z = shift_y = None
    gram = cross = yy = None
    sum_z = sum_y = None
    count = 0
    for start, states in state_blocks(inputs, reservoir):
        stop = start + states.shape[0]
        rows = use[:, start:stop].T                 # time-major, as the states
        if not rows.any():
            continue
        Z = _features(states, inputs, start, input_to_readout)
        Y = _shifted(targets, start + offset, stop + offset).transpose(1, 0, 2)
        if rows.all():
            Z, Y = Z.reshape(-1, Z.shape[-1]), Y.reshape(-1, m)
        else:
            Z, Y = Z[rows], Y[rows]
        if shift_z is None:
            shift_z, shift_y = Z.mean(axis=0), Y.mean(axis=0)
            F = Z.shape[1]
            gram, cross, yy = np.zeros((F, F)), np.zeros((F, m)), np.zeros((m, m))
            sum_z, sum_y = np.zeros(F), np.zeros(m)
        Z -= shift_z                    # in place: each block is a fresh array
        Y = Y - shift_y
        gram += Z.T @ Z
        cross += Z.T @ Y
        yy += Y.T @ Y
        sum_z += Z.sum(axis=0)
        sum_y += Y.sum(axis=0)
        count += Z.shape[0]
    if count == 0:
        return None, 0
    dz, dy = sum_z / count, sum_y / count
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

    Parameters
    ----------
    first : ndarray of shape (m,), optional
        The prediction at step 0 in forecasting mode (``offset=1``), where no state has
        read an input yet: the model's prior mean.

    Returns
    -------
    ndarray of shape (n_sequences, n_timesteps, m)
    """
    n, T, _ = inputs.shape
    coef, intercept, _ = readout
    out = np.empty((n, T, coef.shape[0]))
    for start, states in state_blocks(inputs, reservoir):
        Z = _features(states, inputs, start, input_to_readout)
        values = Z @ coef.T
        values += intercept
        stop = min(T, start + states.shape[0] + offset)
        out[:, start + offset:stop] = values[: stop - start - offset].transpose(1, 0, 2)
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
