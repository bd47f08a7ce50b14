"""Speed regression guard: the benchmark harness's quick mode, every ratio above a floor.

``benchmarks/run.py --quick`` measures each line side by side in one run (see
benchmarks/_harness.py and BENCHMARKS.md): ratio = anchor time / seqmodels time, the
median over the repeats. Only ratios are checked, never absolute times, and every
floor sits two to twenty times below the quick mode's figures on the loaded 2-core
development machine, so that load noise does not trip it while the regression each
one names would. The floors are all here, each with its reason. The quick mode takes
about 30 s (TensorFlow's import and traces are a third of it).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "benchmarks" / "run.py"

# key: (floor, the quick mode's medians over four runs (load average 2-3), what falling
# below the floor would mean). Quick mode is smaller than `make bench` (BENCHMARKS.md).
FLOORS = {
    "kalman.many.filterpy": (
        60.0, "217-291x",
        "the filter no longer vectorised across sequences (a per-sequence loop is ~1-3x)"),
    "kalman.many.simdkalman": (
        5.0, "16-20x",
        "the per-step loop over 1,000 sequences three times slower than today"),
    "kalman.long.statsmodels": (
        1.5, "4.7-4.9x",
        "the steady-state fast path lost: the per-step loop gives 0.15-0.2x"),
    "hmm.loglik.hmmlearn": (
        5.0, "27-35x (one run of eight 7.7x, load average 6.7)",
        "the blocked log-likelihood pass or its log-density six times slower"),
    "hmm.fit.hmmlearn": (
        0.75, "0.99-1.0x",
        "the wrapper adding a third or more to hmmlearn's own fit"),
    "ar.fit.var": (
        2.0, "7.8-8.1x",
        "the pooled least squares four times slower"),
    "ar.predict.arithmetic": (
        0.5, "0.75x",
        "predict's overhead over the bare arithmetic grown from a third to the arithmetic "
        "itself (before the lag-tensor and validation fix: 0.28x)"),
    "neural.fit.lstm": (
        0.7, "1.1-1.6x",
        "the wrapper's fit 40 % slower than raw Keras on the same settings"),
    "neural.predict.1x2000": (
        0.5, "2.2-6.4x",
        "predict running the recurrence eagerly again (about 0.05x)"),
    "neural.forecast.16": (
        3.0, "52-84x",
        "forecast's one-step model run eagerly again (about 4x against Model.predict)"),
    "attention.fit.transformer": (
        0.6, "1.65x (one run, load average 7.5: the quick fit is small enough to run eagerly)",
        "the Transformer's fit 40 % slower than raw Keras training the same graph"),
    "attention.predict.32x200": (
        0.5, "6.2x",
        "the Transformer's predict running eagerly, or slower than Model.predict by half"),
    "runner.overhead": (
        0.05, "0.24-0.26x",
        "the runner's overhead per cell grown sixfold (2.2 ms -> 14 ms)"),
}


@pytest.mark.slow
@pytest.mark.serial       # ratios measured side by side: run alone, not beside other tests
def test_quick_benchmarks_stay_above_their_floors(tmp_path):
    for peer in ("simdkalman", "statsmodels", "pykalman", "filterpy", "hmmlearn"):
        pytest.importorskip(peer, reason="the bench extra: pip install '.[bench]'")
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(HARNESS), "--quick", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    figures = {line["key"]: line for line in json.loads(out.read_text())["lines"]}
    missing = set(FLOORS) - set(figures)
    assert not missing, f"guarded lines that did not run: {sorted(missing)}"
    low = [f"{key}: ratio {figures[key]['ratio']:.3g} "
           f"[{figures[key]['ratio_min']:.3g} - {figures[key]['ratio_max']:.3g}] below its "
           f"floor {floor} (quick mode usually {usual}): {why}"
           for key, (floor, usual, why) in FLOORS.items() if figures[key]["ratio"] < floor]
    assert not low, "\n".join(low) + "\n\n" + proc.stdout
