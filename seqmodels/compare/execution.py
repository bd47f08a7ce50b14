"""Where cells run: in this process, in local worker processes (joblib's loky), or on Dask.

Every backend offers the same small interface to the scheduling loop of
:mod:`seqmodels.compare.engine`: ``capacity`` (cells to keep in flight), ``submit``,
``wait``, ``outcome`` (a record, or the reason a worker failed), ``restart`` (after a
worker died or hung) and ``shutdown``. Workers cap their BLAS / OpenMP / TensorFlow
threads at ``cores // workers`` before those libraries start.
"""

import concurrent.futures as cf
import os
import uuid

from .worker import clear_caches, limit_threads, run_cell, start_worker, thread_environment

__all__ = ["make_backend", "SerialBackend", "ProcessBackend", "DaskBackend", "WorkerLost",
           "BACKENDS"]

BACKENDS = ("serial", "loky", "dask")


class WorkerLost(Exception):
    """The process running a cell died (out of memory, killed, ``os._exit``)."""


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_worker(n_workers):
    """Threads each worker may use so that the workers together fill the cores once."""
    return max(1, _cores() // max(1, n_workers))


class SerialBackend:
    """Cells run one after another in this process (no time limit beyond the in-cell alarm)."""

    name = "serial"
    capacity = 1
    enforces_time_limit = True  # the in-cell alarm runs in this (main) thread

    def describe(self):
        return "serial (this process)"

    def submit(self, cell, time_limit):
        future = cf.Future()
        future.set_result(run_cell(cell, time_limit))
        return future

    def wait(self, futures, timeout):
        return {f for f in futures if f.done()}

    def outcome(self, future):
        return future.result()

    def restart(self):
        pass

    def shutdown(self, kill=False):
        clear_caches()


class ProcessBackend:
    """Cells run in ``n_jobs`` worker processes of joblib's loky executor."""

    name = "loky"
    enforces_time_limit = True  # loky runs each task in the worker's main thread

    def __init__(self, n_jobs):
        self.capacity = int(n_jobs)
        self.threads = threads_per_worker(self.capacity)
        self._executor = None

    def describe(self):
        return f"{self.capacity} local worker processes (loky), {self.threads} thread(s) each"

    @property
    def executor(self):
        if self._executor is None:
            from joblib.externals.loky import get_reusable_executor

            # This process's pid: a worker spawned just before this process is killed
            # sees at its start that its parent is gone, and exits (no 300 s idle orphan).
            self._executor = get_reusable_executor(
                max_workers=self.capacity, env=thread_environment(self.threads),
                initializer=start_worker, initargs=(self.threads, os.getpid()), timeout=300)
        return self._executor

    def submit(self, cell, time_limit):
        return self.executor.submit(run_cell, cell, time_limit)

    def wait(self, futures, timeout):
        done, _ = cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return done

    def outcome(self, future):
        try:
            return future.result()
        except (cf.process.BrokenProcessPool, cf.CancelledError) as error:
            raise WorkerLost(f"{type(error).__name__}: {error}") from None
        except Exception as error:  # loky's TerminatedWorkerError and friends
            if "Terminated" in type(error).__name__ or "Broken" in type(error).__name__:
                raise WorkerLost(f"{type(error).__name__}: {error}") from None
            raise

    def restart(self):
        """Kill every worker (one hung or died) and start afresh on the next submit."""
        self.shutdown(kill=True)

    def shutdown(self, kill=False):
        if self._executor is not None:
            self._executor.shutdown(wait=not kill, kill_workers=kill)
            self._executor = None


class DaskBackend:
    """Cells run on a Dask distributed cluster: a scheduler address, a Client, or local:N.

    Parameters
    ----------
    scheduler : str or distributed.Client, optional
        ``"tcp://HOST:PORT"`` of a running scheduler, or a Client. Without it a
        LocalCluster of ``n_workers`` single-threaded worker processes is started
        and closed at the end.
    n_workers : int
        Workers of the LocalCluster.
    """

    name = "dask"
    enforces_time_limit = False  # Dask runs tasks in worker threads: the parent enforces it

    def __init__(self, scheduler=None, n_workers=1):
        self.scheduler = scheduler
        self.n_workers = int(n_workers)
        self.client = None
        self.cluster = None
        self.capacity = None

    def describe(self):
        where = self.scheduler if isinstance(self.scheduler, str) else "a LocalCluster"
        return f"Dask at {where}, {self.capacity} worker thread(s)"

    def start(self):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ValueError(
                "the Dask backend needs dask[distributed]: pip install 'seqmodels[dask]'."
            ) from None
        if self.scheduler is None:
            threads = threads_per_worker(self.n_workers)
            self.cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1,
                                        processes=True, dashboard_address=None,
                                        env=thread_environment(threads))
            self.client = Client(self.cluster)
        elif isinstance(self.scheduler, str):
            try:
                self.client = Client(self.scheduler, timeout="20s")
            except OSError as error:
                raise ValueError(
                    f"cannot reach the Dask scheduler at {self.scheduler!r}: {error}"
                ) from None
        else:
            self.client = self.scheduler
        nthreads = self.client.nthreads()
        if not nthreads:
            raise ValueError("the Dask cluster has no workers.")
        self.capacity = int(sum(nthreads.values()))
        # Remote workers were started without our variables: cap what they have loaded.
        self.client.run(limit_threads, threads_per_worker(max(nthreads.values())))

    def submit(self, cell, time_limit):
        return self.client.submit(run_cell, cell, time_limit, pure=False,
                                  key=f"seqmodels-cell-{cell.key}-{uuid.uuid4().hex[:6]}")

    def wait(self, futures, timeout):
        from distributed import wait

        try:
            wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            pass
        return {f for f in futures if f.done()}

    def outcome(self, future):
        try:
            return future.result()
        except Exception as error:
            if type(error).__name__ == "KilledWorker":
                raise WorkerLost(f"KilledWorker: {error}") from None
            raise

    def restart(self):
        pass  # Dask reschedules work of lost workers itself

    def cancel(self, futures):
        if self.client is not None:
            self.client.cancel(list(futures))

    def shutdown(self, kill=False):
        if self.client is not None and self.client is not self.scheduler:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None


def make_backend(backend, n_jobs, scheduler):
    """Choose a backend: ``None`` means serial for one job, loky for more, Dask with a scheduler."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        if isinstance(n_jobs, int) and not isinstance(n_jobs, bool) and n_jobs == -1:
            n_jobs = _cores()
        else:
            raise ValueError(
                f"n_jobs must be a positive integer (or -1: all cores); got {n_jobs!r}.")
    if backend is None:
        backend = "dask" if scheduler is not None else ("serial" if n_jobs == 1 else "loky")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}.")
    if scheduler is not None and backend != "dask":
        raise ValueError(f"scheduler is for the Dask backend; backend is {backend!r}.")
    if backend == "serial":
        if n_jobs != 1:
            raise ValueError(f"the serial backend runs one job; got n_jobs={n_jobs}.")
        return SerialBackend()
    if backend == "loky":
        return ProcessBackend(n_jobs)
    return DaskBackend(scheduler, n_workers=n_jobs)
