"""The sweep driver: every run written once, resume, failed runs, executors, folders."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

import posenc.sweeps.jobs as jobs
from posenc.sweeps import (
    Executor,
    Job,
    ResultStore,
    RunOutcome,
    load_sweep_file,
    make_executor,
    resolve_sweep,
    run_sweep,
)
from posenc.sweeps.executors import ProcessPoolExecutor, SequentialExecutor
from posenc.sweeps.store import FAILED, FINISHED

SWEEP = {
    "sweep": {
        "signals": ["camera:row=200"],
        "embeddings": ["gaussian"],
        "bandwidths": [0.0005, 0.005, 0.05],
        "models": ["linear"],
        "seeds": [0, 1],
    },
    "fit": {"steps": 20, "eval_every": 10, "last_k": 5, "sigmoid": False},
    "embedding_params": {"num_centers": 64},
}


class Recording(Executor):
    """Runs jobs in this process and remembers which keys it was given."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.keys: list[str] = []

    def execute(self, tasks, *, claim=None, on_steps=None):  # type: ignore[no-untyped-def]
        self.keys += [task.key for task in tasks]
        return self.inner.execute(tasks, claim=claim, on_steps=on_steps)

    def execute_jobs(self, jobs: Sequence[Job], on_steps=None) -> Iterator[RunOutcome]:  # type: ignore[no-untyped-def]
        return self.inner.execute_jobs(jobs, on_steps)


def rows(folder: Path) -> dict[str, dict]:
    with ResultStore(folder / "results.sqlite") as store:
        return {row["key"]: row for row in store.rows()}


def test_batched_sweep_writes_every_run_once_and_resumes(tmp_path: Path) -> None:
    spec = resolve_sweep(SWEEP)
    summary = run_sweep(spec, tmp_path / "s", make_executor(), progress=False)
    assert (summary.total, summary.already_finished, summary.finished) == (6, 0, 6)
    first = rows(tmp_path / "s")
    assert set(first) == {run.key for run in spec.runs()}
    assert {(row["status"], row["executor"], row["batch_size"]) for row in first.values()} == {
        (FINISHED, "batched", 6)
    }
    for row in first.values():
        prediction = np.load(tmp_path / "s" / row["reconstruction"])
        assert prediction.shape == (512, 1)
        metrics = json.loads(row["metrics_json"])
        assert (
            metrics["test_psnr"] == row["test_psnr"] and len(metrics["history"]["train_psnr"]) == 20
        )
    described = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert [run["key"] for run in described["runs"]] == [run.key for run in spec.runs()]
    again = resolve_sweep(load_sweep_file(tmp_path / "s" / "sweep.toml"))
    assert [run.key for run in again.runs()] == [run.key for run in spec.runs()]

    recording = Recording(make_executor())
    summary = run_sweep(spec, tmp_path / "s", recording, progress=False)
    assert recording.keys == [] and (summary.already_finished, summary.finished) == (6, 0)
    assert rows(tmp_path / "s") == first


def test_a_failing_run_is_recorded_the_sweep_goes_on_and_a_rerun_retries_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fit = jobs.fit

    def fragile_fit(signal, config, **kwargs):  # type: ignore[no-untyped-def]
        if config.embedding_params["sigma"] == 0.005 and config.seed == 1:
            raise RuntimeError("diverged on purpose")
        return real_fit(signal, config, **kwargs)

    monkeypatch.setattr(jobs, "fit", fragile_fit)
    spec = resolve_sweep(SWEEP)
    summary = run_sweep(spec, tmp_path / "s", SequentialExecutor(), progress=False)
    assert summary.finished == 5
    [(label, error)] = summary.failed
    assert (
        "sigma=0.005" in label
        and "seed=1" in label
        and error == "RuntimeError: diverged on purpose"
    )
    stored = rows(tmp_path / "s")
    failed = [row for row in stored.values() if row["status"] == FAILED]
    assert len(failed) == 1 and failed[0]["error"] == error and failed[0]["reconstruction"] is None

    monkeypatch.setattr(jobs, "fit", real_fit)
    recording = Recording(SequentialExecutor())
    summary = run_sweep(spec, tmp_path / "s", recording, progress=False)
    assert recording.keys == [failed[0]["key"]] and summary.finished == 1
    assert all(row["status"] == FINISHED for row in rows(tmp_path / "s").values())


def test_a_failing_batch_falls_back_to_single_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise MemoryError("no room for the batch")

    monkeypatch.setattr(jobs, "fit_batched", broken)
    summary = run_sweep(resolve_sweep(SWEEP), tmp_path / "s", make_executor(), progress=False)
    assert summary.finished == 6
    assert {row["executor"] for row in rows(tmp_path / "s").values()} == {"single"}


def test_process_pool_gives_the_in_process_results(tmp_path: Path) -> None:
    mapping = {**SWEEP, "sweep": {**SWEEP["sweep"], "seeds": [0], "bandwidths": [0.005, 0.05]}}
    spec = resolve_sweep(mapping)
    run_sweep(spec, tmp_path / "pool", ProcessPoolExecutor(2, threads=1), progress=False)
    run_sweep(spec, tmp_path / "here", SequentialExecutor(), progress=False)
    pool, here = rows(tmp_path / "pool"), rows(tmp_path / "here")
    assert set(pool) == set(here) and len(pool) == 2
    for key, row in pool.items():
        assert row["test_psnr"] == pytest.approx(here[key]["test_psnr"], abs=1e-3)
        assert row["worker"] != here[key]["worker"]
    assert all(not row["worker"].endswith(f":{os.getpid()}") for row in pool.values())


def test_a_folder_of_another_sweep_or_other_files_is_refused(tmp_path: Path) -> None:
    spec = resolve_sweep({**SWEEP, "sweep": {**SWEEP["sweep"], "seeds": [0], "bandwidths": 0.01}})
    run_sweep(spec, tmp_path / "s", SequentialExecutor(), progress=False)
    other = resolve_sweep({**SWEEP, "sweep": {**SWEEP["sweep"], "seeds": [0], "bandwidths": 0.02}})
    with pytest.raises(ValueError, match="holds a different sweep"):
        run_sweep(other, tmp_path / "s", SequentialExecutor(), progress=False)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a sweep folder"):
        run_sweep(spec, tmp_path / "busy", SequentialExecutor(), progress=False)
    assert sorted(path.name for path in (tmp_path / "busy").iterdir()) == ["notes.txt"]
