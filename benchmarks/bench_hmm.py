"""HiddenMarkovModel against hmmlearn, side by side in one run (see _harness.py).

Lines:

* ``log_likelihood`` of 1,000 sequences x 100 steps, 4 states, 2-D diagonal
  Gaussian: the vectorised forward recursion against a loop of hmmlearn's ``score``
  over the sequences (equal to 1e-9 relative);
* the wrapper's overhead: ``HiddenMarkovModel.fit`` against hmmlearn's own
  ``GaussianHMM.fit`` with the same seed and data (100 x 200 steps, 3 states, full
  covariances, 50 EM iterations, the same means to 1e-12). Both run with one BLAS
  and one OpenMP thread, as the wrapper's fit does, so that the line measures the
  wrapper's own work and not the machine's thread contention (the next line);
* threading: the default suite's fit, ``HiddenMarkovModel(n_states=4,
  covariance_type="full", n_init=2).fit`` on ``load("var", n_train=20,
  n_timesteps=200)``, in fresh Python processes with the machine's default threading
  against ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`` (bench_threads.py; the fit's
  own time, start-up excluded); ratio = one-thread time / default time;
* hmmlearn's ``implementation="scaling"`` (the estimator's default) against
  ``"log"``, fitting the same data: why the default is what it is.

Scaling: ``log_likelihood`` against the number of sequences and the length.

Run alone: ``python benchmarks/bench_hmm.py [--quick]``.
"""

import logging

import numpy as np
from threadpoolctl import threadpool_limits

from _harness import Line, Scaling
from seqmodels import HiddenMarkovModel

FAMILY = "HMM"
logging.getLogger("hmmlearn").setLevel(logging.ERROR)


def four_state_model():
    rng = np.random.default_rng(0)
    transmat = np.full((4, 4), 0.05) + np.eye(4) * 0.8
    return HiddenMarkovModel(
        n_states=4, covariance_type="diag", startprob=np.full(4, 0.25), transmat=transmat,
        means=rng.normal(scale=2.0, size=(4, 2)), covars=rng.uniform(0.5, 1.5, size=(4, 2)),
    ).fit(np.zeros((1, 1, 2)))


def three_state_data(n=100, T=200):
    truth = HiddenMarkovModel(
        n_states=3, covariance_type="full", startprob=[0.5, 0.3, 0.2],
        transmat=[[0.90, 0.05, 0.05], [0.10, 0.80, 0.10], [0.05, 0.15, 0.80]],
        means=[[0.0, 0.0], [3.0, 1.0], [-2.0, 3.0]],
        covars=[np.eye(2) * 0.5, np.eye(2), [[1.0, 0.3], [0.3, 0.7]]],
    ).fit(np.zeros((1, 1, 2)))
    X, _ = truth.sample(n, T, random_state=10)
    return X


def one_thread(function):
    def limited():
        with threadpool_limits(limits=1):
            return function()
    return limited


def lines(quick=False):
    from hmmlearn import hmm as hl

    out = []
    model = four_state_model()
    n, T = (300, 100) if quick else (1000, 100)
    Xs, _ = model.sample(n, T, random_state=1)
    ref = model.to_hmmlearn("scaling")
    out.append(Line(
        "hmm.loglik.hmmlearn", FAMILY, f"log_likelihood {n:,} x {T}, 4 states",
        lambda: model.log_likelihood(Xs), lambda: np.array([ref.score(x) for x in Xs]),
        "hmmlearn score loop",
        check=lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9),
        repeats=5, target=15, target_text=">= 15x", work=n * T, work_unit="series-steps"))

    n, T, n_iter = (30, 100, 20) if quick else (100, 200, 50)
    X = three_state_data(n, T)
    flat, lengths = X.reshape(-1, 2), [T] * n
    seed = int(np.random.RandomState(0).randint(np.iinfo(np.int32).max))  # the wrapper's seed

    def raw(implementation="scaling"):
        return hl.GaussianHMM(3, covariance_type="full", n_iter=n_iter, tol=0.0,
                              random_state=seed, implementation=implementation).fit(flat, lengths)

    def ours():
        return HiddenMarkovModel(n_states=3, covariance_type="full", n_iter=n_iter, tol=0.0,
                                 random_state=0).fit(X)

    out.append(Line(
        "hmm.fit.hmmlearn", FAMILY, f"EM fit {n} x {T}, 3 states, full cov., {n_iter} it.",
        one_thread(ours), one_thread(raw), "hmmlearn GaussianHMM.fit",
        check=lambda a, b: np.testing.assert_allclose(a.means_, b.means_, rtol=1e-12),
        repeats=3 if quick else 5, target=1 / 1.05, target_text=">= 0.95x",
        work=n * T * n_iter, work_unit="series-steps"))
    if quick:
        return out
    threading = _threading_line()
    if threading is not None:
        out.append(threading)

    def same_fit(a, b):
        lls = [m.score(flat, lengths) for m in (a, b)]
        np.testing.assert_allclose(lls[0], lls[1], rtol=1e-6)

    out.append(Line(
        "hmm.fit.implementations", FAMILY, f"hmmlearn fit {n} x {T}: scaling against log",
        one_thread(raw), one_thread(lambda: raw("log")), "hmmlearn implementation='log'",
        check=same_fit, repeats=3))
    return out


def _threading_line():
    """The other side of the HMM thread fix (bench_threads.py), if that script is there."""
    try:
        from bench_threads import run_child
    except ImportError:
        return None

    def side(single):
        def call():
            result = run_child(single, timeout=600)
            return result["seconds"], result
        return call

    def check(a, b):
        np.testing.assert_allclose(a["log_likelihood"], b["log_likelihood"], rtol=1e-8)

    return Line(
        "hmm.threads", FAMILY, "default suite's full-cov. fit, default threads",
        side(False), side(True), "OMP/OPENBLAS_NUM_THREADS=1", check=check, repeats=3,
        target=1 / 1.3, target_text=">= 0.77x", self_timed=True)


def scalings():
    model = four_state_model()

    def make(n, T):
        X, _ = model.sample(n, T, random_state=n + T)
        return lambda: model.log_likelihood(X)

    return [Scaling("hmm.scale.n", FAMILY, "log_likelihood, 50 steps, n sequences",
                    "sequences", (2_000, 20_000, 200_000), lambda n: make(n, 50)),
            Scaling("hmm.scale.T", FAMILY, "log_likelihood, 100 sequences of T steps", "length",
                    (100, 1000, 10_000), lambda T: make(100, T))]


if __name__ == "__main__":
    import run

    run.main(families=["hmm"])
