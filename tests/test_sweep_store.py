"""The results store: insert-once rows, failed runs replaced, concurrent writers, exports."""

from __future__ import annotations

import csv
import json
import multiprocessing
import random
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from posenc.sweeps.store import EXPORTED_COLUMNS, FAILED, FINISHED, ResultStore, RunRecord


def record(key: str, status: str = FINISHED, test_psnr: float | None = 25.0, **fields) -> RunRecord:
    values = {
        "key": key,
        "status": status,
        "signal": "camera",
        "embedding": "gaussian",
        "bandwidth_name": "sigma",
        "bandwidth": 0.01,
        "model": "linear",
        "seed": 0,
        "train_psnr": 30.0,
        "test_psnr": test_psnr,
        "heldout_psnr": test_psnr,
        "train_psnr_last": 29.0,
        "test_psnr_last": test_psnr,
        "stable_rank": 12.5,
        "distance_preservation": 0.03,
        "num_train": 256,
        "fit_seconds": 0.5,
        "run_seconds": 0.6,
        "started_at": 1.0,
        "finished_at": 2.0,
        "executor": "single",
        "batch_size": 1,
        "worker": "host:1",
        "reconstruction": f"reconstructions/{key}.npy",
        "error": "RuntimeError: boom" if status == FAILED else None,
        "config_json": json.dumps({"seed": 0}),
        "metrics_json": json.dumps({"test_psnr": test_psnr}),
    }
    return RunRecord(**{**values, **fields})


def test_finished_rows_are_written_once(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "results.sqlite") as store:
        assert store.record(record("a", test_psnr=20.0))
        assert not store.record(record("a", test_psnr=99.0, finished_at=5.0))
        assert not store.record(record("a", status=FAILED))
        (row,) = store.rows()
        assert (row["status"], row["test_psnr"], row["finished_at"]) == (FINISHED, 20.0, 2.0)


def test_failed_rows_are_replaced_by_the_next_outcome(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "results.sqlite") as store:
        store.record(record("a", status=FAILED, test_psnr=None, error="RuntimeError: first"))
        assert store.record(record("a", status=FAILED, test_psnr=None, error="OSError: second"))
        assert store.rows()[0]["error"] == "OSError: second"
        assert store.record(record("a", test_psnr=21.0))
        (row,) = store.rows()
        assert (row["status"], row["test_psnr"], row["error"]) == (FINISHED, 21.0, None)
        assert store.keys(FINISHED) == {"a"} and store.keys(FAILED) == set()


def test_store_uses_wal_and_rejects_unknown_status(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    with ResultStore(path):
        pass
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(ValueError, match="run status must be one of"):
        record("a", status="done")


def _writer(path: str, worker: int, keys: list[str]) -> None:
    with ResultStore(Path(path)) as store:
        for key in keys:
            store.record(record(key, worker=f"writer:{worker}", finished_at=float(worker)))


def test_concurrent_writers_leave_each_run_once(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    keys = [f"run{index}" for index in range(60)]
    shuffled = []
    for worker in range(4):  # every key written by 2 of the 4 writers, in random order
        mine = [key for index, key in enumerate(keys) if index % 4 in (worker, (worker + 1) % 4)]
        random.Random(worker).shuffle(mine)
        shuffled.append(mine)
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_writer, args=(str(path), w, shuffled[w])) for w in range(4)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=60)
        assert process.exitcode == 0
    with ResultStore(path) as store:
        rows = store.rows()
    assert sorted(row["key"] for row in rows) == sorted(keys)
    assert {row["worker"] for row in rows} <= {f"writer:{w}" for w in range(4)}


def test_exports_hold_every_row(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "results.sqlite") as store:
        store.record(record("a", test_psnr=20.0))
        store.record(replace(record("b", status=FAILED, test_psnr=None), metrics_json=None))
        store.export_csv(tmp_path / "results.csv")
        store.export_json(tmp_path / "results.json")
    with (tmp_path / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == EXPORTED_COLUMNS
    assert [(row["key"], row["status"]) for row in rows] == [("a", FINISHED), ("b", FAILED)]
    assert rows[1]["error"] == "RuntimeError: boom"
    records = json.loads((tmp_path / "results.json").read_text())
    assert records[0]["config"] == {"seed": 0} and records[0]["metrics"] == {"test_psnr": 20.0}
    assert records[1]["metrics"] is None and "config_json" not in records[0]
