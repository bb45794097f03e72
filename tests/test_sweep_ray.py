"""Sweeps on a real local Ray instance: same PSNRs as in this process, shared signals, killed
workers retried or recorded as failed, the command line against an existing cluster."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from imageio import v3 as iio

from posenc.cli.main import main
from posenc.sweeps import Executor, resolve_sweep, run_sweep
from posenc.sweeps.executors import BatchedExecutor, SequentialExecutor
from posenc.sweeps.jobs import load_signal
from posenc.sweeps.ray_executor import MISSING_EXTRA, RayExecutor, compute_job
from posenc.sweeps.store import FAILED, FINISHED
from tests.conftest import REPO_ROOT
from tests.test_sweep_runner import SWEEP, rows

RAY_REASON = "the Ray tests need the 'ray' extra: pip install 'posenc[ray]'"
RAY_CPUS = 2

# SWEEP (from the runner's tests) as command-line flags.
SWEEP_FLAGS = [
    "--signal", "camera:row=200", "--embedding", "gaussian", "--sigma", "0.0005,0.005,0.05",
    "--model", "linear", "--seeds", "0", "1", "--steps", "20", "--eval-every", "10",
    "--last-k", "5", "--no-sigmoid", "--num-centers", "64",
]  # fmt: skip
# Four runs long enough (about a second each) for a worker to be killed in the middle of one.
LONG_SWEEP = {
    **SWEEP,
    "sweep": {**SWEEP["sweep"], "bandwidths": [0.002, 0.02], "seeds": [0, 1]},
    "fit": {**SWEEP["fit"], "steps": 1500, "eval_every": 500},
}


@pytest.fixture(scope="module")
def ray_module() -> Any:
    return pytest.importorskip("ray", reason=RAY_REASON)


@pytest.fixture(scope="module")
def ray_cluster(ray_module: Any) -> Iterator[Any]:
    """One local Ray instance with two CPUs for the module (executors use it and leave it)."""
    ray_module.init(address="local", num_cpus=RAY_CPUS, include_dashboard=False)
    yield ray_module
    ray_module.shutdown()


def psnrs(folder: Path) -> dict[str, tuple[float, float]]:
    return {key: (row["train_psnr"], row["test_psnr"]) for key, row in rows(folder).items()}


def assert_same_psnrs(ours: dict, theirs: dict) -> None:
    assert ours.keys() == theirs.keys()
    for key, values in ours.items():
        assert values == pytest.approx(theirs[key], abs=1e-6), key


def assert_every_run_stored_once(folder: Path, total: int) -> None:
    with sqlite3.connect(folder / "results.sqlite") as connection:
        count, distinct = connection.execute(
            "SELECT COUNT(*), COUNT(DISTINCT key) FROM runs"
        ).fetchone()
    assert count == distinct == total


def row_pid(row: dict) -> int:
    return int(row["worker"].rpartition(":")[2])


def worker_pids(folder: Path) -> set[int]:
    return {row_pid(row) for row in rows(folder).values()}


def test_ray_gives_the_psnrs_of_the_in_process_executor(ray_cluster, tmp_path: Path) -> None:
    spec = resolve_sweep(SWEEP)
    cases: list[tuple[str, Executor, Executor, set]] = [
        ("single", RayExecutor(batch=False), SequentialExecutor(), {("single", 1)}),
        # Ray splits the batched group over its two CPUs; so does the reference.
        (
            "batched",
            RayExecutor(),
            BatchedExecutor(SequentialExecutor(), parallel=RAY_CPUS),
            {("batched", 3)},
        ),
    ]
    for name, on_ray, here, executed_as in cases:
        summary = run_sweep(spec, tmp_path / f"ray-{name}", on_ray, progress=False)
        assert (summary.finished, summary.failed) == (6, [])
        run_sweep(spec, tmp_path / f"here-{name}", here, progress=False)
        assert_same_psnrs(psnrs(tmp_path / f"ray-{name}"), psnrs(tmp_path / f"here-{name}"))
        assert_every_run_stored_once(tmp_path / f"ray-{name}", 6)
        stored = rows(tmp_path / f"ray-{name}").values()
        assert {(row["executor"], row["batch_size"]) for row in stored} == executed_as
        assert {row["status"] for row in stored} == {FINISHED}
        assert os.getpid() not in worker_pids(tmp_path / f"ray-{name}")
    assert ray_cluster.is_initialized()  # the executors left the module's instance running


def test_workers_get_the_signal_from_the_driver_not_from_the_file(
    ray_cluster, tmp_path: Path
) -> None:
    image = tmp_path / "tiny.png"
    pixels = np.random.default_rng(0).integers(0, 256, (12, 12), dtype=np.uint8)
    iio.imwrite(image, pixels)
    spec = resolve_sweep(
        {
            "sweep": {
                "signals": [str(image)],
                "embeddings": ["gaussian"],
                "bandwidths": [0.01, 0.1],
                "models": ["linear"],
            },
            "fit": {"steps": 10, "eval_every": 5, "last_k": 2, "sigmoid": False},
            "embedding_params": {"num_centers": 8},
        }
    )
    load_signal(spec.runs()[0].config)  # the driver holds it in its cache ...
    image.unlink()  # ... and nobody can read the file again
    summary = run_sweep(spec, tmp_path / "s", RayExecutor(batch=False), progress=False)
    assert (summary.finished, summary.failed) == (2, [])
    assert os.getpid() not in worker_pids(tmp_path / "s")  # a worker that read no file


def running_task_pids(name: str) -> list[int]:
    """PIDs of this process's Ray workers now running the task function ``name``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = entry.joinpath("cmdline").read_bytes().split(b"\0")[0].strip()
            if title == f"ray::{name}".encode() and descends_from(int(entry.name), os.getpid()):
                pids.append(int(entry.name))
        except OSError:  # the process ended meanwhile
            continue
    return pids


def descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rpartition(")")[2].split()[1])
        if pid == ancestor:
            return True
    return False


def finished_count(store: Path) -> int:
    if not store.exists():
        return 0
    with sqlite3.connect(store, timeout=30) as connection:
        try:
            return connection.execute(
                f"SELECT COUNT(*) FROM runs WHERE status = '{FINISHED}'"
            ).fetchone()[0]
        except sqlite3.OperationalError:  # the table is not created yet
            return 0


class WorkerKiller(threading.Thread):
    """Once the sweep in ``folder`` has a finished run, SIGKILLs a worker running a job."""

    def __init__(self, folder: Path) -> None:
        super().__init__(daemon=True)
        self.store = folder / "results.sqlite"
        self.killed: int | None = None
        self.killed_at = float("inf")
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            pids = running_task_pids(compute_job.__name__) if finished_count(self.store) else []
            if pids:
                self.killed_at = time.time()
                os.kill(pids[0], signal.SIGKILL)
                self.killed = pids[0]
                return
            time.sleep(0.01)

    def sweep(self, spec: Any, executor: RayExecutor) -> Any:
        self.start()
        try:
            return run_sweep(spec, self.store.parent, executor, progress=False)
        finally:
            self.done.set()
            self.join()


def test_a_killed_worker_is_retried_and_every_run_stored_once(ray_cluster, tmp_path) -> None:
    spec = resolve_sweep(LONG_SWEEP)
    killer = WorkerKiller(tmp_path / "s")
    summary = killer.sweep(spec, RayExecutor(batch=False))
    assert killer.killed is not None, "the sweep ended before a worker could be killed"
    assert (summary.finished, summary.failed) == (4, [])
    assert_every_run_stored_once(tmp_path / "s", 4)
    assert {row["status"] for row in rows(tmp_path / "s").values()} == {FINISHED}
    # The killed worker's run was computed again elsewhere: whatever that worker stored, it
    # finished before the kill.
    by_killed = [row for row in rows(tmp_path / "s").values() if row_pid(row) == killer.killed]
    assert all(row["finished_at"] < killer.killed_at for row in by_killed)


def test_a_task_whose_worker_keeps_dying_is_recorded_failed_then_resumed(
    ray_cluster, tmp_path
) -> None:
    spec = resolve_sweep(LONG_SWEEP)
    folder = tmp_path / "s"
    killer = WorkerKiller(folder)
    summary = killer.sweep(spec, RayExecutor(batch=False, max_retries=0))
    assert killer.killed is not None, "the sweep ended before a worker could be killed"
    assert summary.finished == 3 and len(summary.failed) == 1  # the sweep went on
    [(_, error)] = summary.failed
    assert error.startswith("Ray task failed: ") and "WorkerCrashedError" in error
    before = rows(folder)
    assert sorted(row["status"] for row in before.values()) == [FAILED, *[FINISHED] * 3]
    [failed] = [row for row in before.values() if row["status"] == FAILED]
    assert failed["error"] == error and failed["test_psnr"] is None

    again = run_sweep(spec, folder, RayExecutor(batch=False), progress=False)
    assert (again.already_finished, again.finished, again.failed) == (3, 1, [])
    after = rows(folder)
    assert_every_run_stored_once(folder, 4)
    assert after[failed["key"]]["status"] == FINISHED and after[failed["key"]]["error"] is None
    for key, row in before.items():
        if row["status"] == FINISHED:
            assert after[key]["finished_at"] == row["finished_at"]  # kept, not redone


def test_the_command_line_runs_a_sweep_on_an_existing_cluster(ray_cluster, tmp_path) -> None:
    address = ray_cluster.get_runtime_context().gcs_address
    out = tmp_path / "s"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), MPLBACKEND="Agg")
    command = [sys.executable, "-m", "posenc", "sweep", *SWEEP_FLAGS, "--executor", "ray",
               "--address", address, "--quiet", "--no-plots", "--out", str(out)]  # fmt: skip
    completed = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr
    assert "6 finished now, 0 failed" in completed.stdout
    run_sweep(resolve_sweep(SWEEP), tmp_path / "here", SequentialExecutor(), progress=False)
    assert_same_psnrs(psnrs(out), psnrs(tmp_path / "here"))
    assert ray_cluster.cluster_resources()["CPU"] == RAY_CPUS  # disconnecting left it running


def test_an_address_nobody_answers_fails_in_one_line(ray_module, capsys, tmp_path) -> None:
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "s"
    code = main(
        ["sweep", *SWEEP_FLAGS, "--executor", "ray", "--address", f"127.0.0.1:{port}",
         "--out", str(out)]
    )  # fmt: skip
    stderr = capsys.readouterr().err
    assert code == 2 and f"127.0.0.1:{port}: no Ray cluster answers there" in stderr
    assert len(stderr.strip().splitlines()) == 1 and not out.exists()


def test_without_the_extra_the_ray_executor_fails_in_one_line(
    monkeypatch, capsys, tmp_path
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    out = tmp_path / "s"
    code = main(["sweep", *SWEEP_FLAGS, "--executor", "ray", "--out", str(out)])
    stderr = capsys.readouterr().err
    assert code == 2 and stderr.strip().endswith(MISSING_EXTRA)
    assert len(stderr.strip().splitlines()) == 1 and not out.exists()


def test_address_needs_the_ray_executor_and_the_dry_run_names_the_cluster(capsys) -> None:
    code = main(["sweep", *SWEEP_FLAGS, "--address", "10.0.0.1:6379", "--dry-run"])
    assert code == 2 and "--address 10.0.0.1:6379: needs --executor ray" in capsys.readouterr().err
    code = main(
        ["sweep", *SWEEP_FLAGS, "--executor", "ray", "--address", "10.0.0.1:6379", "--dry-run"]
    )
    last = capsys.readouterr().out.splitlines()[-1]
    assert code == 0
    assert "on the Ray cluster at 10.0.0.1:6379 (batched groups split further" in last
