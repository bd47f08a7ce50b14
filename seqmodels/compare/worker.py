"""What a worker does with one cell: load the data (once per worker), fit, evaluate, report.

Workers are pure: :func:`run_cell` returns the cell's record and never writes anywhere;
only the parent process stores results. A cell that raises, or runs past its time
limit, comes back as a record with status ``error`` / ``timeout`` and the error text,
so one bad model never stops a comparison. A fit that diverges (``TrainingDiverged``)
comes back with status ``diverged``: what the comparison measured, not a breakage.
"""

import dataclasses
import json
import os
import resource
import signal
import socket
import sys
import threading
import time
import traceback
import warnings
from collections import OrderedDict
from contextlib import contextmanager

from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

from .. import __version__
from .._validation import n_sequences, subset_sequences
from ..exceptions import TrainingDiverged
from .evaluation import evaluate
from .grid import canonical

__all__ = ["run_cell", "limit_threads", "CellTimeout", "THREAD_VARIABLES"]

#: Environment variables that cap the thread pools of BLAS, OpenMP and TensorFlow.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS")

_CACHE_SIZE = 4
_DATA_CACHE = OrderedDict()    # data key -> Dataset
_ORACLE_CACHE = OrderedDict()  # (data key, horizons, n_examples) -> (scalars, arrays)


class CellTimeout(BaseException):
    """Raised inside a cell that runs past its time limit.

    A BaseException, like KeyboardInterrupt, so that a model's own ``except Exception``
    cannot swallow it.
    """


def thread_environment(n_threads):
    """Environment variables that cap every library's thread pool at ``n_threads``."""
    env = {name: str(n_threads) for name in THREAD_VARIABLES}
    env["TF_NUM_INTEROP_THREADS"] = "1"
    return env


def limit_threads(n_threads):
    """Cap BLAS, OpenMP and TensorFlow threads in this process at ``n_threads``.

    Environment variables reach libraries loaded later; threadpoolctl caps the pools
    already loaded; TensorFlow is configured if it is imported and not yet running.
    Workers call this before their first cell, so that N workers on N cores do not
    start N x N threads.
    """
    os.environ.update(thread_environment(n_threads))
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n_threads)
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(n_threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow already running: the variables apply next start
            pass
    return n_threads


def die_with_parent(parent=None):
    """Linux: ask the kernel to kill this worker when the process that started it dies.

    Without it, worker processes outlive a parent killed with SIGKILL (which runs no
    clean-up), each holding its memory (TensorFlow: hundreds of MB) and the parent's
    stdout and stderr (so a ``seqcompare run | tee log`` of a killed run does not end).
    Elsewhere a no-op.

    Parameters
    ----------
    parent : int, optional
        The pid of the process that spawned this worker. The request binds to the
        *current* parent: a worker whose parent died before it got here (it runs in the
        initialiser, a second or more after the spawn) has already been re-parented to
        init, so the request would never fire; then the worker exits at once. Without
        ``parent`` the parent at the call is assumed alive (a death before it is missed).
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    if parent is None:
        parent = os.getppid()
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def start_worker(n_threads, parent=None):
    """Initialiser of local worker processes: die with the parent (pid ``parent``, the
    process that spawned the pool; see :func:`die_with_parent`), and cap threads."""
    die_with_parent(parent)
    limit_threads(n_threads)


@contextmanager
def _time_limit(seconds, cell):
    """Raise :class:`CellTimeout` in this thread after ``seconds`` (main thread only)."""
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise CellTimeout(f"the cell ran past its time limit of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _remember(cache, key, value):
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
    return value


def clear_caches():
    """Forget cached datasets and oracle results (the parent does so after a serial run)."""
    _DATA_CACHE.clear()
    _ORACLE_CACHE.clear()


def _dataset(cell):
    key = cell.data_key
    if key in _DATA_CACHE:
        _DATA_CACHE.move_to_end(key)
        return _DATA_CACHE[key]
    return _remember(_DATA_CACHE, key, cell.dataset.load(cell.data_seed, cell.sweep))


def _with_train_size(data, train_size, label):
    if train_size is None:
        return data
    available = n_sequences(data.X_train)
    count = max(1, round(train_size * available)) if isinstance(train_size, float) \
        else train_size
    if count > available:
        raise ValueError(
            f"train_size {train_size} asks for more training sequences than dataset {label!r} "
            f"has ({available}); raise its n_train."
        )
    index = range(count)
    return dataclasses.replace(data, X_train=subset_sequences(data.X_train, index=index),
                               y_train=subset_sequences(data.y_train, index=index))


def _oracle(data):
    """The dataset's oracle, fitted on the training split if it came unfitted."""
    try:
        check_is_fitted(data.oracle)
        return data.oracle, False
    except NotFittedError:
        return clone(data.oracle), True


def _evaluate_oracle(cell, data):
    key = (cell.data_key, cell.horizons, cell.n_examples)
    if key not in _ORACLE_CACHE:
        oracle, needs_fit = _oracle(data)
        result = evaluate(oracle, data, fit=needs_fit, horizons=cell.horizons,
                          n_examples=cell.n_examples)
        _remember(_ORACLE_CACHE, key, (type(oracle).__name__, result))
    name, (scalars, arrays) = _ORACLE_CACHE[key]
    return name, {**scalars, "n_train": n_sequences(data.X_train)}, arrays


def describe(cell):
    """The record fields that come from the cell itself, known before it runs."""
    params = {} if cell.dataset.data is not None else dict(cell.dataset.params)
    params.update(dict(cell.sweep))
    return {
        "key": cell.key,
        "model": cell.model,
        "estimator": None if cell.is_oracle else type(cell.estimator).__name__,
        "is_oracle": cell.is_oracle,
        "dataset": cell.dataset.label,
        "dataset_name": cell.dataset.name,
        "data_seed": cell.data_seed,
        "model_seed": cell.model_seed,
        "train_size": cell.train_size,
        "model_params": None if cell.is_oracle else json.dumps(
            canonical(cell.estimator.get_params(deep=False)), sort_keys=True),
        "dataset_params": json.dumps(canonical(params), sort_keys=True),
        "sweep": json.dumps(canonical(dict(cell.sweep)), sort_keys=True),
        "version": __version__,
    }


@contextmanager
def _fit_warnings(record):
    """Keep the ConvergenceWarnings of a cell in ``record["warnings"]`` (distinct messages,
    one per line) instead of printing them; other warnings pass through as usual."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            yield
        finally:
            messages = []
            for item in caught:
                if issubclass(item.category, ConvergenceWarning):
                    text = f"{item.category.__name__}: {item.message}"
                    if text not in messages:
                        messages.append(text)
                else:
                    warnings.warn_explicit(item.message, item.category, item.filename,
                                           item.lineno, source=item.source)
            record["warnings"] = "\n".join(messages) or None


def run_cell(cell, time_limit=None):
    """Run one cell and return its record; never raises for a failing model.

    Parameters
    ----------
    cell : Cell
    time_limit : float, optional
        Seconds; past it the cell stops with status ``timeout`` (enforced here in a
        worker's main thread, and by the parent otherwise).

    Returns
    -------
    dict
        The fields of :func:`describe`, the dataset's ``task``, headline ``metric`` and
        ``baselines`` (JSON: scores of predictors that ignore the input),
        the scalars of :func:`~seqmodels.compare.evaluation.evaluate`, ``status``
        (``ok``; ``diverged``: the fit raised :class:`~seqmodels.exceptions.TrainingDiverged`,
        a measured outcome; ``error`` / ``timeout``: the cell broke), ``error`` and
        ``traceback`` text,
        ``warnings`` (the fit's ConvergenceWarnings, one per line, or None),
        ``cell_seconds``, ``started_at``, ``finished_at``, ``worker`` and
        ``worker_peak_rss_mb``; and ``arrays``, the cell's arrays.
    """
    record = describe(cell)
    record.update(status="ok", error=None, traceback=None, warnings=None, started_at=time.time())
    start = time.perf_counter()
    arrays = {}
    try:
        with _time_limit(time_limit, cell), _fit_warnings(record):
            data = _with_train_size(_dataset(cell), cell.train_size, cell.dataset.label)
            record.update(task=data.task, metric=data.metric.name, metric_label=data.metric.label,
                          greater_is_better=data.metric.greater_is_better,
                          baselines=json.dumps(canonical(data.baselines), sort_keys=True))
            if cell.is_oracle:
                record["estimator"], scalars, arrays = _evaluate_oracle(cell, data)
            else:
                model = clone(cell.estimator)
                if cell.model_seed is not None and "random_state" in model.get_params(deep=False):
                    model.set_params(random_state=cell.model_seed)
                scalars, arrays = evaluate(model, data, horizons=cell.horizons,
                                           n_examples=cell.n_examples,
                                           gradient_norms=cell.gradient_norms,
                                           attention_weights=cell.attention_weights)
            record.update(scalars)
    except CellTimeout as error:
        record.update(status="timeout", error=str(error), traceback=traceback.format_exc())
    except TrainingDiverged as error:  # a measured outcome, not a broken cell
        record.update(status="diverged", error=f"{type(error).__name__}: {error}",
                      traceback=traceback.format_exc())
    except Exception as error:
        record.update(status="error", error=f"{type(error).__name__}: {error}",
                      traceback=traceback.format_exc())
    record.update(
        cell_seconds=time.perf_counter() - start,
        finished_at=time.time(),
        worker=f"{socket.gethostname()}:{os.getpid()}",
        worker_peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        arrays=arrays,
    )
    return record
