"""Statistics for comparisons: intervals, paired tests, ranks, Friedman and Nemenyi.

Pure functions over arrays, on scipy. A comparison has few seeds, so every interval
uses Student's t with the sample standard deviation (``ddof=1``), and a spread from
fewer than two values is NaN rather than zero. Across datasets the procedure is
Demšar's (2006, "Statistical comparisons of classifiers over multiple data sets",
JMLR 7): mean ranks, the Friedman test with Iman and Davenport's F form, and the
Nemenyi critical difference.
"""

from typing import NamedTuple

import numpy as np
from scipy import stats

__all__ = ["Interval", "PairedTest", "Friedman", "mean_interval", "metric_interval",
           "MIN_INTERVAL_VALUES", "paired_t_test", "holm",
           "rank_scores", "friedman_from_ranks", "friedman_test", "nemenyi_q",
           "critical_difference", "cliques", "gradient_decay"]


class Interval(NamedTuple):
    """A sample mean with its spread and a Student-t confidence interval."""

    mean: float
    std: float
    n: int
    low: float
    high: float


class PairedTest(NamedTuple):
    """A paired t-test of ``a - b``: the mean difference, its interval and the p-value."""

    difference: float
    std_error: float
    low: float
    high: float
    statistic: float
    p_value: float
    n: int


class Friedman(NamedTuple):
    """Friedman's test over blocks (datasets) and treatments (models)."""

    mean_ranks: np.ndarray
    statistic: float
    p_value: float
    f_statistic: float
    f_p_value: float
    n_blocks: int
    n_models: int


def _finite(values, name):
    values = np.asarray(values, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {values.shape}.")
    return values[np.isfinite(values)]


def _check_confidence(confidence):
    if not (isinstance(confidence, (float, int)) and 0 < confidence < 1):
        raise ValueError(f"confidence must be a number in (0, 1); got {confidence!r}.")


def mean_interval(values, confidence=0.95):
    """Mean, sample standard deviation and Student-t interval of the finite ``values``.

    ``mean ± t_{(1+confidence)/2, n-1} · std / sqrt(n)`` with ``std`` the sample
    standard deviation (``ddof=1``). With one value the spread and the interval are
    NaN; with none, everything is.

    Parameters
    ----------
    values : array-like of shape (n,)
        NaN entries are left out.
    confidence : float, default=0.95

    Returns
    -------
    Interval

    Examples
    --------
    >>> interval = mean_interval([1.0, 2.0, 3.0])
    >>> interval.mean, interval.std, interval.n
    (2.0, 1.0, 3)
    >>> round(interval.high, 3)  # 2 + 4.303 / sqrt(3)
    4.484
    """
    _check_confidence(confidence)
    values = _finite(values, "values")
    n = int(values.size)
    if n == 0:
        return Interval(np.nan, np.nan, 0, np.nan, np.nan)
    mean = float(values.mean())
    if n == 1:
        return Interval(mean, np.nan, 1, np.nan, np.nan)
    std = float(values.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / np.sqrt(n))
    return Interval(mean, std, n, mean - half, mean + half)


#: Fewest values an interval of a mean is computed from: with 2, Student's t has one degree
#: of freedom and a 95 % interval spans +-12.7 standard errors, wider than any metric's range.
MIN_INTERVAL_VALUES = 3


def metric_interval(values, value_range="real", confidence=0.95):
    """A confidence interval for the mean of a metric that stays inside the metric's range.

    * ``"real"`` (NLL per step, R², differences): Student's t, as :func:`mean_interval`.
    * ``"positive"`` (RMSE, MAE, seconds): on the log scale, by the delta method,
      ``m · exp(± t · s / (m sqrt(n)))``: above 0, and wider above the mean than below.
    * ``"proportion"`` (accuracy, success rate): on the logit scale,
      ``expit(logit(m) ± t · s / (m (1 - m) sqrt(n)))``: inside (0, 1); a mean of exactly
      0 or 1 with no spread is its own interval.

    With fewer than :data:`MIN_INTERVAL_VALUES` finite values the interval is NaN (the
    mean and the standard deviation are still given).

    Parameters
    ----------
    values : array-like of shape (n,)
    value_range : {"real", "positive", "proportion"}, default="real"
    confidence : float, default=0.95

    Returns
    -------
    Interval

    Examples
    --------
    >>> interval = metric_interval([1.0, 2.0, 9.0], "positive")
    >>> interval.low > 0, round(interval.mean, 3)
    (True, 4.0)
    >>> interval = metric_interval([0.97, 1.0, 0.99], "proportion")
    >>> 0 < interval.low < interval.high < 1
    True
    >>> metric_interval([3.0, 4.0], "positive").low  # two values: no interval
    nan
    """
    if value_range not in ("real", "positive", "proportion"):
        raise ValueError("value_range must be 'real', 'positive' or 'proportion'; got "
                         f"{value_range!r}.")
    base = mean_interval(values, confidence)
    if base.n < MIN_INTERVAL_VALUES:
        return Interval(base.mean, base.std, base.n, np.nan, np.nan)
    if value_range == "real":
        return base
    m, n = base.mean, base.n
    t = float(stats.t.ppf(0.5 + confidence / 2, n - 1))
    if base.std == 0:
        return Interval(m, 0.0, n, m, m)
    se = base.std / np.sqrt(n)
    if value_range == "positive":
        if m <= 0:
            return Interval(m, base.std, n, np.nan, np.nan)
        half = t * se / m
        return Interval(m, base.std, n, float(m * np.exp(-half)), float(m * np.exp(half)))
    if not 0 < m < 1:
        return Interval(m, base.std, n, np.nan, np.nan)
    centre, half = np.log(m / (1 - m)), t * se / (m * (1 - m))
    low, high = 1 / (1 + np.exp(-(centre - half))), 1 / (1 + np.exp(-(centre + half)))
    return Interval(m, base.std, n, float(low), float(high))


def paired_t_test(a, b, confidence=0.95):
    """Paired t-test of ``a - b`` (two-sided), over the pairs where both are finite.

    The statistic is ``mean(d) / (std(d) / sqrt(n))`` on ``n - 1`` degrees of freedom,
    as :func:`scipy.stats.ttest_rel`. Degenerate samples get exact answers instead of
    scipy's NaN: identical pairs give p = 1, a constant non-zero difference p = 0.
    Fewer than two pairs cannot be tested (p = NaN).

    Parameters
    ----------
    a, b : array-like of shape (n,)
        Paired measurements (e.g. two models' scores on the same seeds).
    confidence : float, default=0.95
        Of the interval for the mean difference.

    Returns
    -------
    PairedTest

    Examples
    --------
    >>> test = paired_t_test([1.0, 2.0, 3.0, 4.0], [0.5, 1.0, 2.5, 3.0])
    >>> round(test.difference, 3), round(test.p_value, 4)
    (0.75, 0.0138)
    """
    _check_confidence(confidence)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be one-dimensional and paired; got shapes {a.shape} "
                         f"and {b.shape}.")
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    n = int(d.size)
    if n < 2:
        mean = float(d.mean()) if n else np.nan
        return PairedTest(mean, np.nan, np.nan, np.nan, np.nan, np.nan, n)
    interval = mean_interval(d, confidence)
    se = interval.std / np.sqrt(n)
    if se == 0:
        p = 1.0 if interval.mean == 0 else 0.0
        statistic = 0.0 if interval.mean == 0 else np.copysign(np.inf, interval.mean)
        return PairedTest(interval.mean, 0.0, interval.mean, interval.mean, statistic, p, n)
    result = stats.ttest_rel(a[keep], b[keep])
    return PairedTest(interval.mean, float(se), interval.low, interval.high,
                      float(result.statistic), float(result.pvalue), n)


def holm(p_values):
    """Holm's step-down adjustment of p-values for a family of tests.

    The i-th smallest of m p-values becomes ``max_{j<=i} min(1, (m - j + 1) p_(j))``;
    rejecting where the adjusted value is below alpha controls the family-wise error
    rate at alpha. NaN entries stay NaN and do not count in m.

    Parameters
    ----------
    p_values : array-like of shape (m,)

    Returns
    -------
    ndarray of shape (m,)

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"p_values must be one-dimensional; got shape {p.shape}.")
    out = np.full(p.shape, np.nan)
    index = np.flatnonzero(np.isfinite(p))
    if index.size == 0:
        return out
    order = index[np.argsort(p[index], kind="stable")]
    m = order.size
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def rank_scores(scores, greater_is_better):
    """Rank the models within each block: 1 is the best, ties share their mean rank.

    Parameters
    ----------
    scores : array-like of shape (n_blocks, n_models)
    greater_is_better : bool or array-like of shape (n_blocks,)
        Per block (datasets may differ: accuracy against RMSE).

    Returns
    -------
    ndarray of shape (n_blocks, n_models)

    Examples
    --------
    >>> rank_scores([[0.9, 0.7, 0.9]], greater_is_better=True).tolist()
    [[1.5, 3.0, 1.5]]
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (n_blocks, n_models); got shape {scores.shape}.")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite: rank only models with a result in every block.")
    better = np.broadcast_to(np.asarray(greater_is_better, dtype=bool), (scores.shape[0],))
    oriented = np.where(better[:, None], -scores, scores)
    return stats.rankdata(oriented, axis=1)


def friedman_from_ranks(mean_ranks, n_blocks):
    """Friedman's statistic and Iman-Davenport's F from mean ranks (Demšar 2006, eqs. 1-2).

    ``chi2 = 12 N / (k (k + 1)) · (sum_j R_j² - k (k + 1)² / 4)`` on ``k - 1`` degrees
    of freedom, and ``F = (N - 1) chi2 / (N (k - 1) - chi2)`` on ``(k - 1, (k - 1)(N - 1))``.
    No correction for ties.

    Parameters
    ----------
    mean_ranks : array-like of shape (k,)
    n_blocks : int
        N, the number of blocks (datasets).

    Returns
    -------
    chi2, p_chi2, f, p_f : float

    Examples
    --------
    Demšar's example (14 data sets, four variants of C4.5):

    >>> chi2, _, f, _ = friedman_from_ranks([3.143, 2.000, 2.893, 1.964], 14)
    >>> round(chi2, 2), round(f, 2)
    (9.28, 3.69)
    """
    ranks = np.asarray(mean_ranks, dtype=float)
    k, n = ranks.size, int(n_blocks)
    if k < 2 or n < 1:
        raise ValueError(f"need at least 2 models and 1 block; got {k} and {n}.")
    chi2 = 12.0 * n / (k * (k + 1)) * (np.sum(ranks**2) - k * (k + 1) ** 2 / 4.0)
    chi2 = max(float(chi2), 0.0)
    p_chi2 = float(stats.chi2.sf(chi2, k - 1))
    denominator = n * (k - 1) - chi2
    if n < 2:
        return chi2, p_chi2, np.nan, np.nan
    if denominator <= 0:  # every block ranks the models the same way
        return chi2, p_chi2, np.inf, 0.0
    f = (n - 1) * chi2 / denominator
    return chi2, p_chi2, float(f), float(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))


def friedman_test(scores, greater_is_better):
    """Friedman's test that all models perform alike, over blocks such as datasets.

    The chi-squared statistic and its p-value are scipy's
    (:func:`scipy.stats.friedmanchisquare`, corrected for ties); the F form is
    Iman and Davenport's, which Demšar recommends as less conservative.

    Parameters
    ----------
    scores : array-like of shape (n_blocks, n_models)
        One score per block and model (e.g. the mean over seeds on each dataset).
    greater_is_better : bool or array-like of shape (n_blocks,)

    Returns
    -------
    Friedman
        ``mean_ranks`` (1 = best), ``statistic`` and ``p_value`` (chi-squared),
        ``f_statistic`` and ``f_p_value`` (Iman-Davenport), ``n_blocks``, ``n_models``.
    """
    ranks = rank_scores(scores, greater_is_better)
    n, k = ranks.shape
    if k < 3:
        raise ValueError(f"the Friedman test needs at least 3 models; got {k}.")
    if n < 2:
        raise ValueError(f"the Friedman test needs at least 2 blocks (datasets); got {n}.")
    mean_ranks = ranks.mean(axis=0)
    if np.all(ranks == (k + 1) / 2.0):
        # every model tied in every block: no evidence of any difference
        return Friedman(mean_ranks, 0.0, 1.0, 0.0, 1.0, n, k)
    result = stats.friedmanchisquare(*ranks.T)
    chi2 = float(result.statistic)
    denominator = n * (k - 1) - chi2
    if denominator <= 0:
        f, p_f = np.inf, 0.0
    else:
        f = (n - 1) * chi2 / denominator
        p_f = float(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))
    return Friedman(mean_ranks, chi2, float(result.pvalue), float(f), p_f, n, k)


def nemenyi_q(n_models, alpha=0.05):
    """Critical value q_alpha of the Nemenyi test: the studentized range quantile / sqrt(2).

    Examples
    --------
    >>> round(nemenyi_q(4), 3)  # Demšar (2006), Table 5(a)
    2.569
    """
    if not (isinstance(n_models, (int, np.integer)) and n_models >= 2):
        raise ValueError(f"n_models must be an integer >= 2; got {n_models!r}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}.")
    return float(stats.studentized_range.ppf(1 - alpha, int(n_models), np.inf) / np.sqrt(2))


def critical_difference(n_models, n_blocks, alpha=0.05):
    """Nemenyi's critical difference of mean ranks: ``q_alpha sqrt(k (k + 1) / (6 N))``.

    Two models whose mean ranks differ by at least this much perform significantly
    differently at level ``alpha`` (Demšar 2006, section 3.2.2).

    Examples
    --------
    >>> round(critical_difference(4, 14), 2)  # Demšar's example
    1.25
    """
    if not (isinstance(n_blocks, (int, np.integer)) and n_blocks >= 1):
        raise ValueError(f"n_blocks must be a positive integer; got {n_blocks!r}.")
    k = int(n_models)
    return float(nemenyi_q(k, alpha) * np.sqrt(k * (k + 1) / (6.0 * n_blocks)))


def cliques(mean_ranks, cd):
    """Maximal groups of models whose mean ranks all lie within less than ``cd``.

    These are the bars of a critical-difference diagram: models joined by one are
    not significantly different.

    Parameters
    ----------
    mean_ranks : array-like of shape (k,)
    cd : float

    Returns
    -------
    list of tuple of int
        Indices into ``mean_ranks``, each group ordered from best to worst rank;
        only groups of two or more.

    Examples
    --------
    >>> cliques([1.0, 1.5, 3.0, 3.2], cd=1.0)
    [(0, 1), (2, 3)]
    """
    ranks = np.asarray(mean_ranks, dtype=float)
    order = np.argsort(ranks, kind="stable")
    sorted_ranks = ranks[order]
    groups, last_end = [], -1
    for i in range(order.size):
        j = i
        while j + 1 < order.size and sorted_ranks[j + 1] - sorted_ranks[i] < cd:
            j += 1
        if j > i and j > last_end:
            groups.append(tuple(int(v) for v in order[i:j + 1]))
            last_end = j
    return groups


def gradient_decay(norms, *, floor=1e-30):
    """Exponential decay rate of gradient norms against the lag, fitted by least squares.

    Fits ``log ||d loss_T / d h_{T-k}|| = a - rate * k`` over the lags ``k`` whose norm
    is finite and above ``floor`` (a norm that underflowed to 0 carries no slope).
    Bengio, Simard & Frasconi (1994): when the recurrent Jacobians shrink vectors,
    ``||d loss / d h_{T-k}||`` falls geometrically, by ``exp(-rate)`` per step.

    Parameters
    ----------
    norms : array-like of shape (n_lags,)
        ``norms[k]``: the gradient norm at lag k.
    floor : float, default=1e-30

    Returns
    -------
    rate : float
        Nats per step (``> 0``: decaying); ``ln 2 / rate`` steps halve the norm. NaN
        with fewer than two usable lags.
    """
    norms = np.asarray(norms, dtype=float).ravel()
    lags = np.arange(norms.size, dtype=float)
    keep = np.isfinite(norms) & (norms > floor)
    if keep.sum() < 2:
        return float("nan")
    slope = np.polyfit(lags[keep], np.log(norms[keep]), 1)[0]
    return float(-slope)
