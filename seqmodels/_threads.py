"""One BLAS thread for numerics made of thin matrix products.

The Kalman recursions and the autoregressive predictions multiply ``(n, k)`` or
``(n T, k)`` arrays by ``(k, k)`` matrices with ``k`` of a few units: memory-bound
products, which a second BLAS thread barely speeds up. On a machine whose cores are
busy, though, every call that OpenBLAS splits over its pool waits for a pool thread
to get a core. Measured on the 2-core development machine kept busy by other
processes, alternating runs: one sequence of 100,000 steps filtered in 89 ms with the
default pool against 26 ms with one thread (best of 9); 1,000 x 500 steps in 210
against 136 ms; AutoRegressive.predict on 100,000 x 50 x 2 in 0.5 - 1.2 s against
0.11 s (medians of 5).
"""

import functools

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread"]


@functools.lru_cache(maxsize=None)
def _controller():
    """The process's BLAS and OpenMP libraries, looked up once (about 10 ms)."""
    return ThreadpoolController()


def one_blas_thread(function):
    """Decorator: run ``function`` with one BLAS thread, the caller's limit restored after.

    Entering and leaving the limit costs about 6 us.
    """
    @functools.wraps(function)
    def limited(*args, **kwargs):
        with _controller().limit(limits=1, user_api="blas"):
            return function(*args, **kwargs)

    return limited
