"""Where a sweep's jobs are computed: in this process, in a local process pool, batched, or
on a Ray cluster (:mod:`posenc.sweeps.ray_executor`); :func:`make_executor` picks one.

:class:`BatchedExecutor` wraps any executor: it groups tasks that differ only in bandwidth
and/or seed into batched jobs (:func:`~posenc.sweeps.jobs.plan_jobs`).
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent import futures
from typing import Any

import torch

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
    plan_jobs,
    run_job,
)
from posenc.threads import usable_cores

REPORT_SECONDS = 0.5
"""A worker process sends its training steps to the driver at most this often."""


class SequentialExecutor(Executor):
    """Every job in this process, one after another (``progress``: a bar per fit; ``None``:
    in a terminal or a notebook)."""

    def __init__(self, progress: bool | None = False) -> None:
        self.progress = progress

    def execute_jobs(
        self, jobs: Iterable[Job], on_steps: JobSteps | None = None
    ) -> Iterator[RunOutcome]:
        for job in jobs:
            yield from run_job(job, self.progress, on_steps=on_steps)


class ProcessPoolExecutor(Executor):
    """Jobs spread over ``workers`` local processes (started fresh, not forked).

    Each worker uses ``threads`` torch threads, by default the available cores divided by
    the number of workers (at least 1), so the workers do not oversubscribe the CPU. A
    worker that dies takes only its job's runs with it: they are reported as failed. With
    ``on_steps``, workers send their training steps through a queue, at most every
    ``report_seconds``, and the driver passes them on while it waits.
    """

    def __init__(
        self, workers: int, threads: int | None = None, report_seconds: float = REPORT_SECONDS
    ) -> None:
        if workers < 1:
            raise ValueError(f"a process pool needs at least 1 worker, got {workers}")
        self.workers = workers
        self.threads = threads or max(1, usable_cores() // workers)
        self.report_seconds = report_seconds

    def execute_jobs(
        self, jobs: Iterable[Job], on_steps: JobSteps | None = None
    ) -> Iterator[RunOutcome]:
        pending = iter(jobs)
        context = multiprocessing.get_context("spawn")
        steps = context.Queue() if on_steps is not None else None
        pool: futures.ProcessPoolExecutor | None = None
        running: dict[futures.Future, Job] = {}
        try:
            while True:
                while len(running) < self.workers and (job := next(pending, None)) is not None:
                    if pool is None:  # started only once there is a job to run
                        pool = futures.ProcessPoolExecutor(
                            max_workers=self.workers,
                            mp_context=context,
                            initializer=_start_worker,
                            initargs=(self.threads, steps, self.report_seconds),
                        )
                    running[pool.submit(_run_reporting, job)] = job
                if not running:
                    return
                done, _ = futures.wait(
                    running, timeout=REPORT_SECONDS, return_when=futures.FIRST_COMPLETED
                )
                _pass_on(steps, on_steps)
                for future in done:
                    yield from _outcomes(future, running.pop(future))
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            if steps is not None:
                steps.close()


def _outcomes(future: futures.Future, job: Job) -> list[RunOutcome]:
    """The outcomes of a finished job; every run failed if its worker process died."""
    started = time.time()
    try:
        return future.result()
    except Exception as error:  # the worker process itself failed
        message = f"worker process failed: {type(error).__name__}: {error}"
        return [failed_outcome(task, message, started) for task in job]


def _pass_on(steps: Any, on_steps: JobSteps | None) -> None:
    """Hand every report the workers queued to ``on_steps``."""
    while steps is not None and on_steps is not None:
        try:
            keys, count = steps.get_nowait()
        except queue.Empty:
            return
        on_steps(keys, count)


class ThrottledSteps:
    """Counts a job's training steps and sends ``(keys, steps)`` with ``send`` at most every
    ``seconds`` (the rest is left to the job's outcome, which completes its runs)."""

    def __init__(self, send: Callable[[Any], None], seconds: float = REPORT_SECONDS) -> None:
        self.send = send
        self.seconds = seconds
        self.pending: dict[tuple[str, ...], int] = {}
        self.last = time.monotonic()

    def __call__(self, keys: Sequence[str], count: int) -> None:
        key = tuple(keys)
        self.pending[key] = self.pending.get(key, 0) + count
        if time.monotonic() - self.last >= self.seconds:
            for item in self.pending.items():
                self.send(item)
            self.pending.clear()
            self.last = time.monotonic()


_reports: ThrottledSteps | None = None
"""In a worker process: where its jobs' training steps go (set by :func:`_start_worker`)."""


def _start_worker(threads: int, steps: Any, seconds: float) -> None:
    global _reports
    torch.set_num_threads(threads)
    _reports = None if steps is None else ThrottledSteps(steps.put, seconds)


def _run_reporting(job: Job) -> list[RunOutcome]:
    return run_job(job, on_steps=_reports)


class BatchedExecutor(Executor):
    """Groups batchable tasks into batched jobs, then hands every job to ``inner``.

    Tasks whose configs share :func:`~posenc.neural_fields.batched.batch_key` (they differ only in
    bandwidth and/or seed; linear or MLP model, Adam) and for which batching pays
    (:func:`~posenc.neural_fields.batched.batching_pays`) become one job, split into several when
    its estimated memory exceeds ``max_batch_bytes`` or to give each of ``parallel`` workers
    a part; every other task is a job of its own.
    """

    def __init__(
        self,
        inner: Executor | None = None,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        parallel: int = 1,
    ) -> None:
        self.inner = inner or SequentialExecutor()
        self.max_batch_bytes = max_batch_bytes
        self.parallel = parallel

    def start(self) -> None:
        self.inner.start()

    def stop(self) -> None:
        self.inner.stop()

    def execute(
        self,
        tasks: Sequence[RunTask],
        *,
        claim: JobClaim | None = None,
        on_steps: JobSteps | None = None,
    ) -> Iterator[RunOutcome]:
        jobs = plan_jobs(tasks, self.max_batch_bytes, self.parallel)
        return self.inner.execute_jobs(claimed(jobs, claim), on_steps)

    def execute_jobs(
        self, jobs: Iterable[Job], on_steps: JobSteps | None = None
    ) -> Iterator[RunOutcome]:
        return self.inner.execute_jobs(jobs, on_steps)


def make_executor(
    jobs: int | None = None,
    batch: bool = True,
    progress: bool | None = None,
    *,
    executor: str = "local",
    address: str | None = None,
) -> Executor:
    """The executor for ``--jobs``, ``--batch``, ``--executor`` and ``--address``.

    ``local``: a process pool when ``jobs > 1``, else this process (with a bar per fit if
    ``progress``; ``None``: in a terminal or a notebook); batched when ``batch``. ``ray``: a
    :class:`~posenc.sweeps.ray_executor.RayExecutor` on the cluster at ``address`` (default:
    a local instance on every core), with at most ``jobs`` tasks at once (default: as many as
    the cluster runs).
    """
    if executor == "ray":
        from posenc.sweeps.ray_executor import RayExecutor

        return RayExecutor(address, jobs=jobs, batch=batch)
    if executor != "local":
        raise ValueError(f"executor must be 'local' or 'ray', got {executor!r}")
    if address is not None:
        raise ValueError(f"address {address!r} needs the ray executor")
    jobs = jobs or 1
    inner: Executor = ProcessPoolExecutor(jobs) if jobs > 1 else SequentialExecutor(progress)
    return BatchedExecutor(inner, parallel=jobs) if batch else inner
