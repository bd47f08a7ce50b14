"""Learning the linear-Gaussian state-space model: pure functions over arrays.

The model of :mod:`seqmodels.inference.kalman`::

    x_t = F x_{t-1} + b + w_t,     w_t ~ N(0, Q)
    z_t = H x_t     + c + v_t,     v_t ~ N(0, R),        t = 1..T
    x_0 ~ N(x0, P0)                (one transition before the first measurement z_1)

A fit learns the parameters named in ``learn`` (:class:`FitSettings`) and keeps the
others; it returns a :class:`KalmanFit`. Three ways, all over every sequence at once:

* **EM** (Shumway & Stoffer; :func:`fit_em`). Iteration k filters with ``theta_k``,
  which gives the training log-likelihood ``L_k = sum_i sum_t log p(z_it | z_i,<t)``,
  smooths, and takes the M-step (:func:`seqmodels.inference.kalman.m_step`) on the
  expected sufficient statistics (:func:`seqmodels.inference.kalman.em_statistics`).
  ``L`` never decreases; the fit stops once ``L_k - L_{k-1} < tol * n_obs``
  (:mod:`seqmodels.utils.convergence`).
* **Maximum likelihood of Q and R** (:func:`fit_mle`): ``max_theta L(theta)`` by
  L-BFGS-B (:func:`maximise_likelihood`) over unconstrained coordinates of the
  covariances (:func:`encode_cov`): the log-Cholesky factor (``"full"``), the log
  variances (``"diag"``) or the log scale of a template (``"scaled"``).
* **Least squares on true states** (:func:`fit_supervised`, y = the state)::

      [F b] = argmin sum_t |y_t - F y_{t-1} - b|^2,   Q = mean residual outer product
      [H c] = argmin sum_t |z_t - H y_t - c|^2,       R = mean residual outer product

  and the prior from the first step (:func:`supervised_prior`). With y the positions
  of a motion model, ``R`` is the covariance of ``z_t - y_t`` and ``Q`` is learned
  from X by EM or maximum likelihood.

Starting values: a motion model's matrices with noise from the variance of the data's
steps and a prior that is diffuse at the first state (:func:`motion_init`,
:func:`diffuse_prior`), or principal directions for the generic model
(:func:`generic_init`). Learned noise covariances keep a floor of ``NOISE_FLOOR`` times
the data's variance (:func:`noise_floors`).
"""

from typing import NamedTuple

import numpy as np
from scipy import optimize

from ..utils.convergence import ConvergenceMonitor, ConvergenceResult
from .kalman import (StateSpaceParams, em_statistics, floor_cov, floor_covariance,
                     kalman_filter, m_step, project_covariance, rts_smoother, symmetrise)

__all__ = [
    "NOISE_FLOOR",
    "FitSettings",
    "KalmanFit",
    "fit",
    "fit_unsupervised",
    "fit_em",
    "fit_mle",
    "fit_supervised",
    "supervised_prior",
    "motion_init",
    "diffuse_prior",
    "generic_init",
    "maximise_likelihood",
    "check_measurement_noise",
    "observed_steps",
    "data_variance",
    "noise_floors",
    "diffuse_scale",
    "encode_cov",
    "decode_cov",
    "n_cov_params",
    "n_free_params",
]

#: Least variance EM may give a learned Q or R, relative to the data's variance
#: (:func:`noise_floors`).
NOISE_FLOOR = 1e-8


class FitSettings(NamedTuple):
    """What a fit learns and how: fixed before it starts."""

    learn: set               # names among F, H, Q, R, x0, P0, b, c
    Q_covariance_type: str         # "full", "diag" or "scaled": the family of a learned Q
    R_covariance_type: str         # the same for R
    Q_template: np.ndarray   # (k, k) the "scaled" family's B in Q = s B
    R_template: np.ndarray   # (d, d)
    model: str = "generic"   # "generic", or the name of a motion model
    method: str = "em"       # "em" or "mle" (what learns Q and R from measurements)
    n_iter: int = 500        # most EM or L-BFGS-B iterations
    tol: float = 1e-8        # EM's convergence threshold per observation
    name: str = "KalmanFilter"   # the estimator a ConvergenceWarning names


class KalmanFit(NamedTuple):
    """What a fit returns."""

    params: StateSpaceParams
    readout: np.ndarray          # (n_targets, k) C: maps the state to the predictions
    trace: ConvergenceResult     # history, iterations, converged


def _no_iterations():
    """The trace of a fit with nothing to iterate: no history, converged."""
    return ConvergenceResult([], 0, True)


# -- the fits ------------------------------------------------------------------------------


def fit(params, Z, lengths, settings, Y=None):
    """Learn the parameters of ``settings.learn`` from measurements (and targets).

    Offsets not learned are 0 (the data-driven ``b``, ``c`` of ``params`` are starting
    values). Fixed Q and R must leave noise on every measured direction
    (:func:`check_measurement_noise`).

    Parameters
    ----------
    params : StateSpaceParams
        Starting values, and the values of the parameters not learned.
    Z : ndarray of shape (n, T, d)
        Measurements, NaN where missing (and past each sequence's end).
    lengths : ndarray of int of shape (n,)
    settings : FitSettings
    Y : ndarray of shape (n, T, n_targets), optional
        Targets (supervised mode): the true states, or a motion model's positions.

    Returns
    -------
    KalmanFit
        The readout is ``H`` without targets (forecasting mode).
    """
    learn = settings.learn
    k, d = params.F.shape[0], Z.shape[-1]
    params = params._replace(b=params.b if "b" in learn else np.zeros(k),
                             c=params.c if "c" in learn else np.zeros(d))
    if not learn & {"Q", "R"}:
        check_measurement_noise(params)
    if Y is not None:
        return fit_supervised(params, Z, lengths, Y, settings)
    params, trace = fit_unsupervised(params, Z, lengths, settings)
    return KalmanFit(params, params.H.copy(), trace)


def fit_unsupervised(params, Z, lengths, settings):
    """Learn ``settings.learn`` from the measurements alone: EM or maximum likelihood.

    Returns
    -------
    params : StateSpaceParams
    trace : ConvergenceResult
    """
    if not settings.learn:
        return params, _no_iterations()
    if settings.method == "mle":
        return fit_mle(params, Z, settings)
    return fit_em(params, Z, lengths, settings)


def fit_em(params, Z, lengths, settings):
    """Shumway-Stoffer EM; stops by the rule of :mod:`seqmodels.utils.convergence`.

    Each iteration filters with the current parameters (recording the training
    log-likelihood ``L_k``), stops if ``L_k - L_{k-1} < tol * n_obs`` (``n_obs``:
    observed timesteps), else smooths and takes one M-step. A learned Q or R starts
    and stays above its floor (:func:`noise_floors`), so no iteration lowers ``L``.

    Returns
    -------
    params : StateSpaceParams
    trace : ConvergenceResult
    """
    learn = settings.learn
    Q_floor, R_floor = noise_floors(Z, settings.model == "generic")
    if "Q" in learn:
        params = params._replace(Q=floor_covariance(params.Q, settings.Q_covariance_type, Q_floor))
    if "R" in learn:
        params = params._replace(R=floor_covariance(params.R, settings.R_covariance_type, R_floor))
    monitor = ConvergenceMonitor(settings.name, n_iter=settings.n_iter, tol=settings.tol,
                                 n_obs=observed_steps(Z), method="EM")
    for _ in range(settings.n_iter):
        result = kalman_filter(params, Z)
        if monitor.record(result.loglik.sum()):
            break
        smoothed = rts_smoother(params, result)
        stats = em_statistics(params, Z, lengths, smoothed)
        params = m_step(stats, params, learn, settings.Q_covariance_type,
                        settings.R_covariance_type, settings.Q_template, settings.R_template,
                        Q_floor, R_floor)
    return params, monitor.finish()


def fit_mle(params, Z, settings):
    """Maximum likelihood of Q and R: ``max L(Q, R)`` by L-BFGS-B over :func:`encode_cov`'s
    coordinates (:func:`maximise_likelihood`); a point where ``|theta| > 700`` or the
    filter breaks down costs ``+inf``.

    Returns
    -------
    params : StateSpaceParams
    trace : ConvergenceResult
    """
    learn = settings.learn
    extra = learn - {"Q", "R"}
    if extra:
        raise ValueError(f"method='mle' learns the noise covariances Q and R only; learn "
                         f"also names {sorted(extra)}. Use method='em'.")
    parts = [name for name in ("Q", "R") if name in learn]
    covariance_types = dict(Q=settings.Q_covariance_type, R=settings.R_covariance_type)
    templates = dict(Q=params.Q if settings.Q_covariance_type == "scaled" else settings.Q_template,
                     R=params.R if settings.R_covariance_type == "scaled" else settings.R_template)
    sizes = [len(encode_cov(getattr(params, p), covariance_types[p])) for p in parts]
    theta0 = np.concatenate([encode_cov(getattr(params, p), covariance_types[p]) for p in parts])

    def unpack(theta):
        out, start = {}, 0
        for p, size in zip(parts, sizes):
            out[p] = decode_cov(theta[start:start + size], covariance_types[p], templates[p])
            start += size
        return params._replace(**out)

    def objective(theta):
        if np.any(np.abs(theta) > 700):
            return np.inf
        ll = kalman_filter(unpack(theta), Z).loglik.sum()
        return -ll if np.isfinite(ll) else np.inf

    theta, trace = maximise_likelihood(objective, theta0, settings.n_iter, settings.name,
                                       observed_steps(Z))
    return unpack(theta), trace


def fit_supervised(params, Z, lengths, Y, settings):
    """Learn from measurements ``Z`` and targets ``Y``.

    * ``Y`` the state (the generic model, or a motion model's full state): least squares
      of ``y_t`` on ``y_{t-1}`` (``[F b]``, ``Q``) and of ``z_t`` on ``y_t`` (``[H c]``,
      ``R``) through the M-step's regression, then :func:`supervised_prior`; readout
      ``C = I``.
    * ``Y`` a motion model's positions: ``R`` is the covariance of ``z_t - y_t - c``
      (projected on its covariance type, floored), the rest of ``learn`` is learned from the
      measurements (:func:`fit_unsupervised`); readout ``C = H``.

    Returns
    -------
    KalmanFit
    """
    learn = settings.learn
    k, d, m = params.F.shape[0], Z.shape[-1], Y.shape[-1]
    Q_floor, R_floor = noise_floors(Y, False)[0], noise_floors(Z, False)[1]
    if settings.model == "generic" or m == k:
        prev, cur = Y[:, :-1].reshape(-1, k), Y[:, 1:].reshape(-1, k)
        pair = np.isfinite(prev).all(1) & np.isfinite(cur).all(1)
        if "F" in learn and pair.sum() <= k + 1:
            raise ValueError(f"y has {pair.sum()} consecutive pairs of finite targets; "
                             f"need more than {k + 1} to fit F by least squares.")
        stats = _moments(prev, cur, pair)
        stats.update(Szx=np.zeros((d, k)), Szz=np.zeros((d, d)), sz=np.zeros(d))
        params = m_step(stats, params, learn & {"F", "b", "Q"}, settings.Q_covariance_type, "full",
                        settings.Q_template, None, Q_floor=Q_floor)
        states, meas = Y.reshape(-1, k), Z.reshape(-1, d)
        rows = np.isfinite(states).all(1) & np.isfinite(meas).all(1)
        stats = _moments(states, states, rows)
        stats.update(Szx=meas[rows].T @ states[rows], Szz=meas[rows].T @ meas[rows],
                     sz=meas[rows].sum(0))
        params = m_step(stats, params, learn & {"H", "c", "R"}, "full", settings.R_covariance_type,
                        None, settings.R_template, R_floor=R_floor)
        return KalmanFit(supervised_prior(Y, params, learn), np.eye(k), _no_iterations())
    if m != d:
        raise ValueError(
            f"y has {m} target(s) per timestep; a {settings.model!r} model in supervised mode "
            f"takes y = the full state ({k} values) or the positions ({d} values, one per "
            "measured axis).")
    readout = params.H.copy()
    if "R" in learn:
        resid = (Z - Y - params.c).reshape(-1, d)
        resid = resid[np.isfinite(resid).all(1)]
        if len(resid) == 0:
            raise ValueError("no timestep has both a full measurement and a target.")
        S = resid.T @ resid / len(resid)
        params = params._replace(R=floor_covariance(floor_cov(
            project_covariance(S, settings.R_covariance_type, settings.R_template)),
            settings.R_covariance_type, R_floor))
    params, trace = fit_unsupervised(params, Z, lengths, settings._replace(learn=learn - {"R"}))
    return KalmanFit(params, readout, trace)


def _moments(prev, cur, pair):
    """Second moments of regressors ``prev`` and targets ``cur`` over rows where ``pair``."""
    p, q = prev[pair], cur[pair]
    return dict(S11=q.T @ q, S10=q.T @ p, S00=p.T @ p, s1=q.sum(0), s0=p.sum(0),
                N=float(pair.sum()))


def supervised_prior(Y, params, learn):
    """``x0``, ``P0`` (those in ``learn``) so that the first state's prior matches ``y``.

    With ``mu``, ``Sigma`` the mean and covariance of the targets at the first step (all
    steps when too few sequences have one)::

        x0 = F^+ (mu - b),        P0 = F^+ (Sigma - Q) F^+' + 1e-9 tr(Sigma) I   (floored)

    Returns
    -------
    StateSpaceParams
    """
    k = Y.shape[-1]
    first = Y[:, 0][np.isfinite(Y[:, 0]).all(1)]
    allrows = Y.reshape(-1, k)
    allrows = allrows[np.isfinite(allrows).all(1)]
    mu = first.mean(0) if len(first) else allrows.mean(0)
    src = first if len(first) > k else allrows
    sigma = np.atleast_2d(np.cov(src.T, bias=True)) if len(src) > 1 else np.eye(k)
    Fp = np.linalg.pinv(params.F)
    over = {}
    if "x0" in learn:
        over["x0"] = Fp @ (mu - params.b)
    if "P0" in learn:
        with np.errstate(over="ignore", invalid="ignore"):
            P0 = Fp @ (sigma - params.Q) @ Fp.T + 1e-9 * sigma.trace() * np.eye(k)
        if not np.isfinite(P0).all():
            raise ValueError("y is too large in scale for a Kalman filter: the prior of the "
                             "first state, from the targets' covariance at the first step, "
                             "overflows float64. Rescale y (and X).")
        over["P0"] = floor_cov(P0)
    return params._replace(**over)


# -- starting values -----------------------------------------------------------------------


def motion_init(values, F, H, Q_template):
    """Starting parameters of a motion model with matrices ``F``, ``H`` and Q's template.

    With ``v`` the variance of each component's steps ``z_t - z_{t-1}`` (1 where it has
    none)::

        R = diag(v / 2),   Q = mean(v) / 2 * template / max(diag(template))
        x0 = F^{-1} m,     P0 = kappa F^{-1} F^{-T}     (kappa: :func:`diffuse_scale`)

    with ``m = H^+ (mean first measurement)``: levels / positions there, rates 0.

    **The prior is diffuse at the first step.** ``x0``, ``P0`` are the prior of ``x_0``,
    the state *one transition before* the first measurement (the filter predicts, then
    updates). They are the pre-image of an isotropic diffuse prior on the first state
    itself: the first prediction is ``x_{1|0} = F x0 = m`` with ``P_{1|0} = F P0 F' + Q
    = kappa I + Q``, whose components are uncorrelated. The first measurement then fixes
    the positions and leaves the rates where they were (0, still diffuse), so the first
    one-step prediction is the first measurement -- what the data say when nothing is
    known of the velocity. (``P0 = kappa I`` itself would let ``F`` correlate position
    and velocity in ``P_{1|0}``, and the first measurement's distance from ``x0`` would
    be read as a velocity: ``dt / (1 + dt^2)`` of it for constant velocity.) This is
    the large-``kappa`` approximation of the exact diffuse initialisation (Durbin &
    Koopman 2012, ch. 5): the predictions and the log-likelihood of the steps after the
    diffuse ones match it to about ``R / kappa`` relative; the diffuse steps' own
    log-likelihood carries ``-0.5 log kappa`` per diffuse component (the exact diffuse
    likelihood leaves those steps out).

    Parameters
    ----------
    values : ndarray of shape (n, T, d)
    F, H, Q_template : ndarrays of shapes (k, k), (d, k), (k, k)

    Returns
    -------
    StateSpaceParams
        With offsets ``b = 0``, ``c = 0``.
    """
    d, k = values.shape[-1], F.shape[0]
    diffs = np.diff(values, axis=1).reshape(-1, d)
    v = np.nanvar(diffs, axis=0) if np.isfinite(diffs).any() else np.ones(d)
    v = np.where(np.isfinite(v) & (v > 0), v, 1.0)
    R = np.diag(0.5 * v)
    Q = 0.5 * float(np.mean(v)) * Q_template / np.max(np.diag(Q_template))
    # Prior mean: the levels / positions at the mean first measurement, rates 0.
    first = np.nanmean(values[:, 0], axis=0) if np.isfinite(values[:, 0]).any() \
        else np.zeros(d)
    x0, P0 = diffuse_prior(F, np.linalg.pinv(H) @ np.nan_to_num(first),
                           diffuse_scale(values))
    return StateSpaceParams(F, H, Q, R, x0, P0, np.zeros(k), np.zeros(d))


def diffuse_prior(F, mean, kappa, b=None):
    """``(x0, P0)`` that put the prior ``N(mean, kappa I)`` on the *first* state.

    ``x0`` and ``P0`` describe the state one transition before the first measurement, so
    they are the pre-image of the first state's prior under the transition::

        x0 = F^{-1} (mean - b),     P0 = kappa F^{-1} F^{-T}

    giving ``x_{1|0} = mean`` and ``P_{1|0} = kappa I + Q``: no correlation between the
    components of the first state is invented by the transition (a position and a
    velocity stay independent). Every motion model's ``F`` is invertible; for a singular
    one ``F^{-1}`` is the pseudo-inverse and the prior is diffuse on ``F``'s range.

    Parameters
    ----------
    F : ndarray of shape (k, k)
    mean : ndarray of shape (k,)
    kappa : float
    b : ndarray of shape (k,), optional
        Transition offset (0 when omitted).

    Returns
    -------
    x0 : ndarray of shape (k,)
    P0 : ndarray of shape (k, k)
    """
    Finv = np.linalg.pinv(F)
    x0 = Finv @ (mean - (0.0 if b is None else b))
    return x0, symmetrise(kappa * Finv @ Finv.T)


def generic_init(values, k, rng=None):
    """PCA initialisation of the generic model: H spans the top principal directions.

    With ``Sigma = V diag(lambda) V'`` the covariance of the fully observed rows and
    ``c`` their mean: ``H = V_k diag(sqrt(0.9 lambda_k))`` (columns past ``d`` drawn
    from ``rng``), ``R = diag(0.1 diag(Sigma))``; ``F`` and ``Q`` regress the latent
    states ``H^+ (z_t - c)`` on their predecessors (spectral radius capped at 0.99);
    ``x0 = 0``, ``P0 = I``: unit latent variance.

    Parameters
    ----------
    values : ndarray of shape (n, T, d)
    k : int
        State dimension.
    rng : numpy.random.Generator, optional
        Needed only when ``k > d``.

    Returns
    -------
    StateSpaceParams
    """
    n, T, d = values.shape
    rows = values.reshape(-1, d)
    rows = rows[np.isfinite(rows).all(axis=1)]
    if len(rows) < 2:
        raise ValueError("X needs at least 2 fully observed timesteps to initialise a "
                         "generic KalmanFilter.")
    c = rows.mean(axis=0)
    cov = np.atleast_2d(np.cov(rows.T, bias=True)) + 1e-9 * np.eye(d)
    lam, V = np.linalg.eigh(cov)
    lam, V = lam[::-1], V[:, ::-1]
    H = np.zeros((d, k))
    m = min(k, d)
    H[:, :m] = V[:, :m] * np.sqrt(0.9 * lam[:m])
    if k > d:
        H[:, d:] = rng.normal(scale=0.1 * np.sqrt(lam.mean()), size=(d, k - d))
    # Directions with no variance of their own (below 1e-8 of the largest: collinear or
    # constant columns) are left out of the latent regression: inverting their tiny
    # column of H would blow the rounding noise up into a transition of size 1e10.
    Hp = np.linalg.pinv(H, rcond=1e-4)
    latent = (values - c) @ Hp.T
    prev, cur = latent[:, :-1].reshape(-1, k), latent[:, 1:].reshape(-1, k)
    ok = np.isfinite(prev).all(axis=1) & np.isfinite(cur).all(axis=1)
    if ok.sum() > k:
        F = np.linalg.lstsq(prev[ok], cur[ok], rcond=None)[0].T
        radius = np.max(np.abs(np.linalg.eigvals(F)))
        if radius > 0.99:
            F = F * (0.99 / radius)
        resid = cur[ok] - prev[ok] @ F.T
        Q = floor_cov(resid.T @ resid / ok.sum() + 1e-3 * np.eye(k))
    else:
        F, Q = 0.5 * np.eye(k), 0.75 * np.eye(k)
    R = np.diag(0.1 * np.diag(cov) + 1e-9)
    return StateSpaceParams(F, H, Q, R, np.zeros(k), np.eye(k), np.zeros(k), c)


# -- the likelihood optimiser (also the unscented and IMM filters') --------------------------


def maximise_likelihood(neg_loglik, theta0, n_iter, name, n_obs):
    """Minimise ``neg_loglik`` with L-BFGS-B from ``theta0``, at most ``n_iter`` iterations.

    A :class:`seqmodels.utils.convergence.ConvergenceMonitor` records the log-likelihood
    ``-f`` after every iteration and takes the optimiser's verdict: converged when scipy
    reports success (relative reduction of ``f`` below ``ftol`` or projected gradient
    below ``gtol``), a ConvergenceWarning naming the estimator ``name`` otherwise
    (iteration limit, or a line search that failed), quoting scipy's message. With
    nothing to learn (``theta0`` empty): no iteration, converged.

    Parameters
    ----------
    neg_loglik : callable
        ``theta -> -L(theta)`` (``+inf`` where the model breaks down).
    theta0 : ndarray of shape (p,)
    n_iter : int
    name : str
    n_obs : int
        Observed timesteps (:func:`observed_steps`), for the warning's per-observation change.

    Returns
    -------
    theta : ndarray
    trace : ConvergenceResult
    """
    if theta0.size == 0:
        return theta0, _no_iterations()
    monitor = ConvergenceMonitor(name, n_iter=n_iter, n_obs=n_obs,
                                 method="the L-BFGS-B optimiser")
    if n_iter == 0:
        return theta0, monitor.finish(converged=False)

    def record(intermediate_result):
        monitor.record(-intermediate_result.fun)

    # A point where the filter breaks down costs +inf; scipy's finite differences around
    # it then subtract inf from inf. That is the optimiser stepping back, not an error.
    with np.errstate(invalid="ignore", over="ignore"):
        opt = optimize.minimize(neg_loglik, theta0, method="L-BFGS-B", callback=record,
                                options=dict(maxiter=n_iter))
    return opt.x, monitor.finish(converged=opt.success, n_iter=opt.nit, reason=opt.message)


# -- checks, scales and counts ---------------------------------------------------------------


def check_measurement_noise(params):
    """Refuse fixed Q and R that leave a measured direction without any noise.

    The innovation covariance is ``S_t = H P_{t|t-1} H' + R`` with ``P_{t|t-1} >= Q``, so
    ``S_t >= R + H Q H'``. When that matrix is singular (``Q = R = 0``, or a direction
    that neither noise reaches), the first measurement pins the state down exactly
    there, ``P`` collapses, and every later ``S_t`` is singular: the filter cannot
    update. Raised before any filtering, naming Q and R.
    """
    M = params.R + params.H @ params.Q @ params.H.T
    top = np.abs(M).max()
    smallest = np.linalg.eigvalsh(symmetrise(M)).min()
    if not smallest > 1e-12 * top:
        raise ValueError(
            f"Q and R leave measurement noise out: R + H Q H' is singular (smallest "
            f"eigenvalue {smallest:.3g}), so once a measurement pins the state down the "
            "innovation covariance H P H' + R is singular and the filter cannot update. Give "
            "R a positive variance on every measured axis (or Q one in every measured "
            "direction)."
        )


def observed_steps(Z):
    """Number of timesteps with at least one observed component, over all sequences."""
    return int(np.isfinite(Z).any(axis=-1).sum())


def data_variance(values):
    """Mean per-feature variance of the observed values; for constant data their mean
    square; 1.0 for all-zero data (a scale for floors, never 0)."""
    observed = values[np.isfinite(values)]
    if observed.size == 0:
        return 1.0
    with np.errstate(all="ignore"):
        columns = [c[np.isfinite(c)] for c in values.reshape(-1, values.shape[-1]).T]
        var = np.mean([c.var() if c.size else 0.0 for c in columns])
        if not (np.isfinite(var) and var > 0):
            var = float(np.mean(observed**2))
    return float(var) if np.isfinite(var) and var > 0 else 1.0


def noise_floors(values, generic):
    """``(Q_floor, R_floor)``: ``NOISE_FLOOR`` times the data's variance (R, and Q of a
    motion model, whose state is in the data's units) or times 1 (Q of the generic model,
    whose latent state starts at unit variance).

    Constant, collinear or duplicated measurements have a maximum-likelihood noise
    variance of exactly zero in some direction; EM heads there and the innovation
    covariance ``H P H' + R`` becomes singular (NaN log-likelihoods, a singular-matrix
    error). The floor is far below any noise the data can resolve (1e-8 of their
    variance): it changes nothing else.
    """
    scale = data_variance(values)
    return NOISE_FLOOR * (1.0 if generic else scale), NOISE_FLOOR * scale


def diffuse_scale(values):
    """Scale of a diffuse prior variance: 1e6 times the data's variance (at least 1e6)."""
    var = np.nanvar(values, axis=(0, 1))
    return 1e6 * max(float(np.nanmean(var)) if np.isfinite(var).any() else 1.0, 1.0)


def encode_cov(S, covariance_type):
    """Unconstrained coordinates of a covariance in a covariance type.

    ``"full"``: the lower triangle of its Cholesky factor ``L`` with ``log diag(L)``;
    ``"diag"``: ``log diag(S)``; ``"scaled"``: the log scale, 0 (``S`` itself is
    the template).
    """
    if covariance_type == "scaled":
        return np.array([0.0])
    if covariance_type == "diag":
        return np.log(np.maximum(np.diag(S), 1e-300))
    L = np.linalg.cholesky(floor_cov(S))
    idx = np.tril_indices(S.shape[0])
    L = L.copy()
    L[np.diag_indices(S.shape[0])] = np.log(np.diag(L))
    return L[idx]


def decode_cov(theta, covariance_type, template):
    """Inverse of :func:`encode_cov` (``scaled``: ``exp(theta) * template``)."""
    if covariance_type == "scaled":
        return np.exp(theta[0]) * template
    if covariance_type == "diag":
        return np.diag(np.exp(theta))
    k = template.shape[0]
    L = np.zeros((k, k))
    L[np.tril_indices(k)] = theta
    L[np.diag_indices(k)] = np.exp(np.diag(L))
    return L @ L.T


def n_cov_params(covariance_type, k):
    """Free parameters of a (k, k) covariance in a covariance type."""
    return {"full": k * (k + 1) // 2, "diag": k, "scaled": 1}[covariance_type]


def n_free_params(learned, k, d, Q_covariance_type, R_covariance_type):
    """Free parameters of the learned matrices of a model with k states, d measurements."""
    counts = dict(F=k * k, H=d * k, Q=n_cov_params(Q_covariance_type, k),
                  R=n_cov_params(R_covariance_type, d), x0=k, P0=k * (k + 1) // 2, b=k, c=d)
    return int(sum(counts[name] for name in learned))
