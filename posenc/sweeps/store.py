"""The results store of a sweep: one SQLite database (stdlib ``sqlite3``, WAL) per folder.

One row per run, keyed by the run key (:func:`posenc.sweeps.keys.run_key`). A row is written
once, in one transaction, when the run ends, with its status (``finished`` or ``failed``),
the full config and metrics as JSON, and real columns for the numbers that are plotted and
filtered on. Writes are insert-once:

- a ``finished`` row is never changed again; writing the same key again is a no-op;
- a ``failed`` row is replaced when the run is tried again (a re-run of the sweep retries
  failed runs), by its new outcome.

Any number of processes may open the same store and write at once: WAL lets readers run
beside the one writer, and each write waits (``busy_timeout``) for the lock instead of
failing.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posenc.files import atomic_path, write_text

STORE_NAME = "results.sqlite"
FINISHED = "finished"
FAILED = "failed"
STATUSES = (FINISHED, FAILED)
BUSY_TIMEOUT_MS = 60_000
"""How long a write waits for another process's write to end before it fails."""

COLUMNS: tuple[tuple[str, str], ...] = (
    ("key", "TEXT PRIMARY KEY"),
    ("status", "TEXT NOT NULL"),
    ("signal", "TEXT NOT NULL"),
    ("embedding", "TEXT NOT NULL"),
    ("bandwidth_name", "TEXT"),
    ("bandwidth", "REAL"),
    ("model", "TEXT NOT NULL"),
    ("seed", "INTEGER NOT NULL"),
    ("train_psnr", "REAL"),
    ("test_psnr", "REAL"),
    ("heldout_psnr", "REAL"),
    ("train_psnr_last", "REAL"),
    ("test_psnr_last", "REAL"),
    ("stable_rank", "REAL"),
    ("distance_preservation", "REAL"),
    ("num_train", "INTEGER"),
    ("fit_seconds", "REAL"),
    ("run_seconds", "REAL"),
    ("started_at", "REAL NOT NULL"),
    ("finished_at", "REAL NOT NULL"),
    ("executor", "TEXT NOT NULL"),
    ("batch_size", "INTEGER NOT NULL"),
    ("worker", "TEXT NOT NULL"),
    ("reconstruction", "TEXT"),
    ("error", "TEXT"),
    ("config_json", "TEXT NOT NULL"),
    ("metrics_json", "TEXT"),
)
"""Every column, in order. Times are Unix seconds; ``reconstruction`` is a path relative to
the sweep folder; ``executor`` says how the run was trained (``single`` or ``batched``)."""
COLUMN_NAMES = tuple(name for name, _ in COLUMNS)
EXPORTED_COLUMNS = tuple(name for name in COLUMN_NAMES if name != "metrics_json")
"""Columns of the CSV export (the metrics JSON, with its PSNR history, stays in the JSON)."""


@dataclass(frozen=True)
class RunRecord:
    """One row of the store; :meth:`as_row` orders it as :data:`COLUMNS`."""

    key: str
    status: str
    signal: str
    embedding: str
    bandwidth_name: str | None
    bandwidth: float | None
    model: str
    seed: int
    train_psnr: float | None
    test_psnr: float | None
    heldout_psnr: float | None
    train_psnr_last: float | None
    test_psnr_last: float | None
    stable_rank: float | None
    distance_preservation: float | None
    num_train: int | None
    fit_seconds: float | None
    run_seconds: float | None
    started_at: float
    finished_at: float
    executor: str
    batch_size: int
    worker: str
    reconstruction: str | None
    error: str | None
    config_json: str
    metrics_json: str | None

    def __post_init__(self) -> None:
        _check_status(self.status)

    def as_row(self) -> tuple[Any, ...]:
        """The values in column order."""
        return tuple(getattr(self, name) for name in COLUMN_NAMES)


class ResultStore:
    """The SQLite store at ``path`` (created with its table if missing).

    Use as a context manager, or call :meth:`close`. Every method opens no transaction of
    its own beyond the statement it runs, so a killed process never leaves a partial row.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # isolation_level=None: transactions are exactly the BEGIN ... COMMIT written here.
        self._connection = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
        )
        self._connection.row_factory = sqlite3.Row
        self._connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._connection.execute("PRAGMA journal_mode = WAL")
        self._connection.execute("PRAGMA synchronous = NORMAL")
        columns = ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
        with self._transaction():
            self._connection.execute(f"CREATE TABLE IF NOT EXISTS runs ({columns})")

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    def record(self, record: RunRecord) -> bool:
        """Write one run's row in one transaction; return whether the store changed.

        A key that is already ``finished`` is left as it is (returns ``False``); a ``failed``
        key is overwritten by the new outcome.
        """
        placeholders = ", ".join("?" for _ in COLUMN_NAMES)
        updates = ", ".join(f"{name} = excluded.{name}" for name in COLUMN_NAMES if name != "key")
        with self._transaction():
            cursor = self._connection.execute(
                f"INSERT INTO runs ({', '.join(COLUMN_NAMES)}) VALUES ({placeholders}) "
                f"ON CONFLICT(key) DO UPDATE SET {updates} WHERE runs.status = '{FAILED}'",
                record.as_row(),
            )
        return cursor.rowcount > 0

    def keys(self, status: str | None = None) -> set[str]:
        """Keys of every row, or of those with ``status``."""
        return {row["key"] for row in self._select("key", status)}

    def rows(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every row (or those with ``status``) as a dict, ordered by finish time."""
        return [dict(row) for row in self._select("*", status)]

    def count(self, status: str | None = None) -> int:
        """Number of rows (with ``status``)."""
        return len(self._select("key", status))

    def export_csv(self, path: Path) -> Path:
        """Write every row to ``path`` as CSV (all columns but ``metrics_json``)."""
        rows = self.rows()
        with atomic_path(path) as temporary, temporary.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(EXPORTED_COLUMNS)
            writer.writerows([row[name] for name in EXPORTED_COLUMNS] for row in rows)
        return path

    def export_json(self, path: Path) -> Path:
        """Write every row to ``path`` as a JSON list; config and metrics are parsed."""
        records = [_decoded(row) for row in self.rows()]
        return write_text(path, json.dumps(records, indent=1) + "\n")

    def _select(self, columns: str, status: str | None) -> Sequence[sqlite3.Row]:
        query = f"SELECT {columns} FROM runs"
        if status is None:
            return self._connection.execute(query + " ORDER BY finished_at, key").fetchall()
        _check_status(status)
        return self._connection.execute(
            query + " WHERE status = ? ORDER BY finished_at, key", (status,)
        ).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # BEGIN IMMEDIATE takes the write lock up front, so concurrent writers queue on
        # busy_timeout instead of failing half-way through a transaction.
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"run status must be one of {', '.join(STATUSES)}, not {status!r}")


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    record = {name: row[name] for name in COLUMN_NAMES if not name.endswith("_json")}
    record["config"] = json.loads(row["config_json"])
    record["metrics"] = json.loads(row["metrics_json"]) if row["metrics_json"] else None
    return record
