"""The bridge to hmmlearn: its models from our parameters and back, and its Baum-Welch.

:class:`seqmodels.HiddenMarkovModel` learns without labels by Baum-Welch (EM) in
hmmlearn. Each iteration computes, from the forward-backward posteriors
``gamma_t(k) = p(z_t = k | x_1..T)`` and ``xi_t(j, k) = p(z_t = j, z_{t+1} = k | x_1..T)``
of every training sequence::

    pi_k  = sum_i gamma_i1(k) / n_sequences
    A_jk  = sum_it xi_it(j, k) / sum_it gamma_it(j)
    mu_k  = sum_it gamma_it(k) x_it / sum_it gamma_it(k)
    Sigma_k = sum_it gamma_it(k) x_it x_it' / sum_it gamma_it(k) - mu_k mu_k'  (+ min_covar)
    B[k, s] = sum_it gamma_it(k) [x_it = s] / sum_it gamma_it(k)

(mixtures split ``gamma`` further over their components), which never lowers the
training log-likelihood ``sum_i log p(x_i1..T_i)``. hmmlearn initialises the means by
k-means and ``pi`` and ``A`` at random; :func:`baum_welch` restarts it from several
seeds and keeps the best. Everything else (prediction, likelihoods) runs
:mod:`seqmodels.inference.hmm`; these functions only translate parameters
(:class:`~seqmodels.inference.hmm.HMMParams`) to and from hmmlearn's objects and run
its fit.
"""

from typing import NamedTuple

import numpy as np
from hmmlearn import hmm as hmmlearn_hmm

from ._validation import check_random_state
from .inference import hmm as core
from .inference import hmm_fit
from .utils.convergence import ConvergenceMonitor, ConvergenceResult

__all__ = ["PARAMETER_CODES", "BaumWelchResult", "make_hmmlearn", "set_parameters",
           "to_hmmlearn", "from_hmmlearn", "centring", "shifted", "em_restart", "baum_welch"]

#: Parameters of each emission kind, with hmmlearn's one-letter codes (its ``params``
#: and ``init_params``).
PARAMETER_CODES = {
    "gaussian": (("startprob", "s"), ("transmat", "t"), ("means", "m"), ("covars", "c")),
    "gmm": (("startprob", "s"), ("transmat", "t"), ("weights", "w"), ("means", "m"),
            ("covars", "c")),
    "categorical": (("startprob", "s"), ("transmat", "t"), ("emissionprob", "e")),
}


class BaumWelchResult(NamedTuple):
    """Output of :func:`baum_welch`."""

    params: core.HMMParams
    restart_log_likelihoods: np.ndarray
    convergence: ConvergenceResult


def make_hmmlearn(emission, n_states, covariance_type="diag", n_mix=1, n_symbols=None, learn="",
                  n_iter=10, tol=1e-2, min_covar=1e-3, implementation="scaling",
                  random_state=None):
    """An hmmlearn model of this emission kind, learning the parameters coded in ``learn``.

    Parameters
    ----------
    emission : {"gaussian", "gmm", "categorical"}
        ``GaussianHMM``, ``GMMHMM`` or ``CategoricalHMM``.
    n_states : int
    covariance_type, n_mix, n_symbols
        The emissions' (``n_symbols`` is the categorical ``n_features``).
    learn : str
        hmmlearn's codes (:data:`PARAMETER_CODES`) of the parameters to initialise and
        learn; "" learns nothing.
    n_iter, tol, min_covar, implementation, random_state
        hmmlearn's; ``tol`` is the least gain of the *total* log-likelihood.

    Returns
    -------
    hmmlearn.hmm.GaussianHMM, GMMHMM or CategoricalHMM
    """
    common = dict(n_components=n_states, n_iter=n_iter, tol=tol, random_state=random_state,
                  params=learn, init_params=learn, implementation=implementation)
    if emission == "gaussian":
        return hmmlearn_hmm.GaussianHMM(covariance_type=covariance_type, min_covar=min_covar,
                                        **common)
    if emission == "gmm":
        return hmmlearn_hmm.GMMHMM(n_mix=n_mix, covariance_type=covariance_type,
                                   min_covar=min_covar, **common)
    return hmmlearn_hmm.CategoricalHMM(n_features=n_symbols, **common)


def set_parameters(model, params):
    """Copy every parameter ``params`` holds (not None) into the hmmlearn ``model``.

    Returns
    -------
    model
    """
    for name in core.PARAMETER_NAMES:
        value = getattr(params, name)
        if value is not None:
            setattr(model, name + "_", np.array(value, copy=True))
    return model


def to_hmmlearn(params, n_iter=10, tol=1e-2, min_covar=1e-3, implementation="scaling"):
    """An hmmlearn model holding ``params``, with nothing left to initialise or learn.

    Parameters
    ----------
    params : HMMParams
        Complete.
    n_iter, tol, min_covar, implementation
        hmmlearn's settings, for a later ``fit`` of the returned model.

    Returns
    -------
    hmmlearn.hmm.GaussianHMM, GMMHMM or CategoricalHMM
    """
    categorical = params.emission == "categorical"
    n_symbols = np.shape(params.emissionprob)[1] if categorical else None
    n_mix = np.shape(params.weights)[1] if params.weights is not None else 1
    model = make_hmmlearn(params.emission, len(params.startprob), params.covariance_type, n_mix,
                          n_symbols, "", n_iter, tol, min_covar, implementation)
    model.n_features = n_symbols if categorical else np.shape(params.means)[-1]
    return set_parameters(model, params)


def from_hmmlearn(model):
    """The parameters of a fitted hmmlearn model, covariances in the compact shape.

    hmmlearn's ``GaussianHMM`` exposes full matrices whatever its ``covariance_type``:
    they are read back as (K, d) diagonals, (K,) spherical variances or one tied
    (d, d) matrix.

    Returns
    -------
    HMMParams
    """
    params = core.HMMParams(np.array(model.startprob_), np.array(model.transmat_))
    if isinstance(model, hmmlearn_hmm.CategoricalHMM):
        return params._replace(emissionprob=np.array(model.emissionprob_),
                               emission="categorical")
    params = params._replace(means=np.array(model.means_),
                             covariance_type=model.covariance_type)
    if isinstance(model, hmmlearn_hmm.GMMHMM):
        return params._replace(weights=np.array(model.weights_), covars=np.array(model.covars_),
                               emission="gmm")
    full = np.array(model.covars_)
    K = len(params.startprob)
    covars = {
        "full": full,
        "diag": np.diagonal(full, axis1=1, axis2=2).copy(),
        # After EM hmmlearn stores spherical variances repeated once per feature,
        # and its getter then returns K * d matrices: take one per state.
        "spherical": full[:, 0, 0].reshape(K, -1)[:, 0].copy(),
        "tied": full[0].copy(),
    }[model.covariance_type]
    return params._replace(covars=covars, emission="gaussian")


def centring(flat, emission):
    """The per-feature shift hmmlearn's EM runs at: the data's mean when it is far from 0.

    hmmlearn's M-step computes variances as ``E[x^2] - E[x]^2``, which cancels to
    rounding noise (or below zero: NaN means) when the data sit far from 0 relative to
    their spread (1e12 plus unit noise), and its scaled forward pass then underflows. EM
    is equivariant under ``x -> x - shift`` (k-means' clusters and every update move
    with it), so there it runs on centred data and the means are shifted back exactly.
    Elsewhere (offset below 1e4 spreads) the data go in as they are.

    Parameters
    ----------
    flat : ndarray of shape (N, d)
        The observations of all sequences, one after another.
    emission : {"gaussian", "gmm", "categorical"}

    Returns
    -------
    ndarray of shape (d,)
    """
    d = flat.shape[1]
    if emission == "categorical" or len(flat) == 0:
        return np.zeros(d)
    mean = flat.mean(axis=0)
    spread = np.sqrt(np.mean((flat - mean) ** 2, axis=0))
    far = np.abs(mean) > 1e4 * np.maximum(spread, 1e-300)
    return np.where(far, mean, 0.0)


def shifted(params, shift):
    """``params`` with their means moved by ``shift`` (mixtures: every component)."""
    if params.means is None or not np.any(shift):
        return params
    return params._replace(means=np.asarray(params.means) + shift)


def em_restart(flat, lengths, given, n_states, random_state, n_symbols=None, n_mix=1,
               n_iter=100, tol=1e-2, min_covar=1e-3, implementation="scaling"):
    """One hmmlearn EM run; "scaling" arithmetic that underflows is redone in log space.

    The data are centred by :func:`centring` first and the means shifted back after.
    hmmlearn's scaled forward pass exponentiates the emission log-densities without
    shifting them, so data far from every state's mean (an offset of 1e12, integers
    near 1e18) underflow there ("forward pass failed with underflow"). The log
    implementation gives the same fit without that limit; if it fails too, the
    ValueError names X's scale.

    Parameters
    ----------
    flat : ndarray of shape (N, d)
        The observations of all sequences, one after another (symbols: (N, 1) ints).
    lengths : ndarray of int of shape (n_sequences,)
    given : HMMParams
        The emission kind and covariance type, and the parameters held fixed (the
        others, None, are learned).
    n_states : int
    random_state : int
        hmmlearn's seed.
    n_symbols, n_mix, n_iter, tol, min_covar, implementation
        As for :func:`make_hmmlearn` (``tol``: hmmlearn's, on the total gain).

    Returns
    -------
    params : HMMParams
    history : sequence of float
        hmmlearn's ``monitor_.history``: the log-likelihood before each M-step.
    """
    learn = "".join(code for name, code in PARAMETER_CODES[given.emission]
                    if getattr(given, name) is None)
    shift = centring(flat, given.emission)
    centred = flat - shift if np.any(shift) else flat
    start = shifted(given, -shift)
    implementations = [implementation] + (["log"] if implementation == "scaling" else [])
    for arithmetic in implementations:
        model = make_hmmlearn(given.emission, n_states, given.covariance_type, n_mix,
                              n_symbols, learn, n_iter, tol, min_covar, arithmetic, random_state)
        model = set_parameters(model, start)
        try:
            model.fit(centred, lengths)
        except ValueError as error:
            if "underflow" not in str(error):
                raise
            failure = error
            continue
        return shifted(from_hmmlearn(model), shift), model.monitor_.history
    raise ValueError(
        f"EM could not run on X (values up to {np.abs(flat).max():.3g} in magnitude, "
        f"spread {flat.std():.3g}): the emission densities underflow even in log space "
        "(hmmlearn: " + str(failure) + "). Rescale X, e.g. standardise it."
    ) from failure


def baum_welch(obs, mask, given, n_states, n_symbols=None, n_mix=1, n_init=1, n_iter=100,
               tol=1e-6, min_covar=1e-3, implementation="scaling", random_state=None,
               estimator="HiddenMarkovModel"):
    """Baum-Welch with ``n_init`` restarts; keeps the best training log-likelihood.

    Every restart is an hmmlearn model of its own (:func:`em_restart`), scored by
    :func:`seqmodels.inference.hmm.marginal_log_likelihood`. A restart where a state
    lost all its data ends with a singular covariance; it is kept only when every
    restart did so, and then repaired
    (:func:`seqmodels.inference.hmm_fit.repair_covariances`). hmmlearn stops a restart
    when one iteration gains less than its ``tol``, a total; it is given ``tol * n_obs``,
    so that its test is the package's per-observation rule
    (:mod:`seqmodels.utils.convergence`), whose monitor then reads the kept restart's
    history and gives the verdict (hmmlearn's own ``converged`` is also True when a
    restart ran out of iterations).

    Parameters
    ----------
    obs : ndarray of shape (n, T, d), or of int of shape (n, T) for categorical emissions
    mask : ndarray of bool of shape (n, T)
    given : HMMParams
        The emission kind and covariance type, and the parameters held fixed.
    n_states : int
    n_symbols, n_mix, n_iter, min_covar, implementation
        As for :func:`make_hmmlearn`.
    n_init : int
        Restarts, seeded in turn from ``random_state``.
    tol : float
        Convergence threshold per observation.
    estimator : str
        The name the convergence warning gives.

    Returns
    -------
    BaumWelchResult
        ``params``, ``restart_log_likelihoods`` (n_init,), ``convergence`` (the kept
        restart's :class:`~seqmodels.utils.convergence.ConvergenceResult`).
    """
    lengths = mask.sum(axis=1)
    n_obs = int(lengths.sum())
    if n_obs < n_states:
        raise ValueError(
            f"X has {n_obs} timestep(s) in all but n_states={n_states}; EM needs at least as "
            "many observations as states."
        )
    flat = obs[mask][:, None] if given.emission == "categorical" else obs[mask]
    seeds = check_random_state(random_state).randint(np.iinfo(np.int32).max, size=int(n_init))
    best, best_key, scores = None, None, []
    for seed in seeds:
        params, history = em_restart(flat, lengths, given, n_states, int(seed), n_symbols, n_mix,
                                     n_iter, float(tol) * n_obs, min_covar, implementation)
        total = float(core.marginal_log_likelihood(params, obs, mask).sum())
        scores.append(total)
        key = (not hmm_fit.is_degenerate(params), total if np.isfinite(total) else -np.inf)
        if best is None or key > best_key:
            best, best_key = (params, history), key
    params, history = best
    if not best_key[0]:
        params = hmm_fit.repair_covariances(params, min_covar)
    method = "EM" if len(seeds) == 1 else f"EM (the best of n_init={len(seeds)} restarts)"
    monitor = ConvergenceMonitor(estimator, n_iter=n_iter, tol=tol, n_obs=n_obs, method=method)
    monitor.record_all(history)
    return BaumWelchResult(params, np.array(scores), monitor.finish())
