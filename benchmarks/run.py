"""Run every benchmark and print one table (``make bench``).

Usage::

    python benchmarks/run.py [--quick] [--only kalman,hmm] [--no-scaling] [--json FILE]

Families: kalman, nonlinear, hmm, autoregressive, neural, attention, runner, reservoir,
counting (each also runs alone: ``python benchmarks/bench_kalman.py``). ``--quick`` is the
regression guard's mode (smaller workloads, fewer repeats, no scaling;
tests/test_benchmarks_guard.py); BENCHMARKS.md explains the method and every line.
"""

import argparse
import gc
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _harness  # noqa: E402

FAMILIES = ("kalman", "nonlinear", "hmm", "autoregressive", "neural", "attention", "runner",
            "reservoir", "counting")


def main(argv=None, families=FAMILIES):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the regression guard's mode")
    parser.add_argument("--only", help="comma-separated families (default: all)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the scaling exponents")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(families)
    unknown = set(chosen) - set(FAMILIES)
    if unknown:
        parser.error(f"unknown families {sorted(unknown)}; choose among {FAMILIES}")
    results, scalings = [], []
    for name in chosen:
        module = importlib.import_module(f"bench_{name}")
        print(f"{name}:", file=sys.stderr, flush=True)
        for line in module.lines(args.quick):
            results.append(_harness.measure(line, log=_progress))
        if not (args.quick or args.no_scaling):
            for scaling in module.scalings():
                scalings.append(_harness.measure_scaling(scaling, log=_progress))
        gc.collect()
    _harness.print_table(results, scalings)
    if args.json:
        with open(args.json, "w") as handle:
            handle.write(_harness.to_json(results, scalings))
    return results, scalings


def _progress(text):
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
