"""Hidden Markov models: hmmlearn's Baum-Welch behind the seqmodels contract, predicting causally.

The model: a hidden Markov chain ``z_1, z_2, ...`` over K states with initial
distribution ``pi`` and transition matrix ``A`` (``A[j, k] = p(z_t = k | z_{t-1} = j)``)
emits one observation per step from ``b_k(x) = p(x_t = x | z_t = k)``::

    Gaussian:     b_k(x) = N(x; mu_k, Sigma_k)
    mixture:      b_k(x) = sum_m w_km N(x; mu_km, Sigma_km)
    categorical:  b_k(s) = B[k, s],  s in {0, ..., S-1}

Fitting without labels is Baum-Welch (EM) in hmmlearn. Everything that predicts --
``predict``, ``forecast``, ``log_likelihood`` -- runs this module's own scaled forward
recursion (:mod:`seqmodels.inference.hmm`), vectorised across sequences and causal:
hmmlearn's ``predict`` (Viterbi) and ``predict_proba`` (forward-backward) use the
whole sequence, so they are offered only through :meth:`HiddenMarkovModel.predict_states`
with ``method="viterbi"`` / ``"smooth"``, marked as looking ahead.
"""

import copy
import numbers

import numpy as np
from hmmlearn import hmm as _hmmlearn
from scipy.optimize import linear_sum_assignment
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .inference import hmm as core
from .utils.convergence import ConvergenceMonitor, ConvergenceResult
from .utils.threads import one_blas_thread, one_thread_per_pool
from .base import SequenceEstimator

__all__ = ["HiddenMarkovModel", "match_states", "compare_to_truth"]

_EMISSIONS = ("gaussian", "gmm", "categorical")
_COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")
_IMPLEMENTATIONS = ("scaling", "log")
_METHODS = ("filter", "smooth", "viterbi")
# Parameters of each emission kind, with hmmlearn's one-letter codes.
_PARAMETERS = {
    "gaussian": (("startprob", "s"), ("transmat", "t"), ("means", "m"), ("covars", "c")),
    "gmm": (("startprob", "s"), ("transmat", "t"), ("weights", "w"), ("means", "m"),
            ("covars", "c")),
    "categorical": (("startprob", "s"), ("transmat", "t"), ("emissionprob", "e")),
}
_ALL_GIVEN = ("startprob", "transmat", "means", "covars", "weights", "emissionprob")


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _check_distribution(value, name, shape):
    array = np.asarray(value, dtype=float)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {array.shape}.")
    if not np.isfinite(array).all() or (array < 0).any():
        raise ValueError(f"{name} must hold finite non-negative probabilities.")
    sums = array.sum(axis=-1)
    if not np.allclose(sums, 1.0, atol=1e-8):
        raise ValueError(f"{name} must sum to 1 along its last axis; got sums {sums}.")
    return array


def _covars_shape(emission, covariance_type, K, M, d):
    if emission == "gaussian":
        return {"full": (K, d, d), "diag": (K, d), "spherical": (K,),
                "tied": (d, d)}[covariance_type]
    return {"full": (K, M, d, d), "diag": (K, M, d), "spherical": (K, M),
            "tied": (K, d, d)}[covariance_type]


def match_states(reference, estimate):
    """Match learned states to true ones up to label switching (Hungarian algorithm).

    The states of a fitted HMM come in an arbitrary order. This finds the
    permutation ``perm`` minimising ``sum_k ||reference[k] - estimate[perm[k]]||^2``
    (``scipy.optimize.linear_sum_assignment``), so that ``estimate[perm]`` lines up
    with ``reference`` row by row.

    Parameters
    ----------
    reference : array-like of shape (K, ...)
        One row per true state: emission means, or emission probabilities.
    estimate : array-like of shape (K, ...)
        The learned counterpart.

    Returns
    -------
    perm : ndarray of int of shape (K,)

    Examples
    --------
    >>> match_states([[0.0], [5.0]], [[4.9], [0.1]])
    array([1, 0])
    """
    ref = np.asarray(reference, dtype=float)
    est = np.asarray(estimate, dtype=float)
    if ref.shape != est.shape or ref.ndim == 0:
        raise ValueError(
            f"reference and estimate must have the same shape (K, ...); got {ref.shape} "
            f"and {est.shape}."
        )
    ref, est = ref.reshape(len(ref), -1), est.reshape(len(est), -1)
    cost = ((ref[:, None, :] - est[None, :, :]) ** 2).sum(axis=-1)
    _, cols = linear_sum_assignment(cost)
    return cols


def _parameters_of(model):
    """Parameters of a HiddenMarkovModel (fitted attributes if fitted, else the given ones)."""
    fitted = hasattr(model, "startprob_")
    out = {}
    for name in _ALL_GIVEN:
        value = getattr(model, name + "_", None) if fitted else getattr(model, name, None)
        if value is not None:
            out[name] = np.asarray(value, dtype=float)
    return out


def compare_to_truth(model, truth):
    """Errors of a fitted HMM's parameters against the truth, after matching states.

    States are matched by :func:`match_states` on the emission means (Gaussian:
    ``means``; mixture: the state means ``sum_m w_km mu_km``) or on the emission
    probabilities (categorical). Then, with ``P`` the permutation::

        startprob error    = max_k |pi_k - pi^_P(k)|
        transmat error     = max_jk |A_jk - A^_P(j)P(k)|
        means error        = max |mu_k - mu^_P(k)|
        emissionprob error = max_ks |B_ks - B^_P(k)s|

    Parameters
    ----------
    model : HiddenMarkovModel
        Fitted.
    truth : HiddenMarkovModel or dict
        A model built with the true parameters (fitted or not), or a dict with
        keys among ``startprob``, ``transmat``, ``means``, ``covars``, ``weights``,
        ``emissionprob``.

    Returns
    -------
    dict
        ``"permutation"``: the matching; ``"aligned"``: the model's parameters
        reordered to the true states; one max-absolute-error entry per parameter
        present in both.
    """
    check_is_fitted(model, "startprob_")
    true = dict(truth) if isinstance(truth, dict) else _parameters_of(truth)
    true = {k: np.asarray(v, dtype=float) for k, v in true.items() if v is not None}
    learned = _parameters_of(model)
    if "emissionprob" in true and "emissionprob" in learned:
        key_true, key_learned = true["emissionprob"], learned["emissionprob"]
    elif "means" in true and "means" in learned:
        key_true, key_learned = true["means"], learned["means"]
        if key_true.ndim == 3:  # mixtures: match on the state means
            key_true = np.einsum("km,kmd->kd", true.get("weights", np.full(key_true.shape[:2],
                                 1.0 / key_true.shape[1])), key_true)
            key_learned = np.einsum("km,kmd->kd", learned["weights"], key_learned)
    else:
        raise ValueError("truth must give 'means' or 'emissionprob' to match states on.")
    perm = match_states(key_true, key_learned)
    aligned = {}
    for name, value in learned.items():
        if name == "transmat":
            aligned[name] = value[np.ix_(perm, perm)]
        elif name == "covars" and model.covariance_type == "tied" and model.emission == "gaussian":
            aligned[name] = value
        else:
            aligned[name] = value[perm]
    result = {"permutation": perm, "aligned": aligned}
    for name in ("startprob", "transmat", "means", "emissionprob", "weights", "covars"):
        if name in true and name in aligned and true[name].shape == aligned[name].shape:
            result[name] = float(np.max(np.abs(true[name] - aligned[name])))
    return result


def _centring(flat, emission):
    """The per-feature shift hmmlearn's EM runs at: the data's mean when it is far from 0.

    hmmlearn's M-step computes variances as ``E[x^2] - E[x]^2``, which cancels to
    rounding noise (or below zero: NaN means) when the data sit far from 0 relative to
    their spread (1e12 plus unit noise), and its scaled forward pass then underflows. EM
    is equivariant under ``x -> x - shift`` (k-means' clusters and every update move
    with it), so there it runs on centred data and the means are shifted back exactly.
    Elsewhere (offset below 1e4 spreads) the data go in as they are.
    """
    d = flat.shape[1]
    if emission == "categorical" or len(flat) == 0:
        return np.zeros(d)
    mean = flat.mean(axis=0)
    spread = np.sqrt(np.mean((flat - mean) ** 2, axis=0))
    far = np.abs(mean) > 1e4 * np.maximum(spread, 1e-300)
    return np.where(far, mean, 0.0)


def _shifted(params, shift):
    """Parameters with their means moved by ``shift`` (mixtures: every component)."""
    if "means" not in params or not np.any(shift):
        return dict(params)
    return {**params, "means": np.asarray(params["means"]) + shift}


class HiddenMarkovModel(SequenceEstimator):
    """Hidden Markov model with Gaussian, Gaussian-mixture or categorical emissions.

    A hidden chain with ``p(z_1 = k) = pi_k`` and ``p(z_t = k | z_{t-1} = j) = A_jk``
    emits ``x_t ~ b_{z_t}``: ``N(mu_k, Sigma_k)`` (``emission="gaussian"``),
    ``sum_m w_km N(mu_km, Sigma_km)`` (``"gmm"``) or ``Categorical(B[k])`` over
    integer symbols (``"categorical"``; X holds the symbols as one feature).

    **Forecasting mode**, ``fit(X)``: Baum-Welch (hmmlearn) over all training
    sequences, restarted ``n_init`` times from different random initialisations;
    the restart with the highest training log-likelihood is kept. Prediction is
    causal, from the scaled forward recursion (filtering) run over all sequences
    at once::

        alpha_t = p(z_t | x_1..t),   p_t = p(z_t | x_1..t-1) = alpha_{t-1} A  (p_1 = pi)
        predict(X)[t]     = E[x_t | x_<t]  = sum_k p_t[k] E[x | z = k]
        predict std       = sqrt(sum_k p_t[k] E[x^2 | z = k] - E[x_t | x_<t]^2)
        forecast h ahead  : state distribution alpha_T A^h, same moments
        log_likelihood    = sum_t log p(x_t | x_<t) = log p(x_1..T)

    For categorical emissions the "mean" is the expected symbol value
    ``sum_s s p(x_t = s | x_<t)`` (a number, meaningful when the symbols are
    ordered); :meth:`predict_next_proba` gives the full next-symbol distribution.

    **Supervised mode**, ``fit(X, y)`` with integer state labels ``y``: maximum
    likelihood by counting -- no EM. One state per label seen (``classes_``);
    ``pi`` and ``A`` are the relative frequencies of first labels and of label
    transitions, the emissions the per-state MLE (mean and covariance;
    symbol frequencies; a Gaussian mixture fitted to each state's observations).
    ``predict_proba(X)`` is the *filtered* ``p(z_t | x_1..t)`` (causal) and
    ``predict`` its most probable label; ``log_likelihood(X, y)`` is
    ``sum_t log p(z_t = y_t | x_1..t)``.

    **Oracles**: parameters given to the constructor (``startprob``, ``transmat``,
    ``means``, ``covars``, ``weights``, ``emissionprob``) are held fixed; when all
    parameters of the emission kind are given, ``fit`` learns nothing -- the model
    is the true one (the Bayes-optimal yardstick of a synthetic dataset).

    Parameters
    ----------
    n_states : int, default=2
        Number of hidden states K (forecasting mode; supervised mode has one
        state per label). Must match the shapes of given parameters.
    emission : {"gaussian", "gmm", "categorical"}, default="gaussian"
    covariance_type : {"full", "diag", "spherical", "tied"}, default="diag"
        Covariance structure of the Gaussian (or mixture) emissions, as in hmmlearn.
    n_mix : int, default=2
        Mixture components per state (``emission="gmm"``).
    n_symbols : int, optional
        Number of symbols S (``emission="categorical"``); by default one more than
        the largest symbol in the training data.
    n_iter : int, default=100
        Most EM iterations per restart. When the kept restart reaches it before
        converging, ``fit`` emits a :class:`sklearn.exceptions.ConvergenceWarning`
        and ``converged_`` is False.
    tol : float, default=1e-6
        EM has converged when one iteration raises the training log-likelihood by
        less than ``tol`` per observation: ``L_k - L_{k-1} < tol * n_obs``, with
        ``n_obs`` the timesteps of all training sequences (the rule of
        :mod:`seqmodels.utils.convergence`, shared with :class:`KalmanFilter`).
        hmmlearn's own ``tol`` is the same test on the total gain; it is given
        ``tol * n_obs`` (the default equals hmmlearn's 1e-2 at 10,000 observations).
    n_init : int, default=1
        Number of EM restarts; the best training likelihood is kept. hmmlearn
        initialises the means by k-means but ``pi`` and ``A`` at random, and an
        unlucky draw (e.g. an "always switch" ``A``) can trap EM in a poor local
        optimum: use ``n_init`` > 1 when it matters.
    min_covar : float, default=1e-3
        Floor added to the variances at initialisation (EM) and to the
        counted covariances (supervised mode).
    implementation : {"scaling", "log"}, default="scaling"
        hmmlearn's EM arithmetic. Both give the same fit (log-likelihoods equal to
        about 1e-15 relative); "scaling" fitted about 2x faster in
        ``benchmarks/bench_hmm.py``, hence the default.
    random_state : int, RandomState or None, default=None
        Seeds the restarts' initialisations.
    startprob : array-like of shape (K,), optional
        Given ``pi``.
    transmat : array-like of shape (K, K), optional
        Given ``A``.
    means : array-like, optional
        Given emission means: (K, d), or (K, n_mix, d) for mixtures.
    covars : array-like, optional
        Given covariances in hmmlearn's compact shape. Gaussian: full (K, d, d),
        diag (K, d), spherical (K,), tied (d, d). Mixture: full (K, n_mix, d, d),
        diag (K, n_mix, d), spherical (K, n_mix), tied (K, d, d).
    weights : array-like of shape (K, n_mix), optional
        Given mixture weights.
    emissionprob : array-like of shape (K, S), optional
        Given categorical emission probabilities.

    Attributes
    ----------
    n_states_ : int
    startprob_ : ndarray of shape (K,)
    transmat_ : ndarray of shape (K, K)
    means_, covars_, weights_, emissionprob_ : ndarray
        The emission parameters of the chosen kind (shapes as the constructor's);
        the others are None.
    n_symbols_ : int or None
    restart_log_likelihoods_ : ndarray of shape (n_init,)
        Final training log-likelihood of each EM restart (empty when nothing was
        learned by EM): the spread shows EM's local optima.
    history_ : list of float
        EM log-likelihood per iteration of the kept restart (hmmlearn's
        ``monitor_.history``: each computed before that iteration's M-step); ``[]``
        for counting or oracle fits.
    n_iter_ : int
        EM iterations of the kept restart (0 without EM).
    converged_ : bool
        Whether the kept restart met ``tol`` within ``n_iter`` iterations -- never
        because it ran out of them, unlike hmmlearn's ``monitor_.converged`` (True
        without EM).
    n_params_ : int
        Free parameters estimated from the data: ``K - 1`` initial + ``K (K - 1)``
        transition + the emission's (e.g. ``K d`` means + ``K d`` variances for diagonal
        Gaussians), less any group given to the constructor (0 for an oracle). AIC and
        BIC use it.

    Examples
    --------
    >>> import numpy as np
    >>> from seqmodels import HiddenMarkovModel
    >>> truth = HiddenMarkovModel(startprob=[0.5, 0.5], transmat=[[0.9, 0.1], [0.1, 0.9]],
    ...                           means=[[-2.0], [2.0]], covars=[[0.5], [0.5]])
    >>> X, states = truth.fit(np.zeros((1, 1, 1))).sample(20, 100, random_state=0)
    >>> model = HiddenMarkovModel(n_states=2, n_init=3, random_state=0).fit(X)
    >>> np.round(model.restart_log_likelihoods_)  # restart 1 is stuck in a local optimum
    array([-4321., -2804., -2804.])
    >>> np.round(np.sort(model.means_[:, 0]), 0)
    array([-2.,  2.])
    >>> model.predict(X).shape, model.forecast(X, horizon=5).shape
    ((20, 100, 1), (20, 5, 1))
    """

    def __init__(self, n_states=2, emission="gaussian", covariance_type="diag", n_mix=2,
                 n_symbols=None, n_iter=100, tol=1e-6, n_init=1, min_covar=1e-3,
                 implementation="scaling", random_state=None, startprob=None, transmat=None,
                 means=None, covars=None, weights=None, emissionprob=None):
        self.n_states = n_states
        self.emission = emission
        self.covariance_type = covariance_type
        self.n_mix = n_mix
        self.n_symbols = n_symbols
        self.n_iter = n_iter
        self.tol = tol
        self.n_init = n_init
        self.min_covar = min_covar
        self.implementation = implementation
        self.random_state = random_state
        self.startprob = startprob
        self.transmat = transmat
        self.means = means
        self.covars = covars
        self.weights = weights
        self.emissionprob = emissionprob

    # a restart that ended degenerate may score -inf; the kept one is checked like the rest
    _non_finite_attributes = ("restart_log_likelihoods_",)

    @classmethod
    def _unit_test_params(cls):
        return {"n_states": 2, "n_iter": 20, "random_state": 0}

    @classmethod
    def _unit_test_targets(cls):
        return "labels"

    # -- hyperparameters ------------------------------------------------------------

    def _check_hyperparameters(self):
        if self.emission not in _EMISSIONS:
            raise ValueError(f"emission must be one of {_EMISSIONS}; got {self.emission!r}.")
        if self.covariance_type not in _COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {_COVARIANCE_TYPES}; got "
                f"{self.covariance_type!r}."
            )
        if self.implementation not in _IMPLEMENTATIONS:
            raise ValueError(
                f"implementation must be one of {_IMPLEMENTATIONS}; got {self.implementation!r}."
            )
        _check_int(self.n_states, "n_states", 1)
        _check_int(self.n_mix, "n_mix", 1)
        _check_int(self.n_iter, "n_iter", 1)
        _check_int(self.n_init, "n_init", 1)
        if self.n_symbols is not None:
            _check_int(self.n_symbols, "n_symbols", 1)
        for name in ("tol", "min_covar"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
                raise ValueError(f"{name} must be a non-negative number; got {value!r}.")
        allowed = {name for name, _ in _PARAMETERS[self.emission]}
        for name in _ALL_GIVEN:
            if getattr(self, name) is not None and name not in allowed:
                raise ValueError(
                    f"{name} is given but emission={self.emission!r} has no such parameter "
                    f"(its parameters: {sorted(allowed)})."
                )

    def _given(self, K, d, S):
        """Validated given parameters, as float arrays keyed by name."""
        M = self.n_mix
        given = {}
        if self.startprob is not None:
            given["startprob"] = _check_distribution(self.startprob, "startprob", (K,))
        if self.transmat is not None:
            given["transmat"] = _check_distribution(self.transmat, "transmat", (K, K))
        if self.weights is not None:
            given["weights"] = _check_distribution(self.weights, "weights", (K, M))
        if self.emissionprob is not None:
            given["emissionprob"] = _check_distribution(self.emissionprob, "emissionprob",
                                                        (K, S))
        if self.means is not None:
            shape = (K, d) if self.emission == "gaussian" else (K, M, d)
            means = np.asarray(self.means, dtype=float)
            if means.shape != shape or not np.isfinite(means).all():
                raise ValueError(f"means must be a finite array of shape {shape}; got "
                                 f"{means.shape}.")
            given["means"] = means
        if self.covars is not None:
            shape = _covars_shape(self.emission, self.covariance_type, K, M, d)
            covars = np.asarray(self.covars, dtype=float)
            if covars.shape != shape:
                raise ValueError(
                    f"covars must have shape {shape} for covariance_type="
                    f"{self.covariance_type!r}; got {covars.shape}."
                )
            full = self._expand_covars(covars, K, d)
            if not np.allclose(full, np.swapaxes(full, -1, -2)) or np.any(
                np.linalg.eigvalsh(full) <= 0
            ):
                raise ValueError("covars must be symmetric positive definite.")
            given["covars"] = covars
        return given

    def _given_n_states(self):
        """K implied by the given parameters (None when none is given)."""
        for name in ("startprob", "transmat", "means", "weights", "emissionprob"):
            value = getattr(self, name)
            if value is not None:
                return int(np.shape(value)[0])
        return None

    # -- emission helpers -------------------------------------------------------------

    def _expand_covars(self, covars, K, d):
        """Compact covariances -> full matrices: (K, d, d) or (K, M, d, d) for mixtures."""
        if self.emission == "gaussian":
            if self.covariance_type == "tied":
                return np.broadcast_to(covars, (K, d, d)).copy()
            return core.full_covariances(covars, self.covariance_type, d)
        if self.covariance_type == "tied":
            return np.broadcast_to(covars[:, None], (K, self.n_mix, d, d)).copy()
        return core.full_covariances(covars, self.covariance_type, d)

    def _symbols(self, X, n_symbols=None):
        """Integer symbols (n, T) from a batch, -1 past the ends; validated."""
        if X.n_features != 1:
            raise ValueError(
                f"emission='categorical' takes one feature of integer symbols; X has "
                f"{X.n_features} features."
            )
        values = np.where(X.mask, X.values[..., 0], 0.0)
        bad = (values != np.round(values)) | (values < 0)
        if n_symbols is not None:
            bad |= values >= n_symbols
        if bad.any():
            i, t = np.argwhere(bad)[0]
            expected = "a non-negative integer" + (
                f" below n_symbols={n_symbols}" if n_symbols is not None else "")
            raise ValueError(
                f"X holds {values[i, t]!r} at sequence {i}, timestep {t}; categorical "
                f"emissions need {expected}."
            )
        return np.where(X.mask, values, -1).astype(np.intp)

    def _core_params(self):
        """(kind, parameter dict) for the numerical core, with full covariance matrices."""
        K, d = self.n_states_, self.n_features_in_
        if self.emission == "categorical":
            return "categorical", {"emissionprob": self.emissionprob_}
        covs = self._expand_covars(self.covars_, K, d)
        if self.emission == "gaussian":
            return "gaussian", {"means": self.means_, "covs": covs}
        return "gmm", {"weights": self.weights_, "means": self.means_, "covs": covs}

    def _log_b(self, X):
        """Emission log-densities ``log b_k(x_t)`` of shape (n, T, K); 0 past the ends.

        Computed time-major and returned as a transposed view, so that the forward
        recursion reads each step's (n, K) block contiguously without a copy.
        """
        kind, params = self._core_params()
        mask = X.mask.T
        if kind == "categorical":
            symbols = self._symbols(X, self.n_symbols_).T
            log_b = core.categorical_log_prob(np.maximum(symbols, 0), params["emissionprob"])
        else:
            values = np.where(mask[..., None], X.values.transpose(1, 0, 2), 0.0)
            if kind == "gaussian":
                log_b = core.gaussian_log_density(values, params["means"], params["covs"])
            else:
                log_b = core.gmm_log_density(values, params["weights"], params["means"],
                                             params["covs"])
        if X.lengths.min() < X.max_length:
            log_b = np.where(mask[..., None], log_b, 0.0)
        return np.ascontiguousarray(log_b).transpose(1, 0, 2)

    @one_blas_thread
    def _filter(self, X, return_predicted=True):
        """Emission log-densities and the forward pass (``core.forward``) over ``X``.

        Its matrix products are thin ((n T, d) by (d, K d), (n, K) by (K, K)) and
        memory-bound: under one BLAS thread, like the Kalman filter
        (``seqmodels/utils/threads.py``). Measured on the loaded 2-core development machine,
        ``log_likelihood`` on 50,000 x 50 steps took 2.4 s with the default pool against
        0.56 s with one thread.
        """
        log_b = self._log_b(X)
        filtered, predicted, loglik = core.forward(log_b, X.mask, self.startprob_,
                                                   self.transmat_, return_predicted)
        return log_b, filtered, predicted, loglik

    @one_blas_thread
    def _marginal_log_likelihood(self, X):
        """``log p(x_1..T_i)`` per sequence, without the full-size arrays of :meth:`_filter`.

        ``core.forward_log_likelihood`` computes the emission densities a block of
        steps at a time inside the forward pass and keeps neither them nor the filtered
        probabilities: measured on the development machine, ``log_likelihood`` of 1,000
        x 100 steps spent about a third of its time having fresh memory for those
        (n, T, K) arrays mapped in. A step that underflows (or a NaN) makes it return
        None: then the careful path of :meth:`_filter`, whose results it equals.
        """
        kind, params = self._core_params()
        K = self.n_states_
        n, T = X.n_sequences, X.max_length
        mask_t = np.ascontiguousarray(X.mask.T)
        full = X.lengths.min() == T
        steps = max(1, min(T, core._BLOCK_ELEMENTS // (n * K)))
        out = np.empty(K * steps * n)
        if kind == "categorical":
            symbols = np.maximum(self._symbols(X, self.n_symbols_), 0)
            with np.errstate(divide="ignore"):
                log_e = np.log(params["emissionprob"])  # (K, S)

            def density(start, stop):
                block = out[:K * (stop - start) * n].reshape(K, stop - start, n)
                return np.take(log_e, symbols[:, start:stop].T, axis=1, out=block)
        else:
            d = X.n_features
            values = np.empty(d * steps * n)
            if kind == "gaussian":
                kernel = core.GaussianBlocks(params["means"], params["covs"], steps * n)

            def density(start, stop):
                B = stop - start
                x = values[:d * B * n].reshape(d, B, n)  # feature-major: out is (K, B, n)
                np.copyto(x, X.values[:, start:stop].transpose(2, 1, 0))
                if not full:
                    x[:, ~mask_t[start:stop]] = 0.0
                if kind == "gaussian":
                    block = out[:K * B * n].reshape(K, B, n)
                    kernel.transposed(x.reshape(d, B * n), block.reshape(K, B * n))
                    return block
                return core.gmm_log_density(x.transpose(1, 2, 0), params["weights"],
                                            params["means"], params["covs"]).transpose(2, 0, 1)

        def block_log_b(start, stop):
            block = density(start, stop)
            if not full:
                block[:, ~mask_t[start:stop]] = 0.0
            return block

        loglik = core.forward_log_likelihood(block_log_b, mask_t, self.startprob_,
                                             self.transmat_, steps)
        if loglik is None:
            loglik = self._filter(X, return_predicted=False)[3]
        return loglik

    # -- fitting ------------------------------------------------------------------------

    def _fit(self, X, y):
        self._check_hyperparameters()
        d = X.n_features
        symbols, S = None, None
        if self.emission == "categorical":
            symbols = self._symbols(X, self.n_symbols)
            S = self.n_symbols if self.n_symbols is not None else int(symbols.max()) + 1
            if self.emissionprob is not None and self.n_symbols is None:
                S = max(S, int(np.shape(self.emissionprob)[-1]))
        given_K = self._given_n_states()
        if y is None:
            K = int(self.n_states)
            if given_K is not None and given_K != K:
                raise ValueError(
                    f"n_states={K} but the given parameters describe {given_K} states; "
                    f"pass n_states={given_K}."
                )
        else:
            if self.classes_ is None:
                raise ValueError(
                    "HiddenMarkovModel's supervised mode takes integer state labels y "
                    "(one state per label); got float targets. Pass y.astype(int)."
                )
            K = len(self.classes_)
            if given_K is not None and given_K != K:
                raise ValueError(
                    f"y has {K} distinct labels but the given parameters describe {given_K} "
                    "states; supervised mode has one state per label."
                )
        given = self._given(K, d, S)
        needed = [name for name, _ in _PARAMETERS[self.emission]]
        restarts, trace = np.array([]), ConvergenceResult([], 0, True)
        if all(name in given for name in needed):
            params = given
        else:
            # Thousands of tiny BLAS and OpenMP calls (hmmlearn's full-covariance density,
            # KMeans): one thread per pool, else they crawl on busy cores (see utils/threads.py).
            with one_thread_per_pool():
                if y is None:
                    params, restarts, trace = self._fit_em(X, symbols, K, S, given)
                else:
                    params = self._fit_counting(X, y, symbols, K, S, given)
        # Only now, the fit having succeeded, do its results replace an earlier fit's.
        self._set_fitted(params, K, S)
        self.restart_log_likelihoods_ = restarts
        self.history_, self.n_iter_, self.converged_ = trace
        self.n_params_ = self._count_parameters(K, d, S, given)

    def _set_fitted(self, params, K, S, target=None):
        """Write fitted parameters into ``target`` (default: self)."""
        target = self if target is None else target
        target.n_states_, target.n_symbols_ = K, S
        target.startprob_ = params["startprob"]
        target.transmat_ = params["transmat"]
        target.means_ = params.get("means")
        target.covars_ = params.get("covars")
        target.weights_ = params.get("weights")
        target.emissionprob_ = params.get("emissionprob")
        return target

    def _count_parameters(self, K, d, S, given=()):
        """Parameters estimated from the data: every group's count, less the given groups."""
        M = self.n_mix
        cov = {"full": d * (d + 1) // 2, "diag": d, "spherical": 1, "tied": d * (d + 1) // 2}
        cov = cov[self.covariance_type]
        copies = 1 if self.covariance_type == "tied" else K * (M if self.emission == "gmm" else 1)
        counts = {"startprob": K - 1, "transmat": K * (K - 1)}
        if self.emission == "gaussian":
            counts.update(means=K * d, covars=copies * cov)
        elif self.emission == "gmm":
            counts.update(weights=K * (M - 1), means=K * M * d, covars=copies * cov)
        else:
            counts.update(emissionprob=K * (S - 1))
        return int(sum(n for name, n in counts.items() if name not in given))

    def _hmmlearn(self, K, learn, seed, n_symbols, tol):
        """An hmmlearn model of this emission kind, learning the parameters in ``learn``.

        ``tol`` is hmmlearn's: the least gain of the *total* log-likelihood.
        """
        common = dict(n_components=K, n_iter=self.n_iter, tol=tol, random_state=seed,
                      params=learn, init_params=learn, implementation=self.implementation)
        if self.emission == "gaussian":
            return _hmmlearn.GaussianHMM(covariance_type=self.covariance_type,
                                         min_covar=self.min_covar, **common)
        if self.emission == "gmm":
            return _hmmlearn.GMMHMM(n_mix=self.n_mix, covariance_type=self.covariance_type,
                                    min_covar=self.min_covar, **common)
        return _hmmlearn.CategoricalHMM(n_features=n_symbols, **common)

    def _from_hmmlearn(self, model):
        """Parameters of a fitted hmmlearn model, covariances in the compact shape."""
        params = {"startprob": np.array(model.startprob_), "transmat": np.array(model.transmat_)}
        if self.emission == "categorical":
            params["emissionprob"] = np.array(model.emissionprob_)
            return params
        params["means"] = np.array(model.means_)
        if self.emission == "gmm":
            params["weights"] = np.array(model.weights_)
            params["covars"] = np.array(model.covars_)
            return params
        full = np.array(model.covars_)  # GaussianHMM exposes full matrices
        K = len(params["startprob"])
        params["covars"] = {
            "full": full,
            "diag": np.diagonal(full, axis1=1, axis2=2).copy(),
            # After EM hmmlearn stores spherical variances repeated once per feature,
            # and its getter then returns K * d matrices: take one per state.
            "spherical": full[:, 0, 0].reshape(K, -1)[:, 0].copy(),
            "tied": full[0].copy(),
        }[self.covariance_type]
        return params

    def _to_hmmlearn(self, model, params):
        for name, value in params.items():
            setattr(model, name + "_", np.array(value, copy=True))
        return model

    def _fit_em(self, X, symbols, K, S, given):
        """Baum-Welch with ``n_init`` restarts; keeps the best training log-likelihood.

        Every restart is an hmmlearn model of its own, scored on a scratch copy of
        this estimator: nothing is written into ``self`` here. hmmlearn stops a restart
        when one iteration gains less than its ``tol``, a total; it is given
        ``tol * n_obs``, so that its test is the package's per-observation rule
        (:mod:`seqmodels.utils.convergence`), whose monitor then reads the kept restart's
        history and gives the verdict (hmmlearn's own ``converged`` is also True when
        a restart ran out of iterations).

        Returns
        -------
        params : dict
        restart_log_likelihoods : ndarray of shape (n_init,)
        trace : ConvergenceResult of the kept restart
        """
        n_obs = int(X.lengths.sum())
        if n_obs < K:
            raise ValueError(
                f"X has {n_obs} timestep(s) in all but n_states={K}; EM needs at least as "
                "many observations as states."
            )
        if self.emission == "categorical":
            flat = symbols[X.mask][:, None]
        else:
            flat = X.values[X.mask]
        codes = dict(_PARAMETERS[self.emission])
        learn = "".join(code for name, code in codes.items() if name not in given)
        seeds = check_random_state(self.random_state).randint(np.iinfo(np.int32).max,
                                                              size=int(self.n_init))
        shift = _centring(flat, self.emission)
        if np.any(shift):
            flat = flat - shift
        best, best_key, scores = None, None, []
        for seed in seeds:
            model = self._fit_restart(X, flat, K, learn, int(seed), S, n_obs,
                                      _shifted(given, -shift))
            params = _shifted(self._from_hmmlearn(model), shift)
            trial = self._set_fitted(params, K, S, target=copy.copy(self))
            total = float(trial._marginal_log_likelihood(X).sum())
            scores.append(total)
            # A restart where a state lost all its data ends with a singular covariance;
            # it is kept only when every restart did so.
            key = (not self._degenerate(params, K), total if np.isfinite(total) else -np.inf)
            if best is None or key > best_key:
                best, best_key = (params, model), key
        params, model = best
        if not best_key[0]:
            params = self._repaired(params)
        method = "EM" if len(seeds) == 1 else \
            f"EM (the best of n_init={len(seeds)} restarts)"
        monitor = ConvergenceMonitor(type(self).__name__, n_iter=self.n_iter, tol=self.tol,
                                     n_obs=n_obs, method=method)
        monitor.record_all(model.monitor_.history)
        return params, np.array(scores), monitor.finish()

    def _fit_restart(self, X, flat, K, learn, seed, S, n_obs, given):
        """One hmmlearn EM run; "scaling" arithmetic that underflows is redone in log space.

        hmmlearn's scaled forward pass exponentiates the emission log-densities without
        shifting them, so data far from every state's mean (an offset of 1e12, integers
        near 1e18) underflow there ("forward pass failed with underflow"). The log
        implementation gives the same fit without that limit; if it fails too, the
        ValueError names X's scale.
        """
        implementations = [self.implementation] + (
            ["log"] if self.implementation == "scaling" else [])
        for implementation in implementations:
            model = self._hmmlearn(K, learn, seed, S, float(self.tol) * n_obs)
            model.implementation = implementation
            model = self._to_hmmlearn(model, given)
            try:
                model.fit(flat, X.lengths)
            except ValueError as error:
                if "underflow" not in str(error):
                    raise
                failure = error
                continue
            return model
        values = X.values[X.mask]
        raise ValueError(
            f"EM could not run on X (values up to {np.abs(values).max():.3g} in magnitude, "
            f"spread {values.std():.3g}): the emission densities underflow even in log space "
            "(hmmlearn: " + str(failure) + "). Rescale X, e.g. standardise it."
        ) from failure

    def _degenerate(self, params, K):
        """Whether some covariance is not numerically positive definite."""
        if "covars" not in params:
            return False
        full = self._expand_covars(params["covars"], K, self.n_features_in_)
        return bool(np.any(np.linalg.eigvalsh(full) <= 1e-12 * np.abs(full).max()))

    def _repaired(self, params):
        """Add ``min_covar`` to the variances of the covariances that are singular."""
        covars = np.array(params["covars"], dtype=float)
        d = self.n_features_in_
        floor = max(float(self.min_covar), 1e-6)
        if self.covariance_type in ("diag", "spherical"):
            covars = np.maximum(covars, floor)
        else:
            bad = np.linalg.eigvalsh(covars).min(axis=-1) <= 1e-12 * np.abs(covars).max()
            covars[bad] += floor * np.eye(d)
        return {**params, "covars": covars}

    def _fit_counting(self, X, y, symbols, K, S, given):
        """Supervised maximum likelihood: relative frequencies, per-state emission MLE."""
        labels = y.values[..., 0]
        observed = X.mask & np.isfinite(labels)
        states = np.full(labels.shape, -1, dtype=np.intp)
        states[observed] = np.searchsorted(self.classes_, labels[observed].astype(np.int64))
        startprob, transmat = core.count_chain(states, K)
        params = {"startprob": given.get("startprob", startprob),
                  "transmat": given.get("transmat", transmat)}
        z = states[observed]
        if self.emission == "categorical":
            params["emissionprob"] = given.get(
                "emissionprob", core.categorical_mle(symbols[observed], z, K, S))
            return params
        x = X.values[observed]
        if self.emission == "gaussian":
            means, covars = core.gaussian_mle(x, z, K, self.covariance_type,
                                              float(self.min_covar))
            params["means"] = given.get("means", means)
            params["covars"] = given.get("covars", covars)
            return params
        return {**params, **self._fit_mixtures(x, z, K, given)}

    def _fit_mixtures(self, x, z, K, given):
        """A Gaussian mixture per state on the observations labelled with it (sklearn)."""
        M, d = self.n_mix, x.shape[1]
        weights, means = np.empty((K, M)), np.empty((K, M, d))
        covars = np.empty(_covars_shape("gmm", self.covariance_type, K, M, d))
        rng = check_random_state(self.random_state)
        for k in range(K):  # a loop over states, not sequences
            xk = x[z == k]
            if len(xk) < M:
                raise ValueError(
                    f"label {self.classes_[k]} has {len(xk)} observation(s); n_mix={M} "
                    "mixture components need at least as many."
                )
            gm = GaussianMixture(M, covariance_type=self.covariance_type,
                                 reg_covar=float(self.min_covar),
                                 random_state=rng.randint(np.iinfo(np.int32).max)).fit(xk)
            weights[k], means[k], covars[k] = gm.weights_, gm.means_, gm.covariances_
        out = {"weights": weights, "means": means, "covars": covars}
        return {name: given.get(name, value) for name, value in out.items()}

    # -- contract hooks -------------------------------------------------------------------

    def _moments(self, state_probs):
        kind, params = self._core_params()
        means, second = core.state_moments(kind, params)
        return core.mixture_moments(state_probs, means, second)

    def _predict(self, X, return_std):
        _, _, predicted, _ = self._filter(X)
        mean, std = self._moments(predicted)
        return (mean, std) if return_std else mean

    def _forecast(self, X, horizon, return_std):
        _, filtered, _, _ = self._filter(X, return_predicted=False)
        last = filtered[np.arange(X.n_sequences), X.lengths - 1]
        mean, std = self._moments(core.propagate(last, self.transmat_, horizon))
        return (mean, std) if return_std else mean

    def _log_likelihood(self, X, y):
        if y is None:
            return self._marginal_log_likelihood(X)
        _, filtered, _, _ = self._filter(X, return_predicted=False)
        labels = y.values[..., 0]
        observed = X.mask & np.isfinite(labels)
        known = np.isin(labels, self.classes_)
        if (observed & ~known).any():
            i, t = np.argwhere(observed & ~known)[0]
            raise ValueError(
                f"y holds label {int(labels[i, t])} at sequence {i}, timestep {t}, which was not "
                f"seen in fit (classes_: {self.classes_.tolist()})."
            )
        states = np.searchsorted(self.classes_, np.where(observed, labels, self.classes_[0]))
        prob = np.take_along_axis(filtered, states[..., None], axis=2)[..., 0]
        if (prob[observed] == 0.0).any():
            # A label the filter all but excludes (an observation far from its state's
            # mean): its probability underflowed to 0. Redo the filter in log space, where
            # it keeps its finite log-probability instead of -inf.
            log_filtered = core.log_filter(self._log_b(X), X.mask, self.startprob_,
                                           self.transmat_)
            log_prob = np.take_along_axis(log_filtered, states[..., None], axis=2)[..., 0]
            return np.where(observed, log_prob, 0.0).sum(axis=1)
        with np.errstate(divide="ignore"):
            return np.where(observed, np.log(prob), 0.0).sum(axis=1)

    def _predict_proba(self, X):
        return self._filter(X, return_predicted=False)[1]

    # -- HMM-specific public methods --------------------------------------------------------

    def _batch(self, X):
        check_is_fitted(self, "startprob_")
        return self._check_X(X)

    def predict_state_proba(self, X, method="filter"):
        """State probabilities at every step.

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_features)
            Or a list of 2-D arrays, or a 1-D array.
        method : {"filter", "smooth"}, default="filter"
            ``"filter"``: ``p(z_t | x_1..t)`` (causal). ``"smooth"``:
            ``p(z_t | x_1..T)`` by forward-backward -- it looks at the future and
            equals hmmlearn's ``predict_proba``.

        Returns
        -------
        proba : same container form as X, with ``n_states_`` features
            Columns follow the state order (``classes_`` in supervised mode).
        """
        if method not in ("filter", "smooth"):
            raise ValueError(f"method must be 'filter' or 'smooth'; got {method!r}.")
        X = self._batch(X)
        _, filtered, predicted, _ = self._filter(X)
        if method == "smooth":
            filtered = core.backward_smooth(X.mask, self.transmat_, filtered, predicted)
        return X.restore(filtered)

    def predict_states(self, X, method="filter"):
        """Most probable hidden state at every step.

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_features)
            Or a list of 2-D arrays, or a 1-D array.
        method : {"filter", "smooth", "viterbi"}, default="filter"
            ``"filter"``: ``argmax_k p(z_t = k | x_1..t)`` -- causal.
            ``"smooth"``: ``argmax_k p(z_t = k | x_1..T)`` -- looks ahead.
            ``"viterbi"``: the jointly most probable path
            ``argmax_z p(z_1..T | x_1..T)`` -- looks ahead (hmmlearn's ``predict``).

        Returns
        -------
        states : ndarray of int of shape (n_sequences, n_timesteps)
            A list of ``(n_timesteps_i,)`` arrays for list input, ``(n_timesteps,)``
            for 1-D input. State indices, or the labels (``classes_``) in
            supervised mode.
        """
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
        X = self._batch(X)
        log_b, filtered, predicted, _ = self._filter(X)
        if method == "viterbi":
            states = core.viterbi(log_b, X.mask, self.startprob_, self.transmat_)
        else:
            if method == "smooth":
                filtered = core.backward_smooth(X.mask, self.transmat_, filtered, predicted)
            states = filtered.argmax(axis=2)
        if self.classes_ is not None:
            states = self.classes_[states]
        out = X.restore(states[..., None].astype(np.int64))
        if X.form == "3d":
            return out[..., 0]
        if X.form == "list":
            return [seq[:, 0] for seq in out]
        return out

    def predict_next_proba(self, X):
        """Next-symbol distribution ``p(x_t = s | x_<t)`` (categorical emissions; causal).

        ``p(x_t = s | x_<t) = sum_k p(z_t = k | x_<t) B[k, s]``.

        Returns
        -------
        proba : same container form as X, with ``n_symbols_`` features
        """
        if self.emission != "categorical":
            raise ValueError("predict_next_proba needs emission='categorical'.")
        X = self._batch(X)
        _, _, predicted, _ = self._filter(X)
        return X.restore(predicted @ self.emissionprob_)

    def _total_log_likelihood(self, X):
        X = self._batch(X)
        return float(self._marginal_log_likelihood(X).sum()), int(X.lengths.sum())

    def aic(self, X):
        """Akaike information criterion ``-2 log p(X) + 2 n_params_`` (lower is better).

        ``log p(X)`` is the marginal log-likelihood of the observations, summed
        over sequences (in supervised mode too: the labels are not used).
        """
        total, _ = self._total_log_likelihood(X)
        return -2.0 * total + 2.0 * self.n_params_

    def bic(self, X):
        """Bayesian information criterion ``-2 log p(X) + n_params_ log N`` (lower is better).

        ``N`` is the number of observations (timesteps over all sequences), as in
        hmmlearn.
        """
        total, n_obs = self._total_log_likelihood(X)
        return -2.0 * total + self.n_params_ * np.log(n_obs)

    def sample(self, n_sequences=1, n_timesteps=100, random_state=None):
        """Draw sequences from the fitted model, all at once.

        Parameters
        ----------
        n_sequences : int, default=1
        n_timesteps : int, default=100
        random_state : int, numpy Generator, RandomState or None

        Returns
        -------
        X : ndarray of shape (n_sequences, n_timesteps, n_features)
            Float observations; int64 symbols for categorical emissions.
        states : ndarray of int64 of shape (n_sequences, n_timesteps)
            The hidden states (the labels, ``classes_``, in supervised mode).
        """
        check_is_fitted(self, "startprob_")
        n = _check_int(n_sequences, "n_sequences", 1)
        T = _check_int(n_timesteps, "n_timesteps", 1)
        if isinstance(random_state, np.random.RandomState):
            random_state = random_state.randint(np.iinfo(np.int32).max)
        rng = np.random.default_rng(random_state)
        z = core.sample_states(self.startprob_, self.transmat_, n, T, rng)
        kind, params = self._core_params()
        if kind == "categorical":
            cdf = np.cumsum(params["emissionprob"], axis=1)[z]  # (n, T, S)
            u = rng.random((n, T, 1)) * cdf[..., -1:]
            X = np.minimum((cdf <= u).sum(axis=-1), cdf.shape[-1] - 1)[..., None]
            X = X.astype(np.int64)
        else:
            means, covs = params["means"], params["covs"]
            if kind == "gmm":
                cdf = np.cumsum(params["weights"], axis=1)[z]
                u = rng.random((n, T, 1)) * cdf[..., -1:]
                m = np.minimum((cdf <= u).sum(axis=-1), cdf.shape[-1] - 1)
                means, covs = means[z, m], covs[z, m]
            else:
                means, covs = means[z], covs[z]
            eps = rng.standard_normal(means.shape)
            X = means + np.einsum("ntab,ntb->nta", np.linalg.cholesky(covs), eps)
        states = z if self.classes_ is None else self.classes_[z]
        return X, states.astype(np.int64)

    def to_hmmlearn(self, implementation=None):
        """The fitted model as an hmmlearn object (to compare with, or use hmmlearn's tools).

        Parameters
        ----------
        implementation : {"scaling", "log"}, optional
            Defaults to this model's ``implementation``.

        Returns
        -------
        hmmlearn.hmm.GaussianHMM, GMMHMM or CategoricalHMM
            With every parameter set and nothing left to initialise.
        """
        check_is_fitted(self, "startprob_")
        model = self._hmmlearn(self.n_states_, "", None, self.n_symbols_, self.tol)
        if implementation is not None:
            model.implementation = implementation
        model.n_features = self.n_symbols_ if self.emission == "categorical" else \
            self.n_features_in_
        params = {name: value for name, value in _parameters_of(self).items()}
        return self._to_hmmlearn(model, params)
