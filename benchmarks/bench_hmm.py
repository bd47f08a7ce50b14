"""HiddenMarkovModel against hmmlearn, measured side by side in one run.

1. ``log_likelihood`` of 1,000 sequences x 100 steps, 4 states: the vectorised
   forward recursion against a loop of hmmlearn's ``score`` over the sequences
   (both of hmmlearn's implementations), with the largest relative difference.
2. hmmlearn's ``implementation="scaling"`` against ``"log"`` for fitting: time and
   final training log-likelihood on 100 x 200 steps from a 3-state Gaussian HMM.
   (The estimator's default ``implementation`` was chosen from this measurement.)
3. Wrapper overhead: ``HiddenMarkovModel.fit`` against raw hmmlearn ``fit`` with the
   same seed and data.

Run: ``python benchmarks/bench_hmm.py`` (``--repeats N`` for more timing runs; the
best of the interleaved runs is reported, the usual way to time on a shared machine).
BLAS and OpenMP (k-means in hmmlearn's initialisation) run single-threaded by default
(``--threads`` to change it): on a loaded 2-core machine, threads waiting for a busy
core make timings swing 3x.
"""

import argparse
import logging
import time

import numpy as np
from hmmlearn import hmm as hl
from threadpoolctl import threadpool_limits

from seqmodels import HiddenMarkovModel


def best_time(func, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result


def four_state_model():
    rng = np.random.default_rng(0)
    transmat = np.full((4, 4), 0.05) + np.eye(4) * 0.8
    return HiddenMarkovModel(
        n_states=4, covariance_type="diag", startprob=np.full(4, 0.25), transmat=transmat,
        means=rng.normal(scale=2.0, size=(4, 2)), covars=rng.uniform(0.5, 1.5, size=(4, 2)),
    ).fit(np.zeros((1, 1, 2)))


def bench_log_likelihood(repeats):
    model = four_state_model()
    X, _ = model.sample(1000, 100, random_state=1)
    refs = {impl: model.to_hmmlearn(impl) for impl in ("log", "scaling")}
    ours = model.log_likelihood(X)
    expected = {impl: np.array([ref.score(x) for x in X]) for impl, ref in refs.items()}
    # Interleaved runs, best of each: on a shared machine the load changes from one
    # second to the next, and interleaving exposes both sides to the same conditions.
    times = {"ours": [], "log": [], "scaling": []}
    for _ in range(max(repeats, 5)):
        for _ in range(3):
            times["ours"].append(best_time(lambda: model.log_likelihood(X), 1)[0])
        for impl, ref in refs.items():
            times[impl].append(best_time(lambda: [ref.score(x) for x in X], 1)[0])
    ours_t = min(times["ours"])
    print("1. log_likelihood, 1,000 sequences x 100 steps, 4 states, 2-D diagonal Gaussian")
    print(f"   seqmodels (vectorised forward)   {ours_t * 1e3:9.1f} ms   (median "
          f"{np.median(times['ours']) * 1e3:.1f} ms)")
    for impl in ("log", "scaling"):
        ref_t = min(times[impl])
        rel = np.max(np.abs(ours - expected[impl]) / np.abs(expected[impl]))
        print(f"   hmmlearn score loop ({impl:7s})   {ref_t * 1e3:9.1f} ms   "
              f"ratio {ref_t / ours_t:6.1f}x (medians: "
              f"{np.median(times[impl]) / np.median(times['ours']):.1f}x)   "
              f"max relative difference {rel:.1e}")


def three_state_data():
    truth = HiddenMarkovModel(
        n_states=3, covariance_type="full", startprob=[0.5, 0.3, 0.2],
        transmat=[[0.90, 0.05, 0.05], [0.10, 0.80, 0.10], [0.05, 0.15, 0.80]],
        means=[[0.0, 0.0], [3.0, 1.0], [-2.0, 3.0]],
        covars=[np.eye(2) * 0.5, np.eye(2), [[1.0, 0.3], [0.3, 0.7]]],
    ).fit(np.zeros((1, 1, 2)))
    X, _ = truth.sample(100, 200, random_state=10)
    return X


def bench_fits(repeats):
    """Sections 2 and 3, interleaved so that every variant meets the same load."""
    X = three_state_data()
    flat, lengths = X.reshape(-1, 2), [200] * 100
    seed = int(np.random.RandomState(0).randint(np.iinfo(np.int32).max))  # the wrapper's seed

    def raw(implementation):
        return hl.GaussianHMM(3, covariance_type="full", n_iter=50, tol=0.0, random_state=seed,
                              implementation=implementation).fit(flat, lengths)

    def ours():
        return HiddenMarkovModel(n_states=3, covariance_type="full", n_iter=50, tol=0.0,
                                 random_state=0).fit(X)

    times = {"log": [], "scaling": [], "ours": []}
    models = {}
    for _ in range(repeats):
        for name, func in (("log", lambda: raw("log")), ("scaling", lambda: raw("scaling")),
                           ("ours", ours)):
            t, models[name] = best_time(func, 1)
            times[name].append(t)
    best = {name: min(v) for name, v in times.items()}
    ll = {name: models[name].score(flat, lengths) for name in ("log", "scaling")}
    print("\n2. hmmlearn fit, 100 x 200 steps, 3 states, full covariances, tol=0 (EM runs until "
          "the likelihood stops rising, at most 50 iterations)")
    for name in ("log", "scaling"):
        print(f"   implementation={name!r:10s} {best[name]:7.2f} s   "
              f"{len(models[name].monitor_.history)} iterations   final log-likelihood "
              f"{ll[name]:.10f}")
    print(f"   scaling is {best['log'] / best['scaling']:.2f}x the speed of log; log-likelihoods "
          f"differ by {abs(ll['log'] - ll['scaling']) / abs(ll['log']):.1e} relative, means by "
          f"{np.max(np.abs(models['log'].means_ - models['scaling'].means_)):.1e}")
    print("\n3. wrapper overhead: the same fit through HiddenMarkovModel (scaling, same seed)")
    same = np.allclose(models["ours"].means_, models["scaling"].means_, rtol=1e-12)
    print(f"   hmmlearn {best['scaling']:.2f} s   HiddenMarkovModel {best['ours']:.2f} s   "
          f"overhead {100 * (best['ours'] / best['scaling'] - 1):+.1f} %   same means: {same}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)
    with threadpool_limits(limits=args.threads):
        bench_log_likelihood(args.repeats)
        bench_fits(args.repeats)


if __name__ == "__main__":
    main()
