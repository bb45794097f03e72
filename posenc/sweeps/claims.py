"""Sharing a sweep between processes: who fits which run now, and whether they still live.

Every process running a sweep is a :class:`ClaimOwner` (a random token, its host, pid and
process start time). Before a job is fitted its runs are claimed in the store
(:meth:`~posenc.sweeps.store.ResultStore.claim`), so two processes on one folder (two
``posenc sweep`` commands, or a sweep and its resume) split the runs. A
:class:`Heartbeat` refreshes its owner's claims every :data:`HEARTBEAT_SECONDS` from a
background thread; the sweep releases them when it leaves (normally, on an error or on
Ctrl-C), and writing a run's row releases its claim.

A claim is *stale*, and another process takes it over, when its owner is known to be dead
(same host, and its pid is gone, a zombie, or a different process since) or has not
refreshed it for :data:`LEASE_SECONDS` (a process on another host, or one that is frozen).
A run is therefore fitted twice only if its owner stops answering for the whole lease and
then comes back; its row is still written once.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

HEARTBEAT_SECONDS = 10.0
"""How often a process refreshes its claims."""
LEASE_SECONDS = 120.0
"""A claim not refreshed for this long is taken over (whatever the owner's host)."""
WAIT_SECONDS = 2.0
"""How often a process with nothing left to claim looks again at others' claims."""


@dataclass(frozen=True)
class ClaimOwner:
    """One process that claims runs: ``token`` (unique per sweep call), ``host``, ``pid`` and
    ``process_start`` (the kernel's start time of the process, to tell a reused pid apart;
    ``None`` where unknown)."""

    token: str
    host: str
    pid: int
    process_start: int | None

    @classmethod
    def current(cls) -> ClaimOwner:
        """This process, with a fresh token."""
        pid = os.getpid()
        return cls(uuid.uuid4().hex, socket.gethostname(), pid, process_start(pid))

    @property
    def label(self) -> str:
        """``host:pid``."""
        return f"{self.host}:{self.pid}"


def process_start(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), or ``None``."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields is not None and len(fields) > 19 else None


def is_alive(pid: int, started: int | None) -> bool:
    """Whether process ``pid`` of this host runs, and is the one that started at ``started``
    (a zombie, killed but not yet reaped, is dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    fields = _stat_fields(pid)
    if fields is None:
        return True  # no /proc: existence is all that can be known
    if fields[0] in ("Z", "X"):
        return False
    return started is None or int(fields[19]) == started


def is_stale(claim: dict[str, Any], host: str, now: float, lease_seconds: float) -> bool:
    """Whether a ``claims`` row may be taken over by a process on ``host`` at ``now``."""
    if now - claim["heartbeat"] > lease_seconds:
        return True
    return claim["host"] == host and not is_alive(claim["pid"], claim["process_start"])


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/PID/stat`` after the command name (state first), or ``None``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


class Heartbeat:
    """Refreshes an owner's claims on the store at ``path`` while a sweep runs.

    A context manager: on entry a daemon thread starts refreshing the claims every
    ``interval`` seconds, with its own connection; on exit it stops. Releasing the claims
    is the caller's (:meth:`~posenc.sweeps.store.ResultStore.release`).
    """

    def __init__(self, path: Path, owner: ClaimOwner, interval: float = HEARTBEAT_SECONDS):
        self.path = Path(path)
        self.owner = owner
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="posenc-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        from posenc.sweeps.store import ResultStore

        try:
            store = ResultStore(self.path, create=False)
        except (OSError, ValueError):
            return  # the sweep itself reports a store it cannot use
        try:
            while not self._stop.wait(self.interval):
                try:
                    store.heartbeat(self.owner)
                except OSError:
                    continue  # a busy store: try again at the next beat
        finally:
            store.close()
