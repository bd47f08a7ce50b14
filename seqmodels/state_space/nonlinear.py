"""UnscentedKalmanFilter, ExtendedKalmanFilter and InteractingMultipleModel: nonlinear
tracking filters.

Thin estimators over :mod:`seqmodels.inference.sigma_points` (filterpy's sigma points
and UKF / IMM equations) and :mod:`seqmodels.inference.extended` (the EKF), vectorised
across sequences. All learn their noise variances by maximum likelihood of the
measurements (``scipy.optimize``), forecast, and track in supervised mode
(X = measurements, y = true positions or states).

They share one base, :class:`_NonlinearFilter`, which holds everything but the
dynamics: the prior, the likelihood fit, the readout of supervised mode, and predict,
log-likelihood, forecast and filter on top of a run of the filter. Each estimator
describes its dynamics (:class:`_Dynamics`: one model, or a bank of modes switched by
a Markov chain) and names the pure core that runs them. The presets' functions carry
their analytic Jacobians (``.jacobian``), which only the EKF uses.
"""

import numbers
from typing import NamedTuple

import numpy as np
from scipy import linalg
from sklearn.utils.validation import check_is_fitted

from .._parameters import Integer, Options, Real
from .._validation import check_distribution
from ..base import SequenceEstimator
from ..inference import extended as ext
from ..inference import sigma_points as nl
from ..inference.kalman_fit import maximise_likelihood, observed_steps
from .motion import (coordinated_turn_jacobian, coordinated_turn_transition, motion_model,
                     range_bearing, range_bearing_jacobian)

__all__ = ["UnscentedKalmanFilter", "ExtendedKalmanFilter", "InteractingMultipleModel"]


# -- tracking setup shared by the estimators --------------------------------------------
#
# Picklable vectorised functions of the presets, each with its Jacobian (``.jacobian``:
# rows (m, k) -> (m, out, k)), which only the extended Kalman filter calls.


class _Linear:
    """Picklable vectorised linear map ``s -> s F'``."""

    def __init__(self, F):
        self.FT = np.ascontiguousarray(np.asarray(F, dtype=float).T)

    def __call__(self, s):
        return s @ self.FT

    def jacobian(self, s):
        return np.broadcast_to(self.FT.T, (len(s),) + self.FT.shape)


class _CoordinatedTurn:
    def __init__(self, dt):
        self.dt = dt

    def __call__(self, s):
        return coordinated_turn_transition(s, self.dt)

    def jacobian(self, s):
        return coordinated_turn_jacobian(s, self.dt)


class _Select:
    def __init__(self, index):
        self.index = np.asarray(index)

    def __call__(self, s):
        return s[:, self.index]

    def jacobian(self, s):
        J = np.zeros((len(self.index), s.shape[-1]))
        J[np.arange(len(self.index)), self.index] = 1.0
        return np.broadcast_to(J, (len(s),) + J.shape)


class _RangeBearing:
    def __init__(self, radar):
        self.radar = tuple(float(v) for v in radar)

    def __call__(self, s):
        return range_bearing(s, self.radar)

    def jacobian(self, s):
        return range_bearing_jacobian(s, self.radar)


class _UserTransition:
    """A user's ``fx(states, dt)`` (and ``fx_jacobian(states, dt)`` for the EKF) at a fixed dt."""

    def __init__(self, fx, dt, fx_jacobian=None):
        self.fx, self.dt, self.fx_jacobian = fx, dt, fx_jacobian

    def __call__(self, s):
        return self.fx(s, self.dt)

    def jacobian(self, s):
        return self.fx_jacobian(s, self.dt)


class _UserMeasurement:
    """A user's ``hx(states)`` (and ``hx_jacobian(states)`` for the EKF)."""

    def __init__(self, hx, hx_jacobian=None):
        self.hx, self.hx_jacobian = hx, hx_jacobian

    def __call__(self, s):
        return self.hx(s)

    def jacobian(self, s):
        return self.hx_jacobian(s)


def _positions_from_measurements(values, measurement, radar):
    if measurement == "range_bearing":
        r, th = values[..., 0], values[..., 1]
        return np.stack([radar[0] + r * np.cos(th), radar[1] + r * np.sin(th)], axis=-1)
    return values


def _motion(name, n_pos, dt, turn_rate_var, with_turn):
    """(fx, Q template for unit process variance, fixed Q part, k, position indices)."""
    if name == "coordinated_turn" and n_pos != 2:
        raise ValueError(f"the coordinated-turn model moves in the plane; it needs 2 spatial "
                         f"dimensions, got {n_pos}.")
    F, _, Qt, _ = motion_model("constant_velocity", n_pos, dt)
    pos = np.arange(n_pos) * 2
    if not with_turn:
        return _Linear(F), Qt, np.zeros_like(Qt), 2 * n_pos, pos
    Qt5 = linalg.block_diag(Qt, 0.0)
    Qfix = np.zeros((5, 5))
    Qfix[4, 4] = turn_rate_var * dt
    if name == "coordinated_turn":
        return _CoordinatedTurn(dt), Qt5, Qfix, 5, pos
    F5 = linalg.block_diag(F, 1.0)
    return _Linear(F5), Qt5, Qfix, 5, pos


def _transmat(transmat, n_modes):
    """The mode transition matrix: given, or a stay probability p spread as the docs say."""
    if isinstance(transmat, numbers.Real):
        if not 0 < transmat < 1:
            raise ValueError(f"transmat as a float is the probability of staying in a mode "
                             f"and must be in (0, 1); got {transmat!r}.")
        trans = np.full((n_modes, n_modes), (1 - transmat) / (n_modes - 1))
        np.fill_diagonal(trans, transmat)
        return trans
    return check_distribution(transmat, "transmat", (n_modes, n_modes))


def _measurement(name, n_features, pos, radar):
    if name == "position":
        return _Select(pos), np.zeros(n_features, dtype=bool)
    if name == "range_bearing":
        if n_features != 2:
            raise ValueError(f"range_bearing measurements have 2 features (range, bearing); "
                             f"X has {n_features}.")
        return _RangeBearing(radar), np.array([False, True])
    raise ValueError(f"measurement must be 'position' or 'range_bearing'; got {name!r}.")


def _check_positive(value, name, size=None):
    arr = np.asarray(value, dtype=float)
    if size is not None:
        arr = np.broadcast_to(arr, (size,)).copy() if arr.ndim <= 1 and arr.size in (1, size) \
            else arr
        if arr.shape != (size,):
            raise ValueError(f"{name} must be a scalar or have {size} entries; got shape "
                             f"{np.shape(value)}.")
    if not (np.all(np.isfinite(arr)) and np.all(arr > 0)):
        raise ValueError(f"{name} must be positive; got {value!r}.")
    return arr


def _default_prior(values, measurement, radar, k, pos, dt, with_turn):
    """x0, P0: a prior on the *first* state, mean first position (velocity 0), diagonal.

    Position variance: the spread of the first positions across sequences plus four
    mean squared steps; velocity variance: four mean squared steps per dt^2. ``x0`` and
    ``P0`` are the state one transition before the first measurement (the filter
    predicts, then updates), so they are that diagonal prior carried back through the
    constant-velocity transition ``A`` (``x0 = A^{-1} x_1``, ``P0 = A^{-1} D A^{-T}``):
    the first predicted state has the diagonal covariance ``D`` (plus ``Q``), and the
    first measurement's distance from the mean first position is not read as a velocity
    (with ``P0 = D`` itself the transition would correlate them).
    """
    positions = _positions_from_measurements(values, measurement, radar)
    first = positions[:, 0]
    first = first[np.isfinite(first).all(1)]
    steps = np.diff(positions, axis=1)
    msd = float(np.nanmean(steps**2)) if np.isfinite(steps).any() else 1.0
    msd = max(msd, 1e-6)
    spread = float(first.var(axis=0).mean()) if len(first) > 1 else 0.0
    x0 = np.zeros(k)
    if len(first):
        x0[pos] = first.mean(0)
    diag = np.full(k, 4.0 * msd / dt**2)
    diag[pos] = spread + 4.0 * msd
    if with_turn:
        diag[4] = 0.01 / dt**2
    back = np.eye(k)                 # A^{-1}: position -= dt * velocity, per axis
    back[pos, pos + 1] = -dt
    return back @ x0, back @ np.diag(diag) @ back.T


def _readout_matrix(readout, n_targets, k, pos):
    """C for 'state' / 'position' readouts (None for 'linear')."""
    if readout == "auto":
        if n_targets == k:
            readout = "state"
        elif pos is not None and n_targets == len(pos):
            readout = "position"
        else:
            readout = "linear"
    if readout == "state":
        if n_targets != k:
            raise ValueError(f"readout='state' needs y with {k} targets (the state); "
                             f"got {n_targets}.")
        return readout, np.eye(k)
    if readout == "position":
        if pos is None or n_targets != len(pos):
            raise ValueError("readout='position' needs a motion model and y with one target "
                             "per spatial dimension.")
        C = np.zeros((n_targets, k))
        C[np.arange(n_targets), pos] = 1.0
        return readout, C
    if readout == "linear":
        return readout, None
    raise ValueError(f"readout must be 'auto', 'state', 'position' or 'linear'; got {readout!r}.")


def _fit_readout(readout, positions, X, y, mean):
    """The readout's fitted attributes (a dict) from the training filtered means."""
    kind, C = _readout_matrix(readout, y.n_features, mean.shape[-1], positions)
    if C is not None:
        return dict(readout_kind_=kind, readout_=C, readout_intercept_=np.zeros(y.n_features),
                    readout_noise_=np.zeros(y.n_features))
    rows = X.mask & np.isfinite(y.values).all(-1)
    design = np.hstack([mean[rows], np.ones((rows.sum(), 1))])
    B, *_ = np.linalg.lstsq(design, y.values[rows], rcond=None)
    resid = y.values[rows] - design @ B
    return dict(readout_kind_=kind, readout_=B[:-1].T, readout_intercept_=B[-1],
                readout_noise_=np.maximum(resid.var(axis=0), 1e-12))


def _readout_moments(C, intercept, noise, mean, cov, return_std):
    """Targets from filtered states: ``C x + b``, std ``sqrt(diag(C P C') + noise)``."""
    out = mean @ C.T + intercept
    if not return_std:
        return out
    var = np.diagonal(C @ cov @ C.T, axis1=-2, axis2=-1) + noise
    return out, np.sqrt(np.clip(var, 1e-300, None))


#: Largest standardised residual in the supervised log-likelihood (:func:`_gaussian_loglik`).
MAX_Z = 1e100


def _gaussian_loglik(X, y, mean, std):
    """Sum over the steps with a target of ``log N(y; mean, std^2)``, per sequence.

    Standardised residuals are capped at ``MAX_Z = 1e100`` standard deviations (log-density
    about -5e199 per step: as good as impossible, but finite, where the square of a target
    far outside the fitted covariance would overflow).
    """
    ok = X.mask[..., None] & np.isfinite(y.values)
    z = np.clip(np.where(ok, (y.values - mean) / std, 0.0), -MAX_Z, MAX_Z)
    ll = -0.5 * (np.log(2 * np.pi) + 2 * np.log(std) + z**2)
    return np.where(ok, ll, 0.0).sum(axis=(1, 2))


def _std(cov):
    """Standard deviations from covariances (..., a, a)."""
    return np.sqrt(np.clip(np.diagonal(cov, axis1=-2, axis2=-1), 1e-300, None))


def _nanvar(a):
    """Per-column variance of the finite entries of ``a`` (m, c); NaN for a column with none."""
    out = np.full(a.shape[-1], np.nan)
    some = np.isfinite(a).any(axis=0)
    out[some] = np.nanvar(a[:, some], axis=0)
    return out


def _initial_noise(values, measurement, radar, dt):
    """Starting variances: (process variance, measurement variances (d,)) from the data.

    Half the variance of the observed steps, per component (measurement) and averaged
    over the positions (process, per dt^2); 1.0 where no step is observed (no two
    consecutive measurements of a component) or the steps do not vary.
    """
    diffs = np.diff(values, axis=1).reshape(-1, values.shape[-1])
    if measurement == "range_bearing":
        diffs[:, 1] = (diffs[:, 1] + np.pi) % (2 * np.pi) - np.pi
    v = _nanvar(diffs)
    v = np.where(np.isfinite(v) & (v > 0), v, 1.0)
    pos = _positions_from_measurements(values, measurement, radar)
    pd = _nanvar(np.diff(pos, axis=1).reshape(-1, pos.shape[-1]))
    q = float(np.nanmean(pd)) if np.isfinite(pd).any() else 1.0
    return max(q, 1e-6) / dt**2 * 0.5, 0.5 * v


# -- the shared base -----------------------------------------------------------------------


class _Dynamics(NamedTuple):
    """An estimator's dynamics and measurement, fixed before the fit: M modes (M = 1: UKF)."""

    modes: tuple              # M names
    fxs: tuple                # M vectorised transition functions (m, k) -> (m, k)
    templates: np.ndarray     # (M, k, k) process noise per unit process variance
    fixed: np.ndarray         # (M, k, k) process noise not scaled (turn-rate random walk)
    families: tuple           # M names: the process variance that scales each template
    given: dict               # {family: variance} given to the constructor (not learned)
    hx: object                # vectorised measurement function (m, k) -> (m, d)
    angle: np.ndarray         # (d,) bool: measurement components that are angles
    positions: object         # state indices of the positions (None for user functions)
    with_turn: bool           # the state ends with a turn rate
    transition: object        # (M, M) mode transition matrix (None for one model)


class _Model(NamedTuple):
    """Everything one filter run needs: dynamics, sigma-point weights, parameters."""

    dynamics: _Dynamics
    weights: tuple            # (Wm, Wc, lambda) of :func:`.sigma_points.merwe_weights`; EKF: None
    Qs: np.ndarray            # (M, k, k) process noise of each mode
    R: np.ndarray             # (d, d)
    x0: np.ndarray            # (k,)
    P0: np.ndarray            # (k, k)


#: Hyperparameters every nonlinear filter takes (:mod:`seqmodels._parameters`).
_SHARED_CONSTRAINTS = {
    "measurement": [Options("position", "range_bearing")],
    "dt": [Real(0.0, None, closed="neither")],
    "measurement_var": [None, Real(0.0, None, closed="neither"), "array-like"],
    "turn_rate_var": [Real(0.0, None, closed="neither")],
    "x0": [None, "array-like"],
    "P0": [None, "array-like"],
    "radar": ["array-like"],
    "learn": [Options("auto", "none")],
    "readout": [Options("auto", "state", "position", "linear")],
    "n_iter": [Integer(0)],
}

#: The sigma points' (UKF, IMM).
_SIGMA_POINT_CONSTRAINTS = {
    "alpha": [Real(0.0, None, closed="neither")],
    "beta": [Real()],
    "kappa": [Real()],
}

#: A single model's, a preset or the user's functions (UKF, EKF).
_ONE_MODEL_CONSTRAINTS = {
    "motion": [Options("constant_velocity", "coordinated_turn")],
    "fx": [None, callable],
    "hx": [None, callable],
    "process_var": [None, Real(0.0, None, closed="neither")],
    "Q": [None, "array-like"],
}


def _one_model(estimator, d, dt, fx_jacobian=None, hx_jacobian=None):
    """The dynamics of one model (UKF, EKF): a preset (or the user's fx, hx) with noise
    template ``Q`` (given or preset); the user's functions carry the Jacobians given."""
    if (estimator.fx is None) != (estimator.hx is None):
        raise ValueError("give both fx and hx, or neither (presets).")
    if estimator.fx is not None:
        if estimator.x0 is None and estimator.Q is None:
            raise ValueError("with user functions fx, hx give x0 or Q to fix the state "
                             "dimension.")
        k = len(np.asarray(estimator.x0 if estimator.x0 is not None else estimator.Q,
                           dtype=float))
        fx, name = _UserTransition(estimator.fx, dt, fx_jacobian), "fx"
        hx = _UserMeasurement(estimator.hx, hx_jacobian)
        Qt = np.eye(k) if estimator.Q is None else np.asarray(estimator.Q, dtype=float)
        Qfix, pos, with_turn = np.zeros((k, k)), None, False
        angle = np.zeros(d, dtype=bool)
        if estimator.measurement == "range_bearing":
            angle = np.array([False, True])
    else:
        n_pos = 2 if estimator.measurement == "range_bearing" else d
        with_turn, name = estimator.motion == "coordinated_turn", estimator.motion
        fx, Qt, Qfix, k, pos = _motion(estimator.motion, n_pos, dt,
                                       float(estimator.turn_rate_var), with_turn)
        if estimator.Q is not None:
            Qt = np.asarray(estimator.Q, dtype=float)
        hx, angle = _measurement(estimator.measurement, d, pos, estimator.radar)
    if Qt.shape != (k, k):
        raise ValueError(f"Q must have shape ({k}, {k}); got {Qt.shape}.")
    given = {} if estimator.process_var is None else {
        "process_var": float(_check_positive(estimator.process_var, "process_var"))}
    return _Dynamics((name,), (fx,), Qt[None], Qfix[None], ("process_var",), given, hx,
                     angle, pos, with_turn, None)


class _NonlinearFilter(SequenceEstimator):
    """What :class:`UnscentedKalmanFilter`, :class:`ExtendedKalmanFilter` and
    :class:`InteractingMultipleModel` share.

    A subclass stores its arguments (``self._store(locals())``), describes its modes
    (``_dynamics(n_features, dt)`` returns a :class:`_Dynamics`),
    names the pure core that filters and forecasts them (``_filter_core(model, Z,
    lengths)``, ``_forecast_core(model, result, last, horizon)``) and maps its process
    noise to and from its fitted attributes (``_dynamics_attributes``,
    ``_process_covs``: one model's ``Q_`` by default, the IMM's bank ``Qs_``).
    ``_weights(k)`` gives the sigma-point weights its core needs (the UKF's and the
    IMM's, by default; None for the EKF, which has none). This class does the rest,
    the same for all:

    * **prior**: ``x0``, ``P0`` as given, else the mean first position (velocity 0)
      with a diagonal covariance from the data's spread (:func:`_default_prior`);
    * **fit**: mode j's process noise is ``Q_j = q_f(j) Qt_j + Qfix_j`` (one variance
      per family f of modes), ``R = diag(r)``; the variances not given are learned by
      maximum likelihood of the measurements, ``max sum_i sum_t log p(z_it | z_i,<t)``,
      L-BFGS-B over their logarithms from half the variances of the data's steps;
    * **forecasting mode**: ``predict`` is the predicted measurement ``zp_t`` with std
      ``sqrt(diag S_t)``, ``log_likelihood = sum_t log p(z_t | z_<t)``;
    * **supervised (tracking) mode**: ``predict = C x_{t|t} + b`` with std
      ``sqrt(diag(C P_{t|t} C') + s2)``; ``C`` picks the positions or the state, or is
      fitted with intercept ``b`` and residual variance ``s2`` by least squares on the
      training filtered states (``readout="linear"``); ``log_likelihood`` sums
      ``log N(y_t; C x_{t|t} + b, diag(C P_{t|t} C') + s2)`` over the steps with a target.
    """

    causal = True
    handles_missing = True
    target_kinds = ("values",)

    def _store(self, arguments):
        """Store the constructor's arguments unchanged: the body of ``__init__``.

        scikit-learn's rule (no validation, no work); ``arguments`` is ``__init__``'s
        ``locals()`` and the names are its signature's (``_get_param_names``).
        """
        for name in self._get_param_names():
            setattr(self, name, arguments[name])

    def _min_fit_length(self):
        return 2

    # -- fitting -------------------------------------------------------------------------

    def _prior(self, X, dynamics, k):
        """``(x0, P0)``: the given ones, else the default prior from the data."""
        if self.x0 is None or self.P0 is None:
            if dynamics.positions is None:
                raise ValueError("with user functions give x0 and P0.")
            x0, P0 = _default_prior(X.values, self.measurement, self.radar, k,
                                    dynamics.positions, float(self.dt), dynamics.with_turn)
        x0 = np.asarray(self.x0, dtype=float) if self.x0 is not None else x0
        P0 = np.asarray(self.P0, dtype=float) if self.P0 is not None else P0
        if x0.shape != (k,) or P0.shape != (k, k):
            raise ValueError(f"x0 must have shape ({k},) and P0 ({k}, {k}); got {x0.shape} "
                             f"and {P0.shape}.")
        return x0, P0

    def _fit(self, X, y):
        # Computed on local state and assigned at the end: a fit that raises leaves an
        # earlier fit's attributes as they were.
        name = type(self).__name__
        if not np.isfinite(X.values).any():
            raise ValueError(f"X has no observed value at any timestep (all NaN): {name} has "
                             "nothing to learn its noise variances or prior from. Pass at "
                             "least one sequence with measurements.")
        dynamics = self._dynamics(X.n_features, float(self.dt))
        d, k = X.n_features, dynamics.templates.shape[-1]
        x0, P0 = self._prior(X, dynamics, k)
        weights = self._weights(k)
        q_init, r_init = _initial_noise(X.values, self.measurement, self.radar, float(self.dt))
        families = sorted(set(dynamics.families))
        learn = self.learn == "auto"
        q_learn = [f for f in families if f not in dynamics.given] if learn else []
        q_fixed = {f: dynamics.given.get(f, q_init) for f in families}
        r = r_init if self.measurement_var is None else _check_positive(self.measurement_var,
                                                                        "measurement_var", d)
        learn_r = learn and self.measurement_var is None

        def build(theta):
            q = dict(q_fixed, **{f: np.exp(v) for f, v in zip(q_learn, theta)})
            rr = np.exp(theta[len(q_learn):]) if learn_r else r
            Qs = np.stack([q[f] * Qt + Qfix for f, Qt, Qfix in
                           zip(dynamics.families, dynamics.templates, dynamics.fixed)])
            return _Model(dynamics, weights, Qs, np.diag(rr), x0, P0), q

        def objective(theta):
            if np.any(np.abs(theta) > 700):
                return np.inf
            try:
                ll = self._filter_core(build(theta)[0], X.values, None).loglik.sum()
            except (np.linalg.LinAlgError, nl.ScaleError):
                return np.inf
            return -ll if np.isfinite(ll) else np.inf

        theta = np.concatenate([np.log([q_fixed[f] for f in q_learn]),
                                np.log(r) if learn_r else []])
        theta, trace = maximise_likelihood(objective, theta, self.n_iter, name,
                                           observed_steps(X.values))
        model, q = build(theta)
        fitted = dict(R_=model.R, measurement_var_=np.diag(model.R).copy(), x0_=x0, P0_=P0,
                      n_params_=len(q_learn) + (d if learn_r else 0),
                      **self._dynamics_attributes(dynamics, model.Qs, q))
        if y is not None:
            res = self._filter_core(model, X.values, X.lengths)
            fitted.update(_fit_readout(self.readout, dynamics.positions, X, y,
                                       res.filtered_mean))
            if fitted["readout_kind_"] == "linear":
                fitted["n_params_"] += fitted["readout_"].size + y.n_features
        # assigned only now that the fit has succeeded
        self._fitted_dynamics = (dynamics, weights)
        for key, value in fitted.items():
            setattr(self, key, value)
        self.history_, self.n_iter_, self.converged_ = trace

    def _weights(self, k):
        """Filterpy's Merwe sigma-point weights (Wm, Wc, lambda) for a k-dimensional state."""
        return nl.merwe_weights(k, float(self.alpha), float(self.beta), float(self.kappa))

    @staticmethod
    def _dynamics_attributes(dynamics, Qs, q):
        """One model's fitted process noise (the IMM overrides for its bank of modes)."""
        return dict(Q_=Qs[0], process_var_=float(q["process_var"]))

    def _process_covs(self):
        return self.Q_[None]

    # -- inference -----------------------------------------------------------------------

    def _model(self):
        dynamics, weights = self._fitted_dynamics
        return _Model(dynamics, weights, self._process_covs(), self.R_, self.x0_, self.P0_)

    def _run(self, X):
        return self._filter_core(self._model(), X.values, X.lengths)

    def _readout(self, res, return_std):
        return _readout_moments(self.readout_, self.readout_intercept_, self.readout_noise_,
                                res.filtered_mean, res.filtered_cov, return_std)

    def _predict(self, X, return_std):
        res = self._run(X)
        if self.mode_ == "supervised":
            return self._readout(res, return_std)
        if not return_std:
            return res.predicted_measurement
        return res.predicted_measurement, _std(res.predicted_measurement_cov)

    def _log_likelihood(self, X, y):
        res = self._run(X)
        if y is None:
            return res.loglik.sum(axis=1)
        return _gaussian_loglik(X, y, *self._readout(res, True))

    def _forecast(self, X, horizon, return_std):
        res = self._run(X)
        last = (np.arange(X.n_sequences), X.lengths - 1)
        mean, cov = self._forecast_core(self._model(), res, last, horizon)
        return (mean, _std(cov)) if return_std else mean

    def filter(self, X):
        """Filtered states ``x_{t|t}`` and covariances ``P_{t|t}`` (causal).

        For the IMM, the mixture over the modes: ``x = sum_j mu_j x_j``,
        ``P = sum_j mu_j (P_j + (x_j - x)(x_j - x)')``.

        Returns
        -------
        means, covs : in the forms of :meth:`KalmanFilter.filter`
        """
        check_is_fitted(self, "n_features_in_")
        batch = self._check_X(X)
        res = self._run(batch)
        return batch.restore(res.filtered_mean), batch.restore(res.filtered_cov)


# -- UnscentedKalmanFilter -----------------------------------------------------------------


class UnscentedKalmanFilter(_NonlinearFilter):
    """Unscented Kalman filter (filterpy's UKF and scaled sigma points), vectorised.

    State-space model with nonlinear transition f and measurement h::

        x_t = f(x_{t-1}) + w_t,   w_t ~ N(0, Q)
        z_t = h(x_t)     + v_t,   v_t ~ N(0, R)

    The unscented transform propagates filterpy's Merwe scaled sigma points
    (``alpha``, ``beta``, ``kappa``) through f and h (see
    :func:`seqmodels.inference.sigma_points.ukf_filter` for the equations). Presets:
    ``motion="constant_velocity"`` (any number of axes) or ``"coordinated_turn"``
    (state ``[x, vx, y, vy, omega]``), ``measurement="position"`` or
    ``"range_bearing"`` (``[range, bearing]`` from ``radar``; the bearing residual and
    mean are wrapped). ``Q = process_var * Q_white_noise (+ turn_rate_var dt on
    omega)``, ``R = diag(measurement_var)``; the variances not given are learned by
    maximum likelihood (L-BFGS-B over their logarithms), in both modes.

    **Forecasting mode**: ``predict`` is the one-step predicted measurement ``zp_t``
    with std from ``S_t``; ``forecast`` propagates the unscented transform;
    ``log_likelihood = sum_t log N(z_t; zp_t, S_t)``. **Supervised (tracking)
    mode**: ``predict(X)[i, t] = C x_{t|t}`` estimates ``y[i, t]``, with the readout
    ``C`` picking the positions (y = positions), the identity (y = state), or
    fitted by least squares on the training filtered states (``readout="linear"``).

    Parameters
    ----------
    motion : {"constant_velocity", "coordinated_turn"}, default="constant_velocity"
    measurement : {"position", "range_bearing"}, default="position"
    fx, hx : callable, optional
        User functions, *vectorised over rows*: ``fx(states, dt)`` maps ``(m, k)`` to
        ``(m, k)``, ``hx(states)`` maps ``(m, k)`` to ``(m, d)``. They replace the
        presets; then ``x0`` (or ``Q``) fixes k and ``Q`` is the process-noise
        template (default identity).
    dt : float, default=1.0
    process_var, measurement_var : float or array-like, optional
        Given noise variances (not learned). ``measurement_var`` may have one entry
        per measurement component.
    turn_rate_var : float, default=1e-4
        Variance per unit time of the turn-rate random walk (coordinated turn).
    Q, x0, P0 : array-like, optional
        Process-noise template and prior; the prior defaults to the mean first
        position (velocity 0) with a wide diagonal covariance.
    radar : tuple of 2 floats, default=(0.0, 0.0)
    alpha, beta, kappa : float, default=(0.5, 2.0, 0.0)
        Sigma-point parameters (filterpy's ``MerweScaledSigmaPoints``).
    learn : {"auto", "none"}, default="auto"
    readout : {"auto", "position", "state", "linear"}, default="auto"
    n_iter : int, default=100
        Most L-BFGS-B iterations. The fit has converged when the optimiser says so
        (relative reduction of ``-L`` below scipy's ``ftol`` or projected gradient
        below its ``gtol``: 8 to 10 iterations on the ``maneuvering`` and ``adsb``
        data); otherwise it emits a :class:`sklearn.exceptions.ConvergenceWarning`
        quoting scipy's message (see :mod:`seqmodels.utils.convergence`).

    Attributes
    ----------
    Q_, R_, x0_, P0_ : ndarray
    process_var_ : float
    measurement_var_ : ndarray of shape (d,)
    readout_ : ndarray of shape (n_targets, k)
    n_params_ : int
        Parameters learned from the data: the noise variances fitted by maximum
        likelihood (the process variance and one measurement variance per component)
        plus, for ``readout="linear"``, the readout's coefficients and intercepts. 0
        when nothing is learned (every variance given, or ``learn="none"``): an
        oracle. As for :class:`KalmanFilter`, the default prior and starting
        variances, which follow from the data's moments, do not count: give ``x0``
        and ``P0`` too for an oracle whose predictions do not depend on the data.
    history_ : list of float
        Training log-likelihood per optimiser iteration (``[]`` when nothing is learned).
    n_iter_ : int
        Optimiser iterations run.
    converged_ : bool
        Whether the optimiser converged within ``n_iter`` (True when nothing is learned).

    Examples
    --------
    >>> import numpy as np
    >>> from seqmodels import UnscentedKalmanFilter
    >>> rng = np.random.default_rng(0)
    >>> truth = np.cumsum(rng.normal(size=(5, 60, 2)), axis=1)
    >>> X = truth + rng.normal(scale=0.5, size=truth.shape)
    >>> ukf = UnscentedKalmanFilter().fit(X, truth)
    >>> ukf.predict(X).shape
    (5, 60, 2)
    >>> bool(ukf.converged_), ukf.n_iter_ == len(ukf.history_)
    (True, True)
    """

    def __init__(self, motion="constant_velocity", measurement="position", fx=None, hx=None,
                 dt=1.0, process_var=None, measurement_var=None, turn_rate_var=1e-4, Q=None,
                 x0=None, P0=None, radar=(0.0, 0.0), alpha=0.5, beta=2.0, kappa=0.0,
                 learn="auto", readout="auto", n_iter=100):
        self._store(locals())

    _parameter_constraints = {**_SHARED_CONSTRAINTS, **_SIGMA_POINT_CONSTRAINTS,
                              **_ONE_MODEL_CONSTRAINTS}

    @classmethod
    def _unit_test_params(cls):
        return {"n_iter": 3}

    def _dynamics(self, d, dt):
        """One mode: a preset (or the user's fx, hx) with noise template ``Q`` (given or preset)."""
        return _one_model(self, d, dt)

    @staticmethod
    def _filter_core(model, Z, lengths):
        dyn = model.dynamics
        return nl.ukf_filter(nl.UnscentedModel(dyn.fxs[0], dyn.hx, model.Qs[0], model.R, model.x0,
                                               model.P0, dyn.angle), Z, model.weights)

    @staticmethod
    def _forecast_core(model, res, last, horizon):
        dyn = model.dynamics
        return nl.unscented_forecast(dyn.fxs[0], dyn.hx, model.Qs[0], model.R, dyn.angle,
                                     res.filtered_mean[last], res.filtered_cov[last], horizon,
                                     model.weights)


# -- ExtendedKalmanFilter ------------------------------------------------------------------


class ExtendedKalmanFilter(_NonlinearFilter):
    """Extended Kalman filter (filterpy's ``ExtendedKalmanFilter``), vectorised.

    The model of :class:`UnscentedKalmanFilter`::

        x_t = f(x_{t-1}) + w_t,   w_t ~ N(0, Q)
        z_t = h(x_t)     + v_t,   v_t ~ N(0, R)

    filtered by first-order linearisation: the mean goes through f and h themselves,
    the covariance through their Jacobians, ``F`` at the previous estimate and ``H``
    at the prediction (equations in :func:`seqmodels.inference.extended.ekf_filter`)::

        x^- = f(x),  P^- = F P F' + Q;   K = P^- H' (H P^- H' + R)^{-1},
        x = x^- + K (z - h(x^-)),  P = (I - K H) P^- (I - K H)' + K R K'

    The prediction uses f, not ``F x`` (filterpy's own ``predict`` and
    ``predict_update`` propagate ``F x``: filterpy#271). Presets as the UKF's, with
    analytic Jacobians: ``motion="constant_velocity"`` (linear: the EKF is then the
    Kalman filter) or ``"coordinated_turn"`` (:func:`~seqmodels.state_space.motion.
    coordinated_turn_jacobian`), ``measurement="position"`` or ``"range_bearing"``
    (:func:`~seqmodels.state_space.motion.range_bearing_jacobian`; the bearing residual
    is wrapped). Noise variances, prior, fit by maximum likelihood, forecasting and
    supervised (tracking) modes, readout and attributes are the UKF's; only the
    filter differs. Where f or h bends over the spread of the state (a fast turn, a
    target close to the radar), the linearisation errs where the unscented transform
    does not; where they are nearly linear over it, the two agree and the EKF costs
    less (no 2k + 1 sigma points).

    Parameters
    ----------
    motion : {"constant_velocity", "coordinated_turn"}, default="constant_velocity"
    measurement : {"position", "range_bearing"}, default="position"
    fx, hx : callable, optional
        User functions, vectorised over rows, as the UKF's: ``fx(states, dt)`` maps
        ``(m, k)`` to ``(m, k)``, ``hx(states)`` maps ``(m, k)`` to ``(m, d)``. They
        replace the presets; then ``x0`` (or ``Q``) fixes k and ``Q`` is the
        process-noise template (default identity).
    fx_jacobian, hx_jacobian : callable, optional
        Their Jacobians, required with them (filterpy's ``F`` and ``HJacobian``),
        vectorised the same way: ``fx_jacobian(states, dt)`` returns ``(m, k, k)``,
        ``hx_jacobian(states)`` returns ``(m, d, k)``.
    dt : float, default=1.0
    process_var, measurement_var : float or array-like, optional
        Given noise variances (not learned), as in :class:`UnscentedKalmanFilter`.
    turn_rate_var : float, default=1e-4
    Q, x0, P0 : array-like, optional
    radar : tuple of 2 floats, default=(0.0, 0.0)
    learn : {"auto", "none"}, default="auto"
    readout : {"auto", "position", "state", "linear"}, default="auto"
    n_iter : int, default=100
        Most L-BFGS-B iterations of the likelihood fit (as the UKF's).

    Attributes
    ----------
    Q_, R_, x0_, P0_, process_var_, measurement_var_, readout_, n_params_, history_, \
n_iter_, converged_
        As in :class:`UnscentedKalmanFilter`.

    Examples
    --------
    >>> from seqmodels import ExtendedKalmanFilter
    >>> from seqmodels.datasets import load
    >>> data = load("maneuvering", n_train=10, n_test=5, n_timesteps=60, random_state=0)
    >>> ekf = ExtendedKalmanFilter(motion="coordinated_turn").fit(data.X_train, data.y_train)
    >>> ekf.predict(data.X_test).shape  # y: the true states [x, vx, y, vy, omega]
    (5, 60, 5)
    >>> ekf.n_params_, bool(ekf.converged_)  # process and 2 measurement variances
    (3, True)
    """

    def __init__(self, motion="constant_velocity", measurement="position", fx=None,
                 fx_jacobian=None, hx=None, hx_jacobian=None, dt=1.0, process_var=None,
                 measurement_var=None, turn_rate_var=1e-4, Q=None, x0=None, P0=None,
                 radar=(0.0, 0.0), learn="auto", readout="auto", n_iter=100):
        self._store(locals())

    _parameter_constraints = {**_SHARED_CONSTRAINTS, **_ONE_MODEL_CONSTRAINTS,
                              "fx_jacobian": [None, callable], "hx_jacobian": [None, callable]}

    @classmethod
    def _unit_test_params(cls):
        return {"n_iter": 3}

    def _dynamics(self, d, dt):
        """The UKF's one model, the user's functions with their Jacobians."""
        for f, jac in (("fx", "fx_jacobian"), ("hx", "hx_jacobian")):
            if (getattr(self, f) is None) != (getattr(self, jac) is None):
                raise ValueError(f"give {jac} (the Jacobian of {f}) with {f}, and neither "
                                 f"with the presets.")
        return _one_model(self, d, dt, self.fx_jacobian, self.hx_jacobian)

    def _weights(self, k):
        return None                       # no sigma points

    @staticmethod
    def _extended_model(model):
        dyn = model.dynamics
        return ext.ExtendedModel(dyn.fxs[0], dyn.fxs[0].jacobian, dyn.hx, dyn.hx.jacobian,
                                 model.Qs[0], model.R, model.x0, model.P0, dyn.angle)

    @classmethod
    def _filter_core(cls, model, Z, lengths):
        return ext.ekf_filter(cls._extended_model(model), Z)

    @classmethod
    def _forecast_core(cls, model, res, last, horizon):
        return ext.extended_forecast(cls._extended_model(model), res.filtered_mean[last],
                                     res.filtered_cov[last], horizon)


# -- InteractingMultipleModel -------------------------------------------------------------

_MODES = ("constant_velocity", "maneuver", "coordinated_turn")


class InteractingMultipleModel(_NonlinearFilter):
    """Interacting multiple model estimator (filterpy's ``IMMEstimator``), vectorised.

    A Markov chain switches between motion modes with transition matrix ``M``
    (``transmat``: the matrix itself, or the probability of staying in a mode, the rest
    spread evenly); each mode runs
    an unscented filter and the IMM mixes them every step (equations in
    :func:`seqmodels.inference.sigma_points.imm_filter`). Modes:
    ``"constant_velocity"`` (process variance ``q_cv``), ``"maneuver"`` (constant
    velocity with ``maneuver_ratio * q_cv``) and ``"coordinated_turn"`` (``q_ct``;
    state ``[x, vx, y, vy, omega]``, shared by every mode, the turn rate held constant
    in the straight-line modes). Default modes: constant velocity and coordinated
    turn in 2-D, constant velocity and maneuver otherwise. The variances not given
    are learned by maximum likelihood of the measurements (L-BFGS-B).

    ``predict_mode_proba(X)`` returns the filtered mode probabilities
    ``P(mode_t = j | z_1..t)``. Forecasting and supervised (tracking) modes as in
    :class:`UnscentedKalmanFilter`. The forecast is the IMM's prediction without
    measurements (:func:`seqmodels.inference.sigma_points.imm_forecast`): every step
    mixes the modes with the current mode probabilities, predicts each through its own
    dynamics and moves the probabilities on by ``M``, so its first step is ``predict``'s
    one-step-ahead prediction.

    Parameters
    ----------
    modes : tuple of str, optional
    measurement : {"position", "range_bearing"}, default="position"
    dt : float, default=1.0
    process_var : dict or float, optional
        Given variances per mode family ``{"constant_velocity": q_cv,
        "coordinated_turn": q_ct}`` (a float sets both); not learned.
    measurement_var : float or array-like, optional
    maneuver_ratio : float, default=100.0
    turn_rate_var : float, default=1e-4
    transmat : float or array-like of shape (n_modes, n_modes), default=0.95
        ``M[j, k] = P(mode_t = k | mode_{t-1} = j)`` (rows sum to 1), or a float p in
        (0, 1): p on the diagonal, ``(1 - p) / (n_modes - 1)`` elsewhere. Named as the
        HMM's transition matrix.
    x0, P0 : array-like, optional
    radar : tuple, default=(0.0, 0.0)
    alpha, beta, kappa : float
    learn : {"auto", "none"}, default="auto"
    readout : {"auto", "position", "state", "linear"}, default="auto"
    n_iter : int, default=100
        Most L-BFGS-B iterations; converged when the optimiser says so (12 to 14
        iterations on the ``maneuvering`` and ``adsb`` data), else a
        :class:`sklearn.exceptions.ConvergenceWarning`, as in
        :class:`UnscentedKalmanFilter`.

    Attributes
    ----------
    modes_ : tuple of str
    transmat_ : ndarray of shape (n_modes, n_modes)
    Qs_ : ndarray of shape (n_modes, k, k)
    process_var_ : dict
        The process variance of each family of modes.
    n_params_ : int
        As in :class:`UnscentedKalmanFilter`, with one learned process variance per
        family of modes (``"constant_velocity"`` for both straight-line modes).
    R_, x0_, P0_, measurement_var_, readout_, history_, n_iter_, converged_
        As in :class:`UnscentedKalmanFilter`.

    Examples
    --------
    >>> from seqmodels import InteractingMultipleModel
    >>> from seqmodels.datasets import load
    >>> data = load("maneuvering", n_train=10, n_test=5, n_timesteps=60, random_state=0)
    >>> imm = InteractingMultipleModel().fit(data.X_train, data.y_train)  # y: the true states
    >>> bool(imm.converged_), imm.modes_
    (True, ('constant_velocity', 'coordinated_turn'))
    >>> imm.predict_mode_proba(data.X_test).shape  # P(mode_t = j | z_1..t)
    (5, 60, 2)
    >>> imm.n_params_, data.oracle.n_params_  # 2 process + 2 measurement variances; none
    (4, 0)
    """

    def __init__(self, modes=None, measurement="position", dt=1.0, process_var=None,
                 measurement_var=None, maneuver_ratio=100.0, turn_rate_var=1e-4,
                 transmat=0.95, x0=None, P0=None, radar=(0.0, 0.0), alpha=0.5, beta=2.0,
                 kappa=0.0, learn="auto", readout="auto", n_iter=100):
        self._store(locals())

    _parameter_constraints = {
        **_SHARED_CONSTRAINTS,
        **_SIGMA_POINT_CONSTRAINTS,
        "modes": [None, "names"],
        "process_var": [None, Real(0.0, None, closed="neither"), "mapping"],
        "maneuver_ratio": [Real(0.0, None, closed="neither")],
        "transmat": [Real(0.0, 1.0, closed="neither"), "array-like"],
    }

    @classmethod
    def _unit_test_params(cls):
        return {"n_iter": 2}

    def _dynamics(self, d, dt):
        """A bank of modes on one state, the maneuver mode's template scaled by its ratio."""
        n_pos = 2 if self.measurement == "range_bearing" else d
        modes = self.modes
        if modes is None:
            modes = ("constant_velocity", "coordinated_turn") if n_pos == 2 else \
                ("constant_velocity", "maneuver")
        modes = tuple(modes)
        if len(modes) < 2 or any(m not in _MODES for m in modes):
            raise ValueError(f"modes must be at least two names among {_MODES}; got {modes!r}.")
        trans = _transmat(self.transmat, len(modes))
        with_turn = "coordinated_turn" in modes
        families = tuple("coordinated_turn" if m == "coordinated_turn" else "constant_velocity"
                         for m in modes)
        fxs, templates, fixed = [], [], []
        for m, family in zip(modes, families):
            fx, Qt, Qfix, k, pos = _motion(family, n_pos, dt, float(self.turn_rate_var),
                                           with_turn)
            fxs.append(fx)
            templates.append((float(self.maneuver_ratio) if m == "maneuver" else 1.0) * Qt)
            fixed.append(Qfix)
        hx, angle = _measurement(self.measurement, d, pos, self.radar)
        given = self.process_var
        if given is not None and not isinstance(given, dict):
            given = dict.fromkeys(families, given)
        given = {f: float(_check_positive(v, f"process_var[{f!r}]"))
                 for f, v in (given or {}).items() if f in families}
        return _Dynamics(modes, tuple(fxs), np.stack(templates), np.stack(fixed), families,
                         given, hx, angle, pos, with_turn, trans)

    @staticmethod
    def _dynamics_attributes(dynamics, Qs, q):
        return dict(Qs_=Qs, process_var_={f: float(v) for f, v in q.items()},
                    transmat_=dynamics.transition, modes_=dynamics.modes)

    def _process_covs(self):
        return self.Qs_

    @staticmethod
    def _filter_core(model, Z, lengths):
        dyn = model.dynamics
        mu0 = np.full(len(dyn.fxs), 1.0 / len(dyn.fxs))
        return nl.imm_filter(dyn.fxs, model.Qs, dyn.hx, model.R, dyn.angle, model.x0, model.P0,
                             mu0, dyn.transition, Z, model.weights, lengths)

    @staticmethod
    def _forecast_core(model, res, last, horizon):
        dyn = model.dynamics
        return nl.imm_forecast(dyn.fxs, model.Qs, dyn.hx, model.R, dyn.angle, dyn.transition,
                               res.mode_proba[last], res.last_mode_mean, res.last_mode_cov,
                               horizon, model.weights)

    def predict_mode_proba(self, X):
        """Filtered mode probabilities ``P(mode_t = j | z_1..t)`` (causal).

        Returns
        -------
        same container form as X, with ``len(modes_)`` features
        """
        check_is_fitted(self, "n_features_in_")
        batch = self._check_X(X)
        return batch.restore(self._run(batch).mode_proba)
