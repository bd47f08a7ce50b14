"""Timing helper shared by the benchmark scripts."""

import time


def best_of(function, repeat=3):
    """Fastest wall time of ``repeat`` calls: the least disturbed by other processes."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)
