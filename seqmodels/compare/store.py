"""The results store: one SQLite file, each finished cell committed the moment it arrives.

Tables
------
``cells``   one row per finished cell: key, status, the record as JSON, its arrays as
            one compressed ``.npz`` blob (read back without pickle).
``claims``  cells a running comparison is computing now (owner: host, pid, start time),
            so two runs on one store share the work instead of both doing it.
``runs``    one row per ``compare`` call: start, end, status, metadata (versions,
            machine, command) for reports.
``meta``    the schema version.

Only the parent process writes. Every write is one ``BEGIN IMMEDIATE`` transaction
with a busy timeout, in WAL mode, so concurrent runs neither fail with "database is
locked" nor store a cell twice, and a run killed at any point leaves a readable file.
"""

import io
import json
import math
import os
import socket
import sqlite3
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = ["ResultsStore", "load_results", "SCHEMA_VERSION", "STORE_NAME", "MEASURED",
           "BROKEN"]

#: Statuses of a cell the comparison measured: ``ok``, and ``diverged`` (the training run
#: diverged: what the comparison measured of that model and seed). Stored for good: a
#: resumed run and ``retry_failed`` leave them alone.
MEASURED = ("ok", "diverged")
#: Statuses of a cell that broke (an exception that is not a measured outcome, a time limit,
#: a lost worker): kept, skipped on resume, run again by ``retry_failed``.
BROKEN = ("error", "timeout")

SCHEMA_VERSION = 1
STORE_NAME = "results.sqlite"
_BUSY_TIMEOUT_S = 120.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    record TEXT NOT NULL,
    arrays BLOB,
    run_id INTEGER,
    stored_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_started REAL,
    claimed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL,
    n_cells INTEGER,
    metadata TEXT
);
"""


def _pack(arrays):
    if not arrays:
        return None
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    return buffer.getvalue()


def _unpack(blob):
    if blob is None:
        return {}
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        return {k: archive[k] for k in archive.files}


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a cell record")


def _clean(value):
    """JSON has no NaN: store non-finite floats as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _process_started(pid):
    """Start time of process ``pid`` (tells a live owner from a reused pid), or None."""
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:
        return None


class ResultsStore:
    """A comparison's results in one SQLite file.

    Parameters
    ----------
    path : str or Path
        The file (created with its folder when missing), or a folder, in which case
        the file is ``results.sqlite`` inside it.

    Examples
    --------
    >>> import tempfile
    >>> store = ResultsStore(tempfile.mkdtemp())
    >>> store.done_keys()
    set()
    """

    def __init__(self, path):
        path = Path(path)
        if path.suffix not in (".sqlite", ".db", ".sqlite3"):
            path = path / STORE_NAME
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"store: cannot create the folder {str(path.parent)!r}: "
                             f"{error.strerror or error}.") from None
        if not os.access(path.parent, os.W_OK):
            raise ValueError(f"store: the folder {str(path.parent)!r} is not writable.")
        self.path = path
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._connection = None
        try:
            self._db.executescript(_SCHEMA)
            with self._write() as db:
                row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if row is None:
                    db.execute("INSERT INTO meta VALUES ('schema_version', ?)",
                               (str(SCHEMA_VERSION),))
                elif int(row[0]) != SCHEMA_VERSION:
                    raise ValueError(
                        f"store {str(path)!r} has schema version {row[0]}; this seqmodels "
                        f"reads version {SCHEMA_VERSION}. Use a new output folder or --fresh."
                    )
        except sqlite3.DatabaseError as error:
            raise ValueError(f"store {str(path)!r} is not a readable results store: {error}."
                             ) from None

    # -- connection --------------------------------------------------------------------

    @property
    def _db(self):
        if self._connection is None:
            db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
            db.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            self._connection = db
        return self._connection

    @contextmanager
    def _write(self):
        """One immediate transaction: the write lock is taken up front, waiting if busy.

        Any exception rolls it back, also one raised the moment BEGIN or COMMIT returns:
        Python runs a signal handler (Ctrl-C, the engine's SIGTERM) right after the C call
        it arrived during, so a signal sent while BEGIN waits for the lock surfaces there.
        Left open, the transaction would make the run's clean-up writes fail.
        """
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def close(self):
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __getstate__(self):
        raise TypeError("a ResultsStore stays in the parent process; workers return results.")

    # -- reading -----------------------------------------------------------------------

    def done_keys(self, statuses=None):
        """Keys of stored cells (only those with one of ``statuses``, if given)."""
        rows = self._db.execute("SELECT key, status FROM cells").fetchall()
        return {k for k, s in rows if statuses is None or s in statuses}

    def status_counts(self, keys=None):
        """{status: count} over the stored cells (restricted to ``keys`` if given)."""
        counts = {}
        for key, status in self._db.execute("SELECT key, status FROM cells"):
            if keys is None or key in keys:
                counts[status] = counts.get(status, 0) + 1
        return counts

    def records(self, keys=None, arrays=True):
        """Stored cell records (dicts), with their arrays under ``"arrays"``."""
        columns = "key, record, arrays" if arrays else "key, record, NULL"
        out = []
        for key, record, blob in self._db.execute(f"SELECT {columns} FROM cells ORDER BY rowid"):
            if keys is not None and key not in keys:
                continue
            row = json.loads(record)
            row["arrays"] = _unpack(blob)
            out.append(row)
        return out

    def runs(self):
        """Every run recorded in the store, oldest first."""
        rows = self._db.execute(
            "SELECT id, owner, started_at, finished_at, status, n_cells, metadata FROM runs "
            "ORDER BY id").fetchall()
        names = ("id", "owner", "started_at", "finished_at", "status", "n_cells", "metadata")
        runs = [dict(zip(names, row)) for row in rows]
        for run in runs:
            run["metadata"] = json.loads(run["metadata"] or "{}")
        return runs

    # -- writing (parent process only) -------------------------------------------------

    def put(self, record, run_id=None):
        """Store one finished cell and drop its claim, in one transaction.

        A cell already stored ``ok`` (by a concurrent run) is kept as it is; a failed
        one is replaced by the new result. Returns True when this record was stored.
        """
        record = dict(record)
        blob = _pack(record.pop("arrays", None))
        text = json.dumps({k: _clean(v) for k, v in record.items()}, default=_json_default)
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO cells (key, status, record, arrays, run_id, stored_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                "status = excluded.status, record = excluded.record, arrays = excluded.arrays, "
                "run_id = excluded.run_id, stored_at = excluded.stored_at "
                "WHERE cells.status NOT IN ('ok', 'diverged')",
                (record["key"], record["status"], text, blob, run_id, time.time()))
            db.execute("DELETE FROM claims WHERE key = ?", (record["key"],))
        return cursor.rowcount > 0

    def claim(self, key, retry_failed=False):
        """Reserve a cell for this run; False when it is done or a live run holds it.

        The claim records this process's host, pid and start time. Another run's claim
        is taken over at once when its owner is dead (see :meth:`_alive`): a run killed
        with SIGKILL leaves claims that the next run on this host does not wait for.
        """
        with self._write() as db:
            row = db.execute("SELECT status FROM cells WHERE key = ?", (key,)).fetchone()
            if row is not None and (row[0] in MEASURED or not retry_failed):
                return False
            holder = db.execute("SELECT owner, host, pid, pid_started FROM claims WHERE key = ?",
                                (key,)).fetchone()
            if holder is not None and holder[0] != self.owner and self._alive(*holder[1:]):
                return False
            db.execute(
                "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?)",
                (key, self.owner, socket.gethostname(), os.getpid(),
                 _process_started(os.getpid()), time.time()))
        return True

    def holders(self, keys):
        """{key: owner} for the given keys that another live run has claimed."""
        out = {}
        for key, owner, host, pid, started in self._db.execute(
                "SELECT key, owner, host, pid, pid_started FROM claims"):
            if key in keys and owner != self.owner and self._alive(host, pid, started):
                out[key] = owner
        return out

    @staticmethod
    def _alive(host, pid, started):
        """Whether a claim's owner may still be computing its cell.

        On this host: its pid exists and (when both start times are known) names the
        process that made the claim, not a later one that got the same pid. A claim from
        another host cannot be checked and is trusted.
        """
        if host != socket.gethostname():
            return True  # another machine's run: trust its claim
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        now_started = _process_started(pid)
        return started is None or now_started is None or abs(now_started - started) < 1.0

    def release(self):
        """Drop every claim this run still holds (after an interruption)."""
        with self._write() as db:
            db.execute("DELETE FROM claims WHERE owner = ?", (self.owner,))

    def start_run(self, metadata, n_cells):
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO runs (owner, started_at, status, n_cells, metadata) "
                "VALUES (?, ?, 'running', ?, ?)",
                (self.owner, time.time(), n_cells, json.dumps(metadata, default=str)))
        return cursor.lastrowid

    def finish_run(self, run_id, status):
        with self._write() as db:
            db.execute("UPDATE runs SET finished_at = ?, status = ? WHERE id = ?",
                       (time.time(), status, run_id))

    def clear(self):
        """Forget every stored cell, claim and run (``--fresh``)."""
        with self._write() as db:
            for table in ("cells", "claims", "runs"):
                db.execute(f"DELETE FROM {table}")


def load_results(path, keys=None):
    """Read a results store back as a DataFrame (see :func:`seqmodels.compare.compare`).

    Parameters
    ----------
    path : str or Path
        The store file, or the output folder that holds ``results.sqlite``.
    keys : set of str, optional
        Only these cells.

    Returns
    -------
    pandas.DataFrame
    """
    from .results import to_frame

    path = Path(path)
    file = path if path.suffix in (".sqlite", ".db", ".sqlite3") else path / STORE_NAME
    if not file.is_file():
        raise ValueError(f"no results store at {str(file)!r}.")
    store = ResultsStore(file)
    try:
        return to_frame(store.records(keys))
    finally:
        store.close()
