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
failing. Processes sharing a sweep share its work through the ``claims`` table: a run is
claimed before it is fitted (:meth:`ResultStore.claim`), kept alive by a heartbeat, and
released when its row is written; a claim whose owner died is taken over
(:mod:`posenc.sweeps.claims`).

Opening checks the store before anything is written to it: a file that SQLite cannot read,
that fails SQLite's ``quick_check``, or whose tables are not a posenc store's raises
``ValueError`` naming the file and how to recover; :func:`repair_store` moves such a file
aside and keeps the finished runs that can still be read from it.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posenc.files import atomic_path, write_text
from posenc.sweeps.claims import ClaimOwner, is_stale

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
CLAIM_COLUMNS: tuple[tuple[str, str], ...] = (
    ("key", "TEXT PRIMARY KEY"),
    ("owner", "TEXT NOT NULL"),
    ("host", "TEXT NOT NULL"),
    ("pid", "INTEGER NOT NULL"),
    ("process_start", "INTEGER"),
    ("claimed_at", "REAL NOT NULL"),
    ("heartbeat", "REAL NOT NULL"),
)
"""The claims table: which process fits which run now (:class:`ClaimOwner`), and when it
last said it is alive."""
TABLES = {"runs": COLUMNS, "claims": CLAIM_COLUMNS}
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
    """The SQLite store at ``path``, checked on opening (:func:`check_store`).

    ``create=True`` creates the file and its tables if missing; ``create=False`` opens an
    existing store to read it (``ValueError`` if there is none). Use as a context manager,
    or call :meth:`close`. Every method opens no transaction of its own beyond the statement
    it runs, so a killed process never leaves a partial row.
    """

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise ValueError(f"{str(self.path)!r} does not exist: no results store to read")
        self._connection = check_store(self.path)
        try:
            if create:
                self._create_tables()
        except sqlite3.Error as error:
            self._connection.close()
            raise OSError(f"results store {str(self.path)!r}: {error}") from None

    def _create_tables(self) -> None:
        mode = self._connection.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            self._connection.execute("PRAGMA journal_mode = WAL")
        with self._transaction():
            for table, columns in TABLES.items():
                spelled = ", ".join(f"{name} {kind}" for name, kind in columns)
                self._connection.execute(f"CREATE TABLE IF NOT EXISTS {table} ({spelled})")

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
            self._connection.execute("DELETE FROM claims WHERE key = ?", (record.key,))
        return cursor.rowcount > 0

    def claim(self, keys: Sequence[str], owner: ClaimOwner, lease_seconds: float) -> list[str]:
        """Claim the runs ``keys`` for ``owner`` in one transaction; return those it holds.

        A run is claimed unless it is finished or another owner holds a live claim on it;
        a claim whose owner is dead or silent for ``lease_seconds`` is taken over
        (:func:`~posenc.sweeps.claims.is_stale`).
        """
        now = time.time()
        held = []
        with self._transaction():
            for key in keys:
                if self._connection.execute(
                    "SELECT 1 FROM runs WHERE key = ? AND status = ?", (key, FINISHED)
                ).fetchone():
                    continue
                row = self._connection.execute(
                    "SELECT * FROM claims WHERE key = ?", (key,)
                ).fetchone()
                others = row is not None and row["owner"] != owner.token
                if others and not is_stale(dict(row), owner.host, now, lease_seconds):
                    continue
                self._connection.execute(
                    "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key, owner.token, owner.host, owner.pid, owner.process_start, now, now),
                )
                held.append(key)
        return held

    def claimable(self, keys: Sequence[str], owner: ClaimOwner, lease_seconds: float) -> list[str]:
        """The runs of ``keys`` that :meth:`claim` would give ``owner`` now (claims nothing)."""
        now = time.time()
        finished = self.keys(FINISHED)
        claims = self.claims()
        return [
            key
            for key in keys
            if key not in finished
            and (
                key not in claims
                or claims[key]["owner"] == owner.token
                or is_stale(claims[key], owner.host, now, lease_seconds)
            )
        ]

    def heartbeat(self, owner: ClaimOwner) -> None:
        """Say that ``owner`` is alive: its claims stay its own."""
        with self._transaction():
            self._connection.execute(
                "UPDATE claims SET heartbeat = ? WHERE owner = ?", (time.time(), owner.token)
            )

    def release(self, owner: ClaimOwner) -> None:
        """Drop every claim of ``owner`` (its runs are free for others)."""
        with self._transaction():
            self._connection.execute("DELETE FROM claims WHERE owner = ?", (owner.token,))

    def claims(self) -> dict[str, dict[str, Any]]:
        """Every claim by run key: owner token, host, pid, process start, claim and heartbeat
        times."""
        rows = self._connection.execute("SELECT * FROM claims").fetchall()
        return {row["key"]: dict(row) for row in rows}

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
        # busy_timeout instead of failing half-way through a transaction. SQLite's own
        # errors (a full disk, a file damaged since it was opened) become one-line OSErrors.
        try:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")
        except sqlite3.Error as error:
            raise OSError(f"results store {str(self.path)!r}: {error}") from None


def check_store(path: Path) -> sqlite3.Connection:
    """Open the store at ``path`` without writing to it and check it; return the connection.

    Raises ``ValueError`` naming the file and how to recover if it is not a regular file,
    SQLite cannot read it, its ``quick_check`` fails, or it holds tables that a posenc store
    does not (or posenc's tables with other columns).
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        raise ValueError(f"results store {str(path)!r} is not a file; move it aside")
    try:
        # isolation_level=None: transactions are exactly the BEGIN ... COMMIT written here.
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except sqlite3.Error as error:
        raise OSError(f"results store {str(path)!r} cannot be opened: {error}") from None
    connection.row_factory = sqlite3.Row
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA synchronous = NORMAL")
        problem = _store_problem(connection)
    except sqlite3.Error as error:
        problem = f"damaged ({error})"
    if problem is not None:
        connection.close()
        raise ValueError(
            f"results store {str(path)!r} is {problem}; nothing was changed: move it aside to "
            "start the store afresh, or run the sweep again with --repair to move it aside and "
            "keep the finished runs that can still be read from it"
        )
    return connection


def _store_problem(connection: sqlite3.Connection) -> str | None:
    """What is wrong with an open store, or ``None``."""
    verdict = [row[0] for row in connection.execute("PRAGMA quick_check").fetchall()]
    if verdict != ["ok"]:
        return f"damaged ({verdict[0]})"
    tables = {
        row[0]: [column[1] for column in connection.execute(f"PRAGMA table_info('{row[0]}')")]
        for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    for table, columns in tables.items():
        if table not in TABLES:
            return f"not a posenc results store (it has a table {table!r})"
        if columns != [name for name, _ in TABLES[table]]:
            return f"not a results store of this posenc (its {table!r} table has other columns)"
    return None


@dataclass(frozen=True)
class Repair:
    """What :func:`repair_store` did: where the damaged file went (``None`` if the store
    was sound or absent) and how many finished runs it kept from it."""

    moved_to: Path | None
    recovered: int


def repair_store(path: Path, keys: Collection[str]) -> Repair:
    """Move a damaged or foreign store aside and start a fresh one with its readable
    finished runs whose key is in ``keys``; a sound or absent store is left as it is.

    The file (and its ``-wal`` and ``-shm`` companions) is renamed to
    ``results.sqlite.damaged-<time>``; rows are read from it front to back and back to
    front until the damage stops the reading, so rows on both sides of a damaged page are
    kept.
    """
    path = Path(path)
    if not path.exists():
        return Repair(None, 0)
    try:
        check_store(path).close()
        return Repair(None, 0)
    except ValueError:
        pass
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        companion = Path(f"{path}{suffix}")
        if companion.exists():
            os.replace(companion, f"{aside}{suffix}")
    rows = _readable_rows(aside) if aside.is_file() else []
    wanted = set(keys)
    with ResultStore(path) as store:
        kept = [row for row in rows if row["key"] in wanted and row["status"] == FINISHED]
        for row in kept:
            store.record(RunRecord(**row))
    return Repair(aside, len({row["key"] for row in kept}))


def _readable_rows(path: Path) -> list[dict[str, Any]]:
    """The ``runs`` rows SQLite can still read from a damaged file (read-only)."""
    rows: dict[str, dict[str, Any]] = {}
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error:
        return []
    connection.row_factory = sqlite3.Row
    for order in ("ASC", "DESC"):
        try:
            for row in connection.execute(f"SELECT * FROM runs ORDER BY rowid {order}"):
                record = dict(row)
                if set(record) == set(COLUMN_NAMES) and record["status"] in STATUSES:
                    rows.setdefault(record["key"], record)
        except sqlite3.Error:
            continue
    connection.close()
    return list(rows.values())


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"run status must be one of {', '.join(STATUSES)}, not {status!r}")


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    record = {name: row[name] for name in COLUMN_NAMES if not name.endswith("_json")}
    record["config"] = json.loads(row["config_json"])
    record["metrics"] = json.loads(row["metrics_json"]) if row["metrics_json"] else None
    return record
