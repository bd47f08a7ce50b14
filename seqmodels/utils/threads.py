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

:func:`one_thread_per_pool` also limits OpenMP, for ``HiddenMarkovModel.fit``
(hmmlearn's EM and scikit-learn's ``KMeans``).
"""

import functools

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread", "one_thread_per_pool"]


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


def one_thread_per_pool():
    """Context manager: one BLAS and one OpenMP thread inside, the caller's limits after.

    For :meth:`HiddenMarkovModel.fit <seqmodels.HiddenMarkovModel.fit>`, which runs
    thousands of tiny BLAS and OpenMP calls from Python loops. hmmlearn's E-step
    evaluates the full-covariance Gaussian density per sequence and per state with
    ``scipy.linalg.solve_triangular`` on a (d, T) right-hand side -- 16,000 calls for
    the default suite's fit (4 states, 2 restarts, 100 iterations, 20 x 200 steps) --
    and its initialisation, like the per-state mixtures of supervised
    ``emission="gmm"``, runs scikit-learn's ``KMeans``, an OpenMP loop. With the
    default pools (one OpenBLAS and one libgomp thread per core) each call waits for
    pool threads to get a core. On 2 cores kept busy by two other processes,
    ``benchmarks/bench_threads.py`` timed that fit at 26.6 s (median; 17 to 49 s)
    against 1.9 s with ``OMP_NUM_THREADS=1``; with this limit, 1.6 s against 2.0 s.
    Most of the loss was hmmlearn's density (up to 32 s) and ``KMeans`` (up to 6 s);
    limiting BLAS alone left 1.6 to 7 s, OpenMP alone 3 to 24 s. A fit of
    1,000 x 1,000 steps was not slower with one thread per pool either (11 to 12 s
    against 13 to 30 s).

    The OpenMP limit belongs to the calling thread. OpenBLAS has one pool for the
    process: when calls overlap in several threads, threadpoolctl (3.8 and later) lets
    only the first thread that set a limit change it, so none is left behind.
    """
    return _controller().limit(limits={"blas": 1, "openmp": 1})
