"""Hidden Markov models: hmmlearn's Baum-Welch behind the seqmodels contract, predicting causally.

The model: a hidden Markov chain ``z_1, z_2, ...`` over K states with initial
distribution ``pi`` and transition matrix ``A`` (``A[j, k] = p(z_t = k | z_{t-1} = j)``)
emits one observation per step from ``b_k(x) = p(x_t = x | z_t = k)``::

    Gaussian:     b_k(x) = N(x; mu_k, Sigma_k)
    mixture:      b_k(x) = sum_m w_km N(x; mu_km, Sigma_km)
    categorical:  b_k(s) = B[k, s],  s in {0, ..., S-1}

Fitting without labels is Baum-Welch (EM) in hmmlearn (:mod:`seqmodels.hmmlearn_bridge`);
with labels, counting (:mod:`seqmodels.inference.hmm_fit`). Everything that predicts --
``predict``, ``forecast``, ``log_likelihood`` -- runs the package's own scaled forward
recursion (:mod:`seqmodels.inference.hmm`), vectorised across sequences and causal:
hmmlearn's ``predict`` (Viterbi) and ``predict_proba`` (forward-backward) use the
whole sequence, so they are offered only through :meth:`HiddenMarkovModel.predict_states`
with ``method="viterbi"`` / ``"smooth"``, marked as looking ahead. This module holds the
estimator: it validates, calls those functions and stores what they return.
"""


import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.utils.validation import check_is_fitted

from . import hmmlearn_bridge as bridge
from ._parameters import Integer, Options, Real, check_sample_sizes
from ._validation import check_distribution, check_generator
from .base import SequenceEstimator
from .inference import hmm as core
from .inference import hmm_fit
from .utils.convergence import ConvergenceResult
from .utils.threads import one_thread_per_pool

__all__ = ["HiddenMarkovModel", "match_states", "compare_to_truth"]

_EMISSIONS = ("gaussian", "gmm", "categorical")
_COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")
_IMPLEMENTATIONS = ("scaling", "log")
_METHODS = ("filter", "smooth", "viterbi")
# Parameters of each emission kind, with hmmlearn's one-letter codes.
_PARAMETERS = bridge.PARAMETER_CODES
_ALL_GIVEN = core.PARAMETER_NAMES


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


def _given_n_states(model):
    """K implied by the given parameters (None when none is given)."""
    for name in ("startprob", "transmat", "means", "weights", "emissionprob"):
        value = getattr(model, name)
        if value is not None:
            return int(np.shape(value)[0])
    return None


def _check_given(model, K, d, S):
    """The parameters given to ``model``'s constructor, validated (the others None)."""
    M = model.n_mix
    given = core.HMMParams(emission=model.emission, covariance_type=model.covariance_type)
    shapes = {"startprob": (K,), "transmat": (K, K), "weights": (K, M), "emissionprob": (K, S)}
    for name, shape in shapes.items():
        value = getattr(model, name)
        if value is not None:
            given = given._replace(**{name: check_distribution(value, name, shape)})
    if model.means is not None:
        shape = (K, d) if model.emission == "gaussian" else (K, M, d)
        means = np.asarray(model.means, dtype=float)
        if means.shape != shape or not np.isfinite(means).all():
            raise ValueError(f"means must be a finite array of shape {shape}; got "
                             f"{means.shape}.")
        given = given._replace(means=means)
    if model.covars is not None:
        shape = core.covariance_shape(model.emission, model.covariance_type, K, d, M)
        covars = np.asarray(model.covars, dtype=float)
        if covars.shape != shape:
            raise ValueError(
                f"covars must have shape {shape} for covariance_type="
                f"{model.covariance_type!r}; got {covars.shape}."
            )
        lead = (K,) if model.emission == "gaussian" else (K, M)
        full = core.full_covariances(covars, model.covariance_type, d, lead)
        if not np.allclose(full, np.swapaxes(full, -1, -2)) or np.any(
            np.linalg.eigvalsh(full) <= 0
        ):
            raise ValueError("covars must be symmetric positive definite.")
        given = given._replace(covars=covars)
    return given


def _check_symbols(X, n_symbols=None):
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


def _check_fit_inputs(model, X, y):
    """The fit's ``(obs, K, S, given)``: X's observations for the core, the numbers of
    states and of symbols, and the given parameters, all validated."""
    obs, S = _training_observations(model, X)
    K = _check_n_states(model, y)
    return obs, K, S, _check_given(model, K, X.n_features, S)


def _training_observations(model, X):
    """X's observations for the core (values, or validated symbols) and S (None: not
    categorical): the largest of n_symbols, or else of the data's and emissionprob's."""
    if model.emission != "categorical":
        return X.values, None
    symbols = _check_symbols(X, model.n_symbols)
    S = model.n_symbols if model.n_symbols is not None else int(symbols.max()) + 1
    if model.emissionprob is not None and model.n_symbols is None:
        S = max(S, int(np.shape(model.emissionprob)[-1]))
    return symbols, S


def _check_n_states(model, y):
    """K: ``n_states`` (forecasting) or the number of labels, checked against the given."""
    given_K = _given_n_states(model)
    if y is None:
        K = int(model.n_states)
        if given_K is not None and given_K != K:
            raise ValueError(
                f"n_states={K} but the given parameters describe {given_K} states; "
                f"pass n_states={given_K}."
            )
        return K
    K = len(model.classes_)
    if given_K is not None and given_K != K:
        raise ValueError(
            f"y has {K} distinct labels but the given parameters describe {given_K} "
            "states; supervised mode has one state per label."
        )
    return K


def _label_states(y, X, classes):
    """The state index of every labelled step, -1 elsewhere; labels not in classes refused."""
    labels = y.values[..., 0]
    observed = X.mask & np.isfinite(labels)
    unknown = observed & ~np.isin(labels, classes)
    if unknown.any():
        i, t = np.argwhere(unknown)[0]
        raise ValueError(
            f"y holds label {int(labels[i, t])} at sequence {i}, timestep {t}, which was not "
            f"seen in fit (classes_: {classes.tolist()})."
        )
    states = np.full(labels.shape, -1, dtype=np.intp)
    states[observed] = np.searchsorted(classes, labels[observed].astype(np.int64))
    return states


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
    random_state : None, int, RandomState or Generator, default=None
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

    target_kinds = ("labels",)
    _parameter_constraints = {
        "n_states": [Integer(1)],
        "emission": [Options(*_EMISSIONS)],
        "covariance_type": [Options(*_COVARIANCE_TYPES)],
        "n_mix": [Integer(1)],
        "n_symbols": [None, Integer(1)],
        "n_iter": [Integer(1)],
        "tol": [Real(0.0, None)],
        "n_init": [Integer(1)],
        "min_covar": [Real(0.0, None)],
        "implementation": [Options(*_IMPLEMENTATIONS)],
        "random_state": ["random_state"],
        **{name: [None, "array-like"] for name in _ALL_GIVEN},
    }

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

    def _fit(self, X, y):
        allowed = {name for name, _ in _PARAMETERS[self.emission]}
        for name in _ALL_GIVEN:
            if getattr(self, name) is not None and name not in allowed:
                raise ValueError(
                    f"{name} is given but emission={self.emission!r} has no such parameter "
                    f"(its parameters: {sorted(allowed)})."
                )
        obs, K, S, given = _check_fit_inputs(self, X, y)
        restarts, trace = np.array([]), ConvergenceResult([], 0, True)
        if all(getattr(given, name) is not None for name, _ in _PARAMETERS[self.emission]):
            params = given
        else:
            # Thousands of tiny BLAS and OpenMP calls (hmmlearn's full-covariance density,
            # KMeans): one thread per pool, else they crawl on busy cores (see utils/threads.py).
            with one_thread_per_pool():
                if y is None:
                    params, restarts, trace = bridge.baum_welch(
                        obs, X.mask, given, K, S, self.n_mix, self.n_init, self.n_iter, self.tol,
                        self.min_covar, self.implementation, self.random_state, type(self).__name__)
                else:
                    params = hmm_fit.fit_labelled(
                        obs, _label_states(y, X, self.classes_), given, K, S, self.n_mix,
                        self.min_covar, self.random_state, self.classes_)
        # Only now, the fit having succeeded, do its results replace an earlier fit's.
        self.n_states_, self.n_symbols_ = K, S
        (self.startprob_, self.transmat_, self.means_, self.covars_, self.weights_,
         self.emissionprob_) = params[:len(_ALL_GIVEN)]
        self.restart_log_likelihoods_ = restarts
        self.history_, self.n_iter_, self.converged_ = trace
        self.n_params_ = hmm_fit.count_parameters(self.emission, self.covariance_type, K,
                                                  X.n_features, self.n_mix, S, given)

    def _params(self):
        """The fitted parameters, as the core takes them."""
        return core.HMMParams(*(getattr(self, name + "_") for name in _ALL_GIVEN),
                              self.emission, self.covariance_type)

    def _inputs(self, X):
        """The core's ``(params, obs, mask)``: X's values, or its symbols (validated)."""
        obs = _check_symbols(X, self.n_symbols_) if self.emission == "categorical" else X.values
        return self._params(), obs, X.mask

    def _predict(self, X, return_std):
        mean, std = core.one_step_moments(*self._inputs(X))
        return (mean, std) if return_std else mean

    def _forecast(self, X, horizon, return_std):
        mean, std = core.forecast_moments(*self._inputs(X), horizon)
        return (mean, std) if return_std else mean

    def _log_likelihood(self, X, y):
        if y is None:
            return core.marginal_log_likelihood(*self._inputs(X))
        return core.label_log_likelihood(*self._inputs(X), _label_states(y, X, self.classes_))

    def _predict_proba(self, X):
        return core.state_probabilities(*self._inputs(X))

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
        return X.restore(core.state_probabilities(*self._inputs(X), method))

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
        states = core.decode(*self._inputs(X), method)
        states = states if self.classes_ is None else self.classes_[states]
        return X.restore(states.astype(np.int64))

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
        return X.restore(core.filter_states(*self._inputs(X)).predicted @ self.emissionprob_)

    def aic(self, X):
        """Akaike information criterion ``-2 log p(X) + 2 n_params_`` (lower is better).

        ``log p(X)`` is the marginal log-likelihood of the observations, summed
        over sequences (in supervised mode too: the labels are not used).
        """
        total = float(self._log_likelihood(self._batch(X), None).sum())
        return -2.0 * total + 2.0 * self.n_params_

    def bic(self, X):
        """Bayesian information criterion ``-2 log p(X) + n_params_ log N`` (lower is better).

        ``N`` is the number of observations (timesteps over all sequences), as in
        hmmlearn.
        """
        X = self._batch(X)
        total = float(self._log_likelihood(X, None).sum())
        return -2.0 * total + self.n_params_ * np.log(int(X.lengths.sum()))

    def sample(self, n_sequences=1, n_timesteps=100, random_state=None):
        """Draw sequences from the fitted model, all at once.

        Parameters
        ----------
        n_sequences : int, default=1
        n_timesteps : int, default=100
        random_state : None, int, RandomState or Generator, optional
            Defaults to the estimator's ``random_state``.

        Returns
        -------
        X : ndarray of shape (n_sequences, n_timesteps, n_features)
            Float observations; int64 symbols for categorical emissions.
        states : ndarray of int64 of shape (n_sequences, n_timesteps)
            The hidden states (the labels, ``classes_``, in supervised mode).
        """
        check_is_fitted(self, "startprob_")
        n, T = check_sample_sizes(n_sequences, n_timesteps, type(self).__name__)
        rng = check_generator(self.random_state if random_state is None else random_state)
        X, z = core.sample(self._params(), n, T, rng)
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
        implementation = self.implementation if implementation is None else implementation
        return bridge.to_hmmlearn(self._params(), self.n_iter, self.tol, self.min_covar,
                                  implementation)
