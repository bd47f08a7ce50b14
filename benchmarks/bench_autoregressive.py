"""AutoRegressive against statsmodels, measured side by side in one run.

Fitting: one VAR(2) on 200 bivariate sequences of 500 steps. seqmodels stacks every
sequence's lag matrix into one least-squares problem; statsmodels' VAR takes one
sequence at a time, so the anchor is a loop of per-sequence fits (the pooled
coefficients are not available there). Prediction: one-step predictions of all
sequences; statsmodels' anchor is the same recursion written with its fitted
coefficients per sequence (VARResults has no batched in-sample prediction for new data).

Prints ratios (anchor time / seqmodels time); > 1 means seqmodels is faster.
"""


import numpy as np
from _timing import best_of

from seqmodels import AutoRegressive
from seqmodels.autoregressive import simulate


def main():
    from statsmodels.tsa.api import VAR

    coef = np.array([[[0.5, 0.1], [-0.2, 0.4]], [[0.2, -0.1], [0.1, 0.1]]])
    X = simulate([0.5, -1.0], coef, [[1.0, 0.3], [0.3, 0.5]], 200, 500,
                 np.random.default_rng(0))
    model = AutoRegressive(order=2)

    ours_fit = best_of(lambda: model.fit(X))
    theirs_fit = best_of(lambda: [VAR(seq).fit(2, trend="c") for seq in X], repeat=2)
    print(f"fit VAR(2), 200 x 500 x 2:   seqmodels {ours_fit * 1e3:8.2f} ms   "
          f"statsmodels loop {theirs_fit * 1e3:8.2f} ms   ratio {theirs_fit / ours_fit:6.1f}x")

    # Same answer on one sequence (the loop's unit of work).
    one = AutoRegressive(order=2).fit(X[:1])
    reference = VAR(X[0]).fit(2, trend="c")
    assert np.allclose(one.coef_, reference.coefs, rtol=1e-8)

    model.fit(X)
    ours_pred = best_of(lambda: model.predict(X))
    results = VAR(X[0]).fit(2, trend="c")

    def statsmodels_predict():
        out = np.empty_like(X)
        for i, seq in enumerate(X):
            out[i, 2:] = results.intercept + seq[1:-1] @ results.coefs[0].T \
                + seq[:-2] @ results.coefs[1].T
        return out

    theirs_pred = best_of(statsmodels_predict)
    print(f"predict, 200 x 500 x 2:      seqmodels {ours_pred * 1e3:8.2f} ms   "
          f"per-sequence loop {theirs_pred * 1e3:8.2f} ms   ratio {theirs_pred / ours_pred:6.1f}x")


if __name__ == "__main__":
    main()
