"""HiddenMarkovModel.fit with the machine's default threading against one thread per pool.

The fit of the default comparison suite,
``HiddenMarkovModel(n_states=4, covariance_type="full", n_init=2)`` on
``load("var", n_train=20, n_timesteps=200, random_state=0).X_train``, timed in fresh
Python processes (no TensorFlow imported) under two environments, alternating:

* default: ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS``
  removed, so every BLAS and OpenMP pool starts one thread per core;
* single: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`` (and ``MKL_NUM_THREADS=1``).

Prints the median of each (``--repeats``, default 3), their ratio (default / single;
about 1 means the library's own thread limits make the environment variables
unnecessary) and checks that both fits reach the same training log-likelihood (to
1e-8 relative). The pools' contention shows when the cores are busy: ``--busy N``
keeps N busy-looping processes running during the timings, as a machine shared with a
test run is (``--busy 2`` on a 2-core machine).

Run: ``python benchmarks/bench_threads.py [--repeats 3] [--busy 0]``.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, sys, time
import seqmodels
from seqmodels import HiddenMarkovModel
from seqmodels.datasets import load
X = load("var", n_train=20, n_timesteps=200, random_state=0).X_train
start = time.perf_counter()
model = HiddenMarkovModel(n_states=4, covariance_type="full", n_init=2, random_state=0).fit(X)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "log_likelihood": float(model.log_likelihood(X).sum()),
                  "tensorflow": "tensorflow" in sys.modules, "package": seqmodels.__path__[0]}))
"""

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def environment(single):
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    if single:
        env.update({name: "1" for name in THREAD_VARIABLES})
    return env


def run_child(single, timeout):
    # -P: import seqmodels as installed (or from PYTHONPATH), not from the working directory.
    out = subprocess.run([sys.executable, "-P", "-c", CHILD], env=environment(single),
                         capture_output=True, text=True, timeout=timeout, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert not result["tensorflow"], "the fit imported TensorFlow"
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", type=int, default=0,
                        help="busy-looping processes kept running during the timings")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds one fit may take before the benchmark gives up")
    args = parser.parse_args()

    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(args.busy)]
    results = {"default": [], "single": []}
    try:
        for _ in range(args.repeats):  # alternating: both meet the same load
            for name in results:
                results[name].append(run_child(name == "single", args.timeout))
    finally:
        for process in busy:
            process.kill()
            process.wait()

    print(f"HiddenMarkovModel(n_states=4, covariance_type='full', n_init=2).fit, var 20 x 200 x 2; "
          f"{os.cpu_count()} cores, {args.busy} busy process(es), fresh process per fit")
    print(f"   seqmodels from {results['default'][0]['package']}")
    median = {}
    for name, label in (("default", "default threading"),
                        ("single", "OMP/OPENBLAS_NUM_THREADS=1")):
        times = [r["seconds"] for r in results[name]]
        median[name] = statistics.median(times)
        print(f"   {label:28s} median {median[name]:7.2f} s   runs "
              + " ".join(f"{t:.2f}" for t in times))
    lls = [r["log_likelihood"] for rs in results.values() for r in rs]
    spread = (max(lls) - min(lls)) / abs(lls[0])
    print(f"   ratio default / single {median['default'] / median['single']:6.2f}x   "
          f"training log-likelihood {lls[0]:.10f}, largest relative difference {spread:.1e}")
    assert spread <= 1e-8, "the two environments fitted different models"


if __name__ == "__main__":
    main()
