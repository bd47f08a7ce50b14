"""Pure-function, vectorised unscented Kalman filter and IMM estimator.

The model (nonlinear transition f and measurement h, Gaussian noise)::

    x_t = f(x_{t-1}) + w_t,   w_t ~ N(0, Q)
    z_t = h(x_t)     + v_t,   v_t ~ N(0, R)

The unscented transform of a Gaussian ``N(x, P)`` through a function g: the 2k + 1
sigma points (:func:`sigma_points`, filterpy's Merwe scaled points)::

    chi_0 = x,   chi_j = x + U_j,   chi_{k+j} = x - U_j,     U'U = (k + lambda) P
    lambda = alpha^2 (k + kappa) - k
    mean = sum_i Wm_i g(chi_i),   cov = sum_i Wc_i (g(chi_i) - mean)(g(chi_i) - mean)'

:func:`ukf_filter` predicts with the transform through f (plus Q) and updates with
the transform through h (plus R): ``K = Pxz S^{-1}``, ``x = x^- + K (z - zp)``,
``P = P^- - K S K'``. :func:`imm_filter` runs one such filter per mode of a Markov
chain and mixes them every step (filterpy's ``IMMEstimator``). The forecasts
(:func:`unscented_forecast`, :func:`imm_forecast`) repeat the prediction without
updates.

Same conventions as :mod:`.kalman`: one recursion over time that updates all
sequences at once, measurements ``Z`` of shape ``(n, T, d)`` with NaN where
missing (an all-NaN row skips the update; a partial row updates on its observed
components), filterpy's order (predict, then update). The sigma points and
weights are filterpy's :class:`~filterpy.kalman.MerweScaledSigmaPoints`; transition
and measurement functions are *vectorised*: they map an array of states of shape
``(m, k)`` (one per row) to ``(m, k)`` or ``(m, d)``. Angular measurement components
(a bearing) have circular means and wrapped residuals.
"""

from typing import NamedTuple

import numpy as np
from filterpy.kalman import MerweScaledSigmaPoints
from scipy.special import logsumexp

from .kalman import innovations_loglik, symmetrise

__all__ = ["ScaleError", "UnscentedModel", "UKFResult", "IMMResult", "EIGEN_FLOOR",
           "merwe_weights", "sigma_points", "ukf_filter", "imm_filter", "unscented_forecast",
           "imm_forecast"]


class UnscentedModel(NamedTuple):
    """A nonlinear Gaussian model for the unscented filter."""

    fx: object            # (m, k) -> (m, k)
    hx: object            # (m, k) -> (m, d)
    Q: np.ndarray         # (k, k)
    R: np.ndarray         # (d, d)
    x0: np.ndarray        # (k,)
    P0: np.ndarray        # (k, k)
    angle_mask: np.ndarray  # (d,) bool: measurement components that are angles (wrapped)


def merwe_weights(k, alpha, beta, kappa):
    """(Wm, Wc, lambda) of filterpy's scaled sigma points for a k-dimensional state."""
    points = MerweScaledSigmaPoints(k, alpha=alpha, beta=beta, kappa=kappa)
    return points.Wm, points.Wc, alpha**2 * (k + kappa) - k


def sigma_points(x, P, lam):
    """Scaled sigma points ``x, x + U_j, x - U_j`` with ``U'U = (k + lambda) P`` (filterpy's order).

    Parameters
    ----------
    x : ndarray of shape (n, k)
    P : ndarray of shape (n, k, k)

    Returns
    -------
    ndarray of shape (n, 2k + 1, k)
    """
    k = x.shape[-1]
    L = _sqrt_cov((lam + k) * P)                    # L L' = (k + lambda) P; rows of U = L'
    U = np.swapaxes(L, -1, -2)
    return np.concatenate([x[:, None], x[:, None] + U, x[:, None] - U], axis=1)


class ScaleError(ValueError):
    """A covariance without any finite square root: the input is far beyond the model's scale."""


#: Smallest eigenvalue kept by the repaired square root, of the covariance's correlation matrix
#: (about 100 float64 epsilons: the rounding noise of the covariance updates).
EIGEN_FLOOR = 1e-14


def _sqrt_cov(A):
    """A square root ``L`` with ``L L' = A`` of each covariance in ``A`` (n, k, k).

    The plain Cholesky factor, as before, wherever it exists (so well-conditioned
    covariances give exactly filterpy's sigma points). Only the covariances where it fails
    (not numerically positive definite: P collapsed in one direction, far from the
    training range) are repaired: symmetrised and scaled to its correlation matrix
    ``C = D^-1/2 A D^-1/2`` (``D`` its diagonal, so that state components in different
    units keep their own scale), then ``L = D^1/2 V sqrt(max(w, floor))`` from
    ``C = V diag(w) V'`` with the eigenvalues clipped at :data:`EIGEN_FLOOR`. A
    covariance that is not finite has no square root: :class:`ScaleError`.
    """
    try:
        return np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        pass
    A = np.array(A, dtype=float)
    if not np.isfinite(A).all():
        raise ScaleError(_SCALE_MESSAGE)
    L = np.empty_like(A)
    for i, a in enumerate(A):
        try:
            L[i] = np.linalg.cholesky(a)
            continue
        except np.linalg.LinAlgError:
            pass
        a = 0.5 * (a + a.T)
        diag = np.diag(a)
        top = float(diag.max())
        scale = np.sqrt(np.maximum(diag, EIGEN_FLOOR * top) if top > 0 else np.ones_like(diag))
        w, V = np.linalg.eigh(a / np.outer(scale, scale))     # the correlation matrix
        L[i] = (scale[:, None] * V) * np.sqrt(np.maximum(w, EIGEN_FLOOR))
    return L


_SCALE_MESSAGE = ("X is too far from the scale the filter was fitted on: the state covariance "
                  "overflowed (not finite) while filtering it. Rescale or centre X (and y) to "
                  "the training data's range.")


def _wrap(a):
    return (a + np.pi) % (2.0 * np.pi) - np.pi


def _z_mean(sigmas_h, Wm, angle_mask):
    mean = np.einsum("s,nsd->nd", Wm, sigmas_h)
    if angle_mask.any():
        ang = sigmas_h[..., angle_mask]
        mean[..., angle_mask] = np.arctan2(np.einsum("s,nsd->nd", Wm, np.sin(ang)),
                                           np.einsum("s,nsd->nd", Wm, np.cos(ang)))
    return mean


def _z_residual(a, b, angle_mask):
    r = a - b
    if angle_mask.any():
        r[..., angle_mask] = _wrap(r[..., angle_mask])
    return r


def _apply(f, sigmas):
    n, s, k = sigmas.shape
    out = np.asarray(f(sigmas.reshape(n * s, k)), dtype=float)
    return out.reshape(n, s, -1)


def _ut_predict(fx, Q, x, P, Wm, Wc, lam):
    """Unscented prediction: ``x^- = sum_i Wm_i f(chi_i)``, ``P^- = sum_i Wc_i (.)(.)' + Q``."""
    sig = _apply(fx, sigma_points(x, P, lam))
    xm = np.einsum("s,nsk->nk", Wm, sig)
    dx = sig - xm[:, None]
    Pm = symmetrise(np.einsum("s,nsa,nsb->nab", Wc, dx, dx) + Q)
    return xm, Pm


def _ut_measure(hx, R, angle_mask, sig, Wm, Wc):
    """Measurement moments of sigma points ``sig`` (n, s, k): zp, residuals h(chi_i) - zp, S.

    ``zp = sum_i Wm_i h(chi_i)`` (angles: circular mean), ``S = sum_i Wc_i dz_i dz_i' + R``.
    """
    sh = _apply(hx, sig)
    zp = _z_mean(sh, Wm, angle_mask)
    dz = _z_residual(sh, zp[:, None], angle_mask)
    return zp, dz, symmetrise(np.einsum("s,nsa,nsb->nab", Wc, dz, dz) + R)


def _ut_update(hx, R, angle_mask, x, P, z, mask, Wm, Wc, lam):
    """One unscented update; returns x, P, zp, S_full, residual (0 where missing), S_masked."""
    d = R.shape[0]
    sig = sigma_points(x, P, lam)
    zp, dz, S = _ut_measure(hx, R, angle_mask, sig, Wm, Wc)
    dx = sig - x[:, None]
    Pxz = np.einsum("s,nsa,nsb->nab", Wc, dx, dz)
    r = np.where(mask, _z_residual(np.where(mask, z, zp), zp, angle_mask), 0.0)
    both = mask[:, :, None] & mask[:, None, :]
    Sm = np.where(both, S, np.eye(d))
    Pxz = Pxz * mask[:, None, :]
    KT = np.linalg.solve(Sm, np.swapaxes(Pxz, -1, -2))       # K' (n, d, k)
    K = np.swapaxes(KT, -1, -2)
    x_new = x + np.einsum("ndk,nd->nk", KT, r)
    P_new = symmetrise(P - K @ Sm @ KT)
    return x_new, P_new, zp, S, r, Sm


class UKFResult(NamedTuple):
    """Output of :func:`ukf_filter`: one covariance per sequence and step."""

    predicted_mean: np.ndarray     # (n, T, k)
    predicted_cov: np.ndarray      # (n, T, k, k)
    filtered_mean: np.ndarray      # (n, T, k)
    filtered_cov: np.ndarray       # (n, T, k, k)
    predicted_measurement: np.ndarray      # (n, T, d)
    predicted_measurement_cov: np.ndarray  # (n, T, d, d)
    loglik: np.ndarray             # (n, T)


def ukf_filter(model, Z, weights):
    """Unscented Kalman filter over all sequences at once (filterpy's UKF equations).

    For t = 1..T, with sigma points ``chi`` of (x, P) and filterpy's weights::

        predict:  x^- = sum_i Wm_i f(chi_i),  P^- = sum_i Wc_i (f(chi_i) - x^-)(...)' + Q
        update:   sigma points chi of (x^-, P^-),  zp = sum_i Wm_i h(chi_i)
                  S = sum_i Wc_i (h(chi_i) - zp)(...)' + R,
                  Pxz = sum_i Wc_i (chi_i - x^-)(h(chi_i) - zp)'
                  K = Pxz S^{-1},  x = x^- + K (z - zp),  P = P^- - K S K'

    Parameters
    ----------
    model : UnscentedModel
    Z : ndarray of shape (n, T, d), NaN where missing
    weights : (Wm, Wc, lambda) from :func:`merwe_weights`

    Returns
    -------
    UKFResult
    """
    Wm, Wc, lam = weights
    n, T, d = Z.shape
    k = model.x0.shape[0]
    observed = ~np.isnan(Z)
    x = np.broadcast_to(model.x0, (n, k)).astype(float)
    P = np.broadcast_to(model.P0, (n, k, k)).astype(float)
    out = UKFResult(np.empty((n, T, k)), np.empty((n, T, k, k)), np.empty((n, T, k)),
                    np.empty((n, T, k, k)), np.empty((n, T, d)), np.empty((n, T, d, d)),
                    np.empty((n, T)))
    for t in range(T):
        x, P = _ut_predict(model.fx, model.Q, x, P, Wm, Wc, lam)
        out.predicted_mean[:, t], out.predicted_cov[:, t] = x, P
        mask = observed[:, t]
        x, P, zp, S, r, Sm = _ut_update(model.hx, model.R, model.angle_mask, x, P, Z[:, t], mask,
                                        Wm, Wc, lam)
        out.filtered_mean[:, t], out.filtered_cov[:, t] = x, P
        out.predicted_measurement[:, t], out.predicted_measurement_cov[:, t] = zp, S
        out.loglik[:, t] = innovations_loglik(r[:, None], Sm[:, None], mask[:, None])[:, 0]
    return out


def unscented_forecast(fx, hx, Q, R, angle_mask, x, P, horizon, weights):
    """Propagate states ``horizon`` steps with the unscented transform; measurement moments.

    Returns
    -------
    z_mean : ndarray of shape (n, horizon, d)
    z_cov : ndarray of shape (n, horizon, d, d)
    """
    Wm, Wc, lam = weights
    n, d = x.shape[0], R.shape[0]
    z_mean, z_cov = np.empty((n, horizon, d)), np.empty((n, horizon, d, d))
    for h in range(horizon):
        x, P = _ut_predict(fx, Q, x, P, Wm, Wc, lam)
        z_mean[:, h], _, z_cov[:, h] = _ut_measure(hx, R, angle_mask, sigma_points(x, P, lam),
                                                   Wm, Wc)
    return z_mean, z_cov


class IMMResult(NamedTuple):
    """Output of :func:`imm_filter`: the mixture over the modes, and each mode at the end."""

    filtered_mean: np.ndarray      # (n, T, k)  combined x_{t|t}
    filtered_cov: np.ndarray       # (n, T, k, k)
    mode_proba: np.ndarray         # (n, T, M)  P(mode_t = j | z_1..t)
    predicted_measurement: np.ndarray      # (n, T, d) mixture mean of z_t given z_<t
    predicted_measurement_cov: np.ndarray  # (n, T, d, d)
    loglik: np.ndarray             # (n, T)     log p(z_t | z_<t)
    last_mode_mean: np.ndarray     # (n, M, k)  per-mode state after the last step of the array
    last_mode_cov: np.ndarray      # (n, M, k, k)


def _moment_match(w, means, covs):
    """One Gaussian with the moments of a mixture, per sequence.

    ``m = sum_j w_j m_j``, ``C = sum_j w_j (C_j + (m_j - m)(m_j - m)')``; ``w`` (n, M),
    ``means`` (n, M, a), ``covs`` (n, M, a, a).
    """
    mean = np.einsum("nj,nja->na", w, means)
    dev = means - mean[:, None]
    spread = covs + dev[..., :, None] * dev[..., None, :]
    return mean, symmetrise(np.einsum("nj,njab->nab", w, spread))


def _imm_predict(fxs, Qs, log_mu, log_trans, x, P, weights):
    """IMM mixing, then each mode's unscented prediction (filterpy's ``IMMEstimator.predict``).

    ::

        cbar_j = sum_i M_ij mu_i,   omega_ij = M_ij mu_i / cbar_j
        mixed:  x0_j = sum_i omega_ij x_i,  P0_j = sum_i omega_ij (P_i + (x_i - x0_j)(...)')
        x^-_j, P^-_j = unscented prediction of (x0_j, P0_j) through f_j, plus Q_j

    Parameters
    ----------
    log_mu : ndarray of shape (n, M)
        Log mode probabilities before the step.
    log_trans : ndarray of shape (M, M)
        ``log M_ij``.
    x, P : ndarrays of shape (n, M, k) and (n, M, k, k)
        Each mode's state before the step.

    Returns
    -------
    log_cbar : ndarray of shape (n, M)
        Log predicted mode probabilities ``log P(mode_t = j | z_<t)``.
    x, P : ndarrays of shape (n, M, k) and (n, M, k, k)
        Each mode's predicted state.
    """
    Wm, Wc, lam = weights
    log_joint = log_mu[:, :, None] + log_trans[None]                  # (n, i, j)
    log_cbar = logsumexp(log_joint, axis=1)                            # (n, j)
    omega = np.exp(log_joint - log_cbar[:, None, :])
    xm = np.einsum("nij,nik->njk", omega, x)
    dx = x[:, :, None, :] - xm[:, None, :, :]                          # (n, i, j, k)
    spread = P[:, :, None] + dx[..., :, None] * dx[..., None, :]
    Pm = np.einsum("nij,nijab->njab", omega, spread)
    xs, Ps = np.empty_like(xm), np.empty_like(Pm)
    for j, fx in enumerate(fxs):
        xs[:, j], Ps[:, j] = _ut_predict(fx, Qs[j], xm[:, j], symmetrise(Pm[:, j]), Wm, Wc, lam)
    return log_cbar, xs, Ps


def imm_filter(fxs, Qs, hx, R, angle_mask, x0, P0, mu0, transition, Z, weights, lengths=None):
    """Interacting multiple model estimator with unscented mode filters (filterpy's IMM).

    Each step (filterpy's ``IMMEstimator.predict`` then ``update``)::

        predict: mixing and each mode's unscented prediction (:func:`_imm_predict`)
        mode filters update with z_t -> likelihoods L_j
        mu_j = cbar_j L_j / sum_l cbar_l L_l   (computed in log space)
        x = sum_j mu_j x_j,  P = sum_j mu_j (P_j + (x_j - x)(x_j - x)')

    The predicted measurement is the mixture of the modes' with weights ``cbar``:
    ``zp = sum_j cbar_j zp_j``, ``S = sum_j cbar_j (S_j + (zp_j - zp)(...)')``.

    Parameters
    ----------
    fxs : list of M vectorised transition functions
    Qs : ndarray of shape (M, k, k)
    transition : ndarray of shape (M, M)
        ``M_ij = P(mode_t = j | mode_{t-1} = i)``.
    lengths : ndarray of int, optional
        ``last_mode_*`` are taken at step ``lengths - 1`` (default: the last step).

    Returns
    -------
    IMMResult
    """
    Wm, Wc, lam = weights
    n, T, d = Z.shape
    M, k = len(fxs), x0.shape[0]
    observed = ~np.isnan(Z)
    x = np.broadcast_to(x0, (n, M, k)).astype(float)
    P = np.broadcast_to(P0, (n, M, k, k)).astype(float)
    log_mu = np.broadcast_to(np.log(mu0), (n, M)).astype(float)
    log_trans = np.log(np.maximum(transition, 1e-300))
    lengths = np.full(n, T) if lengths is None else lengths
    last_x, last_P = np.empty((n, M, k)), np.empty((n, M, k, k))
    out = IMMResult(np.empty((n, T, k)), np.empty((n, T, k, k)), np.empty((n, T, M)),
                    np.empty((n, T, d)), np.empty((n, T, d, d)), np.empty((n, T)), last_x, last_P)
    for t in range(T):
        log_cbar, xs, Ps = _imm_predict(fxs, Qs, log_mu, log_trans, x, P, weights)
        mask = np.repeat(observed[:, t], M, axis=0)
        zt = np.repeat(Z[:, t], M, axis=0)
        xu, Pu, zp, S, r, Sm = _ut_update(hx, R, angle_mask, xs.reshape(n * M, k),
                                          Ps.reshape(n * M, k, k), zt, mask, Wm, Wc, lam)
        ll = innovations_loglik(r[:, None], Sm[:, None], mask[:, None])[:, 0].reshape(n, M)
        x, P = xu.reshape(n, M, k), Pu.reshape(n, M, k, k)
        log_post = log_cbar + ll
        out.loglik[:, t] = logsumexp(log_post, axis=1)
        log_mu = log_post - out.loglik[:, t][:, None]
        out.mode_proba[:, t] = mu = np.exp(log_mu)
        out.filtered_mean[:, t], out.filtered_cov[:, t] = _moment_match(mu, x, P)
        out.predicted_measurement[:, t], out.predicted_measurement_cov[:, t] = _moment_match(
            np.exp(log_cbar), zp.reshape(n, M, d), S.reshape(n, M, d, d))
        at_end = lengths - 1 == t
        last_x[at_end], last_P[at_end] = x[at_end], P[at_end]
    return out


def imm_forecast(fxs, Qs, hx, R, angle_mask, transition, mode_proba, x, P, horizon, weights):
    """IMM prediction ``horizon`` steps ahead (no updates); moments of each step's measurement.

    Each step is the filter's prediction (:func:`_imm_predict`): the modes mix with the
    current mode probabilities, each mode predicts through its own dynamics, and the mode
    probabilities move on by the transition matrix, ``mu <- cbar = M' mu``. The measurement
    is the mixture over the modes, ``zp = sum_j cbar_j zp_j``, ``S = sum_j cbar_j (S_j +
    (zp_j - zp)(...)')``, so the first step equals the filter's one-step-ahead prediction.

    Parameters
    ----------
    mode_proba : ndarray of shape (n, M)
        Filtered mode probabilities at the last step.
    x, P : ndarrays of shape (n, M, k) and (n, M, k, k)
        Each mode's filtered state at the last step.

    Returns
    -------
    z_mean : ndarray of shape (n, horizon, d)
    z_cov : ndarray of shape (n, horizon, d, d)
    """
    Wm, Wc, lam = weights
    (n, M, k), d = x.shape, R.shape[0]
    with np.errstate(divide="ignore"):       # a mode with probability 0 mixes in nothing
        log_mu = np.log(mode_proba)
    log_trans = np.log(np.maximum(transition, 1e-300))
    z_mean, z_cov = np.empty((n, horizon, d)), np.empty((n, horizon, d, d))
    for h in range(horizon):
        log_mu, x, P = _imm_predict(fxs, Qs, log_mu, log_trans, x, P, weights)
        sig = sigma_points(x.reshape(n * M, k), P.reshape(n * M, k, k), lam)
        zp, _, S = _ut_measure(hx, R, angle_mask, sig, Wm, Wc)
        z_mean[:, h], z_cov[:, h] = _moment_match(np.exp(log_mu), zp.reshape(n, M, d),
                                                  S.reshape(n, M, d, d))
    return z_mean, z_cov
