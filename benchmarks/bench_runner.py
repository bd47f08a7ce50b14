"""The comparison runner's overhead per cell: everything but the model's own work.

Two measurements, each side by side in one run:

* a tiny model (AR(1) on 4 x 50 steps, 100 data seeds plus the oracles): ``compare`` with a
  results store on disk against a bare loop that loads the same data and calls the same
  ``fit`` / ``predict`` / ``log_likelihood``; the difference per cell is the runner's
  overhead (grid, data cache, validation, metrics, SQLite commit, progress);
* with ``--suite NAME`` (e.g. ``default``), a whole suite: wall time of ``compare`` against
  the sum of the cells' fit, predict and scoring calls; the rest is the runner's share.

Usage: python benchmarks/bench_runner.py [--suite default]
"""

import argparse
import tempfile
import time

from sklearn.base import clone

from seqmodels import AutoRegressive
from seqmodels.compare import compare
from seqmodels.datasets import load

SEEDS = list(range(100))
DATA = ("ar", {"n_train": 4, "n_test": 2, "n_timesteps": 50})


def bare_loop(model):
    """The model's work alone: what a hand-written script would do per cell."""
    for seed in SEEDS:
        data = load(DATA[0], **DATA[1], random_state=seed)
        for estimator, fit in ((clone(model), True), (data.oracle, False)):
            if fit:
                estimator.fit(data.X_train)
            estimator.predict(data.X_test, return_std=True)
            estimator.log_likelihood(data.X_test)


def runner(model, folder):
    return compare({"AR(1)": model}, DATA, seeds=SEEDS, store=folder, progress=False,
                   fresh=True)


def tiny():
    model = AutoRegressive(order=1)
    bare, ours = [], []
    for _ in range(3):  # alternate the two sides
        start = time.perf_counter()
        bare_loop(model)
        bare.append(time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            results = runner(model, folder)
            ours.append(time.perf_counter() - start)
    n = len(results)
    assert (results["status"] == "ok").all()
    overhead = (min(ours) - min(bare)) / n
    print(f"tiny model, {n} cells: compare {min(ours) * 1e3:7.1f} ms, bare loop "
          f"{min(bare) * 1e3:7.1f} ms -> runner overhead {overhead * 1e3:.2f} ms per cell "
          f"(target < 20 ms)")


def suite(name):
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        results = compare(name, store=folder, progress=False)
        wall = time.perf_counter() - start
    work = results[["fit_seconds", "predict_seconds", "score_seconds"]].sum().sum()
    print(f"suite {name!r}, {len(results)} cells: wall {wall:.1f} s, model work {work:.1f} s "
          f"-> runner overhead {100 * (wall - work) / wall:.1f} % of cell time (target < 5 %)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", help="also measure a whole suite (e.g. default)")
    args = parser.parse_args()
    tiny()
    if args.suite:
        suite(args.suite)


if __name__ == "__main__":
    main()
