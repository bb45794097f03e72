"""Processes sharing one sweep folder share its runs; a damaged store is repaired on request.

Two ``posenc sweep`` processes on one folder fit every run exactly once between them (each
says how many it finished; the counts add up to the sweep), and the store ends with each run
once; when one is killed in the middle of a run, the other takes over its claim and finishes
the sweep.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from posenc.cli.main import main
from posenc.sweeps.claims import ClaimOwner, is_alive, is_stale
from posenc.sweeps.store import FINISHED, ResultStore
from tests.conftest import REPO_ROOT

RUNS = 12
# About a second per run on two shared cores: long enough to be caught in the middle.
SWEEP = [
    "sweep", "--signal", "camera:row=200", "--embedding", "gaussian", "--model", "linear",
    "--no-sigmoid", "--num-centers", "256", "--sigma", f"logspace:-3:-1:{RUNS}",
    "--steps", "1500", "--eval-every", "500", "--last-k", "5",
    "--no-batch", "--jobs", "1", "--quiet", "--no-plots",
]  # fmt: skip
DEADLINE_SECONDS = 400


def start(out: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "posenc", *SWEEP, "--out", str(out)]
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def query(store: Path, sql: str) -> list[tuple]:
    if not store.exists():
        return []
    with sqlite3.connect(store, timeout=30) as connection:
        try:
            return connection.execute(sql).fetchall()
        except sqlite3.OperationalError:  # the tables are not created yet
            return []


def wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def finished_now(stdout: str) -> int:
    return int(re.search(r"(\d+) finished now", stdout).group(1))  # type: ignore[union-attr]


def accounted(stdout: str) -> int:
    """Runs a process's summary accounts for: already finished, by it, by other processes."""
    counts = [
        re.search(pattern, stdout)
        for pattern in (r"(\d+) were already finished", r"(\d+) finished now", r"(\d+) finished by")
    ]
    return sum(int(match.group(1)) for match in counts if match)


def stored_once(store: Path) -> dict[str, str]:
    """Each run's finishing worker; asserts the store holds every run once, finished."""
    rows = query(store, "SELECT key, status, worker FROM runs")
    assert len(rows) == len({key for key, _, _ in rows}) == RUNS
    assert {status for _, status, _ in rows} == {FINISHED}
    assert query(store, "SELECT COUNT(*) FROM claims") == [(0,)]
    return {key: worker for key, _, worker in rows}


def test_two_processes_fit_every_run_exactly_once(tmp_path: Path) -> None:
    out, store = tmp_path / "s", tmp_path / "s" / "results.sqlite"
    first = start(out)
    wait_for(lambda: query(store, "SELECT COUNT(*) FROM runs") >= [(1,)], "a first run")
    second = start(out)
    outputs = [process.communicate(timeout=DEADLINE_SECONDS) for process in (first, second)]
    for process, (_, stderr) in zip((first, second), outputs, strict=True):
        assert process.returncode == 0, stderr
    counts = [finished_now(stdout) for stdout, _ in outputs]
    assert sum(counts) == RUNS and min(counts) >= 1, outputs  # split, none fitted twice
    assert [accounted(stdout) for stdout, _ in outputs] == [RUNS, RUNS]
    workers = stored_once(store)
    pids = {int(worker.rpartition(":")[2]) for worker in workers.values()}
    assert pids == {first.pid, second.pid}


def test_a_killed_process_leaves_its_claim_to_the_other(tmp_path: Path) -> None:
    out, store = tmp_path / "s", tmp_path / "s" / "results.sqlite"
    survivor = start(out)
    wait_for(lambda: query(store, "SELECT COUNT(*) FROM runs") >= [(1,)], "a first run")
    victim = start(out)

    def victim_fits() -> bool:
        return bool(query(store, f"SELECT key FROM claims WHERE pid = {victim.pid}"))

    wait_for(victim_fits, "the second process to claim a run")
    [(claimed,)] = query(store, f"SELECT key FROM claims WHERE pid = {victim.pid}")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=60)
    stdout, stderr = survivor.communicate(timeout=DEADLINE_SECONDS)
    assert survivor.returncode == 0, stderr
    workers = stored_once(store)
    assert workers[claimed].endswith(f":{survivor.pid}")  # taken over, fitted, stored once
    victim_runs = [key for key, worker in workers.items() if worker.endswith(f":{victim.pid}")]
    assert finished_now(stdout) + len(victim_runs) == RUNS


def test_a_dead_owner_is_stale_at_once_and_a_live_one_only_after_its_lease() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        me = ClaimOwner.current()
        live = {"host": me.host, "pid": child.pid, "process_start": None, "heartbeat": 100.0}
        assert is_alive(child.pid, None) and not is_stale(live, me.host, 150.0, 120.0)
        assert is_stale(live, me.host, 300.0, 120.0)  # silent for longer than the lease
        assert is_stale({**live, "process_start": -1}, me.host, 150.0, 120.0)  # pid reused
        assert not is_stale(live, "another-host", 150.0, 120.0)  # cannot look: lease only
    finally:
        child.kill()
        child.wait()
    assert not is_alive(child.pid, None)
    assert is_stale(live, me.host, 150.0, 120.0)


def test_claims_give_each_run_to_one_owner_until_it_finishes(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    first, second = ClaimOwner.current(), ClaimOwner.current()
    with ResultStore(path) as store:
        assert store.claim(["a", "b"], first, 120.0) == ["a", "b"]
        assert store.claim(["b", "c"], second, 120.0) == ["c"]
        assert store.claimable(["a", "b", "c", "d"], second, 120.0) == ["c", "d"]
        store.release(first)
        assert store.claim(["a", "b"], second, 120.0) == ["a", "b"]


def test_repair_keeps_the_finished_runs_a_damaged_store_still_holds(capsys, tmp_path: Path) -> None:
    out = tmp_path / "s"
    quick = {"--steps": "20", "--eval-every": "10"}
    arguments = [
        quick.get(flag, token) for flag, token in zip(["", *SWEEP[:-1]], SWEEP, strict=True)
    ]
    arguments += ["--out", str(out)]
    assert main(arguments) == 0
    store = out / "results.sqlite"
    before = {key: psnr for key, psnr in query(store, "SELECT key, test_psnr FROM runs")}
    # Damage the index of the runs table: SQLite's check fails, the rows stay readable.
    [(page,)] = query(
        store, "SELECT rootpage FROM sqlite_master WHERE name LIKE '%autoindex_runs%'"
    )
    size = query(store, "PRAGMA page_size")[0][0]
    data = bytearray(store.read_bytes())
    data[(page - 1) * size : page * size] = b"\xff" * size
    store.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(arguments) == 2 and "--repair" in capsys.readouterr().err

    assert main([*arguments, "--repair"]) == 0
    stdout = capsys.readouterr().out
    assert f"kept {RUNS} finished run(s)" in stdout and f"{RUNS} were already finished" in stdout
    [aside] = out.glob("results.sqlite.damaged-*")
    assert aside.read_bytes() == bytes(data)
    assert dict(query(store, "SELECT key, test_psnr FROM runs")) == before
    assert query(store, "PRAGMA quick_check") == [("ok",)]
