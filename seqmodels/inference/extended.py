"""Pure-function, vectorised extended Kalman filter.

The model (nonlinear transition f and measurement h, Gaussian noise)::

    x_t = f(x_{t-1}) + w_t,   w_t ~ N(0, Q)
    z_t = h(x_t)     + v_t,   v_t ~ N(0, R)

The extended Kalman filter carries the mean through the nonlinear functions and the
covariance through their Jacobians, ``F = df/dx`` at the previous estimate and
``H = dh/dx`` at the prediction (first-order Taylor expansions)::

    predict:  x^- = f(x),           P^- = F P F' + Q,          F = J_f(x)
    update:   zp  = h(x^-),         H = J_h(x^-)
              S = H P^- H' + R,     K = P^- H' S^{-1}
              x = x^- + K (z - zp), P = (I - K H) P^- (I - K H)' + K R K'  (Joseph form,
              evaluated as P^- - K H P^- - P^- H' K' + K S K')

The mean is predicted with f itself, not with ``F x``: filterpy's
``ExtendedKalmanFilter.predict`` (and its ``predict_update``, filterpy#271) propagates
``F x``, right only for a linear f; the equations above are what its documentation
tells a user to do by hand (override ``predict_x``). The covariance update is
filterpy's Joseph form.

Same conventions as :mod:`.kalman` and :mod:`.sigma_points`: one recursion over time
that updates all sequences at once, measurements ``Z`` of shape ``(n, T, d)`` with NaN
where missing (an all-NaN row skips the update; a partial row updates on its observed
components), filterpy's order (predict, then update). The functions are *vectorised*
over rows: ``fx`` maps states ``(m, k)`` to ``(m, k)``, ``fx_jacobian`` to
``(m, k, k)``, ``hx`` to ``(m, d)`` and ``hx_jacobian`` to ``(m, d, k)``. Angular
measurement components (a bearing) have wrapped residuals.
"""

from typing import NamedTuple

import numpy as np

from .kalman import symmetrise
from .sigma_points import _SCALE_MESSAGE, ScaleError, UKFResult, _z_residual

__all__ = ["ExtendedModel", "EKFResult", "ekf_filter", "extended_forecast"]


class ExtendedModel(NamedTuple):
    """A nonlinear Gaussian model with the Jacobians of its functions."""

    fx: object              # (m, k) -> (m, k)
    fx_jacobian: object     # (m, k) -> (m, k, k)
    hx: object              # (m, k) -> (m, d)
    hx_jacobian: object     # (m, k) -> (m, d, k)
    Q: np.ndarray           # (k, k)
    R: np.ndarray           # (d, d)
    x0: np.ndarray          # (k,)
    P0: np.ndarray          # (k, k)
    angle_mask: np.ndarray  # (d,) bool: measurement components that are angles (wrapped)


#: Output of :func:`ekf_filter`: the UKF's result record (one covariance per sequence and step).
EKFResult = UKFResult


def _call(function, x, shape):
    """``function(x)`` as a float array of the documented shape (a user's function checked)."""
    out = np.asarray(function(x), dtype=float)
    if out.shape != shape:
        raise ValueError(f"{getattr(function, '__name__', type(function).__name__)} returned "
                         f"shape {out.shape} for states of shape {x.shape}; expected {shape}.")
    return out


def _t(A):
    """The transpose of each matrix in A (..., a, b), contiguous: numpy's stacked matmul is
    several times slower on a transposed view than on a contiguous array."""
    return np.ascontiguousarray(np.swapaxes(A, -1, -2))


def _predict(fx, fx_jacobian, Q, x, P):
    """``x^- = f(x)``, ``P^- = F P F' + Q`` with ``F = J_f(x)`` at the previous estimate.

    A covariance that overflows (input far beyond the model's scale) raises
    :class:`.sigma_points.ScaleError`, as the unscented filter's square root does.
    """
    n, k = x.shape
    F = _call(fx_jacobian, x, (n, k, k))
    xm = _call(fx, x, (n, k))
    P = symmetrise(F @ P @ _t(F) + Q)
    if not np.isfinite(P).all():
        raise ScaleError(_SCALE_MESSAGE)
    return xm, P


def _measure(hx, hx_jacobian, R, x, P):
    """``zp = h(x)``, ``H = J_h(x)``, ``S = H P H' + R``."""
    (n, k), d = x.shape, R.shape[0]
    H = _call(hx_jacobian, x, (n, d, k))
    zp = _call(hx, x, (n, d))
    return zp, H, symmetrise(H @ P @ _t(H) + R)


def _inverse_cholesky(S):
    """``(L^-1, log det S)`` of each symmetric positive definite S (n, d, d), ``S = L L'``.

    Cholesky's columns and the forward substitution, each a loop over the d components
    vectorised across the n matrices: for the few components of a measurement this is
    several times faster than numpy's batched LAPACK calls (one call per matrix). A
    matrix that is not positive definite raises :class:`numpy.linalg.LinAlgError`, as
    :func:`numpy.linalg.cholesky` does.
    """
    n, d, _ = S.shape
    L = np.zeros_like(S)
    for j in range(d):
        v = S[:, j:, j]
        if j:
            v = v - np.einsum("nik,nk->ni", L[:, j:, :j], L[:, j, :j])
        if not (v[:, 0] > 0).all():
            raise np.linalg.LinAlgError("Matrix is not positive definite")
        L[:, j, j] = root = np.sqrt(v[:, 0])
        L[:, j + 1:, j] = v[:, 1:] / root[:, None]
    Li = np.zeros_like(S)
    diag = np.diagonal(L, axis1=1, axis2=2)
    for i in range(d):
        Li[:, i, i] = 1.0 / diag[:, i]
        if i:
            Li[:, i, :i] = -np.einsum("nk,nkj->nj", L[:, i, :i], Li[:, :i, :i]) \
                * Li[:, i, i, None]
    return Li, 2.0 * np.log(diag).sum(axis=-1)


def _update(R, angle_mask, x, P, zp, H, S, z, mask):
    """One update on the observed components; returns x, P and ``log N(z; zp, S)``.

    A missing component has a zero row in H (it adds nothing to the gain) and an identity
    row in S, so ``K = P H' S^{-1}`` is the update on the observed components alone; with
    every component missing K = 0 and the state stays as predicted. The log density is
    :func:`.kalman.innovations_loglik`'s, over the observed components, from the same
    Cholesky factor as the gain.
    """
    d = R.shape[0]
    r = np.where(mask, _z_residual(np.where(mask, z, zp), zp, angle_mask), 0.0)
    if mask.all():                                  # every component observed: no masking
        Sm, Hm = S, H
    else:
        Sm = np.where(mask[:, :, None] & mask[:, None, :], S, np.eye(d))
        Hm = H * mask[:, :, None]
    Li, logdet = _inverse_cholesky(Sm)
    PHt = P @ _t(Hm)                                                # P H'   (n, k, d)
    K = PHt @ (_t(Li) @ Li)                                         # P H' S^{-1}
    x_new = x + np.einsum("nkd,nd->nk", K, r)
    # Joseph's (I - K H) P (I - K H)' + K R K', multiplied out: P - K (P H')' - (P H') K'
    # + K S K' (S = H P H' + R), equal for any gain K; the d-wide products cost less than
    # the k-wide ones of the factored form
    M = K @ _t(PHt)
    P_new = P - M - _t(M) + K @ Sm @ _t(K)
    white = np.einsum("nij,nj->ni", Li, r)
    loglik = -0.5 * (mask.sum(axis=1) * np.log(2 * np.pi) + logdet + (white**2).sum(axis=1))
    return x_new, symmetrise(P_new), loglik


def ekf_filter(model, Z):
    """Extended Kalman filter over all sequences at once (equations in the module doc).

    For t = 1..T, filterpy's order::

        predict:  F = J_f(x),  x^- = f(x),  P^- = F P F' + Q
        update:   H = J_h(x^-),  zp = h(x^-),  S = H P^- H' + R,  K = P^- H' S^{-1}
                  x = x^- + K (z - zp),  P = (I - K H) P^- (I - K H)' + K R K'

    ``loglik[:, t] = log N(z_t; zp_t, S_t)`` over the observed components.

    Parameters
    ----------
    model : ExtendedModel
    Z : ndarray of shape (n, T, d), NaN where missing

    Returns
    -------
    EKFResult
        Arrays of shape (n, T, ...), views of time-major buffers (written one step at a
        time, contiguously).
    """
    n, T, d = Z.shape
    k = model.x0.shape[0]
    observed = ~np.isnan(Z)
    x = np.broadcast_to(model.x0, (n, k)).astype(float)
    P = np.broadcast_to(model.P0, (n, k, k)).astype(float)
    out = EKFResult(np.empty((T, n, k)), np.empty((T, n, k, k)), np.empty((T, n, k)),
                    np.empty((T, n, k, k)), np.empty((T, n, d)), np.empty((T, n, d, d)),
                    np.empty((T, n)))
    for t in range(T):
        x, P = _predict(model.fx, model.fx_jacobian, model.Q, x, P)
        out.predicted_mean[t], out.predicted_cov[t] = x, P
        zp, H, S = _measure(model.hx, model.hx_jacobian, model.R, x, P)
        x, P, out.loglik[t] = _update(model.R, model.angle_mask, x, P, zp, H, S, Z[:, t],
                                      observed[:, t])
        out.filtered_mean[t], out.filtered_cov[t] = x, P
        out.predicted_measurement[t], out.predicted_measurement_cov[t] = zp, S
    return EKFResult(*(np.swapaxes(a, 0, 1) for a in out))


def extended_forecast(model, x, P, horizon):
    """Propagate states ``horizon`` steps with the EKF's prediction; measurement moments.

    Each step is the filter's predict without an update (``x <- f(x)``,
    ``P <- F P F' + Q``), then ``zp = h(x)``, ``S = H P H' + R``: the first step is the
    filter's one-step-ahead prediction of the next measurement. ``model.x0`` and
    ``model.P0`` are not used: ``x`` (n, k) and ``P`` (n, k, k) are the filtered states
    to start from.

    Returns
    -------
    z_mean : ndarray of shape (n, horizon, d)
    z_cov : ndarray of shape (n, horizon, d, d)
    """
    n, d = x.shape[0], model.R.shape[0]
    z_mean, z_cov = np.empty((n, horizon, d)), np.empty((n, horizon, d, d))
    for h in range(horizon):
        x, P = _predict(model.fx, model.fx_jacobian, model.Q, x, P)
        z_mean[:, h], _, z_cov[:, h] = _measure(model.hx, model.hx_jacobian, model.R, x, P)
    return z_mean, z_cov
