"""The comparison runner: its overhead per cell, and the default suite end to end.

Lines (see _harness.py):

* a tiny model (AR(1) on 4 x 50 steps, 100 data seeds plus the oracles): ``compare``
  with a results store on disk against a bare loop that loads the same data and calls
  the same ``fit`` / ``predict`` / ``log_likelihood``; the difference per cell is the
  runner's overhead (grid, data cache, validation, metrics, SQLite commit, progress);
* ``seqcompare run`` on the default suite (whatever ``comparisons/default.toml``
  holds), in a fresh process: the wall time a user waits, Python start-up, imports
  and the report included (target <= 60 s); the note gives the runner's share, the
  wall time less the cells' own fit / predict / scoring time, per cell.

Run alone: ``python benchmarks/bench_runner.py [--quick]``.
"""

import os
import subprocess
import sys
import tempfile
import time

from sklearn.base import clone

from _harness import Line
from seqmodels import AutoRegressive
from seqmodels.compare import compare
from seqmodels.datasets import load

FAMILY = "Runner"
DATA = ("ar", {"n_train": 4, "n_test": 2, "n_timesteps": 50})


def bare_loop(model, seeds):
    """The model's work alone: what a hand-written script would do per cell."""
    for seed in seeds:
        data = load(DATA[0], **DATA[1], random_state=seed)
        for estimator, fit in ((clone(model), True), (data.oracle, False)):
            if fit:
                estimator.fit(data.X_train)
            estimator.predict(data.X_test, return_std=True)
            estimator.log_likelihood(data.X_test)


def runner(model, seeds):
    with tempfile.TemporaryDirectory() as folder:
        results = compare({"AR(1)": model}, DATA, seeds=seeds, store=folder, progress=False,
                          fresh=True)
    assert (results["status"] == "ok").all()
    return results


def per_cell(n_cells):
    def summary(res):
        import statistics

        gap = statistics.median(res.ours) - statistics.median(res.anchor)
        return (f"overhead {gap / n_cells * 1e3:.2f} ms per cell ({n_cells} cells; "
                f"target < 20 ms)")
    return summary


def seqcompare_default():
    """Wall time of ``seqcompare run`` on the default suite in a fresh process."""
    from seqmodels.compare.store import load_results

    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "seqmodels.compare.cli", "run", "default",
                        "--output", folder, "--progress", "none"], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
        wall = time.perf_counter() - start
        results = load_results(folder)
    work = float(results[["fit_seconds", "predict_seconds", "score_seconds"]].sum().sum())
    return wall, (len(results), work, wall)


def lines(quick=False):
    seeds = list(range(25 if quick else 100))
    model = AutoRegressive(order=1)
    out = [Line(
        "runner.overhead", FAMILY, f"compare(), AR(1) x {len(seeds)} seeds + oracles",
        lambda: runner(model, seeds), lambda: bare_loop(model, seeds), "bare loop, same calls",
        repeats=3, summary=per_cell(2 * len(seeds)))]
    if not quick:
        last = {}

        def run_suite():
            wall, info = seqcompare_default()
            last["info"] = info
            return wall, info

        def summary(res):
            cells, work, wall = last["info"]
            return (f"{cells} cells; runner and start-up {(wall - work) / cells:.2f} s per cell "
                    f"({100 * (wall - work) / wall:.0f} % of the wall time)")

        out.append(Line("runner.default_suite", FAMILY, "seqcompare run default (fresh process)",
                        run_suite, None, repeats=1, limit_s=60.0, self_timed=True,
                        summary=summary))
    return out


def scalings():
    return []


if __name__ == "__main__":
    import run

    run.main(families=["runner"])
