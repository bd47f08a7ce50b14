"""``compare``: run a grid of cells into a results store and return a tidy DataFrame.

The parent process owns the store. It claims each cell just before dispatching it,
keeps at most ``capacity`` cells in flight, and commits every result the moment it
arrives, so an interrupted run loses nothing and a rerun skips what is done. Two runs
on one store share the work through the claims and each cell is stored once.
"""

import os
import platform
import signal
import sys
import tempfile
import threading
import time
from collections import deque
from importlib import metadata
from pathlib import Path

from .. import __version__
from .execution import WorkerLost, make_backend
from .grid import build_grid
from .progress import make_progress
from .results import to_frame
from .store import MEASURED, ResultsStore

__all__ = ["compare", "run_grid", "RunInterrupted", "run_metadata"]

_POLL_S = 0.5


class RunInterrupted(KeyboardInterrupt):
    """A comparison stopped by Ctrl-C or SIGTERM; finished cells are in the store.

    Attributes
    ----------
    signum : int
        ``signal.SIGINT`` or ``signal.SIGTERM``.
    n_done, n_cells : int
        Cells stored and cells in the grid.
    store : Path
        Where the results are.
    """

    def __init__(self, signum, n_done=0, n_cells=0, store=None):
        super().__init__(signum)
        self.signum, self.n_done, self.n_cells, self.store = signum, n_done, n_cells, store

    @property
    def exit_code(self):
        """128 + the signal number: 130 for Ctrl-C, 143 for SIGTERM."""
        return 128 + int(self.signum)


def run_metadata(extra=None):
    """Versions, machine and command of this run, for the store and the report."""
    versions = {"seqmodels": __version__, "python": platform.python_version()}
    for package in ("numpy", "scipy", "scikit-learn", "pandas", "hmmlearn", "filterpy",
                    "keras", "tensorflow-cpu", "tensorflow", "dask", "distributed"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return {
        "versions": versions,
        "machine": {"platform": platform.platform(), "processor": platform.machine(),
                    "cores": os.cpu_count(), "hostname": platform.node()},
        "command": " ".join(sys.argv),
        **(extra or {}),
    }


class _SignalGuard:
    """Turn SIGTERM into a KeyboardInterrupt in the main thread while a run is going."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            def terminate(signum, frame):
                raise RunInterrupted(signum)

            self.previous = signal.signal(signal.SIGTERM, terminate)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


def _failure_record(cell, status, message):
    from .worker import describe

    now = time.time()
    return {**describe(cell), "status": status, "error": message, "traceback": None,
            "cell_seconds": None, "started_at": None, "finished_at": now, "worker": None,
            "arrays": {}}


def run_grid(cells, store, *, backend, time_limit=None, progress=None, retry_failed=False,
             metadata_extra=None):
    """Run the cells not yet in ``store``; return the counts by status of this run's work.

    The scheduling loop behind :func:`compare`: claim, dispatch, store each result as
    it arrives, enforce the time limit, survive dead workers, wait for cells that a
    concurrent run holds. Raises :class:`RunInterrupted` on Ctrl-C / SIGTERM after
    shutting the workers down.
    """
    progress = progress or make_progress(False)
    keys = {c.key for c in cells}
    skip = store.done_keys() if not retry_failed else store.done_keys(set(MEASURED))
    todo = deque(c for c in cells if c.key not in skip)
    run_id = store.start_run(run_metadata(metadata_extra), len(cells))
    counts = {}
    in_flight = {}            # future -> (cell, submitted at)
    strikes = {}              # cell key -> times a worker died under it
    deferred = []             # cells another live run holds
    grace = None if time_limit is None else time_limit + max(10.0, 0.5 * time_limit)
    status = "interrupted"
    with _SignalGuard():
        try:
            if hasattr(backend, "start"):
                backend.start()
            progress.start(len(cells), len(cells) - len(todo), backend.describe())
            while todo or in_flight or deferred:
                _dispatch(todo, in_flight, strikes, deferred, store, backend, time_limit,
                          retry_failed)
                progress.running([cell.title() for cell, _ in in_flight.values()])
                if not in_flight:
                    if deferred:
                        deferred = _recheck_deferred(deferred, store, todo, progress)
                    continue
                lost, reason = [], None
                for future in backend.wait(set(in_flight), _POLL_S):
                    cell, _ = in_flight.pop(future)
                    try:
                        record = backend.outcome(future)
                    except WorkerLost as error:
                        lost.append(cell)
                        reason = error
                        continue
                    _store(record, cell, store, counts, progress, run_id)
                if lost:
                    _worker_lost(lost, reason, in_flight, strikes, todo, store, backend,
                                 counts, progress, run_id)
                _enforce_hard_limit(in_flight, grace, store, backend, todo, counts, progress,
                                    run_id)
            status = "finished"
        except KeyboardInterrupt as interrupt:
            signum = getattr(interrupt, "signum", signal.SIGINT)
            backend.shutdown(kill=True)
            store.release()
            done = len(keys & store.done_keys())
            raise RunInterrupted(signum, done, len(cells), store.path) from None
        finally:
            progress.close()
            if status == "finished":
                backend.shutdown()
            store.finish_run(run_id, status)
    return counts


def _dispatch(todo, in_flight, strikes, deferred, store, backend, time_limit, retry_failed):
    """Fill free worker slots. A cell under suspicion of killing its worker runs alone."""
    while todo and len(in_flight) < backend.capacity:
        cell = todo[0]
        suspect = strikes.get(cell.key, 0) > 0
        if suspect and in_flight:
            return
        todo.popleft()
        if not store.claim(cell.key, retry_failed=retry_failed):
            if cell.key not in store.done_keys():
                deferred.append(cell)
            continue
        in_flight[backend.submit(cell, time_limit)] = (cell, time.perf_counter())
        if suspect:
            return


def _recheck_deferred(deferred, store, todo, progress):
    """Cells held by another run: drop the ones it finished, take back the ones it dropped."""
    done = store.done_keys()
    remaining = [c for c in deferred if c.key not in done]
    held = store.holders({c.key for c in remaining})
    for cell in remaining:
        if cell.key not in held:
            todo.append(cell)
    still = [c for c in remaining if c.key in held]
    if still:
        progress.waiting(len(still))
        time.sleep(_POLL_S)
    return still


def _store(record, cell, store, counts, progress, run_id):
    store.put(record, run_id)
    counts[record["status"]] = counts.get(record["status"], 0) + 1
    progress.finished(cell, record)


def _worker_lost(cells, lost, in_flight, strikes, todo, store, backend, counts, progress,
                 run_id):
    """A worker died: every cell in flight is a suspect; the second death convicts."""
    suspects = list(cells) + [c for c, _ in in_flight.values()]
    in_flight.clear()
    backend.restart()
    for suspect in suspects:
        strikes[suspect.key] = strikes.get(suspect.key, 0) + 1
        if strikes[suspect.key] >= 2:
            message = ("the worker process died while running this cell, twice (out of memory, "
                       f"killed, or os._exit?): {lost}")
            _store(_failure_record(suspect, "error", message), suspect, store, counts,
                   progress, run_id)
        else:
            todo.appendleft(suspect)


def _enforce_hard_limit(in_flight, grace, store, backend, todo, counts, progress, run_id):
    """Cells far past the time limit (stuck where the in-cell alarm cannot reach)."""
    if grace is None:
        return
    now = time.perf_counter()
    late = [(f, c) for f, (c, started) in in_flight.items() if now - started > grace]
    if not late:
        return
    for future, cell in late:
        del in_flight[future]
        message = "the cell ran past its time limit and did not stop; its worker was stopped"
        _store(_failure_record(cell, "timeout", message), cell, store, counts, progress, run_id)
    if hasattr(backend, "cancel"):
        backend.cancel([f for f, _ in late])
    else:  # process pool: the stuck worker only stops with the pool
        for future, (cell, _) in list(in_flight.items()):
            todo.appendleft(cell)
        in_flight.clear()
        backend.restart()


def compare(models="default", datasets=None, *, seeds=(0,), model_seeds=None, train_sizes=None,
            sweep=None, horizons=None, store=None, n_jobs=1, backend=None, scheduler=None,
            timeout=None, progress="auto", fresh=False, retry_failed=False, oracle=True,
            n_examples=3, gradient_norms=False, attention_weights=False, quick=False):
    """Fit and evaluate every model on every dataset, seed and axis value; return the results.

    Each cell clones the model, fits it on the training split and evaluates it on the
    test split through the public contract only; a dataset's oracle (the estimator
    with the true parameters) runs as a cell of its own. Results go to a SQLite store
    cell by cell: rerunning the same call skips finished cells.

    Parameters
    ----------
    models : dict of str -> estimator, list, or str / path / Suite
        Label -> unfitted estimator (any object with ``fit``, ``predict`` and
        ``get_params``, yours included), or a suite: a built-in suite name, a TOML
        file, or a loaded :class:`~seqmodels.compare.suite.Suite`, which then gives
        the whole grid (``datasets`` must be None).
    datasets : str, (str, dict), Dataset, or a list or dict of these
        Registered dataset names, (name, params) pairs, or your own data
        (:meth:`Dataset.from_arrays <seqmodels.datasets.Dataset.from_arrays>`). The
        same name may appear with different parameters; each is its own dataset.
    seeds : list of int, default=(0,)
        Data seeds: each draws a new dataset from a seeded generator.
    model_seeds : list of int, optional
        Model seeds (``random_state``). By default each cell's model seed equals its
        data seed; a list crosses them with every data seed.
    train_sizes : list of int or float, optional
        Learning-curve axis: fit on the first n training sequences (floats: a fraction).
    sweep : dict of str -> list, optional
        Dataset parameters to vary (e.g. ``{"lag": [5, 10, 20]}``).
    horizons : list of int, optional
        Forecast horizons measured in each cell (forecasting datasets).
    store : str or Path, optional
        A results store (a ``.sqlite`` file or a folder for ``results.sqlite``). By
        default a temporary one, deleted afterwards.
    n_jobs : int, default=1
        Parallel workers (-1: one per core).
    backend : {"serial", "loky", "dask"}, optional
        Default: serial for one job, loky processes for more, Dask with a scheduler.
    scheduler : str or distributed.Client, optional
        A Dask scheduler address (``"tcp://HOST:PORT"``) or Client; with
        ``backend="dask"`` and no scheduler, a LocalCluster of ``n_jobs`` workers.
    timeout : float, optional
        Seconds per cell; a cell past it is recorded with status ``timeout``.
    progress : bool or {"auto", "bar", "lines"}, default="auto"
        A progress bar on a terminal (auto), plain lines, or nothing.
    fresh : bool, default=False
        Empty the store first instead of resuming.
    retry_failed : bool, default=False
        Run again the cells stored with status ``error`` or ``timeout``.
    oracle : bool, default=True
        Add each dataset's oracle cells.
    n_examples : int, default=3
        Test sequences whose predictions each cell keeps (for trajectory plots); a
        suite's own ``n_examples`` takes precedence.
    gradient_norms : bool, default=False
        Record the hidden-state gradient norms by lag for models that offer
        ``gradient_norms`` (recurrent networks; a suite sets ``gradient_norms = true``).
    attention_weights : bool, default=False
        Record the attention weights on the first test sequence for models that offer
        ``attention_weights`` (a suite sets ``attention_weights = true``).
    quick : bool, default=False
        With a suite: apply its ``[quick]`` overrides.

    Returns
    -------
    pandas.DataFrame
        One row per cell of this grid (see :mod:`seqmodels.compare.results`):
        model, dataset, seeds, axis values, dataset parameters as ``data_<name>``
        columns, metrics, times, status and error text, and array columns (training
        history, per-sequence errors, example predictions).
        :func:`~seqmodels.compare.results.oracle_gaps` adds the gaps to the oracle.

    Raises
    ------
    RunInterrupted
        On Ctrl-C or SIGTERM, after the workers are stopped; finished cells stay in
        the store and the same call resumes.

    Examples
    --------
    >>> from seqmodels import AutoRegressive
    >>> from seqmodels.compare import compare
    >>> results = compare({"AR(1)": AutoRegressive(order=1), "AR(2)": AutoRegressive(order=2)},
    ...                   ("ar", {"n_train": 5, "n_test": 3, "n_timesteps": 60}),
    ...                   seeds=[0, 1], progress=False)
    >>> sorted(results["model"].unique())
    ['AR(1)', 'AR(2)', 'oracle']
    >>> len(results), bool((results["status"] == "ok").all())
    (6, True)
    """
    from .suite import Suite, load_suite

    extra = {}
    measurements = dict(gradient_norms=gradient_norms, attention_weights=attention_weights)
    if datasets is None:
        suite = models if isinstance(models, Suite) else load_suite(models)
        if quick:
            suite = suite.quick()
        grid = suite.grid_arguments()
        n_examples, measurements = suite.n_examples, suite.measurements()
        extra = {"suite": suite.name, "suite_source": suite.source, "title": suite.title,
                 "quick": bool(quick)}
    else:
        if quick:
            raise ValueError("quick=True applies to suites; pass models and datasets directly.")
        grid = dict(models=models, datasets=datasets, seeds=seeds, model_seeds=model_seeds,
                    train_sizes=train_sizes, sweep=sweep, horizons=horizons)
    cells = build_grid(**grid, oracle=oracle, n_examples=n_examples, **measurements)
    if timeout is not None and not (isinstance(timeout, (int, float)) and
                                    not isinstance(timeout, bool) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}.")
    chosen = make_backend(backend, n_jobs, scheduler)
    reporter = make_progress(progress)
    temporary = None
    if store is None:
        temporary = tempfile.TemporaryDirectory(prefix="seqmodels-")
        store = Path(temporary.name)
    results_store = ResultsStore(store)
    try:
        if fresh:
            results_store.clear()
        run_grid(cells, results_store, backend=chosen, time_limit=timeout, progress=reporter,
                 retry_failed=retry_failed, metadata_extra=extra)
        records = {r["key"]: r for r in results_store.records({c.key for c in cells})}
        return to_frame([records[c.key] for c in cells if c.key in records])
    finally:
        results_store.close()
        if temporary is not None:
            temporary.cleanup()
