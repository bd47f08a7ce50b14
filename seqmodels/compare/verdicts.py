"""One rule for "worse", "tied" and "can't tell": paired evidence per seed and over seeds.

A comparison cell is one training run (a data seed, a model seed, a training size)
scored on its own test sequences. Two models (or a model and the oracle) compared on
the same cells carry two kinds of evidence, and the rule uses both:

* **Per seed, the test set.** On each shared cell the per-sequence differences
  ``d_i = model_i - reference_i`` (oriented so that positive means worse) on the same
  test sequences give a paired Student-t interval: the seed *reads* "worse" when the
  interval lies above 0, "better" when below, otherwise "no clear difference". This
  sees the test draw's noise for the models as fitted, not how much a refit on other
  data would move them.
* **Over seeds, training variability.** The seed-level differences ``D_s`` of the
  pooled headline metric give a paired t-test over the seeds (Holm-adjusted over the
  panel's comparisons by the caller) and, from 3 seeds on, a Student-t interval for
  the mean difference.

The verdict, in this order:

1. **worse** when every shared seed reads worse (**better** when every one reads
   better): never "tied", however small the difference;
2. **tied** only with at least ``MIN_SEEDS`` (3) seeds whose interval for the mean
   difference lies inside the region of practical equivalence ``(-rope, rope)``
   (Kruschke's ROPE; Benavoli, Corani, Demšar & Zaffalon 2017, "Time for a change",
   JMLR 18): the evidence could have seen a difference of practical size and saw none
   (a difference significant over seeds but inside the ROPE is said to be so, as
   Benavoli et al. separate statistical from practical significance). Two models
   identical on every test sequence of every seed are tied however few the seeds;
3. **worse** (**better**) when the adjusted seed-level p-value is below ``alpha`` with a
   positive (negative) mean difference;
4. **can't tell** otherwise, with the reason in words (too few seeds to measure
   training variability, seeds that disagree, an interval wider than the ROPE).

The ROPE's half-width defaults to 5 % of the reference's value for errors (RMSE, MAE),
one percentage point for proportions (accuracy, success rate) and 0.02 nats for NLL per
step (:data:`DEFAULT_ROPE`). The rule is frequentist (an equivalence test against the
ROPE, Schuirmann's two one-sided tests at level ``(1 - confidence) / 2`` each); the
Bayesian correlated t-test of Benavoli et al. (``baycomp``) answers the same question
with posterior probabilities but needs a correlation between folds that a grid of
independent seeds does not have, so it is not used here.
"""

from typing import NamedTuple

import numpy as np

from .stats import mean_interval, paired_t_test

__all__ = ["Verdict", "DEFAULT_ROPE", "MIN_SEEDS", "rope_width", "seed_test", "judge"]

#: Fewest seeds whose spread says anything about training variability (2 degrees of freedom).
MIN_SEEDS = 3

#: Metric name -> ("relative", fraction of the reference's value) or ("absolute", width).
DEFAULT_ROPE = {
    "rmse": ("relative", 0.05),
    "mae": ("relative", 0.05),
    "accuracy": ("absolute", 0.01),
    "success_rate": ("absolute", 0.01),
    "nll_per_step": ("absolute", 0.02),
}


class Verdict(NamedTuple):
    """The reading of one comparison (see the module docstring for the rule).

    Attributes
    ----------
    verdict : str
        ``"worse"``, ``"better"``, ``"tied"``, ``"can't tell"`` or ``"untested"``.
    note : str
        The evidence in words, e.g. "worse on each of the 2 seeds' test sets; 2 seeds
        cannot measure training variability".
    p_value : float
        The seed-level p-value the verdict used (as given: adjusted by the caller).
    difference, low, high : float
        Mean seed-level difference (positive: worse) and its interval (NaN with fewer
        than :data:`MIN_SEEDS` seeds).
    n_seeds, n_worse, n_better : int
        Shared seeds, and how many read worse / better on their test set.
    rope : float
        Half-width of the region of practical equivalence, in the metric's units.
    """

    verdict: str
    note: str
    p_value: float
    difference: float
    low: float
    high: float
    n_seeds: int
    n_worse: int
    n_better: int
    rope: float


def rope_width(metric, reference, rope=None):
    """Half-width of the region of practical equivalence, in the metric's units.

    Parameters
    ----------
    metric : str
        The headline metric's name (``"rmse"``, ``"accuracy"``, ...).
    reference : float
        The reference's value (the best model's or the oracle's mean).
    rope : dict, optional
        Overrides of :data:`DEFAULT_ROPE` by metric name, same form.

    Examples
    --------
    >>> rope_width("rmse", 3.2)
    0.16000000000000003
    >>> rope_width("accuracy", 0.9)
    0.01
    """
    kind, width = {**DEFAULT_ROPE, **(rope or {})}.get(metric, ("relative", 0.05))
    if kind not in ("relative", "absolute") or not (np.isfinite(width) and width >= 0):
        raise ValueError(f"rope for {metric!r} must be ('relative' or 'absolute', a width >= 0); "
                         f"got {(kind, width)!r}.")
    return float(width * abs(reference)) if kind == "relative" else float(width)


def seed_test(differences, confidence=0.95):
    """The test-set reading of one seed from its per-sequence differences (positive: worse).

    Returns
    -------
    int
        ``1`` (worse: the paired interval lies above 0), ``-1`` (better) or ``0`` (no
        clear difference, or fewer than 2 sequences: no interval).

    Examples
    --------
    >>> seed_test([1.0, 1.2, 0.9, 1.1])
    1
    >>> seed_test([1.0, -1.0, 0.5, -0.4])
    0
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return 0
    if np.all(d == d[0]):
        return int(np.sign(d[0]))
    interval = mean_interval(d, confidence)
    return 1 if interval.low > 0 else -1 if interval.high < 0 else 0


def _count_phrase(count, n, word):
    if n == 1:
        return f"{word} on the one seed's test set"
    if count == n:
        return f"{word} on each of the {n} seeds' test sets"
    return f"{word} on {count} of {n} seeds' test sets"


def judge(per_sequence, seed_differences, rope, p_value=None, alpha=0.05, confidence=0.95):
    """Apply the rule to one comparison.

    Parameters
    ----------
    per_sequence : list of array-like
        For each shared seed, the per-sequence differences (positive: worse).
    seed_differences : array-like of shape (n_seeds,)
        For each shared seed, the difference of the pooled headline metric (positive:
        worse).
    rope : float
        Half-width of the region of practical equivalence (:func:`rope_width`).
    p_value : float, optional
        The seed-level p-value to use (adjusted for multiplicity by the caller); by
        default the raw paired t-test of ``seed_differences`` against 0.
    alpha, confidence : float

    Returns
    -------
    Verdict

    Examples
    --------
    Several times worse on each of two seeds, but with a wide spread between them:

    >>> judge([[9.0, 11.0, 10.0], [50.0, 70.0, 60.0]], [10.0, 60.0], rope=0.2).verdict
    'worse'
    """
    seed_d = np.asarray(seed_differences, dtype=float)
    keep = np.isfinite(seed_d)
    seed_d = seed_d[keep]
    kept = [np.asarray(d, float) for d, k in zip(per_sequence, keep) if k]
    readings = [seed_test(d, confidence) for d in kept]
    testable = sum(int(np.isfinite(d).sum() >= 2) for d in kept)
    n = int(seed_d.size)
    if n == 0:
        return Verdict("untested", "no seed with results for both", np.nan, np.nan, np.nan,
                       np.nan, 0, 0, 0, rope)
    worse, better = readings.count(1), readings.count(-1)
    if p_value is None:
        p_value = paired_t_test(seed_d, np.zeros(n)).p_value if n > 1 else np.nan
    difference = float(seed_d.mean())
    interval = mean_interval(seed_d, confidence) if n >= MIN_SEEDS else None
    low, high = (interval.low, interval.high) if interval else (np.nan, np.nan)
    if n >= MIN_SEEDS and interval.std == 0:
        low = high = difference
    few = (f"; {n} seed{'s' if n > 1 else ''} cannot measure training variability"
           if n < MIN_SEEDS else "")
    significant = np.isfinite(p_value) and p_value < alpha
    p_words = f"over {n} seeds p = {p_value:.2g}" if np.isfinite(p_value) else ""

    def result(verdict, note):
        return Verdict(verdict, note, float(p_value), difference, float(low), float(high),
                       n, worse, better, rope)

    identical = all(np.all(np.asarray(d, float)[np.isfinite(np.asarray(d, float))] == 0)
                    for d in per_sequence) and np.all(seed_d == 0)
    if identical:
        return result("tied", f"identical on every test sequence of the {n} seed(s)")
    no_interval = "one test sequence per seed: no test-set interval"
    for verdict, count in (("worse", worse), ("better", better)):
        if count == n and testable:
            note = _count_phrase(count, n, verdict)
            if significant:
                note += f"; {p_words}"
            return result(verdict, note + few)
    if n >= MIN_SEEDS and -rope < low and high < rope:
        note = (f"within ±{rope:.3g} over {n} seeds (interval of the difference "
                f"[{low:.3g}, {high:.3g}])")
        if significant:
            note += f"; a difference of no practical size, significant {p_words}"
        return result("tied", note)
    for verdict, count, sign in (("worse", worse, 1), ("better", better, -1)):
        if significant and np.sign(difference) == sign:
            note = f"{verdict} {p_words}; " + (_count_phrase(count, n, verdict) if testable
                                               else no_interval)
            return result(verdict, note)
    parts = [] if testable else [no_interval]
    if worse:
        parts.append(_count_phrase(worse, n, "worse"))
    if better:
        parts.append(_count_phrase(better, n, "better"))
    unclear = n - worse - better
    if unclear and testable:
        parts.append(_count_phrase(unclear, n, "no clear difference"))
    note = ", ".join(parts)
    if n >= MIN_SEEDS:
        note += (f"; over {n} seeds the interval of the difference [{low:.3g}, {high:.3g}] "
                 f"reaches past ±{rope:.3g}")
    return result("can't tell", note + few)
