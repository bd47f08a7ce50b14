"""KalmanFilter: the linear-Gaussian state-space model behind the common contract.

A thin estimator over the pure functions of :mod:`seqmodels.inference.kalman`.
"""

import numbers
from typing import NamedTuple

import numpy as np
from scipy import optimize

from ..utils.convergence import ConvergenceMonitor, ConvergenceResult
from ..base import SequenceEstimator
from ..inference import kalman as _core
from .motion import MOTION_MODELS, motion_model

__all__ = ["KalmanFilter"]

_NAMES = ("F", "H", "Q", "R", "x0", "P0", "b", "c")
_STRUCTURES = ("full", "diagonal", "scaled")
# what a fit with nothing to iterate reports: no history, converged
_CLOSED_FORM = ConvergenceResult([], 0, True)


class _Setting(NamedTuple):
    """Covariance families and templates of one fit (kept local until it succeeds)."""

    Q_structure: str
    R_structure: str
    Q_template: np.ndarray
    R_template: np.ndarray


# -- helpers shared with the nonlinear filters ----------------------------------------


def restore_cov(batch, covs):
    """Per-step covariances (n, T, a, a) in the caller's container form."""
    if batch.form == "3d":
        return covs
    out = [covs[i, : batch.lengths[i]] for i in range(covs.shape[0])]
    return out if batch.form == "list" else out[0]


#: Least variance EM may give a learned Q or R, relative to the data's variance
#: (:func:`noise_floors`).
NOISE_FLOOR = 1e-8


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


def encode_cov(S, structure):
    """Unconstrained parameter vector of a covariance in a structure (log scale / log-Cholesky)."""
    if structure == "scaled":
        return np.array([0.0])
    if structure == "diagonal":
        return np.log(np.maximum(np.diag(S), 1e-300))
    L = np.linalg.cholesky(_core._floor_cov(S))
    idx = np.tril_indices(S.shape[0])
    L = L.copy()
    L[np.diag_indices(S.shape[0])] = np.log(np.diag(L))
    return L[idx]


def decode_cov(theta, structure, template):
    """Inverse of :func:`encode_cov` (``scaled``: ``exp(theta) * template``)."""
    if structure == "scaled":
        return np.exp(theta[0]) * template
    if structure == "diagonal":
        return np.diag(np.exp(theta))
    k = template.shape[0]
    L = np.zeros((k, k))
    L[np.tril_indices(k)] = theta
    L[np.diag_indices(k)] = np.exp(np.diag(L))
    return L @ L.T


def maximise_likelihood(neg_loglik, theta0, n_iter, monitor):
    """Minimise ``neg_loglik`` with L-BFGS-B from ``theta0``, at most ``n_iter`` iterations.

    ``monitor`` (a :class:`seqmodels.utils.convergence.ConvergenceMonitor` without ``tol``)
    records the log-likelihood ``-f`` after every iteration and takes the optimiser's
    verdict: converged when scipy reports success (relative reduction of ``f`` below
    ``ftol`` or projected gradient below ``gtol``), a ConvergenceWarning otherwise
    (iteration limit, or a line search that failed), quoting scipy's message.

    Returns
    -------
    theta : ndarray
    trace : ConvergenceResult
    """
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


def n_cov_params(structure, k):
    return {"full": k * (k + 1) // 2, "diagonal": k, "scaled": 1}[structure]


def _check_matrix(value, name, shape):
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0 and shape == (1, 1):
        arr = arr.reshape(1, 1)
    if len(shape) == 1 and arr.ndim == 0 and shape == (1,):
        arr = arr.reshape(1)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite.")
    if name in ("Q", "R", "P0"):
        if not np.allclose(arr, arr.T, atol=1e-12 * max(np.abs(arr).max(), 1.0)):
            raise ValueError(f"{name} must be symmetric.")
        if np.linalg.eigvalsh(0.5 * (arr + arr.T)).min() < -1e-10 * max(np.abs(arr).max(), 1.0):
            raise ValueError(f"{name} must be positive semi-definite.")
        arr = 0.5 * (arr + arr.T)
    return arr


def _check_measurement_noise(params):
    """Refuse fixed Q and R that leave a measured direction without any noise.

    The innovation covariance is ``S_t = H P_{t|t-1} H' + R`` with ``P_{t|t-1} >= Q``, so
    ``S_t >= R + H Q H'``. When that matrix is singular (``Q = R = 0``, or a direction
    that neither noise reaches), the first measurement pins the state down exactly
    there, ``P`` collapses, and every later ``S_t`` is singular: the filter cannot
    update. Raised before any filtering, naming Q and R.
    """
    M = params.R + params.H @ params.Q @ params.H.T
    top = np.abs(M).max()
    smallest = np.linalg.eigvalsh(_core._sym(M)).min()
    if not smallest > 1e-12 * top:
        raise ValueError(
            f"Q and R leave measurement noise out: R + H Q H' is singular (smallest "
            f"eigenvalue {smallest:.3g}), so once a measurement pins the state down the "
            "innovation covariance H P H' + R is singular and the filter cannot update. Give "
            "R a positive variance on every measured axis (or Q one in every measured "
            "direction)."
        )


def _moments(prev, cur, pair):
    """Second moments of regressors ``prev`` and targets ``cur`` over rows where ``pair``."""
    p, q = prev[pair], cur[pair]
    return dict(S11=q.T @ q, S10=q.T @ p, S00=p.T @ p, s1=q.sum(0), s0=p.sum(0),
                N=float(pair.sum()))


# -- estimator ---------------------------------------------------------------------------


class KalmanFilter(SequenceEstimator):
    """Linear-Gaussian state-space model, filtered exactly and learned from data.

    The model (filterpy's order: predict, then update with z_t)::

        x_t = F x_{t-1} + b + w_t,      w_t ~ N(0, Q)
        z_t = H x_t     + c + v_t,      v_t ~ N(0, R),       t = 1..T
        x_0 ~ N(x0, P0)                 the state before the first measurement

    **Forecasting mode** (``fit(X)``): ``predict(X)[i, t] = H x_{t|t-1} + c``, the
    one-step predicted measurement (step 0 from the prior), with predictive
    covariance ``H P_{t|t-1} H' + R``; ``forecast`` propagates the last filtered
    state; ``log_likelihood`` is the innovations form
    ``sum_t log N(z_t; H x_{t|t-1} + c, H P_{t|t-1} H' + R)`` (Cholesky-based).

    **Supervised mode** (``fit(X, y)``, X = measurements, y = true states or
    positions): ``predict(X)[i, t] = C x_{t|t}``, the filtered estimate of the
    targets from ``X[i, :t+1]``, with ``C`` the readout ``readout_``:

    * ``model="generic"``: ``y`` *is* the state (k = n_targets, ``C = I``). The
      parameters are fitted by least squares on the true states: ``[F b]`` and ``Q``
      regress ``y_t`` on ``y_{t-1}``; ``[H c]`` and ``R`` regress ``z_t`` on ``y_t``;
      the prior matches the mean and covariance of ``y`` at the first step.
    * a motion model with ``y`` the full state (n_targets = k): the same least
      squares with F and H fixed by the motion model (Q and R in their structure).
    * a motion model with ``y`` the positions (n_targets = n_features): ``C = H``;
      ``R`` is the covariance of ``z_t - y_t`` and ``Q`` is learned by EM (or
      maximum likelihood) from X with that R.

    NaN in X is a missing measurement: an all-NaN row skips the update, a partly
    observed row updates on its observed components. ``filter`` and ``smooth``
    return the state means and covariances; ``smooth`` (Rauch-Tung-Striebel) uses
    the whole sequence and is **not causal**: ``predict`` never uses it.

    Parameters
    ----------
    model : str, default="generic"
        ``"generic"`` (a latent state of dimension ``n_dim_state``, every matrix
        learned: black-box forecasting), or a motion model of
        :mod:`seqmodels.state_space.motion` (``"local_level"``,
        ``"local_linear_trend"``, ``"constant_velocity"``,
        ``"constant_acceleration"``) applied to each measured axis.
    n_dim_state : int, optional
        State dimension of the generic model (default: ``n_features``).
    dt : float, default=1.0
        Time step of a motion model.
    F, H, Q, R, x0, P0 : array-like, optional
        Explicit parameters; they override the model's and are not learned under
        ``learn="auto"``. With F, H, Q, R given and nothing to learn the model is
        a ready oracle: ``fit`` only records the data's dimensions. Without
        ``x0``/``P0`` the prior is centred on the mean first measurement (levels /
        positions; rates 0) with a diffuse ``P0 = kappa I``
        (``kappa = 1e6 * max(1, variance of the training data)``), except for the
        generic model, whose latent state has ``P0 = I`` initially.
    learn : "auto", "none" or iterable of str, default="auto"
        Names among ``F, H, Q, R, x0, P0, b, c`` (``b``, ``c``: transition and
        measurement offsets). ``"auto"``: generic model ``F, H, Q, R, x0, P0, c``;
        motion models ``Q, R`` (plus the prior ``x0, P0`` in supervised mode when
        ``y`` is the full state); minus those given explicitly.
    method : {"em", "mle"}, default="em"
        ``"em"``: Shumway-Stoffer expectation-maximisation over all sequences at
        once (log-likelihood non-decreasing, recorded in ``history_``). ``"mle"``:
        maximum likelihood of the noise covariances Q and R only, with
        ``scipy.optimize.minimize`` (L-BFGS-B) over their log-parameters. Where only
        Q and R are learned "mle" is the faster: EM crawls when a maximum-likelihood
        variance is zero or nearly so (a local level on the log lynx or sunspot
        series runs past 5,000 EM iterations; "mle" converges in about 25).
    Q_structure, R_structure : {"auto", "full", "diagonal", "scaled"}, default="auto"
        Family the learned covariance is restricted to (``"scaled"``: a multiple of
        the model's template). ``"auto"``: ``"full"`` for the generic model; for
        motion models ``Q`` follows the model (``"scaled"`` white-noise
        acceleration / jerk, ``"diagonal"`` for levels and trends) and ``R`` is
        ``"diagonal"``.
    n_iter : int, default=500
        Most iterations: EM iterations, or L-BFGS-B iterations for ``"mle"``. A fit
        that reaches it before converging emits a
        :class:`sklearn.exceptions.ConvergenceWarning` and has ``converged_ = False``.
    tol : float, default=1e-8
        EM has converged when one iteration raises the training log-likelihood by
        less than ``tol`` per observation: ``L_k - L_{k-1} < tol * n_obs``, with
        ``n_obs`` the observed timesteps of all sequences (the rule of
        :mod:`seqmodels.utils.convergence`, shared with :class:`HiddenMarkovModel`).
        EM's gains shrink slowly where the state is poorly determined: on the Nile
        local level, stopping at a gain of 1e-6 per observation leaves ``Q`` 5 %
        from its maximum-likelihood value (117 iterations), 1e-8 leaves 0.5 %
        (205 iterations). ``"mle"`` stops on L-BFGS-B's own tests instead (relative
        reduction of ``-L`` below scipy's ``ftol`` or projected gradient below its
        ``gtol``); ``tol`` does not apply to it.
    random_state : int, RandomState or Generator, optional
        Seeds the initialisation of a generic model with ``n_dim_state >
        n_features`` and the default of :meth:`sample`.

    Attributes
    ----------
    F_, H_, Q_, R_, x0_, P0_, b_, c_ : ndarray
        The fitted parameters (shapes (k, k), (d, k), (k, k), (d, d), (k,), (k, k),
        (k,), (d,)).
    readout_ : ndarray of shape (n_targets, k)
        ``C``: maps the state to the predictions in supervised mode.
    learned_ : tuple of str
        The parameters that ``fit`` learned.
    n_params_ : int
        Number of learned free parameters (0 for an oracle).
    history_ : list of float
        Training log-likelihood per EM / optimiser iteration (``[]`` when nothing was
        learned iteratively: an oracle, or least squares on true states).
    n_iter_ : int
        Iterations run (0 without an iterative fit).
    converged_ : bool
        Whether the iterative fit met its convergence test (``tol`` for EM, the
        optimiser's own for ``"mle"``) before ``n_iter``; True without one.

    Examples
    --------
    >>> import numpy as np
    >>> from seqmodels import KalmanFilter
    >>> truth = KalmanFilter(model="local_level", Q=[[1.0]], R=[[4.0]], x0=[0.0], P0=[[1.0]])
    >>> X = truth.fit(np.zeros((1, 2, 1))).sample(20, 100, random_state=0)[1]
    >>> model = KalmanFilter(model="local_level", method="mle").fit(X)
    >>> bool(abs(model.Q_[0, 0] - 1.0) < 0.3 and abs(model.R_[0, 0] - 4.0) < 0.6)
    True
    >>> model.forecast(X, horizon=3).shape
    (20, 3, 1)
    """

    causal = True
    handles_missing = True

    def __init__(self, model="generic", n_dim_state=None, dt=1.0, F=None, H=None, Q=None,
                 R=None, x0=None, P0=None, learn="auto", method="em", Q_structure="auto",
                 R_structure="auto", n_iter=500, tol=1e-8, random_state=None):
        self.model = model
        self.n_dim_state = n_dim_state
        self.dt = dt
        self.F = F
        self.H = H
        self.Q = Q
        self.R = R
        self.x0 = x0
        self.P0 = P0
        self.learn = learn
        self.method = method
        self.Q_structure = Q_structure
        self.R_structure = R_structure
        self.n_iter = n_iter
        self.tol = tol
        self.random_state = random_state

    @classmethod
    def _unit_test_params(cls):
        return {"n_iter": 3}

    def _min_fit_length(self):
        return 2

    # -- configuration -----------------------------------------------------------------

    def _check_hyperparameters(self):
        if self.model != "generic" and self.model not in MOTION_MODELS:
            raise ValueError(f"model must be one of {('generic',) + MOTION_MODELS}; "
                             f"got {self.model!r}.")
        if self.method not in ("em", "mle"):
            raise ValueError(f"method must be 'em' or 'mle'; got {self.method!r}.")
        for name in ("Q_structure", "R_structure"):
            if getattr(self, name) not in ("auto",) + _STRUCTURES:
                raise ValueError(f"{name} must be one of {('auto',) + _STRUCTURES}; "
                                 f"got {getattr(self, name)!r}.")
        if isinstance(self.n_iter, bool) or not isinstance(self.n_iter, numbers.Integral) \
                or self.n_iter < 0:
            raise ValueError(f"n_iter must be a non-negative integer; got {self.n_iter!r}.")
        if not (isinstance(self.tol, numbers.Real) and self.tol >= 0):
            raise ValueError(f"tol must be a non-negative number; got {self.tol!r}.")
        if self.n_dim_state is not None and (
                isinstance(self.n_dim_state, bool)
                or not isinstance(self.n_dim_state, numbers.Integral) or self.n_dim_state < 1):
            raise ValueError(f"n_dim_state must be a positive integer; got {self.n_dim_state!r}.")

    def _learn_set(self, given):
        if isinstance(self.learn, str):
            if self.learn == "none":
                return set()
            if self.learn != "auto":
                raise ValueError(f"learn must be 'auto', 'none' or an iterable of names among "
                                 f"{_NAMES}; got {self.learn!r}.")
            fixed = given | ({"F", "H"} if self.model != "generic" else set())
            if {"F", "H", "Q", "R"} <= fixed:
                return set()                     # every parameter given: a ready oracle
            base = {"F", "H", "Q", "R", "x0", "P0", "c"} if self.model == "generic" else {"Q", "R"}
            return base - given
        names = set(self.learn)
        unknown = names - set(_NAMES)
        if unknown:
            raise ValueError(f"learn names unknown parameter(s) {sorted(unknown)}; "
                             f"choose among {_NAMES}.")
        return names

    def _rng(self):
        rs = self.random_state
        if isinstance(rs, np.random.Generator):
            return rs
        if isinstance(rs, np.random.RandomState):
            return np.random.default_rng(rs.randint(2**31))
        return np.random.default_rng(rs)

    def _structures(self):
        if self.model == "generic":
            default_q, default_r = "full", "full"
        else:
            default_q, default_r = motion_model(self.model, 1, self.dt)[3], "diagonal"
        q = default_q if self.Q_structure == "auto" else self.Q_structure
        r = default_r if self.R_structure == "auto" else self.R_structure
        return q, r

    # -- initial parameters ------------------------------------------------------------

    def _initial_params(self, values, k_state=None):
        """Starting (or fixed) parameters: preset or data-driven, then explicit overrides."""
        n, T, d = values.shape
        if self.model == "generic":
            k = k_state or self.n_dim_state or self._given_state_dim() or d
            params = self._generic_init(values, k)
            template_q = np.eye(k)
        else:
            F, H, template_q, _ = motion_model(self.model, d, self.dt)
            k = F.shape[0]
            diffs = np.diff(values, axis=1).reshape(-1, d)
            v = np.nanvar(diffs, axis=0) if np.isfinite(diffs).any() else np.ones(d)
            v = np.where(np.isfinite(v) & (v > 0), v, 1.0)
            R = np.diag(0.5 * v)
            Q = 0.5 * float(np.mean(v)) * template_q / np.max(np.diag(template_q))
            # Prior mean: the levels / positions at the mean first measurement, rates 0.
            first = np.nanmean(values[:, 0], axis=0) if np.isfinite(values[:, 0]).any() \
                else np.zeros(d)
            x0 = np.linalg.pinv(H) @ np.nan_to_num(first)
            params = _core.StateSpaceParams(F, H, Q, R, x0, diffuse_scale(values) * np.eye(k),
                                            np.zeros(k), np.zeros(d))
        over = {}
        shapes = dict(F=(k, k), H=(d, k), Q=(k, k), R=(d, d), x0=(k,), P0=(k, k))
        for name, shape in shapes.items():
            value = getattr(self, name)
            if value is not None:
                over[name] = _check_matrix(value, name, shape)
        params = params._replace(**over)
        template_q = over.get("Q", template_q) if self.model == "generic" else template_q
        template_r = over.get("R", np.eye(d))
        return params, set(over), template_q, template_r

    def _given_state_dim(self):
        """State dimension implied by an explicit F, Q, P0, x0 or H (generic model)."""
        for name in ("F", "Q", "P0", "x0"):
            value = getattr(self, name)
            if value is not None:
                return int(np.atleast_1d(np.asarray(value)).shape[0])
        if self.H is not None:
            return int(np.atleast_2d(np.asarray(self.H)).shape[1])
        return None

    def _generic_init(self, values, k):
        """PCA initialisation: H spans the top principal directions; unit latent variance."""
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
            H[:, d:] = self._rng().normal(scale=0.1 * np.sqrt(lam.mean()), size=(d, k - d))
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
            Q = _core._floor_cov(resid.T @ resid / ok.sum() + 1e-3 * np.eye(k))
        else:
            F, Q = 0.5 * np.eye(k), 0.75 * np.eye(k)
        R = np.diag(0.1 * np.diag(cov) + 1e-9)
        return _core.StateSpaceParams(F, H, Q, R, np.zeros(k), np.eye(k), np.zeros(k), c)

    # -- fitting -------------------------------------------------------------------------

    def _fit(self, X, y):
        # Everything is computed on local state and assigned at the end: a fit that
        # raises leaves the attributes of an earlier fit as they were.
        self._check_hyperparameters()
        if self.classes_ is not None:
            raise ValueError("y holds integers, which means class labels; KalmanFilter "
                             "estimates continuous states. Pass y.astype(float).")
        d = X.n_features
        Q_structure, R_structure = self._structures()
        k_state = None
        if y is not None and self.model == "generic":
            if self.n_dim_state not in (None, y.n_features):
                raise ValueError(
                    f"in supervised mode the generic state is y: n_dim_state must be None or "
                    f"{y.n_features} (the number of targets); got {self.n_dim_state}.")
            k_state = y.n_features
        params, given, Q_template, R_template = self._initial_params(X.values, k_state)
        setting = _Setting(Q_structure, R_structure, Q_template, R_template)
        k = params.F.shape[0]
        learn = self._learn_set(given)
        if learn and self.learn == "auto" and y is not None and y.n_features == k:
            # True states are given: the prior follows from them at no cost (see
            # _supervised_prior) -- without it the first steps rest on a diffuse guess.
            learn |= {"x0", "P0"} - given
        # the data-driven offsets are starting values for learning; unlearned offsets are 0
        params = params._replace(b=params.b if "b" in learn else np.zeros(k),
                                 c=params.c if "c" in learn else np.zeros(d))
        if not learn & {"Q", "R"}:
            _check_measurement_noise(params)
        if y is None:
            params, trace = self._learn_unsupervised(X, params, learn, setting)
            readout = params.H.copy()
        else:
            params, trace, readout = self._fit_supervised(X, y, params, learn, k, d, setting)
        counts = dict(F=k * k, H=d * k, Q=n_cov_params(Q_structure, k),
                      R=n_cov_params(R_structure, d), x0=k, P0=k * (k + 1) // 2, b=k, c=d)
        learned = tuple(name for name in _NAMES if name in learn)
        self._set_params(params)
        self.Q_structure_, self.R_structure_ = Q_structure, R_structure
        self.readout_ = np.array(readout, dtype=float)
        self.learned_ = learned
        self.n_params_ = int(sum(counts[name] for name in learned))
        self.history_, self.n_iter_, self.converged_ = trace

    def _set_params(self, params):
        for name, value in zip(_NAMES, params):
            setattr(self, name + "_", np.array(value, dtype=float))

    def _params(self):
        return _core.StateSpaceParams(*(getattr(self, name + "_") for name in _NAMES))

    def _learn_unsupervised(self, X, params, learn, setting):
        """Learn the parameters in ``learn`` from X alone: (params, ConvergenceResult)."""
        if not learn:
            return params, _CLOSED_FORM
        if self.method == "mle":
            return self._fit_mle(X, params, learn, setting)
        return self._fit_em(X, params, learn, setting)

    def _fit_em(self, X, params, learn, setting):
        """Shumway-Stoffer EM; stops by the rule of :mod:`seqmodels.utils.convergence`.

        Each iteration filters with the current parameters (recording the training
        log-likelihood ``L_k``), stops if ``L_k - L_{k-1} < tol * n_obs`` (``n_obs``:
        observed timesteps), else smooths and takes one M-step.
        """
        Z = X.values
        Q_floor, R_floor = noise_floors(Z, self.model == "generic")
        # EM starts inside the floored family, so each iteration still cannot lower L
        if "Q" in learn:
            params = params._replace(Q=_core.floor_structured(params.Q, setting.Q_structure,
                                                              Q_floor))
        if "R" in learn:
            params = params._replace(R=_core.floor_structured(params.R, setting.R_structure,
                                                              R_floor))
        monitor = ConvergenceMonitor(type(self).__name__, n_iter=self.n_iter, tol=self.tol,
                                     n_obs=int(np.isfinite(Z).any(axis=-1).sum()), method="EM")
        for _ in range(self.n_iter):
            result = _core.kalman_filter(params, Z)
            if monitor.record(result.loglik.sum()):
                break
            smoothed = _core.rts_smoother(params, result)
            stats = _core.em_statistics(params, Z, X.lengths, smoothed)
            params = _core.m_step(stats, params, learn, setting.Q_structure, setting.R_structure,
                                  setting.Q_template, setting.R_template, Q_floor, R_floor)
        return params, monitor.finish()

    def _fit_mle(self, X, params, learn, setting):
        """Maximum likelihood of Q and R by L-BFGS-B (:func:`maximise_likelihood`)."""
        extra = learn - {"Q", "R"}
        if extra:
            raise ValueError(f"method='mle' learns the noise covariances Q and R only; learn "
                             f"also names {sorted(extra)}. Use method='em'.")
        parts = [name for name in ("Q", "R") if name in learn]
        structures = dict(Q=setting.Q_structure, R=setting.R_structure)
        templates = dict(Q=params.Q if setting.Q_structure == "scaled" else setting.Q_template,
                         R=params.R if setting.R_structure == "scaled" else setting.R_template)
        sizes = [len(encode_cov(getattr(params, p), structures[p])) for p in parts]
        theta0 = np.concatenate([encode_cov(getattr(params, p), structures[p]) for p in parts])

        def unpack(theta):
            out, start = {}, 0
            for p, size in zip(parts, sizes):
                out[p] = decode_cov(theta[start:start + size], structures[p], templates[p])
                start += size
            return params._replace(**out)

        def objective(theta):
            if np.any(np.abs(theta) > 700):
                return np.inf
            ll = _core.kalman_filter(unpack(theta), X.values).loglik.sum()
            return -ll if np.isfinite(ll) else np.inf

        monitor = ConvergenceMonitor(type(self).__name__, n_iter=self.n_iter,
                                     n_obs=int(np.isfinite(X.values).any(axis=-1).sum()),
                                     method="the L-BFGS-B optimiser")
        theta, trace = maximise_likelihood(objective, theta0, self.n_iter, monitor)
        return unpack(theta), trace

    def _fit_supervised(self, X, y, params, learn, k, d, setting):
        """(params, ConvergenceResult, readout) from measurements X and targets y."""
        Z, Y = X.values, y.values
        m = y.n_features
        Q_floor, R_floor = noise_floors(Y, False)[0], noise_floors(Z, False)[1]
        if self.model == "generic" or m == k:
            prev, cur = Y[:, :-1].reshape(-1, k), Y[:, 1:].reshape(-1, k)
            pair = np.isfinite(prev).all(1) & np.isfinite(cur).all(1)
            if "F" in learn and pair.sum() <= k + 1:
                raise ValueError(f"y has {pair.sum()} consecutive pairs of finite targets; "
                                 f"need more than {k + 1} to fit F by least squares.")
            stats = _moments(prev, cur, pair)
            stats.update(Szx=np.zeros((d, k)), Szz=np.zeros((d, d)), sz=np.zeros(d))
            params = _core.m_step(stats, params, learn & {"F", "b", "Q"}, setting.Q_structure,
                                  "full", setting.Q_template, None, Q_floor=Q_floor)
            states, meas = Y.reshape(-1, k), Z.reshape(-1, d)
            rows = np.isfinite(states).all(1) & np.isfinite(meas).all(1)
            stats = _moments(states, states, rows)
            stats.update(Szx=meas[rows].T @ states[rows], Szz=meas[rows].T @ meas[rows],
                         sz=meas[rows].sum(0))
            params = _core.m_step(stats, params, learn & {"H", "c", "R"}, "full",
                                  setting.R_structure, None, setting.R_template,
                                  R_floor=R_floor)
            params = self._supervised_prior(Y, params, learn)
            return params, _CLOSED_FORM, np.eye(k)
        if m != d:
            raise ValueError(
                f"y has {m} target(s) per timestep; a {self.model!r} model in supervised mode "
                f"takes y = the full state ({k} values) or the positions ({d} values, one per "
                "measured axis).")
        readout = params.H.copy()
        if "R" in learn:
            resid = (Z - Y - params.c).reshape(-1, d)
            resid = resid[np.isfinite(resid).all(1)]
            if len(resid) == 0:
                raise ValueError("no timestep has both a full measurement and a target.")
            S = resid.T @ resid / len(resid)
            params = params._replace(R=_core.floor_structured(_core._floor_cov(
                _core.project_structure(S, setting.R_structure, setting.R_template)),
                setting.R_structure, R_floor))
        rest = learn - {"R"}
        params, trace = self._learn_unsupervised(X, params, rest, setting)
        return params, trace, readout

    def _supervised_prior(self, Y, params, learn):
        """x0, P0 so that the prior of the first state matches y at the first step."""
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
            over["P0"] = _core._floor_cov(Fp @ (sigma - params.Q) @ Fp.T + 1e-9 * sigma.trace()
                                          * np.eye(k))
        return params._replace(**over)

    # -- inference -----------------------------------------------------------------------

    def _run(self, X):
        return _core.kalman_filter(self._params(), X.values)

    def _predict(self, X, return_std):
        res = self._run(X)
        if self.mode_ == "forecast":
            mean = res.predicted_mean @ self.H_.T + self.c_
            if not return_std:
                return mean
            cov = self.H_ @ res.predicted_cov @ self.H_.T + self.R_
        else:
            C = self.readout_
            mean = res.filtered_mean @ C.T
            if not return_std:
                return mean
            cov = C @ res.filtered_cov @ C.T
        std = np.sqrt(np.clip(np.diagonal(cov, axis1=-2, axis2=-1), 0.0, None))
        return mean, np.broadcast_to(std, mean.shape).copy()

    def _log_likelihood(self, X, y):
        res = self._run(X)
        if y is None:
            return res.loglik.sum(axis=1)
        C = self.readout_
        mean = res.filtered_mean @ C.T
        cov = C @ res.filtered_cov @ C.T
        cov = cov + 1e-12 * np.eye(cov.shape[-1]) * np.maximum(
            np.trace(cov, axis1=-2, axis2=-1)[..., None, None], 1e-300)
        target = y.values
        observed = np.isfinite(target) & X.mask[..., None]
        resid = np.where(observed, target - mean, 0.0)
        m = target.shape[-1]
        if observed.all(axis=-1)[observed.any(axis=-1)].all():
            ll = _core.innovations_loglik(resid, cov, observed)
        else:
            eye = np.eye(m)
            both = observed[..., :, None] & observed[..., None, :]
            ll = _core.innovations_loglik(resid, np.where(both, cov, eye), observed)
        return ll.sum(axis=1)

    def _last_filtered(self, X, res):
        idx = X.lengths - 1
        mean = res.filtered_mean[np.arange(X.n_sequences), idx]
        covs = res.filtered_cov
        cov = covs[0, idx[:1]] if covs.shape[0] == 1 else covs[np.arange(X.n_sequences), idx]
        return mean, cov

    def _forecast(self, X, horizon, return_std):
        res = self._run(X)
        mean, cov = self._last_filtered(X, res)
        z_mean, z_cov = _core.forecast_states(self._params(), mean, cov, horizon)
        if not return_std:
            return z_mean
        std = np.sqrt(np.clip(np.diagonal(z_cov, axis1=-2, axis2=-1), 0.0, None))
        return z_mean, np.broadcast_to(std, z_mean.shape).copy()

    # -- beyond the contract ---------------------------------------------------------------

    def filter(self, X):
        """Filtered states ``x_{t|t}`` and covariances ``P_{t|t}`` (causal).

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_features)
            Or a list of 2-D arrays, or a 1-D array; NaN marks a missing value.

        Returns
        -------
        means : same container form as X, with k state features
        covs : ndarray of shape (n_sequences, n_timesteps, k, k), or a list of
            (n_timesteps_i, k, k) arrays, or one (n_timesteps, k, k) array
        """
        X_batch = self._checked(X)
        res = self._run(X_batch)
        n, T, k = res.filtered_mean.shape
        covs = np.broadcast_to(res.filtered_cov, (n, T, k, k))
        return X_batch.restore(res.filtered_mean), restore_cov(X_batch, covs)

    def smooth(self, X):
        """Smoothed states ``x_{t|T}`` and covariances ``P_{t|T}`` (Rauch-Tung-Striebel).

        **Not causal**: step t uses every measurement of the sequence, also those
        after t. Use it for offline analysis, never where a causal estimate is
        compared; ``predict`` does not use it.

        Returns
        -------
        means, covs : as :meth:`filter`
        """
        X_batch = self._checked(X)
        res = self._run(X_batch)
        sm = _core.rts_smoother(self._params(), res)
        n, T, k = sm.mean.shape
        covs = np.broadcast_to(sm.cov, (n, T, k, k))
        return X_batch.restore(sm.mean), restore_cov(X_batch, covs)

    def _checked(self, X):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "n_features_in_")
        return self._check_X(X)

    def sample(self, n_sequences, n_timesteps, random_state=None):
        """Draw sequences from the fitted model.

        Parameters
        ----------
        n_sequences, n_timesteps : int
        random_state : int or Generator, optional
            Defaults to the estimator's ``random_state``.

        Returns
        -------
        states : ndarray of shape (n_sequences, n_timesteps, k)
        measurements : ndarray of shape (n_sequences, n_timesteps, n_features)
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "n_features_in_")
        for name, value in (("n_sequences", n_sequences), ("n_timesteps", n_timesteps)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        rng = self._rng() if random_state is None else np.random.default_rng(random_state)
        return _core.sample_states(self._params(), int(n_sequences), int(n_timesteps), rng)
