"""A sweep on a Ray cluster: every job is a Ray task, every outcome comes back to the driver.

Needs the ``ray`` extra (``pip install 'posenc[ray]'``); Ray is imported only when a
:class:`RayExecutor` is made. The driver (:func:`posenc.sweeps.runner.run_sweep`) keeps the
one SQLite store and writes each outcome as its task completes, so resuming a sweep works as
with the local executors, whatever happened on the cluster.

- **Jobs.** Tasks are grouped into jobs as by :class:`~posenc.sweeps.executors.BatchedExecutor`
  (runs that differ only in bandwidth and/or seed are trained as one batch), the groups split
  into as many parts as the cluster has CPUs (GPUs for a ``cuda`` sweep) unless ``jobs`` says
  otherwise. Each job is one Ray task declaring ``cpus_per_job`` CPUs (its torch threads) and,
  for a ``cuda`` sweep, ``gpus_per_job`` GPUs; inside the task ``cuda:N`` means the GPU Ray
  assigned.
- **Data.** Each distinct signal is loaded once on the driver and put in Ray's object store;
  tasks receive a reference, so workers never read the image or signal files.
- **Failures.** A run that raises is a ``failed`` outcome from :func:`run_job` itself. A task
  whose worker process or node dies is retried by Ray up to ``max_retries`` times; if it still
  does not complete, each of its runs is a ``failed`` outcome carrying Ray's error, and the
  sweep goes on (running the sweep again retries them).
- **Connecting.** :meth:`RayExecutor.start` connects before the sweep writes anything; a
  cluster that does not answer or refuses the token (Ray's token authentication: the
  ``RAY_AUTH_MODE`` and ``RAY_AUTH_TOKEN`` variables or ``~/.ray/auth_token``) is one
  ``ConnectionError`` line. What Ray's core writes to the process's stderr while connecting
  is kept out of the terminal and read for the reason.
- **Claims.** Jobs are submitted as slots free up (at most ``jobs`` or the cluster's slots in
  flight), so that processes sharing a sweep claim runs only when they can start them.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

import torch

from posenc.data import Signal
from posenc.sweeps.jobs import (
    DEFAULT_MAX_BATCH_BYTES,
    Executor,
    Job,
    JobClaim,
    JobSteps,
    RunOutcome,
    RunTask,
    claimed,
    failed_outcome,
    load_signal,
    plan_jobs,
    run_job,
    signal_key,
)

MISSING_EXTRA = "the ray executor needs the 'ray' extra: pip install 'posenc[ray]'"
CONNECT_TIMEOUT_SECONDS = 10.0
"""How long a ``HOST:PORT`` address may take to accept a connection before it is refused."""
TOKEN_HELP = (
    "for a cluster with token authentication set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN "
    "(the head's `ray get-auth-token`), or copy its token to ~/.ray/auth_token"
)


def import_ray() -> Any:
    """The ``ray`` module; ``ValueError`` with :data:`MISSING_EXTRA` if it is not installed."""
    try:
        import ray
    except ImportError:
        raise ValueError(MISSING_EXTRA) from None
    return ray


class RayExecutor(Executor):
    """Runs jobs as Ray tasks and yields their outcomes as the tasks complete.

    ``address``: an existing cluster (``HOST:PORT`` of its head node, or ``auto`` for the one
    started on this machine by ``ray start``); ``None`` starts a local Ray instance on every
    core of this machine for the duration of each :meth:`execute` call. If Ray is already
    initialised in this process it is used as it is and left running. ``jobs``: at most that
    many tasks at once, and batched groups split into that many parts (default: every task
    is submitted and Ray queues them; groups split over the cluster's CPUs or GPUs).
    ``batch``: group runs into batched jobs (see :func:`~posenc.sweeps.jobs.plan_jobs`).
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        jobs: int | None = None,
        batch: bool = True,
        cpus_per_job: int = 1,
        gpus_per_job: float = 1.0,
        max_retries: int = 2,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    ) -> None:
        self.ray = import_ray()
        if jobs is not None and jobs < 1:
            raise ValueError(f"the ray executor needs jobs >= 1, got {jobs}")
        if cpus_per_job < 1:
            raise ValueError(f"cpus_per_job must be >= 1, got {cpus_per_job}")
        if not gpus_per_job > 0:
            raise ValueError(f"gpus_per_job must be > 0, got {gpus_per_job}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if address is not None:
            check_reachable(address)
        self.address = address
        self.jobs = jobs
        self.batch = batch
        self.cpus_per_job = cpus_per_job
        self.gpus_per_job = gpus_per_job
        self.max_retries = max_retries
        self.max_batch_bytes = max_batch_bytes
        self._connected_here = False

    def start(self) -> None:
        """Connect to the cluster (or start the local instance) unless this process is
        connected already; ``ConnectionError`` in one line if it cannot."""
        ray = self.ray
        if ray.is_initialized():
            return
        where = "a local Ray instance" if self.address is None else f"Ray cluster {self.address}"
        with _stderr_kept_aside() as captured:
            try:
                if self.address is None:
                    ray.init(address="local", include_dashboard=False)
                else:
                    ray.init(address=self.address)
            except Exception as error:
                problem = _connection_problem(error, _read(captured))
                raise ConnectionError(f"{where}: {problem}") from None
        self._connected_here = True

    def stop(self) -> None:
        """Disconnect (or stop the local instance) if :meth:`start` connected."""
        if self._connected_here:
            self.ray.shutdown()
            self._connected_here = False

    def execute(
        self,
        tasks: Sequence[RunTask],
        *,
        claim: JobClaim | None = None,
        on_steps: JobSteps | None = None,
    ) -> Iterator[RunOutcome]:
        """Group ``tasks`` into jobs for the cluster's size, then run them (``on_steps`` is
        not called: a Ray task reports when it finishes)."""
        if not tasks:
            return
        with self._connected():
            gpu = _uses_gpu(tasks[0].config.device)
            if gpu and not self.ray.cluster_resources().get("GPU"):
                raise ValueError(f"device {tasks[0].config.device!r}: the Ray cluster has no GPU")
            if self.batch:
                parts = self.jobs or self._slots(gpu)
                jobs = plan_jobs(tasks, self.max_batch_bytes, parts)
            else:
                jobs = [(task,) for task in tasks]
            yield from self._run(claimed(jobs, claim), self.jobs or self._slots(gpu))

    def execute_jobs(
        self, jobs: Iterable[Job], on_steps: JobSteps | None = None
    ) -> Iterator[RunOutcome]:
        with self._connected():
            yield from self._run(jobs, self.jobs or self._slots(False))

    @contextmanager
    def _connected(self) -> Iterator[None]:
        """Connected for the block: by :meth:`start` if not yet, then disconnected again."""
        if self.ray.is_initialized():
            yield
            return
        self.start()
        try:
            yield
        finally:
            self.stop()

    def _slots(self, gpu: bool) -> int:
        """Jobs the cluster runs at once: its CPUs (or GPUs) over each job's share."""
        resources = self.ray.cluster_resources()
        if gpu:
            return max(1, int(resources.get("GPU", 0) // self.gpus_per_job))
        return max(1, int(resources.get("CPU", 1) // self.cpus_per_job))

    def _run(self, jobs: Iterable[Job], limit: int) -> Iterator[RunOutcome]:
        """Submit jobs while fewer than ``limit`` run; yield outcomes as tasks complete."""
        ray = self.ray
        remote = ray.remote(compute_job)
        pending = iter(jobs)
        signals: dict[tuple, Any] = {}
        running: dict[Any, tuple[Job, float]] = {}

        def submit() -> None:
            while len(running) < limit and (job := next(pending, None)) is not None:
                gpu = _uses_gpu(job[0].config.device)
                options = remote.options(
                    num_cpus=self.cpus_per_job,
                    num_gpus=self.gpus_per_job if gpu else 0,
                    max_retries=self.max_retries,
                    retry_exceptions=False,
                )
                signal = self._shared_signal(signals, job)
                ref = options.remote(job, signal, self.cpus_per_job)
                running[ref] = (job, time.time())

        try:
            submit()
            while running:
                [ref], _ = ray.wait(list(running), num_returns=1)
                job, submitted = running.pop(ref)
                submit()
                yield from self._outcomes(ref, job, submitted)
        finally:
            for ref in running:
                ray.cancel(ref, force=True)

    def _shared_signal(self, shared: dict[tuple, Any], job: Job) -> Any:
        """The signal of ``job`` loaded here once and put in the object store (``None`` if
        it fails to load: its runs then load it on the worker and fail there, each with its
        own error)."""
        key = signal_key(job[0].config)
        if key not in shared:
            try:
                shared[key] = self.ray.put(load_signal(job[0].config))
            except (ValueError, OSError):
                shared[key] = None
        return shared[key]

    def _outcomes(self, ref: Any, job: Job, submitted: float) -> list[RunOutcome]:
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayError as error:
            first_line = next((line for line in str(error).splitlines() if line.strip()), "")
            message = f"Ray task failed: {type(error).__name__}: {first_line.strip()}"
            return [failed_outcome(task, message, submitted) for task in job]


def compute_job(job: Job, signal: Signal | None, threads: int) -> list[RunOutcome]:
    """The Ray task: :func:`run_job` with ``threads`` torch threads on the shared ``signal``."""
    torch.set_num_threads(threads)
    return run_job(tuple(_on_assigned_gpu(task) for task in job), signal=signal)


def _on_assigned_gpu(task: RunTask) -> RunTask:
    """``task`` with ``cuda:N`` replaced by ``cuda``: Ray makes only its GPUs visible."""
    if not _uses_gpu(task.config.device) or task.config.device == "cuda":
        return task
    return RunTask(task.key, dataclasses.replace(task.config, device="cuda"))


def _uses_gpu(device: str) -> bool:
    return device.startswith("cuda")


@contextmanager
def _stderr_kept_aside() -> Iterator[IO[bytes]]:
    """Route the process's file descriptor 2 (where Ray's core logs) to a temporary file
    for the block; yield the file."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _read(captured: IO[bytes]) -> str:
    captured.seek(0)
    return captured.read().decode(errors="replace")


def _connection_problem(error: Exception, log: str) -> str:
    """One line saying why connecting failed: authentication, or Ray's own first line."""
    text = f"{log}\n{error}"
    if any(word in text for word in ("InvalidAuthToken", "Unauthenticated", "authentication")):
        return f"the cluster refused the authentication token; {TOKEN_HELP}"
    first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    return f"cannot connect ({type(error).__name__}: {first})"


def check_reachable(address: str) -> None:
    """Raise ``ConnectionError`` if ``address`` is ``HOST:PORT`` and nothing accepts a
    connection there (other forms, such as ``auto`` or ``ray://...``, are left to Ray)."""
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit() or "/" in address:
        return
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_SECONDS):
            pass
    except OSError as error:
        raise ConnectionError(
            f"Ray address {address}: no Ray cluster answers there ({error.strerror or error}); "
            "start one with `ray start --head`"
        ) from None
