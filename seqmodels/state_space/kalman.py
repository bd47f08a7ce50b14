"""KalmanFilter: the linear-Gaussian state-space model behind the common contract.

A thin estimator: it checks its hyperparameters and data, learns with the pure functions
of :mod:`seqmodels.inference.kalman_fit`, filters, smooths and forecasts with those of
:mod:`seqmodels.inference.kalman`, and stores what they return.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._parameters import Integer, Options, Real, check_sample_sizes
from .._validation import check_generator
from ..base import SequenceEstimator
from ..inference import kalman
from ..inference import kalman_fit as fitting
from ..inference.kalman import StateSpaceParams
from .motion import MOTION_MODELS, motion_model

__all__ = ["KalmanFilter"]

_NAMES = ("F", "H", "Q", "R", "x0", "P0", "b", "c")
_COVARIANCE_TYPES = ("full", "diag", "scaled")


# -- configuration checks ------------------------------------------------------------


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


def _learn_set(learn, model, given, k, n_targets=None):
    """The parameters a fit learns: ``learn`` resolved against the model and the given ones.

    ``"auto"`` with targets that are the whole state (``n_targets == k``) adds the prior
    ``x0``, ``P0`` (:func:`seqmodels.inference.kalman_fit.supervised_prior`).
    """
    if isinstance(learn, str):
        if learn == "none":
            return set()
        if learn != "auto":
            raise ValueError(f"learn must be 'auto', 'none' or an iterable of names among "
                             f"{_NAMES}; got {learn!r}.")
        fixed = given | ({"F", "H"} if model != "generic" else set())
        if {"F", "H", "Q", "R"} <= fixed:
            return set()                     # every parameter given: a ready oracle
        base = {"F", "H", "Q", "R", "x0", "P0", "c"} if model == "generic" else {"Q", "R"}
        names = base - given
        if names and n_targets == k:
            # True states are given: the prior follows from them at no cost -- without it
            # the first steps rest on a diffuse guess.
            names |= {"x0", "P0"} - given
        return names
    names = set(learn)
    unknown = names - set(_NAMES)
    if unknown:
        raise ValueError(f"learn names unknown parameter(s) {sorted(unknown)}; "
                         f"choose among {_NAMES}.")
    return names


def _covariance_types(model, dt, Q_covariance_type, R_covariance_type):
    """The covariance families of a fit: ``"auto"`` resolved against the model."""
    if model == "generic":
        default_q, default_r = "full", "full"
    else:
        default_q, default_r = motion_model(model, 1, dt)[3], "diag"
    q = default_q if Q_covariance_type == "auto" else Q_covariance_type
    r = default_r if R_covariance_type == "auto" else R_covariance_type
    return q, r


def _given_state_dim(estimator):
    """State dimension implied by an explicit F, Q, P0, x0 or H (generic model)."""
    for name in ("F", "Q", "P0", "x0"):
        value = getattr(estimator, name)
        if value is not None:
            return int(np.atleast_1d(np.asarray(value)).shape[0])
    if estimator.H is not None:
        return int(np.atleast_2d(np.asarray(estimator.H)).shape[1])
    return None


def _initial_params(estimator, values, n_targets=None):
    """Starting (or fixed) parameters of ``estimator``'s fit: preset or data-driven, then
    the explicit overrides; also the names given explicitly and the templates of Q and R."""
    d = values.shape[-1]
    if estimator.model != "generic":
        F, H, template_q, _ = motion_model(estimator.model, d, estimator.dt)
        k = F.shape[0]
        if estimator.F is not None:   # the default prior is diffuse after the given F
            F = _check_matrix(estimator.F, "F", (k, k))
        params = fitting.motion_init(values, F, H, template_q)
    else:
        if n_targets is not None and estimator.n_dim_state not in (None, n_targets):
            raise ValueError(
                f"in supervised mode the generic state is y: n_dim_state must be None or "
                f"{n_targets} (the number of targets); got {estimator.n_dim_state}.")
        k = n_targets or estimator.n_dim_state or _given_state_dim(estimator) or d
        rng = check_generator(estimator.random_state) if k > d else None
        params, template_q = fitting.generic_init(values, k, rng), np.eye(k)
    shapes = dict(F=(k, k), H=(d, k), Q=(k, k), R=(d, d), x0=(k,), P0=(k, k))
    over = {name: _check_matrix(getattr(estimator, name), name, shape)
            for name, shape in shapes.items() if getattr(estimator, name) is not None}
    params = params._replace(**over)
    template_q = over.get("Q", template_q) if estimator.model == "generic" else template_q
    return params, set(over), template_q, over.get("R", np.eye(d))


# -- estimator ---------------------------------------------------------------------------


class KalmanFilter(SequenceEstimator):
    """Linear-Gaussian state-space model, filtered exactly and learned from data.

    The model (filterpy's order: predict, then update with z_t)::

        x_t = F x_{t-1} + b + w_t,      w_t ~ N(0, Q)
        z_t = H x_t     + c + v_t,      v_t ~ N(0, R),       t = 1..T
        x_0 ~ N(x0, P0)                 the state one transition before the first measurement

    ``x0``, ``P0`` describe ``x_0``, not the first state: the first prediction is
    ``N(F x0 + b, F P0 F' + Q)`` (filterpy's convention; statsmodels' and pykalman's
    initial state is the first state itself, ``F x0 + b`` here).

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
      squares with F and H fixed by the motion model (Q and R in their covariance type).
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
        a ready oracle: ``fit`` only records the data's dimensions. ``x0``, ``P0``
        are the prior of the state one transition before the first measurement.
        Without them a motion model's prior is diffuse **at the first state**:
        ``N(m, kappa I)`` for ``x_1`` with ``m`` the mean first measurement (levels /
        positions; rates 0) and ``kappa = 1e6 * max(1, variance of the training
        data)``, carried back through the transition (``x0 = F^{-1} m``, ``P0 = kappa
        F^{-1} F^{-T}``), so the transition invents no correlation between a position
        and its velocity: the first measurement sets the positions and leaves the rates
        unknown, and the prediction of step 1 is the measurement of step 0 (the
        large-``kappa`` limit of the exact diffuse initialisation of Durbin & Koopman,
        ch. 5: the log-likelihood of the steps after the diffuse ones matches it; the
        diffuse steps' own terms carry about ``-0.5 log(2 pi kappa)`` each). The generic
        model's latent state starts at ``x0 = 0``, ``P0 = I`` and learns both by EM.
    learn : "auto", "none", or a list, tuple or set of str, default="auto"
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
    Q_covariance_type, R_covariance_type : {"auto", "full", "diag", "scaled"}, default="auto"
        Family the learned covariance is restricted to (``"scaled"``: a multiple of
        the model's template). ``"auto"``: ``"full"`` for the generic model; for
        motion models ``Q`` follows the model (``"scaled"`` white-noise
        acceleration / jerk, ``"diag"`` for levels and trends) and ``R`` is
        ``"diag"``.
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
    random_state : None, int, RandomState or Generator, optional
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
    >>> X = truth.fit(np.zeros((1, 2, 1))).sample(20, 100, random_state=0)[0]
    >>> model = KalmanFilter(model="local_level", method="mle").fit(X)
    >>> bool(abs(model.Q_[0, 0] - 1.0) < 0.3 and abs(model.R_[0, 0] - 4.0) < 0.6)
    True
    >>> model.forecast(X, horizon=3).shape
    (20, 3, 1)
    """

    causal = True
    handles_missing = True
    target_kinds = ("values",)
    _parameter_constraints = {
        "model": [Options("generic", *MOTION_MODELS)],
        "n_dim_state": [None, Integer(1)],
        "dt": [Real(0.0, None, closed="neither")],
        **{name: [None, "array-like"] for name in ("F", "H", "Q", "R", "x0", "P0")},
        "learn": [Options("auto", "none"), "names"],
        "method": [Options("em", "mle")],
        "Q_covariance_type": [Options("auto", *_COVARIANCE_TYPES)],
        "R_covariance_type": [Options("auto", *_COVARIANCE_TYPES)],
        "n_iter": [Integer(0)],
        "tol": [Real(0.0, None)],
        "random_state": ["random_state"],
    }

    def __init__(self, model="generic", n_dim_state=None, dt=1.0, F=None, H=None, Q=None,
                 R=None, x0=None, P0=None, learn="auto", method="em", Q_covariance_type="auto",
                 R_covariance_type="auto", n_iter=500, tol=1e-8, random_state=None):
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
        self.Q_covariance_type = Q_covariance_type
        self.R_covariance_type = R_covariance_type
        self.n_iter = n_iter
        self.tol = tol
        self.random_state = random_state

    @classmethod
    def _unit_test_params(cls):
        return {"n_iter": 3}

    def _min_fit_length(self):
        return 2

    # -- configuration -----------------------------------------------------------------

    # -- fitting -------------------------------------------------------------------------

    def _fit(self, X, y):
        # Everything is computed on local state and assigned at the end: a fit that
        # raises leaves the attributes of an earlier fit as they were.
        covariance_types = _covariance_types(self.model, self.dt, self.Q_covariance_type,
                                             self.R_covariance_type)
        n_targets = None if y is None else y.n_features
        params, given, Q_template, R_template = _initial_params(self, X.values, n_targets)
        k, d = params.F.shape[0], X.n_features
        learn = _learn_set(self.learn, self.model, given, k, n_targets)
        settings = fitting.FitSettings(learn, *covariance_types, Q_template, R_template,
                                       self.model, self.method, self.n_iter, self.tol,
                                       type(self).__name__)
        result = fitting.fit(params, X.values, X.lengths, settings,
                             None if y is None else y.values)
        self.learned_ = tuple(name for name in _NAMES if name in learn)
        for name, value in zip(_NAMES, result.params):
            setattr(self, name + "_", np.array(value, dtype=float))
        self.Q_covariance_type_, self.R_covariance_type_ = covariance_types
        self.readout_ = np.array(result.readout, dtype=float)
        self.n_params_ = fitting.n_free_params(self.learned_, k, d, *covariance_types)
        self.history_, self.n_iter_, self.converged_ = result.trace

    # -- inference -----------------------------------------------------------------------

    def _params(self):
        return StateSpaceParams(*(getattr(self, name + "_") for name in _NAMES))

    def _run(self, X):
        return kalman.kalman_filter(self._params(), X.values)

    def _predict(self, X, return_std):
        res = self._run(X)
        if self.mode_ == "forecast":
            out = kalman.predicted_measurement(self._params(), res, return_std)
        else:
            out = kalman.readout(self.readout_, res, return_std)
        return (out[0], kalman.marginal_std(out[1], out[0].shape)) if return_std else out

    def _log_likelihood(self, X, y):
        res = self._run(X)
        if y is None:
            return res.loglik.sum(axis=1)
        mean, cov = kalman.readout(self.readout_, res, return_cov=True)
        return kalman.readout_loglik(y.values, mean, cov, X.mask).sum(axis=1)

    def _forecast(self, X, horizon, return_std):
        last = kalman.last_filtered(self._run(X), X.lengths)
        mean, cov = kalman.forecast_states(self._params(), *last, horizon)
        return (mean, kalman.marginal_std(cov, mean.shape)) if return_std else mean

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
        return self._states(X, smoothed=False)

    def smooth(self, X):
        """Smoothed states ``x_{t|T}`` and covariances ``P_{t|T}`` (Rauch-Tung-Striebel).

        **Not causal**: step t uses every measurement of the sequence, also those
        after t. Use it for offline analysis, never where a causal estimate is
        compared; ``predict`` does not use it.

        Returns
        -------
        means, covs : as :meth:`filter`
        """
        return self._states(X, smoothed=True)

    def _states(self, X, smoothed):
        check_is_fitted(self, "n_features_in_")
        batch = self._check_X(X)
        res = self._run(batch)
        mean, cov = kalman.rts_smoother(self._params(), res)[:2] if smoothed else \
            (res.filtered_mean, res.filtered_cov)
        return batch.restore(mean), batch.restore(kalman.per_sequence(cov, len(mean)))

    def sample(self, n_sequences, n_timesteps, random_state=None):
        """Draw sequences from the fitted model.

        Parameters
        ----------
        n_sequences, n_timesteps : int
        random_state : None, int, RandomState or Generator, optional
            Defaults to the estimator's ``random_state``.

        Returns
        -------
        X : ndarray of shape (n_sequences, n_timesteps, n_features)
            The measurements.
        states : ndarray of shape (n_sequences, n_timesteps, k)
            The hidden states (observations first, as :meth:`HiddenMarkovModel.sample`).
        """
        check_is_fitted(self, "n_features_in_")
        n_sequences, n_timesteps = check_sample_sizes(n_sequences, n_timesteps,
                                                      type(self).__name__)
        rng = check_generator(self.random_state if random_state is None else random_state)
        states, X = kalman.sample_states(self._params(), n_sequences, n_timesteps, rng)
        return X, states
