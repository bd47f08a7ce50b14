"""Crash safety of comparisons: killed runs, workers that die, and kills in the middle of a write.

tests/test_compare_cli.py already kills a serial ``seqcompare run`` at random points and
checks that nothing is redone, that SIGTERM stops cleanly and that workers die with their
parent. Here: SIGKILL of a run with two worker processes, the store checked after every
kill; a user's model that ends its worker process (``os._exit``, SIGKILL) recorded as a
failed cell while the other cells finish; and the SQLite file after a writer is killed
mid-transaction or at random while it writes, checked with ``PRAGMA integrity_check``;
workers of a run killed while they start (they must not outlive it); and the claims a killed
run leaves behind (taken over at once on its host, kept while their owner lives).
"""

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from seqmodels import AutoRegressive
from seqmodels.compare import ResultsStore, compare, load_results, report

from _estimators import KillsItsWorker  # tests/_estimators.py, on sys.path via conftest

ROOT = Path(__file__).resolve().parent.parent

# Kalman EM cells of a few tenths of a second, so that kills land while cells run.
SUITE = """
title = "Crash safety"
seeds = [0, 1, 2, 3, 4, 5]

[[datasets]]
name = "lds"
params = { n_train = 10, n_test = 5, n_timesteps = 100 }

[[models]]
label = "KF(2)"
estimator = "KalmanFilter"
params = { n_dim_state = 2, n_iter = 100 }

[[models]]
label = "KF(3)"
estimator = "KalmanFilter"
params = { n_dim_state = 3, n_iter = 60 }

[[models]]
label = "AR(2)"
estimator = "AutoRegressive"
params = { order = 2 }
"""
N_CELLS = 6 * (3 + 1)


def _env():
    """The working tree's seqmodels first on the path (not the installed copy)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


def _integrity(file):
    with sqlite3.connect(file, timeout=30) as db:
        return db.execute("PRAGMA integrity_check").fetchall()


def _stored(file):
    """{key: (finished_at, worker)} of the cells in the store, read-only."""
    if not Path(file).exists():
        return {}
    with sqlite3.connect(f"file:{file}?mode=ro", uri=True, timeout=30) as db:
        try:
            rows = db.execute("SELECT key, record FROM cells").fetchall()
        except sqlite3.OperationalError:  # the schema is not there yet
            return {}
    return {key: (json.loads(r)["finished_at"], json.loads(r)["worker"]) for key, r in rows}


@pytest.mark.slow
def test_sigkill_of_a_two_worker_run_at_random_points_loses_and_redoes_nothing(tmp_path):
    suite = tmp_path / "suite.toml"
    suite.write_text(textwrap.dedent(SUITE))
    output = tmp_path / "out"
    file = output / "results.sqlite"
    command = [sys.executable, "-m", "seqmodels.compare.cli", "run", str(suite), "-o",
               str(output), "--jobs", "2", "--progress", "none"]
    rng = random.Random(14)
    kept = {}  # every cell stored at some kill: it must come back unchanged
    kills = 0
    for attempt in range(10):
        run = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        if kills < 3:
            before = len(_stored(file))
            deadline = time.monotonic() + 60
            while len(_stored(file)) == before and run.poll() is None:
                assert time.monotonic() < deadline, "no cell finished"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.5))
            if run.poll() is None:
                run.kill()  # SIGKILL: no clean-up of any kind
                try:  # its workers die with it and close its pipes (regression: 330 s)
                    run.communicate(timeout=120)
                except subprocess.TimeoutExpired:
                    pytest.fail(f"kill {kills + 1}: worker processes outlived the killed run")
                kills += 1
                assert _integrity(file) == [("ok",)]
                now = _stored(file)
                assert load_results(output)["key"].is_unique  # the store opens
                lost = set(kept) - set(now)
                assert not lost, f"kill {kills}: {len(lost)} finished cell(s) lost"
                kept.update(now)
                continue
        out, err = run.communicate(timeout=240)
        assert run.returncode == 0, err
        assert f"{N_CELLS} cells ({N_CELLS} ok)" in out
        break
    assert kills == 3 and len(kept) < N_CELLS
    results = load_results(output)
    assert len(results) == N_CELLS and results["key"].is_unique
    assert (results["status"] == "ok").all()
    final = _stored(file)
    redone = [key for key, stamp in kept.items() if final[key] != stamp]
    assert not redone, f"{len(redone)} finished cell(s) computed again"
    assert _integrity(file) == [("ok",)]


def test_a_model_that_kills_its_worker_is_a_failed_cell_and_the_others_finish(tmp_path):
    """os._exit(1) and SIGKILL inside fit: each cell is run again alone, then recorded."""
    models = {"exits": KillsItsWorker("exit", spare=os.getpid()),
              "killed": KillsItsWorker("sigkill", spare=os.getpid()),
              "AR(1)": AutoRegressive(order=1)}
    data = ("ar", {"n_train": 4, "n_test": 3, "n_timesteps": 40})
    results = compare(models, data, n_jobs=2, store=tmp_path, progress=False)
    status = dict(zip(results["model"], results["status"]))
    assert status == {"oracle": "ok", "exits": "error", "killed": "error", "AR(1)": "ok"}
    errors = dict(zip(results["model"], results["error"]))
    for model, code in (("exits", "EXIT(1)"), ("killed", "SIGKILL")):
        assert errors[model].startswith("the worker process died while running this cell, "
                                        "twice"), errors[model]
        assert code in errors[model]  # the second death happened alone: it names its cause
    ok = results[results["status"] == "ok"]
    assert ok["headline"].notna().all()
    assert _integrity(tmp_path / "results.sqlite") == [("ok",)]
    assert len(load_results(tmp_path)) == 4
    # The failures are kept: a rerun does not run them (nor anything else) again.
    again = compare(models, data, n_jobs=2, store=tmp_path, progress=False)
    assert list(again["finished_at"]) == list(results["finished_at"])
    text = report(tmp_path, tmp_path / "report")["markdown"].read_text()
    failures = text[text.index("## Cells without a result"):]
    assert "| exits " in failures and "| killed " in failures
    assert "the worker process died while running this cell" in failures


def test_a_model_that_would_kill_the_test_process_refuses():
    with pytest.raises(RuntimeError, match="refuses to kill the test process"):
        KillsItsWorker("sigkill", spare=os.getpid()).fit(None)


# A process that stores cells as fast as it can, printing each key once it is committed.
WRITER = """
import sys
import numpy as np
from seqmodels.compare.store import ResultsStore

store = ResultsStore(sys.argv[1])
blob = {"x": np.random.default_rng(0).normal(size=(120, 120))}  # about 100 kB per cell
for i in range(100000):
    key = f"{sys.argv[2]}-{i}"
    store.put({"key": key, "status": "ok", "model": "m", "arrays": dict(blob)})
    print(key, flush=True)
"""

# A process killed inside a write transaction, after its insert and before its commit.
MID_TRANSACTION = """
import os, signal, sys
from seqmodels.compare.store import ResultsStore

store = ResultsStore(sys.argv[1])
store.put({"key": "committed", "status": "ok"})
with store._write() as db:
    db.execute("INSERT INTO cells (key, status, record, stored_at) VALUES ('torn', 'ok', '{}', 0)")
    db.execute("DELETE FROM cells WHERE key = 'committed'")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_kill_inside_a_write_transaction_leaves_the_last_commit_and_no_lock(tmp_path):
    run = subprocess.run([sys.executable, "-c", MID_TRANSACTION, str(tmp_path)], env=_env(),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == -signal.SIGKILL, run.stderr
    file = tmp_path / "results.sqlite"
    assert _integrity(file) == [("ok",)]
    store = ResultsStore(tmp_path)
    try:
        assert store.done_keys() == {"committed"}  # the torn transaction left nothing
        start = time.monotonic()
        store.put({"key": "after", "status": "ok"})  # the dead writer's lock is gone
        assert time.monotonic() - start < 5
    finally:
        store.close()


def test_kills_at_random_points_of_a_writer_never_corrupt_the_store(tmp_path):
    rng = random.Random(5)
    file = tmp_path / "results.sqlite"
    committed = set()
    for attempt in range(3):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), f"w{attempt}"],
                                  env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        mine = []
        for _ in range(rng.randint(3, 30)):  # it is writing now: kill it a few puts later
            line = writer.stdout.readline()
            assert line, writer.stderr.read()
            mine.append(line.strip())
        committed.update(mine)
        time.sleep(rng.uniform(0.0, 0.05))
        writer.kill()
        out, _ = writer.communicate()
        committed.update(out.split())
        assert _integrity(file) == [("ok",)]
        store = ResultsStore(tmp_path)
        try:
            keys = store.done_keys()
            assert committed <= keys  # every put that returned is in the file
            assert len(keys - committed) <= 1  # at most the one committed as it died
            assert store.records({mine[-1]})[0]["arrays"]["x"].shape == (120, 120)
        finally:
            store.close()


def test_sigterm_while_waiting_for_the_store_lock_stops_cleanly(tmp_path):
    """Regression: a signal that lands while a write waits for the lock (another run is
    writing) is handled when BEGIN IMMEDIATE returns, before the write's try block: the
    transaction stayed open, so the clean-up's own writes failed with "cannot start a
    transaction within a transaction" and the run ended in a traceback, not exit 143."""
    suite = tmp_path / "suite.toml"
    suite.write_text(textwrap.dedent(SUITE))
    output = tmp_path / "out"
    file = output / "results.sqlite"
    run = subprocess.Popen([sys.executable, "-m", "seqmodels.compare.cli", "run", str(suite),
                            "-o", str(output), "--progress", "none"], env=_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(_stored(file)) < 1:
        assert run.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    other = sqlite3.connect(file, timeout=60, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another writer holds the store now
        time.sleep(2.0)  # the run finishes its cell (tenths of a second) and waits for the lock
        run.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        other.execute("ROLLBACK")
    finally:
        other.close()
    out, err = run.communicate(timeout=120)
    assert run.returncode == 143, err
    assert "Run the same command again to resume" in err and "Traceback" not in err
    assert _integrity(file) == [("ok",)]
    store = ResultsStore(output)
    try:
        assert store.runs()[-1]["status"] == "interrupted"
        assert not store.holders(set(store.done_keys()) | {"x"})
        assert store._db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
    finally:
        store.close()


# A run killed the moment its worker processes are spawned, before any of them has started
# Python: each prints its pid, then dies.
KILLED_WHILE_WORKERS_START = """
import os, signal
from seqmodels.compare.execution import ProcessBackend

backend = ProcessBackend(2)
backend.executor.submit(os.getpid)  # spawns the two workers
print(" ".join(str(pid) for pid in backend.executor._processes), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _running(pids):
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_of_a_run_killed_while_they_start_exit_with_it(tmp_path):
    """Regression: a worker asked the kernel to die with its parent only in its initializer,
    a second or more after it was spawned; a parent killed before that left it re-parented
    to init, where the request bound to init and the worker idled for loky's 300 s timeout,
    holding the dead run's stdout (a ``seqcompare run | tee`` hung 5.5 minutes)."""
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with open(out, "w") as stdout, open(err, "w") as stderr:  # files: a worker left alive
        run = subprocess.run([sys.executable, "-c", KILLED_WHILE_WORKERS_START],  # holds no pipe
                             env=_env(), stdout=stdout, stderr=stderr, timeout=120)
    assert run.returncode == -signal.SIGKILL, err.read_text()
    workers = [int(pid) for pid in out.read_text().split()]
    assert len(workers) == 2
    try:
        deadline = time.monotonic() + 120  # they finish starting Python, see, and exit
        while _running(workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(workers), "worker processes outlived the run that started them"
    finally:
        for pid in _running(workers):
            os.kill(pid, signal.SIGKILL)


# A run that claims cells, then (argv[2]) dies with SIGKILL or waits for its stdin to close.
CLAIMER = """
import os, signal, sys
from seqmodels.compare.store import ResultsStore

store = ResultsStore(sys.argv[1])
assert store.claim("a") and store.claim("b")
print(os.getpid(), flush=True)
if sys.argv[2] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.read()
os._exit(0)  # no release: the claims stay in the file
"""


def test_claims_of_a_killed_run_on_this_host_are_taken_over_at_once(tmp_path):
    run = subprocess.run([sys.executable, "-c", CLAIMER, str(tmp_path), "kill"], env=_env(),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == -signal.SIGKILL, run.stderr
    store = ResultsStore(tmp_path)
    try:
        assert store._db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 2
        start = time.monotonic()
        assert store.holders({"a", "b"}) == {}  # its owner is gone: nobody holds them
        assert store.claim("a") and store.claim("b")
        assert time.monotonic() - start < 5  # no lease to wait out
        assert {row[0] for row in store._db.execute("SELECT owner FROM claims")} == {store.owner}
    finally:
        store.close()


def test_claims_of_a_live_run_are_kept_until_it_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", CLAIMER, str(tmp_path), "wait"],
                              env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    store = ResultsStore(tmp_path)
    try:
        pid = int(holder.stdout.readline() or 0)
        assert pid == holder.pid, holder.stderr.read()
        assert not store.claim("a")  # a live run computes it: not run twice
        assert set(store.holders({"a", "b", "c"})) == {"a", "b"}
        assert store.claim("c")
        holder.stdin.close()
        assert holder.wait(timeout=60) == 0
        assert store.claim("a") and not store.holders({"b"})  # its owner has exited
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()
        store.close()


def test_a_claim_of_a_reused_pid_is_taken_over_and_another_hosts_is_kept(tmp_path):
    store = ResultsStore(tmp_path)
    try:
        me = psutil.Process(os.getpid())
        rows = [("reused", "old:1", socket.gethostname(), me.pid, me.create_time() - 3600),
                ("live", "other:1", socket.gethostname(), me.pid, me.create_time()),
                ("remote", "remote:1", socket.gethostname() + "-elsewhere", 1, None)]
        with store._write() as db:
            for row in rows:
                db.execute("INSERT INTO claims VALUES (?, ?, ?, ?, ?, ?)", (*row, time.time()))
        assert set(store.holders({"reused", "live", "remote"})) == {"live", "remote"}
        assert store.claim("reused")  # this pid now names another process than the claimer
        assert not store.claim("live") and not store.claim("remote")
    finally:
        store.close()
