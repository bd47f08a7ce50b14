"""AutoRegressive against statsmodels and bare numpy, side by side in one run (_harness.py).

Lines:

* fit VAR(2) on 200 bivariate sequences of 500 steps: seqmodels stacks every
  sequence's lag matrix into one least-squares problem; statsmodels' ``VAR`` takes one
  sequence at a time, so the anchor is a loop of per-sequence fits (pooled
  coefficients are not available there); checked: one sequence's coefficients equal;
* fit AR(3) on 200 univariate sequences of 500 steps against a loop of statsmodels'
  ``AutoReg`` (same check);
* predict (one-step predictions of all sequences) against the bare arithmetic: the
  same predictions written as one vectorised numpy expression with the fitted
  coefficients (no validation, no start-up steps, no copies) -- the ratio is
  1 / (1 + the wrapper's overhead); and against the per-sequence numpy loop the
  original benchmark used (statsmodels' ``VARResults`` has no batched in-sample
  prediction for new data).

Scaling: ``predict`` against the number of sequences and the length.

Run alone: ``python benchmarks/bench_autoregressive.py [--quick]``.
"""

import numpy as np

from _harness import Line, Scaling
from seqmodels import AutoRegressive
from seqmodels.inference.autoregressive import simulate

FAMILY = "AR"
COEF = np.array([[[0.5, 0.1], [-0.2, 0.4]], [[0.2, -0.1], [0.1, 0.1]]])
NOISE = [[1.0, 0.3], [0.3, 0.5]]


def data(n, T, seed=0):
    return simulate([0.5, -1.0], COEF, NOISE, n, T, np.random.default_rng(seed))


def lines(quick=False):
    from statsmodels.tsa.api import VAR
    from statsmodels.tsa.ar_model import AutoReg

    out = []
    n, T = (50, 500) if quick else (200, 500)
    X = data(n, T)
    model = AutoRegressive(order=2)

    def check_var(a, b):
        one = AutoRegressive(order=2).fit(X[:1])
        np.testing.assert_allclose(one.coef_, VAR(X[0]).fit(2, trend="c").coefs, rtol=1e-8)

    out.append(Line(
        "ar.fit.var", FAMILY, f"fit VAR(2), {n} x {T} x 2", lambda: model.fit(X),
        lambda: [VAR(seq).fit(2, trend="c") for seq in X], "statsmodels VAR loop",
        check=check_var, repeats=3, target=1.0, target_text="> 1x", work=n * T,
        work_unit="series-steps"))

    U = X[..., :1]
    ar3 = AutoRegressive(order=3)

    def check_autoreg(a, b):
        one = AutoRegressive(order=3).fit(U[:1])
        ref = AutoReg(U[0, :, 0], lags=3, trend="c").fit()
        np.testing.assert_allclose(one.coef_[:, 0, 0], ref.params[1:], rtol=1e-8)
        np.testing.assert_allclose(one.intercept_[0], ref.params[0], rtol=1e-8)

    if not quick:
        out.append(Line(
            "ar.fit.autoreg", FAMILY, f"fit AR(3), {n} x {T} x 1", lambda: ar3.fit(U),
            lambda: [AutoReg(seq[:, 0], lags=3, trend="c").fit() for seq in U],
            "statsmodels AutoReg loop", check=check_autoreg, repeats=3, target=1.0,
            target_text="> 1x", work=n * T, work_unit="series-steps"))

    fitted = AutoRegressive(order=2).fit(X)
    c, A = fitted.intercept_, fitted.coef_
    A0, A1 = A[0].T.copy(), A[1].T.copy()

    def arithmetic():
        out = np.empty_like(X)
        out[:, 2:] = c + X[:, 1:-1] @ A0 + X[:, :-2] @ A1
        return out

    def loop():
        out = np.empty_like(X)
        for i, seq in enumerate(X):
            out[i, 2:] = c + seq[1:-1] @ A0 + seq[:-2] @ A1
        return out

    def same(a, b):
        np.testing.assert_allclose(a[:, 2:], b[:, 2:], rtol=1e-12, atol=1e-12)

    out.append(Line(
        "ar.predict.arithmetic", FAMILY, f"predict, {n} x {T} x 2", lambda: fitted.predict(X),
        arithmetic, "bare numpy (vectorised)", check=same, repeats=31 if quick else 51,
        target=1 / 1.2, target_text=">= 0.83x", work=n * T, work_unit="series-steps"))
    if not quick:
        out.append(Line(
            "ar.predict.loop", FAMILY, f"predict, {n} x {T} x 2", lambda: fitted.predict(X),
            loop, "numpy loop over sequences", check=same, repeats=31, work=n * T,
            work_unit="series-steps"))
    return out


def scalings():
    fitted = AutoRegressive(order=2).fit(data(10, 100))

    def make(n, T):
        X = data(n, T, seed=n + T)
        return lambda: fitted.predict(X)

    return [Scaling("ar.scale.n", FAMILY, "predict VAR(2), 50 steps, n sequences", "sequences",
                    (1000, 10_000, 100_000), lambda n: make(n, 50), repeats=5),
            Scaling("ar.scale.T", FAMILY, "predict VAR(2), 100 sequences of T steps", "length",
                    (500, 5000, 50_000), lambda T: make(100, T), repeats=5)]


if __name__ == "__main__":
    import run

    run.main(families=["autoregressive"])
