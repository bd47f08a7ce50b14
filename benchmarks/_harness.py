"""The benchmark harness: every speed claim as a ratio of two sides timed in one run.

A :class:`Line` pairs the seqmodels side of a claim with its anchor (filterpy,
simdkalman, statsmodels, pykalman, hmmlearn, raw Keras, a bare numpy loop). Measuring
it (:func:`measure`):

1. runs both sides once untimed (the warm-up: imports, caches, Keras traces) and
   checks that they give the same results (``check``), so nothing is timed that
   differs (a line with no anchor, a fresh process timed whole, has no warm-up);
2. times the two sides alternately, ``repeats`` times (the order flips every
   repeat, so neither side always runs first after the other);
3. takes the ratio ``anchor time / seqmodels time`` of each repeat: > 1 means
   seqmodels is faster. The table shows its median and its min - max over the
   repeats; both sides met the same load within a repeat, which is what makes the
   ratio more stable than either time on a shared machine.

A :class:`Scaling` times one operation at x1, x10 and x100 the number of sequences
(or the sequence length) and fits ``time ~ size^b`` by least squares on the log-log
points: ``b = 1`` is linear cost, below 1 means a fixed cost still weighs at x1.

Family modules (``bench_kalman.py``, ...) define ``lines(quick)`` and
``scalings(quick)``; ``run.py`` measures them all and prints one table.
"""

import json
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

__all__ = ["Line", "Scaling", "measure", "measure_scaling", "print_table", "to_json", "timed"]


@dataclass
class Line:
    """One claim: the seqmodels side against an anchor (or alone, with a time limit)."""

    key: str                                   # stable name, used by the regression guard
    family: str
    what: str                                  # the workload, in words
    ours: Callable[[], Any]
    anchor: Optional[Callable[[], Any]]        # None: an absolute time against ``limit_s``
    anchor_name: str = ""
    check: Optional[Callable[[Any, Any], None]] = None   # (ours result, anchor result)
    repeats: int = 5
    target: Optional[float] = None             # the ratio the issue asks for (at least)
    target_text: str = ""
    limit_s: Optional[float] = None            # absolute lines: at most this many seconds
    work: Optional[float] = None               # units of work per call (for a rate)
    work_unit: str = ""
    anchor_scale: float = 1.0                  # the anchor ran a subset: time x this
    self_timed: bool = False                   # sides return (seconds, result) themselves
    summary: Optional[Callable[[Any], str]] = None   # Result -> text for the last column


@dataclass
class Scaling:
    """Time of ``make(size)()`` at three sizes, x1, x10, x100."""

    key: str
    family: str
    what: str                                  # e.g. "filter, T = 100, n sequences"
    axis: str                                  # "sequences" or "length"
    sizes: tuple
    make: Callable[[int], Callable[[], Any]]
    repeats: int = 3


@dataclass
class Result:
    line: Any
    ours: list = field(default_factory=list)
    anchor: list = field(default_factory=list)

    @property
    def ratios(self):
        if self.line.anchor is None:
            return []
        return [a * self.line.anchor_scale / o for a, o in zip(self.anchor, self.ours)]

    @property
    def ratio(self):
        return statistics.median(self.ratios) if self.ratios else None

    @property
    def met(self):
        line = self.line
        if line.anchor is None:
            return None if line.limit_s is None else statistics.median(self.ours) <= line.limit_s
        return None if line.target is None else self.ratio >= line.target


@dataclass
class ScalingResult:
    scaling: Any
    times: dict = field(default_factory=dict)          # size -> list of seconds

    def _slope(self, ys):
        xs = [math.log(s) for s in self.scaling.sizes]
        ys = [math.log(y) for y in ys]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)

    @property
    def exponent(self):
        return self._slope([statistics.median(self.times[s]) for s in self.scaling.sizes])

    @property
    def exponents(self):
        """One fit per repeat (the spread)."""
        n = min(len(v) for v in self.times.values())
        return [self._slope([self.times[s][r] for s in self.scaling.sizes]) for r in range(n)]


def timed(function):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def measure(line, repeats=None, log=print):
    """Check a line's two sides agree, then time them alternately; see the module doc."""
    repeats = repeats or line.repeats
    clock = (lambda function: function()) if line.self_timed else timed
    res = Result(line)
    if line.anchor is not None:          # absolute lines (a fresh process each) need no warm-up
        _, ours = clock(line.ours)
        _, theirs = clock(line.anchor)
        if line.check is not None:
            line.check(ours, theirs)
    for r in range(repeats):
        sides = [("ours", line.ours), ("anchor", line.anchor)]
        if line.anchor is None:
            sides = sides[:1]
        for name, function in (sides if r % 2 == 0 else sides[::-1]):
            getattr(res, name).append(clock(function)[0])
    if log:
        log(f"  {line.family:7s} {line.what:46s} " + (
            f"ratio {res.ratio:8.3g}" if res.ratios else f"{statistics.median(res.ours):8.2f} s"))
    return res


def measure_scaling(scaling, repeats=None, log=print):
    """Time the three sizes alternately (order flipped every repeat); fit the exponent."""
    repeats = repeats or scaling.repeats
    calls = {size: scaling.make(size) for size in scaling.sizes}
    for call in calls.values():
        call()                                 # warm-up
    res = ScalingResult(scaling, {size: [] for size in scaling.sizes})
    for r in range(repeats):
        for size in (scaling.sizes if r % 2 == 0 else scaling.sizes[::-1]):
            res.times[size].append(timed(calls[size])[0])
    if log:
        log(f"  {scaling.family:7s} {scaling.what:46s} exponent {res.exponent:5.2f}")
    return res


# -- output ---------------------------------------------------------------------------------


def _seconds(s):
    if s is None:
        return ""
    if s >= 1.0:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} us"


def _ratio(r):
    return f"{r:.3g}x" if r < 100 else f"{r:.0f}x"


def _rate(work, seconds, unit):
    if not work:
        return ""
    rate = work / seconds
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if rate >= scale:
            return f"{rate / scale:.3g} {prefix} {unit}/s"
    return f"{rate:.3g} {unit}/s"


def machine():
    """A line describing where the figures were taken."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    import numpy as np
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
            f"Python {platform.python_version()}, numpy {np.__version__}; "
            f"1-minute load average at the end: {load:.1f}")


def print_table(results, scalings=(), out=print):
    """The whole table: ratio lines, absolute lines, then scaling exponents."""
    out("")
    out("ratio = anchor time / seqmodels time (> 1: seqmodels faster): median of the repeats "
        "[min - max];")
    out("times: medians; target: what issue #13 asks; met: whether the median reaches it.")
    header = (f"{'family':7s} {'line':46s} {'seqmodels':>9s}  {'anchor':30s} {'time':>9s}  "
              f"{'ratio':>7s} {'[min - max]':>17s} {'target':>9s} {'met':3s}  note")
    out(header)
    out("-" * (len(header) + 30))
    for res in results:
        line = res.line
        ours = statistics.median(res.ours)
        if line.anchor is None:
            target = f"<= {line.limit_s:.0f} s" if line.limit_s is not None else ""
            out(f"{line.family:7s} {line.what:46s} {_seconds(ours):>9s}  {'(alone)':30s} "
                f"{'':>9s}  {'':>7s} {'':>17s} {target:>9s} {_met(res.met):3s}  "
                f"{_last_column(res, ours)}")
            continue
        anchor = statistics.median(res.anchor) * line.anchor_scale
        spread = f"[{_ratio(min(res.ratios))} - {_ratio(max(res.ratios))}]"
        out(f"{line.family:7s} {line.what:46s} {_seconds(ours):>9s}  {line.anchor_name:30s} "
            f"{_seconds(anchor):>9s}  {_ratio(res.ratio):>7s} {spread:>17s} "
            f"{line.target_text:>9s} {_met(res.met):3s}  {_last_column(res, ours)}")
    if scalings:
        out("")
        out("scaling: time ~ size^b fitted on x1, x10, x100 (b = 1: linear); b of the medians "
            "[min - max of the per-repeat fits]; met: 0.9 <= b <= 1.1")
        header = (f"{'family':7s} {'operation':46s} {'axis':9s} {'sizes':>22s}  "
                  f"{'times':>28s}  {'b':>5s} {'[min - max]':>13s} {'met':3s}")
        out(header)
        out("-" * len(header))
        for res in scalings:
            sc = res.scaling
            sizes = " / ".join(f"{s:,}" for s in sc.sizes)
            times = " / ".join(_seconds(statistics.median(res.times[s])) for s in sc.sizes)
            spread = f"[{min(res.exponents):.2f} - {max(res.exponents):.2f}]"
            met = _met(0.9 <= res.exponent <= 1.1)
            out(f"{sc.family:7s} {sc.what:46s} {sc.axis:9s} {sizes:>22s}  {times:>28s}  "
                f"{res.exponent:5.2f} {spread:>13s} {met:3s}")
    out("")
    out(machine())


def _last_column(res, ours):
    line = res.line
    if line.summary is not None:
        return line.summary(res)
    return _rate(line.work, ours, line.work_unit)


def _met(flag):
    return {None: "", True: "yes", False: "NO"}[flag]


def to_json(results, scalings=()):
    """Every figure of a run, for the regression guard and for BENCHMARKS.md."""
    lines = []
    for res in results:
        line = res.line
        lines.append(dict(
            key=line.key, family=line.family, what=line.what, anchor=line.anchor_name,
            ours_s=res.ours, anchor_s=[a * line.anchor_scale for a in res.anchor],
            ratio=res.ratio, ratio_min=min(res.ratios) if res.ratios else None,
            ratio_max=max(res.ratios) if res.ratios else None, target=line.target,
            limit_s=line.limit_s, met=res.met))
    scales = [dict(key=r.scaling.key, family=r.scaling.family, what=r.scaling.what,
                   axis=r.scaling.axis, sizes=list(r.scaling.sizes),
                   times={str(s): t for s, t in r.times.items()}, exponent=r.exponent,
                   exponents=r.exponents) for r in scalings]
    return json.dumps(dict(machine=machine(), lines=lines, scalings=scales), indent=1)
