"""Pure-function, vectorised core of the linear-Gaussian state-space model.

The model (filterpy's order: predict, then update with the measurement)::

    x_t = F x_{t-1} + b + w_t,     w_t ~ N(0, Q)
    z_t = H x_t     + c + v_t,     v_t ~ N(0, R),        t = 1..T
    x_0 ~ N(x0, P0)                (the state before the first measurement)

``x0``, ``P0`` are the prior of ``x_0``, one transition *before* the first measurement
(filterpy's convention; statsmodels and pykalman put their initial state at the first
measurement): the first predicted state is ``x_{1|0} = F x0 + b``, ``P_{1|0} = F P0 F' + Q``.
A prior meant for the first state itself is carried back through the transition
(:func:`seqmodels.inference.kalman_fit.diffuse_prior`).

Every function runs ONE recursion over time that updates all sequences at once.
Measurements are a padded array ``Z`` of shape ``(n, T, d)``; NaN marks a missing
component (padding past a sequence's end is missing too, which leaves every
quantity before the end exactly unchanged).

Covariances depend on the data only through which components are observed. While
every sequence has the same observation pattern at every step (the usual case:
equal lengths, no NaN) one covariance recursion serves all sequences, and the
covariance arrays returned have a leading axis of length 1 that broadcasts over
sequences; otherwise they have one covariance per sequence (leading axis ``n``).
When the Riccati recursion has converged (fully observed, time-invariant model),
the steady-state gain is reused and the means follow a fixed linear recursion,
evaluated in blocks of time (:mod:`.recursion`).

What the estimator reads off the filter (:class:`seqmodels.KalmanFilter`)::

    predicted measurement   z_{t|t-1} = H x_{t|t-1} + c,   cov H P_{t|t-1} H' + R
    readout                 y_{t|t}   = C x_{t|t},         cov C P_{t|t} C'
    forecast                x_{T+h} = F x_{T+h-1} + b,     P_{T+h} = F P F' + Q,
                            z_{T+h} = H x_{T+h} + c,       cov H P_{T+h} H' + R

Numerics: Joseph-form covariance update, explicit symmetrisation, linear solves
instead of inverses, Cholesky factors for the log-likelihood. The filter and the
smoother run with one BLAS thread (see :mod:`seqmodels.utils.threads`).

Learning the parameters (EM, maximum likelihood, least squares on true states) is
:mod:`seqmodels.inference.kalman_fit`; this module holds the E-step statistics and the
M-step it iterates.
"""

from typing import NamedTuple

import numpy as np

from ..utils.threads import one_blas_thread
from . import recursion

__all__ = [
    "StateSpaceParams",
    "FilterResult",
    "SmootherResult",
    "kalman_filter",
    "rts_smoother",
    "em_statistics",
    "m_step",
    "innovations_loglik",
    "forecast_states",
    "sample_states",
    "predicted_measurement",
    "readout",
    "readout_loglik",
    "last_filtered",
    "per_sequence",
    "marginal_std",
    "project_covariance",
    "floor_covariance",
    "floor_cov",
    "symmetrise",
]

_LOG_2PI = np.log(2.0 * np.pi)


class StateSpaceParams(NamedTuple):
    """Parameters of the linear-Gaussian model (shapes: k states, d measurements)."""

    F: np.ndarray   # (k, k) transition
    H: np.ndarray   # (d, k) measurement
    Q: np.ndarray   # (k, k) process noise covariance
    R: np.ndarray   # (d, d) measurement noise covariance
    x0: np.ndarray  # (k,)   mean of x_0, one transition before the first measurement
    P0: np.ndarray  # (k, k) its covariance (the first prediction is F P0 F' + Q)
    b: np.ndarray   # (k,)   transition offset
    c: np.ndarray   # (d,)   measurement offset


class FilterResult(NamedTuple):
    """Output of :func:`kalman_filter`.

    ``m`` below is 1 when the covariances are shared by all sequences, else ``n``.
    """

    predicted_mean: np.ndarray   # (n, T, k)    x_{t|t-1}
    predicted_cov: np.ndarray    # (m, T, k, k) P_{t|t-1}
    filtered_mean: np.ndarray    # (n, T, k)    x_{t|t}
    filtered_cov: np.ndarray     # (m, T, k, k) P_{t|t}
    innovation: np.ndarray       # (n, T, d)    z_t - H x_{t|t-1} - c, 0 where missing
    innovation_cov: np.ndarray   # (m, T, d, d) H P H' + R on observed rows, identity elsewhere
    observed: np.ndarray         # (n, T, d)    bool
    loglik: np.ndarray           # (n, T)       log p(z_t | z_<t), 0 where nothing observed


class SmootherResult(NamedTuple):
    """Output of :func:`rts_smoother`."""

    mean: np.ndarray             # (n, T, k)    x_{t|T}
    cov: np.ndarray              # (m, T, k, k) P_{t|T}
    cross_cov: np.ndarray        # (m, T, k, k) Cov(x_t, x_{t-1} | Z), x_{-1} := x_0
    initial_mean: np.ndarray     # (n, k)       E[x_0 | Z]
    initial_cov: np.ndarray      # (m, k, k)    Cov(x_0 | Z)


def symmetrise(A):
    """``(A + A') / 2`` over the last two axes: removes the rounding asymmetry of a
    covariance update."""
    return 0.5 * (A + np.swapaxes(A, -1, -2))


def innovations_loglik(innovation, innovation_cov, observed):
    """Gaussian log density of each innovation, Cholesky-based.

    ``log p(z_t | z_<t) = -0.5 (d_t log 2 pi + log det S_t + r_t' S_t^{-1} r_t)`` with
    ``d_t`` the number of observed components (missing rows of ``S_t`` are identity
    rows and the residual is zero there, so they add nothing).

    Parameters
    ----------
    innovation : ndarray of shape (n, T, d)
    innovation_cov : ndarray of shape (m, T, d, d)
    observed : ndarray of bool of shape (n, T, d)

    Returns
    -------
    ndarray of shape (n, T)
    """
    chol = np.linalg.cholesky(innovation_cov)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
    d = innovation.shape[-1]
    inv_chol = np.linalg.solve(chol, np.broadcast_to(np.eye(d), chol.shape))
    if inv_chol.shape[:2] == (1, 1):  # one covariance for every step: one product
        white = innovation @ inv_chol[0, 0].T
        quad = np.einsum("ntd,ntd->nt", white, white)
    elif inv_chol.shape[0] == 1:    # shared: one batched matmul over time, all sequences
        white = inv_chol[0] @ innovation.transpose(1, 2, 0)           # (T, d, n)
        quad = np.einsum("tdn,tdn->nt", white, white)
    else:
        white = (inv_chol @ innovation[..., None])[..., 0]
        quad = np.einsum("ntd,ntd->nt", white, white)
    if observed is None:             # everything observed
        return -0.5 * (d * _LOG_2PI + logdet + quad)
    count = observed.sum(axis=-1)
    ll = -0.5 * (count * _LOG_2PI + logdet + quad)
    return np.where(count > 0, ll, 0.0)


@one_blas_thread
def kalman_filter(params, Z, steady_tol=1e-13):
    """Kalman filter over all sequences at once.

    For t = 1..T (all sequences together)::

        predict:  x_{t|t-1} = F x_{t-1|t-1} + b,        P_{t|t-1} = F P F' + Q
        update:   r_t = z_t - H x_{t|t-1} - c,           S_t = H P_{t|t-1} H' + R
                  K_t = P_{t|t-1} H' S_t^{-1}
                  x_{t|t} = x_{t|t-1} + K_t r_t
                  P_{t|t} = (I - K_t H) P_{t|t-1} (I - K_t H)' + K_t R K_t'   (Joseph form)

    A NaN measurement component is missing: its row of ``H`` is zeroed and its row
    and column of ``R`` replaced by the identity's, so the update uses the observed
    components only (an all-NaN row skips the update).

    Steady state: while every sequence is fully observed, the covariances do not
    depend on the data. Once ``P_{t|t-1}`` stops changing (relative change at most
    ``steady_tol``), ``P``, ``S`` and ``K`` are frozen and, up to the next step with
    a missing component, the filter is the fixed linear recursion
    ``x_{t|t} = (I - K H) F x_{t-1|t-1} + K (z_t - c - H b) + b`` (statsmodels'
    filter freezes its covariances the same way). For few sequences it is evaluated
    in blocks of time by :func:`.recursion.linear_recursion`, which removes the
    per-step Python overhead; for many, the per-step loop stays the cheaper. A
    missing component ends the steady state; the covariance recursion resumes and
    is detected again once it converges.

    Parameters
    ----------
    params : StateSpaceParams
    Z : ndarray of shape (n, T, d)
        Measurements, NaN where missing.
    steady_tol : float, default=1e-13
        Relative change of ``P_{t|t-1}`` below which the covariance recursion is
        considered converged and the steady-state gain reused (0 disables it).

    Returns
    -------
    FilterResult
    """
    F, H, Q, R, x0, P0, b, c = params
    n, T, d = Z.shape
    k = F.shape[0]
    if np.isnan(Z).any():
        observed = ~np.isnan(Z)
        Zc = np.where(observed, Z, 0.0)
        full = observed.all(axis=(0, 2))
        uniform = (observed == observed[:1]).all(axis=(0, 2))
        everything = False
    else:                            # fast path: nothing missing
        observed, Zc = None, Z
        full = uniform = np.ones(T, dtype=bool)
        everything = True
    # steps at which a steady state may hold, and for each step the next one that breaks it
    breaks = np.append(np.flatnonzero(~(full & uniform)), T)
    FT, HT = np.ascontiguousarray(F.T), np.ascontiguousarray(H.T)
    Ik, Id = np.eye(k), np.eye(d)
    has_b, has_c = bool(np.any(b)), bool(np.any(c))

    x = np.broadcast_to(x0, (n, k)).copy()
    P = np.array(P0, dtype=float)
    shared = True
    xp = np.empty((n, T, k))
    xf = np.empty((n, T, k))
    innov = np.empty((n, T, d))
    covs = []                        # (t0, t1, Pp, Pf, S): one step, or a steady run
    steady = None
    previous_Pp = None
    # many sequences: the per-step loop is cheaper than blocked products (recursion)
    blocked = recursion.block_length(n, k) > 1

    t = 0
    while t < T:
        xpred = x @ FT
        if has_b:
            xpred += b
        xp[:, t] = xpred
        zpred = xpred @ HT
        if has_c:
            zpred += c
        r = Zc[:, t] - zpred
        if shared and uniform[t] and full[t]:
            if steady is not None:
                Pp, S, KT, Pf = steady
            else:
                Pp = symmetrise(F @ P @ FT + Q)
                S = symmetrise(H @ Pp @ HT + R)
                KT = np.linalg.solve(S, H @ Pp)            # K' (d, k)
                IKH = Ik - KT.T @ H
                Pf = symmetrise(IKH @ Pp @ IKH.T + KT.T @ R @ KT)
                if previous_Pp is not None and steady_tol > 0 and (
                    np.max(np.abs(Pp - previous_Pp)) <= steady_tol * np.max(np.abs(Pp))
                ):
                    steady = (Pp, S, KT, Pf)
                previous_Pp = Pp
            x = xpred + r @ KT
        else:
            steady = previous_Pp = None
            if shared and not uniform[t]:
                P = np.broadcast_to(P, (n, k, k)).copy()
                shared = False
            mask = observed[0, t] if shared else observed[:, t]
            Pp = symmetrise(F @ P @ FT + Q)
            Hm = H * mask[..., :, None]
            both = mask[..., :, None] & mask[..., None, :]
            Rm = np.where(both, R, Id)
            S = symmetrise(Hm @ Pp @ np.swapaxes(Hm, -1, -2) + Rm)
            KT = np.linalg.solve(S, Hm @ Pp)
            r = np.where(mask, r, 0.0)
            K = np.swapaxes(KT, -1, -2)
            if shared:
                x = xpred + r @ KT
            else:
                x = xpred + np.einsum("ndk,nd->nk", KT, r)
            IKH = Ik - K @ Hm
            Pf = symmetrise(IKH @ Pp @ np.swapaxes(IKH, -1, -2) + K @ Rm @ KT)
        xf[:, t] = x
        innov[:, t] = r
        covs.append((t, t + 1, Pp, Pf, S))
        P = Pf
        t += 1
        if steady is not None and blocked:
            stop = breaks[np.searchsorted(breaks, t)]
            if stop > t:
                _steady_run(params, KT, Zc[:, t:stop], x, xp[:, t:stop], xf[:, t:stop],
                            innov[:, t:stop])
                covs.append((t, stop, Pp, Pf, S))
                x = xf[:, stop - 1]
                t = stop

    m = 1 if shared else n
    Pp_all, Pf_all, S_all = (_assemble(covs, i, m, T) for i in (2, 3, 4))
    loglik = np.empty((n, T))
    for t0, t1, steady_run in _runs(covs):
        S_run = S_all[:, t0:t0 + 1] if steady_run else S_all[:, t0:t1]
        loglik[:, t0:t1] = innovations_loglik(
            innov[:, t0:t1], S_run, None if observed is None else observed[:, t0:t1])
    if everything:
        observed = np.ones(Z.shape, dtype=bool)
    return FilterResult(xp, Pp_all, xf, Pf_all, innov, S_all, observed, loglik)


def _steady_run(params, KT, Zc, x, xp, xf, innov):
    """Fill ``xp``, ``xf``, ``innov`` (n, L, .) for a run of steady, fully observed steps.

    With the frozen gain ``K`` and ``x = x_{t-1|t-1}`` before the run::

        x_{t|t}   = x_{t-1|t-1} F'(I - H'K') + (z_t - c - H b)' K' + b'   (row vectors)
        x_{t|t-1} = x_{t-1|t-1} F' + b',      r_t = z_t - H x_{t|t-1} - c
    """
    F, H, b, c = params.F, params.H, params.b, params.c
    k = F.shape[0]
    A = F.T @ (np.eye(k) - H.T @ KT)
    U = (Zc - (c + H @ b)) @ KT + b
    xf[:] = recursion.linear_recursion(x, A, U)
    xp[:, 0] = x @ F.T + b
    xp[:, 1:] = xf[:, :-1] @ F.T + b
    innov[:] = Zc - (xp @ H.T + c)


def _assemble(covs, which, m, T):
    """Per-step covariances (one step or a steady run each) as one array (m, T, a, a)."""
    a = covs[0][which].shape[-1]
    out = np.empty((m, T, a, a))
    for entry in covs:
        cov = entry[which]                       # (a, a), or (n, a, a) once not shared
        out[:, entry[0]:entry[1]] = cov[:, None] if cov.ndim == 3 else cov
    return out


def _runs(covs):
    """Group ``covs`` into (t0, t1, steady): maximal spans of single steps, and steady runs."""
    runs = []
    for t0, t1, *_ in covs:
        steady = t1 - t0 > 1
        if runs and not steady and not runs[-1][2] and runs[-1][1] == t0:
            runs[-1] = (runs[-1][0], t1, False)
        else:
            runs.append((t0, t1, steady))
    return runs


@one_blas_thread
def rts_smoother(params, result):
    """Rauch-Tung-Striebel smoother (non-causal: uses the whole sequence).

    Backwards for t = T-1..1, then once more for the initial state x_0::

        J_t     = P_{t|t} F' P_{t+1|t}^{-1}
        x_{t|T} = x_{t|t} + J_t (x_{t+1|T} - x_{t+1|t})
        P_{t|T} = P_{t|t} + J_t (P_{t+1|T} - P_{t+1|t}) J_t'
        Cov(x_{t+1}, x_t | Z) = P_{t+1|T} J_t'

    Parameters
    ----------
    params : StateSpaceParams
    result : FilterResult

    Returns
    -------
    SmootherResult
    """
    F = params.F
    xp, Pp, xf, Pf = result.predicted_mean, result.predicted_cov, result.filtered_mean, \
        result.filtered_cov
    n, T, k = xf.shape
    m = Pf.shape[0]
    xs = np.empty_like(xf)
    Ps = np.empty_like(Pf)
    C = np.empty_like(Pf)
    xs[:, -1] = xf[:, -1]
    Ps[:, -1] = Pf[:, -1]

    def back(x_filt, P_filt, x_next_pred, P_next_pred, x_next_s, P_next_s):
        JT = np.linalg.solve(P_next_pred, F @ P_filt)               # J' (m, k, k)
        J = np.swapaxes(JT, -1, -2)
        x_s = x_filt + (J @ (x_next_s - x_next_pred)[..., None])[..., 0]
        P_s = symmetrise(P_filt + J @ (P_next_s - P_next_pred) @ JT)
        return x_s, P_s, P_next_s @ JT

    for t in range(T - 2, -1, -1):
        xs[:, t], Ps[:, t], C[:, t + 1] = back(xf[:, t], Pf[:, t], xp[:, t + 1], Pp[:, t + 1],
                                               xs[:, t + 1], Ps[:, t + 1])
    P0 = np.broadcast_to(params.P0, (m, k, k))
    x0 = np.broadcast_to(params.x0, (n, k))
    x0s, P0s, C[:, 0] = back(x0, P0, xp[:, 0], Pp[:, 0], xs[:, 0], Ps[:, 0])
    return SmootherResult(xs, Ps, C, x0s, P0s)


def _cov_sum(weights, covs):
    """sum_{i,t} weights[i, t] * covs[i or 0, t] -> (a, a)."""
    if covs.shape[0] == 1:
        return np.einsum("t,tab->ab", weights.sum(axis=0), covs[0])
    return np.einsum("nt,ntab->ab", weights, covs)


def em_statistics(params, Z, lengths, smoothed):
    """Expected sufficient statistics of the complete data, summed over all sequences.

    With ``E_t = E[x_t x_t' | Z] = P_{t|T} + x_{t|T} x_{t|T}'`` and the lag-one
    moments ``E[x_t x_{t-1}' | Z] = Cov(x_t, x_{t-1} | Z) + x_{t|T} x_{t-1|T}'``,
    summed over the steps t = 1..T_i of every sequence. Missing measurement
    components are imputed by their conditional law given the state and the
    observed components (old parameters): ``z_u | x, z_o ~ N(A x + a, Omega)`` with
    ``G = R_uo R_oo^{-1}``, ``A = H_u - G H_o``, ``a = c_u + G (z_o - c_o)``,
    ``Omega = R_uu - G R_ou`` (exact EM, Shumway & Stoffer 2017, section 6.4).

    Returns
    -------
    dict of ndarray
        ``S11, S10, S00, s1, s0, N`` (transition), ``Szx, Szz, sz`` (measurement,
        paired with ``S11, s1``), ``x0s`` (n, k), ``P0s`` (m, k, k).
    """
    H, R, c = params.H, params.R, params.c
    xs, Ps, C = smoothed.mean, smoothed.cov, smoothed.cross_cov
    n, T, k = xs.shape
    d = Z.shape[-1]
    valid = np.arange(T)[None, :] < lengths[:, None]
    w = valid.astype(float)
    xs_v = np.where(valid[..., None], xs, 0.0)
    x_prev = np.concatenate([smoothed.initial_mean[:, None], xs[:, :-1]], axis=1)
    x_prev = np.where(valid[..., None], x_prev, 0.0)
    P_prev = np.concatenate([smoothed.initial_cov[:, None], Ps[:, :-1]], axis=1)

    S11 = _cov_sum(w, Ps) + np.einsum("nta,ntb->ab", xs_v, xs_v)
    S00 = _cov_sum(w, P_prev) + np.einsum("nta,ntb->ab", x_prev, x_prev)
    S10 = _cov_sum(w, C) + np.einsum("nta,ntb->ab", xs_v, x_prev)
    s1, s0, N = xs_v.sum(axis=(0, 1)), x_prev.sum(axis=(0, 1)), float(w.sum())

    observed = ~np.isnan(Z)
    Zc = np.where(observed, Z, 0.0)
    codes = (observed * (1 << np.arange(d))).sum(axis=-1)
    Szx = np.zeros((d, k))
    Szz = np.zeros((d, d))
    sz = np.zeros(d)
    for code in np.unique(codes[valid]):
        sel = valid & (codes == code)
        o = (int(code) >> np.arange(d)) & 1 == 1
        u = ~o
        G = np.zeros((d, d))
        A = np.zeros((d, k))
        Omega = np.zeros((d, d))
        if u.any():
            if o.any():
                Gu = np.linalg.solve(R[np.ix_(o, o)], R[np.ix_(o, u)]).T
                G[np.ix_(u, o)] = Gu
                A[u] = H[u] - Gu @ H[o]
                Omega[np.ix_(u, u)] = R[np.ix_(u, u)] - Gu @ R[np.ix_(o, u)]
            else:
                A[u] = H[u]
                Omega = R.copy()
        # a_t = o*z + u*(c + G (z - c_o))
        a = np.where(o, Zc, c + (Zc - c * o) @ G.T)
        a = np.where(sel[..., None], a, 0.0)
        xs_p = np.where(sel[..., None], xs, 0.0)
        Exx = _cov_sum(sel.astype(float), Ps) + np.einsum("nta,ntb->ab", xs_p, xs_p)
        ax = np.einsum("nta,ntb->ab", a, xs_p)
        Szx += A @ Exx + ax
        sz += A @ xs_p.sum(axis=(0, 1)) + a.sum(axis=(0, 1))
        Szz += (A @ Exx @ A.T + A @ ax.T + ax @ A.T + np.einsum("nta,ntb->ab", a, a)
                + sel.sum() * Omega)
    return dict(S11=S11, S10=S10, S00=S00, s1=s1, s0=s0, N=N, Szx=Szx, Szz=Szz, sz=sz,
                x0s=smoothed.initial_mean, P0s=smoothed.initial_cov)


def project_covariance(S, covariance_type, template=None):
    """Maximise the Gaussian likelihood over a covariance family, given the scatter ``S``.

    ``"full"``: ``S``; ``"diag"``: ``diag(S)``; ``"scaled"``: ``s * B`` with the
    template ``B`` fixed and ``s = tr(B^+ S) / rank(B)`` (the MLE of the scale, also
    for a singular ``B`` such as a white-noise acceleration block).
    """
    S = symmetrise(S)
    if covariance_type == "full":
        return S
    if covariance_type == "diag":
        return np.diag(np.diag(S))
    if covariance_type == "scaled":
        rank = np.linalg.matrix_rank(template)
        scale = np.trace(np.linalg.pinv(template) @ S) / rank
        return max(scale, 1e-300) * template
    raise ValueError(f"unknown covariance type {covariance_type!r}.")


def _regress(B, A, fixed, learn_mat, learn_off):
    """Solve for G = [M o] maximising -tr(G A G' - 2 G B') with parts possibly fixed.

    ``A`` is the augmented (k+1, k+1) second moment of the regressors, ``B`` the
    (p, k+1) cross moment; ``fixed`` = (M, o) current values.
    """
    M, o = fixed
    k = A.shape[0] - 1
    if learn_mat and learn_off:
        G = _solve_moments(A, B.T).T
        return G[:, :k], G[:, k]
    if learn_mat:
        M = _solve_moments(A[:k, :k], (B[:, :k] - np.outer(o, A[k, :k])).T).T
    elif learn_off:
        o = (B[:, k] - M @ A[:k, k]) / A[k, k] if A[k, k] > 0 else o
    return M, o


def _solve_moments(A, B):
    """``A^{-1} B`` for a second-moment matrix ``A``; the minimum-norm least-squares
    solution when ``A`` is singular or nearly so (constant or collinear regressors:
    constant sequences, duplicated target columns), where every solution fits equally
    well and ``solve`` would fail or return huge, meaningless coefficients."""
    if A.size and np.linalg.cond(A) < 1e12:
        return np.linalg.solve(A, B)
    return np.linalg.lstsq(A, B, rcond=1e-12)[0]


def floor_cov(S, rel=1e-10, minimum=0.0):
    """Symmetrise and lift the eigenvalues of a covariance to at least a floor.

    ``S = V diag(w) V'`` becomes ``V diag(max(w, f)) V'`` with
    ``f = max(rel * tr(S) / dim, minimum)``: positive definite, unchanged in every
    direction whose variance is already above ``f``.
    """
    S = symmetrise(S)
    w, V = np.linalg.eigh(S)
    floor = max(rel * max(np.trace(S) / S.shape[0], 1e-300), minimum)
    return symmetrise((V * np.maximum(w, floor)) @ V.T)


def floor_covariance(S, covariance_type, minimum):
    """Lift a covariance of a covariance type so that no variance falls below ``minimum``.

    ``"full"``: eigenvalues; ``"diag"``: the diagonal; ``"scaled"`` (``s B``): the
    scale, so that the largest variance of the template reaches ``minimum`` (a singular
    template such as white-noise acceleration keeps its rank). ``minimum = 0`` only
    symmetrises (``"full"`` keeps the relative floor of :func:`floor_cov` out).
    """
    S = symmetrise(S)
    if minimum <= 0:
        return S
    if covariance_type == "diag":
        return np.diag(np.maximum(np.diag(S), minimum))
    if covariance_type == "scaled":
        top = np.max(np.diag(S))
        return S * (minimum / top) if 0 < top < minimum else (
            S if top > 0 else minimum * np.eye(S.shape[0]))
    if np.linalg.eigvalsh(S).min() >= minimum:    # already above: left exactly as it was
        return S
    return floor_cov(S, rel=0.0, minimum=minimum)


def m_step(stats, params, learn, Q_covariance_type="full", R_covariance_type="full",
           Q_template=None, R_template=None, Q_floor=0.0, R_floor=0.0):
    """Maximise the expected complete-data log-likelihood (Shumway-Stoffer M-step).

    With ``G = [F b]``, ``A = [[S00, s0], [s0', N]]``, ``B = [S10, s1]``::

        G = B A^{-1},     Q = (S11 - G B' - B G' + G A G') / N

    and likewise ``[H c]`` and ``R`` from ``(Szx, sz)``, ``(S11, s1)`` and ``Szz``;
    ``x0`` is the mean of the smoothed initial states, ``P0`` their covariance plus
    the mean smoothed covariance. Parameters not in ``learn`` keep their value.

    A singular ``A`` (constant or collinear states) gives the minimum-norm solution
    (:func:`_solve_moments`). ``Q_floor`` and ``R_floor`` are the least variances the
    learned ``Q`` and ``R`` may have (:func:`floor_covariance`): without them EM drives
    the noise of constant or collinear data to exactly zero, and the innovation
    covariance ``H P H' + R`` (and the smoother's ``F P F' + Q``) becomes singular.

    Returns
    -------
    StateSpaceParams
    """
    F, H, Q, R, x0, P0, b, c = params
    N = stats["N"]
    k = F.shape[0]
    A_tr = np.block([[stats["S00"], stats["s0"][:, None]], [stats["s0"][None], np.array([[N]])]])
    B_tr = np.concatenate([stats["S10"], stats["s1"][:, None]], axis=1)
    F, b = _regress(B_tr, A_tr, (F, b), "F" in learn, "b" in learn)
    if "Q" in learn:
        G = np.concatenate([F, b[:, None]], axis=1)
        S = (stats["S11"] - G @ B_tr.T - B_tr @ G.T + G @ A_tr @ G.T) / N
        Q = floor_covariance(project_covariance(S, Q_covariance_type, Q_template),
                             Q_covariance_type, Q_floor)
    A_ob = np.block([[stats["S11"], stats["s1"][:, None]], [stats["s1"][None], np.array([[N]])]])
    B_ob = np.concatenate([stats["Szx"], stats["sz"][:, None]], axis=1)
    H, c = _regress(B_ob, A_ob, (H, c), "H" in learn, "c" in learn)
    if "R" in learn:
        G = np.concatenate([H, c[:, None]], axis=1)
        S = (stats["Szz"] - G @ B_ob.T - B_ob @ G.T + G @ A_ob @ G.T) / N
        R = floor_covariance(floor_cov(project_covariance(S, R_covariance_type, R_template)),
                             R_covariance_type, R_floor)
    if "x0" in learn:
        x0 = stats["x0s"].mean(axis=0)
    if "P0" in learn:
        dev = stats["x0s"] - x0
        P0s = np.broadcast_to(stats["P0s"], (dev.shape[0], k, k))
        P0 = floor_cov(P0s.mean(axis=0) + dev.T @ dev / dev.shape[0])
    return StateSpaceParams(F, H, Q, R, x0, P0, b, c)


def forecast_states(params, mean, cov, horizon):
    """Propagate filtered states ``horizon`` steps ahead and map them to measurements.

    ``x_{T+h} = F x_{T+h-1} + b``, ``P_{T+h} = F P F' + Q``; the measurement forecast
    is ``H x + c`` with covariance ``H P H' + R``.

    Parameters
    ----------
    mean : ndarray of shape (n, k)
    cov : ndarray of shape (m, k, k)

    Returns
    -------
    z_mean : ndarray of shape (n, horizon, d)
    z_cov : ndarray of shape (m, horizon, d, d)
    """
    F, H, Q, R, _, _, b, c = params
    n = mean.shape[0]
    z_mean = np.empty((n, horizon, H.shape[0]))
    z_cov = np.empty((cov.shape[0], horizon, H.shape[0], H.shape[0]))
    for h in range(horizon):
        mean = mean @ F.T + b
        cov = symmetrise(F @ cov @ F.T + Q)
        z_mean[:, h] = mean @ H.T + c
        z_cov[:, h] = symmetrise(H @ cov @ H.T + R)
    return z_mean, z_cov


def sample_states(params, n_sequences, n_timesteps, rng):
    """Draw states and measurements from the model.

    Returns
    -------
    states : ndarray of shape (n_sequences, n_timesteps, k)
    measurements : ndarray of shape (n_sequences, n_timesteps, d)
    """
    F, H, Q, R, x0, P0, b, c = params
    k, d = F.shape[0], H.shape[0]

    def factor(S):
        w, V = np.linalg.eigh(symmetrise(S))
        return V * np.sqrt(np.clip(w, 0.0, None))

    LQ, LR = factor(Q), factor(R)
    x = x0 + rng.standard_normal((n_sequences, k)) @ factor(P0).T
    states = np.empty((n_sequences, n_timesteps, k))
    meas = np.empty((n_sequences, n_timesteps, d))
    for t in range(n_timesteps):
        x = x @ F.T + b + rng.standard_normal((n_sequences, k)) @ LQ.T
        states[:, t] = x
        meas[:, t] = x @ H.T + c + rng.standard_normal((n_sequences, d)) @ LR.T
    return states, meas


# -- what the estimator reads off a filter run ---------------------------------------------


def predicted_measurement(params, result, return_cov=False):
    """One-step predicted measurement ``z_{t|t-1} = H x_{t|t-1} + c`` (step 0: from the prior).

    Its covariance (with ``return_cov``) is the innovation covariance of a fully
    observed step, ``H P_{t|t-1} H' + R``.

    Parameters
    ----------
    params : StateSpaceParams
    result : FilterResult

    Returns
    -------
    mean : ndarray of shape (n, T, d)
    cov : ndarray of shape (m, T, d, d)
        Only with ``return_cov``.
    """
    H = params.H
    mean = result.predicted_mean @ H.T + params.c
    if not return_cov:
        return mean
    return mean, H @ result.predicted_cov @ H.T + params.R


def readout(C, result, return_cov=False):
    """Targets read out of the filtered states: ``y_{t|t} = C x_{t|t}``, covariance
    ``C P_{t|t} C'`` (with ``return_cov``).

    Parameters
    ----------
    C : ndarray of shape (n_targets, k)
    result : FilterResult

    Returns
    -------
    mean : ndarray of shape (n, T, n_targets)
    cov : ndarray of shape (m, T, n_targets, n_targets)
        Only with ``return_cov``.
    """
    mean = result.filtered_mean @ C.T
    if not return_cov:
        return mean
    return mean, C @ result.filtered_cov @ C.T


def readout_loglik(target, mean, cov, steps):
    """Log density of the targets under the readout, per sequence and step.

    ``log N(y_t; C x_{t|t}, C P_{t|t} C' + eps I)`` over the observed components of
    ``y_t`` (:func:`innovations_loglik`), with ``eps = 1e-12 tr(C P_{t|t} C')`` (at
    least 1e-312): a readout of fewer state directions than targets has a singular
    covariance. Steps without any target add 0.

    Parameters
    ----------
    target : ndarray of shape (n, T, n_targets)
        NaN where there is no target.
    mean, cov : ndarrays of shapes (n, T, n_targets) and (m, T, n_targets, n_targets)
        From :func:`readout`.
    steps : ndarray of bool of shape (n, T)
        The timesteps inside each sequence (False on padding).

    Returns
    -------
    ndarray of shape (n, T)
    """
    cov = cov + 1e-12 * np.eye(cov.shape[-1]) * np.maximum(
        np.trace(cov, axis1=-2, axis2=-1)[..., None, None], 1e-300)
    observed = np.isfinite(target) & steps[..., None]
    resid = np.where(observed, target - mean, 0.0)
    if observed.all(axis=-1)[observed.any(axis=-1)].all():
        return innovations_loglik(resid, cov, observed)
    both = observed[..., :, None] & observed[..., None, :]
    return innovations_loglik(resid, np.where(both, cov, np.eye(target.shape[-1])), observed)


def last_filtered(result, lengths):
    """Each sequence's filtered state at its last step, ``x_{T_i|T_i}`` and ``P_{T_i|T_i}``.

    Returns
    -------
    mean : ndarray of shape (n, k)
    cov : ndarray of shape (m, k, k)
        ``m = 1`` when the covariances are shared (then every sequence has the same
        length), else ``n``: the form :func:`forecast_states` takes.
    """
    idx = np.asarray(lengths) - 1
    rows = np.arange(len(idx))
    covs = result.filtered_cov
    cov = covs[0, idx[:1]] if covs.shape[0] == 1 else covs[rows, idx]
    return result.filtered_mean[rows, idx], cov


def per_sequence(covs, n):
    """Covariances ``(m, T, a, a)`` (m = 1 when shared by all sequences, else n) as
    ``(n, T, a, a)``: a read-only broadcast view when shared."""
    return np.broadcast_to(covs, (n,) + covs.shape[1:])


def marginal_std(cov, shape):
    """Standard deviations ``sqrt(diag(cov))`` (rounding below 0 clipped), broadcast to
    ``shape``: the means' shape, as a writable array."""
    std = np.sqrt(np.clip(np.diagonal(cov, axis1=-2, axis2=-1), 0.0, None))
    return np.broadcast_to(std, shape).copy()
