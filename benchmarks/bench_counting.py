"""ContextCounter against a plain Python loop, side by side in one run (_harness.py).

Line:

* log_likelihood of 1,000 sequences of 200 bits (context length 5, prior 1/2: the
  oracle of the ``dynamic_ngrams`` dataset at its defaults). The anchor is the
  formula written out as a careful user would: per
  sequence, per step, a dict of counts keyed by the context, ``math.log`` of
  ``(N_x + a) / (N + 2 a)``. No library anchors this (the paper's "optimal
  estimator" is a formula); the check is that the two agree to 1e-12. The
  log-likelihood needs no recursion: the predictions of one context's steps multiply
  to the Beta-Bernoulli marginal of its bits, so seqmodels counts each sequence's
  contexts with one ``bincount`` and sums log rising factorials
  (``seqmodels/inference/counting.py``);
* predict (full run only): every step's ``P(x_t = 1 | x_<t)``, the one recursion over
  time (a gather and a scatter of every sequence's table of packed counts per step),
  against the same loop keeping the probabilities.

Scaling: ``log_likelihood`` against the number of sequences and the length.

Run alone: ``python benchmarks/bench_counting.py [--quick]``.
"""

import math

import numpy as np

from _harness import Line, Scaling
from seqmodels import ContextCounter
from seqmodels.datasets import load

FAMILY = "count"
CONTEXT, PRIOR = 5, 0.5


def data(n, T, seed=0):
    return load("dynamic_ngrams", n_train=n, n_test=1, n_timesteps=T,
                random_state=seed).X_train


def python_loop(X, L=CONTEXT, a=PRIOR):
    """sum_t log P(x_t | x_<t) of each sequence by a per-sequence, per-step Python loop."""
    out = []
    for seq in X[:, :, 0].astype(int).tolist():
        counts, total = {}, 0.0
        for t, x in enumerate(seq):
            if t < L:
                total += math.log(0.5)
                continue
            context = tuple(seq[t - L:t])
            n0, n1 = counts.get(context, (0, 0))
            total += math.log(((n1 if x else n0) + a) / (n0 + n1 + 2 * a))
            counts[context] = (n0 + 1 - x, n1 + x)
        out.append(total)
    return np.array(out)


def python_probabilities(X, L=CONTEXT, a=PRIOR):
    """P(x_t = 1 | x_<t) at every step by the same loop."""
    out = []
    for seq in X[:, :, 0].astype(int).tolist():
        counts, probabilities = {}, []
        for t, x in enumerate(seq):
            if t < L:
                probabilities.append(0.5)
                continue
            context = tuple(seq[t - L:t])
            n0, n1 = counts.get(context, (0, 0))
            probabilities.append((n1 + a) / (n0 + n1 + 2 * a))
            counts[context] = (n0 + 1 - x, n1 + x)
        out.append(probabilities)
    return np.array(out)[..., None]


def lines(quick=False):
    n, T = 1000, 200
    X = data(n, T)
    model = ContextCounter(context_length=CONTEXT, prior=PRIOR).fit(X[:1])

    def same(a, b):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)

    out = [Line(
        "counting.loglik.loop", FAMILY, f"log_likelihood, {n} x {T} bits, context 5",
        lambda: model.log_likelihood(X), lambda: python_loop(X), "Python loop per sequence",
        check=same, repeats=5 if quick else 11, target=20.0, target_text=">= 20x",
        work=n * T, work_unit="bits")]
    if not quick:
        out.append(Line(
            "counting.predict.loop", FAMILY, f"predict, {n} x {T} bits, context 5",
            lambda: model.predict(X), lambda: python_probabilities(X),
            "Python loop per sequence", check=same, repeats=11, work=n * T, work_unit="bits"))
    return out


def scalings():
    model = ContextCounter(context_length=CONTEXT, prior=PRIOR).fit(np.zeros((1, 1, 1)))

    def make(n, T):
        X = data(n, T, seed=n + T)
        return lambda: model.log_likelihood(X)

    return [Scaling("counting.scale.n", FAMILY, "log_likelihood, 200 bits, n sequences",
                    "sequences", (100, 1000, 10_000), lambda n: make(n, 200), repeats=5),
            Scaling("counting.scale.T", FAMILY, "log_likelihood, 100 sequences of T bits",
                    "length", (200, 2000, 20_000), lambda T: make(100, T), repeats=5)]


if __name__ == "__main__":
    import run

    run.main(families=["counting"])
