"""Fitting a hidden Markov model without EM: pure functions over arrays and parameter tuples.

With the hidden states labelled, maximum likelihood is counting::

    pi_k    = #{sequences starting in k} / #{sequences}
    A_jk    = #{steps j -> k} / #{steps leaving j}
    mu_k, Sigma_k = mean and (biased) covariance of the observations labelled k
    B[k, s] = #{steps in k emitting s} / #{steps in k}

and, for mixture emissions, a Gaussian mixture fitted by scikit-learn to each state's
observations. Also here: the repair of a covariance that EM left singular, and the
count of free parameters behind AIC and BIC. Baum-Welch (EM) runs in hmmlearn, through
:mod:`seqmodels.hmmlearn_bridge`; inference is :mod:`seqmodels.inference.hmm`. The
parameters are :class:`seqmodels.inference.hmm.HMMParams`; states are integer arrays
``(n_sequences, T)`` holding -1 where a step is unlabelled or past a sequence's end.
"""

import numpy as np
from sklearn.mixture import GaussianMixture

from .._validation import check_random_state
from .hmm import PARAMETER_NAMES, covariance_shape, emission_covariances

__all__ = [
    "count_chain",
    "gaussian_mle",
    "categorical_mle",
    "gaussian_mixture_mle",
    "fit_labelled",
    "fill",
    "is_degenerate",
    "repair_covariances",
    "count_parameters",
]


def count_chain(states, n_states):
    """Maximum-likelihood initial and transition probabilities from labelled paths.

    ``pi[k] = #{i : z_i0 = k} / #{i : z_i0 labelled}`` and
    ``A[j, k] = #{(i, t) : z_{i,t-1} = j, z_it = k} / #{(i, t) : z_{i,t-1} = j}``,
    counting only pairs of consecutive labelled steps. A state never seen at the
    start, or never left, gets a uniform row (no data says otherwise).

    Parameters
    ----------
    states : ndarray of int of shape (n, T)
        State index per step, ``-1`` where unlabelled or past the end.
    n_states : int

    Returns
    -------
    startprob : ndarray of shape (K,)
    transmat : ndarray of shape (K, K)
    """
    K = n_states
    first = states[:, 0]
    start = np.bincount(first[first >= 0], minlength=K).astype(float)
    prev, nxt = states[:, :-1].ravel(), states[:, 1:].ravel()
    both = (prev >= 0) & (nxt >= 0)
    trans = np.bincount(prev[both] * K + nxt[both], minlength=K * K).reshape(K, K).astype(float)
    startprob = start / start.sum() if start.sum() > 0 else np.full(K, 1.0 / K)
    rows = trans.sum(axis=1, keepdims=True)
    transmat = np.where(rows > 0, trans / np.where(rows > 0, rows, 1.0), 1.0 / K)
    return startprob, transmat


def gaussian_mle(x, states, n_states, covariance_type, min_covar):
    """Maximum-likelihood Gaussian emission parameters from labelled observations.

    ``mu_k`` is the mean of the observations labelled k; the covariance is their
    (biased) scatter: per state (``full``), its diagonal (``diag``), the mean of
    the diagonal (``spherical``), or pooled over states (``tied``:
    ``sum_k n_k Sigma_k / N``); ``min_covar`` is added to the variances.

    Parameters
    ----------
    x : ndarray of shape (N, d)
    states : ndarray of int of shape (N,)
        Values in 0..K-1.

    Returns
    -------
    means : ndarray of shape (K, d)
    covars : ndarray in hmmlearn's compact shape for ``covariance_type``
        full (K, d, d), diag (K, d), spherical (K,), tied (d, d).
    """
    K, d = n_states, x.shape[1]
    counts = np.bincount(states, minlength=K).astype(float)
    means = np.empty((K, d))
    scatter = np.empty((K, d, d))
    for k in range(K):  # a loop over states, not sequences
        xk = x[states == k]
        means[k] = xk.mean(axis=0)
        diff = xk - means[k]
        scatter[k] = diff.T @ diff
    cov = scatter / counts[:, None, None]
    eye = np.eye(d)
    if covariance_type == "full":
        covars = cov + min_covar * eye
    elif covariance_type == "diag":
        covars = np.diagonal(cov, axis1=1, axis2=2) + min_covar
    elif covariance_type == "spherical":
        covars = np.diagonal(cov, axis1=1, axis2=2).mean(axis=1) + min_covar
    elif covariance_type == "tied":
        covars = scatter.sum(axis=0) / counts.sum() + min_covar * eye
    else:
        raise ValueError(f"unknown covariance_type {covariance_type!r}")
    return means, covars


def categorical_mle(symbols, states, n_states, n_symbols):
    """Maximum-likelihood emission probabilities ``B[k, s] = #(k, s) / #k`` by counting.

    Parameters
    ----------
    symbols, states : ndarray of int of shape (N,)

    Returns
    -------
    ndarray of shape (K, S)
    """
    counts = np.bincount(states * n_symbols + symbols, minlength=n_states * n_symbols)
    counts = counts.reshape(n_states, n_symbols).astype(float)
    return counts / counts.sum(axis=1, keepdims=True)


def gaussian_mixture_mle(x, states, n_states, n_mix, covariance_type, min_covar,
                         random_state=None, labels=None):
    """A Gaussian mixture per state, fitted to the observations labelled with it.

    ``b_k(x) = sum_m w_km N(x; mu_km, Sigma_km)``, each fitted by scikit-learn's
    :class:`~sklearn.mixture.GaussianMixture` (EM from k-means), ``min_covar`` added to
    the variances (``reg_covar``); the states' seeds are drawn in turn from
    ``random_state``.

    Parameters
    ----------
    x : ndarray of shape (N, d)
    states : ndarray of int of shape (N,)
        Values in 0..K-1.
    n_states, n_mix : int
    covariance_type : {"full", "diag", "spherical", "tied"}
    min_covar : float
    random_state : None, int, RandomState or Generator
    labels : array-like of shape (K,), optional
        The label of each state, for the error message.

    Returns
    -------
    weights : ndarray of shape (K, M)
    means : ndarray of shape (K, M, d)
    covars : ndarray in hmmlearn's compact shape for mixtures
    """
    K, M, d = n_states, n_mix, x.shape[1]
    weights, means = np.empty((K, M)), np.empty((K, M, d))
    covars = np.empty(covariance_shape("gmm", covariance_type, K, d, M))
    rng = check_random_state(random_state)
    for k in range(K):  # a loop over states, not sequences
        xk = x[states == k]
        if len(xk) < M:
            raise ValueError(
                f"label {k if labels is None else labels[k]} has {len(xk)} observation(s); "
                f"n_mix={M} mixture components need at least as many."
            )
        gm = GaussianMixture(M, covariance_type=covariance_type, reg_covar=float(min_covar),
                             random_state=rng.randint(np.iinfo(np.int32).max)).fit(xk)
        weights[k], means[k], covars[k] = gm.weights_, gm.means_, gm.covariances_
    return weights, means, covars


def fill(given, estimate):
    """``estimate`` with every parameter that ``given`` holds (not None) put in its place."""
    return estimate._replace(**{name: value for name, value in given._asdict().items()
                                if name in PARAMETER_NAMES and value is not None})


def fit_labelled(obs, states, given, n_states, n_symbols=None, n_mix=2, min_covar=1e-3,
                 random_state=None, labels=None):
    """Supervised maximum likelihood: relative frequencies, per-state emission MLE.

    :func:`count_chain` for ``pi`` and ``A``; :func:`gaussian_mle`,
    :func:`gaussian_mixture_mle` or :func:`categorical_mle` for the emissions. The
    parameters ``given`` holds are kept as they are.

    Parameters
    ----------
    obs : ndarray of shape (n, T, d), or of int of shape (n, T) for categorical emissions
    states : ndarray of int of shape (n, T)
        State index of each step, -1 where unlabelled or past the end.
    given : HMMParams
        The emission kind and covariance type, and the parameters held fixed (the
        others None).
    n_states : int
        K.
    n_symbols : int, optional
        S (categorical emissions).
    n_mix, min_covar, random_state, labels
        As for :func:`gaussian_mixture_mle` (``min_covar`` also for :func:`gaussian_mle`).

    Returns
    -------
    HMMParams
    """
    K = n_states
    observed = states >= 0
    startprob, transmat = count_chain(states, K)
    estimate = given._replace(startprob=startprob, transmat=transmat)
    z, x = states[observed], obs[observed]
    if given.emission == "categorical":
        estimate = estimate._replace(emissionprob=categorical_mle(x, z, K, n_symbols))
    elif given.emission == "gaussian":
        means, covars = gaussian_mle(x, z, K, given.covariance_type, float(min_covar))
        estimate = estimate._replace(means=means, covars=covars)
    else:
        weights, means, covars = gaussian_mixture_mle(x, z, K, n_mix, given.covariance_type,
                                                      min_covar, random_state, labels)
        estimate = estimate._replace(weights=weights, means=means, covars=covars)
    return fill(given, estimate)


# -- after EM ---------------------------------------------------------------------------


def is_degenerate(params):
    """Whether some covariance is not numerically positive definite.

    ``min eig(Sigma) <= 1e-12 max |Sigma|`` for some state (or component): EM's
    covariance for a state that lost all its data.
    """
    if params.covars is None:
        return False
    full = emission_covariances(params)
    return bool(np.any(np.linalg.eigvalsh(full) <= 1e-12 * np.abs(full).max()))


def repair_covariances(params, min_covar):
    """Add ``max(min_covar, 1e-6)`` to the variances of the covariances that are singular.

    Diagonal and spherical variances are floored at that value; a full (or tied)
    matrix whose least eigenvalue is ``<= 1e-12 max |Sigma|`` gets it added to its
    diagonal.
    """
    covars = np.array(params.covars, dtype=float)
    d = np.shape(params.means)[-1]
    floor = max(float(min_covar), 1e-6)
    if params.covariance_type in ("diag", "spherical"):
        covars = np.maximum(covars, floor)
    else:
        bad = np.linalg.eigvalsh(covars).min(axis=-1) <= 1e-12 * np.abs(covars).max()
        covars[bad] += floor * np.eye(d)
    return params._replace(covars=covars)


def count_parameters(emission, covariance_type, n_states, n_features, n_mix=1, n_symbols=None,
                     given=None):
    """Free parameters estimated from the data, less the groups in ``given``.

    ``K - 1`` initial + ``K (K - 1)`` transition probabilities, then per emission:
    Gaussian ``K d`` means and the covariances (``d (d + 1) / 2`` values per full or
    tied matrix, ``d`` per diagonal, 1 per spherical; one tied matrix in all),
    mixtures ``K (M - 1)`` weights, ``K M d`` means and ``K M`` covariances (``K`` if
    tied: one per state, shared by its components, as hmmlearn's ``GMMHMM``),
    categorical ``K (S - 1)`` emission probabilities.

    Parameters
    ----------
    given : HMMParams, optional
        The groups held fixed (the fields that are not None).

    Returns
    -------
    int
    """
    K, d, M = n_states, n_features, n_mix
    cov = {"full": d * (d + 1) // 2, "diag": d, "spherical": 1, "tied": d * (d + 1) // 2}
    cov = cov[covariance_type]
    if covariance_type == "tied":
        copies = K if emission == "gmm" else 1
    else:
        copies = K * (M if emission == "gmm" else 1)
    counts = {"startprob": K - 1, "transmat": K * (K - 1)}
    if emission == "gaussian":
        counts.update(means=K * d, covars=copies * cov)
    elif emission == "gmm":
        counts.update(weights=K * (M - 1), means=K * M * d, covars=copies * cov)
    else:
        counts.update(emissionprob=K * (n_symbols - 1))
    return int(sum(n for name, n in counts.items() if getattr(given, name, None) is None))
