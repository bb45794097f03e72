"""Where a sweep's jobs are computed: in this process, in a local process pool, batched, or
on a Ray cluster (:mod:`posenc.sweeps.ray_executor`); :func:`make_executor` picks one.

:class:`BatchedExecutor` wraps any executor: it groups tasks that differ only in bandwidth
and/or seed into batched jobs (:func:`~posenc.sweeps.jobs.plan_jobs`).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator, Sequence
from concurrent import futures

import torch

from posenc.sweeps.jobs import (
    DEFAULT_MAX_BATCH_BYTES,
    Executor,
    Job,
    RunOutcome,
    RunTask,
    failed_outcome,
    plan_jobs,
    run_job,
)
from posenc.threads import usable_cores


class SequentialExecutor(Executor):
    """Every job in this process, one after another (``progress``: a bar per fit)."""

    def __init__(self, progress: bool = False) -> None:
        self.progress = progress

    def execute_jobs(self, jobs: Sequence[Job]) -> Iterator[RunOutcome]:
        for job in jobs:
            yield from run_job(job, self.progress)


class ProcessPoolExecutor(Executor):
    """Jobs spread over ``workers`` local processes (started fresh, not forked).

    Each worker uses ``threads`` torch threads, by default the available cores divided by
    the number of workers (at least 1), so the workers do not oversubscribe the CPU. A
    worker that dies takes only its job's runs with it: they are reported as failed.
    """

    def __init__(self, workers: int, threads: int | None = None) -> None:
        if workers < 1:
            raise ValueError(f"a process pool needs at least 1 worker, got {workers}")
        self.workers = workers
        self.threads = threads or max(1, usable_cores() // workers)

    def execute_jobs(self, jobs: Sequence[Job]) -> Iterator[RunOutcome]:
        if not jobs:
            return
        pool = futures.ProcessPoolExecutor(
            max_workers=min(self.workers, len(jobs)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self.threads,),
        )
        submitted = {pool.submit(run_job, job): job for job in jobs}
        try:
            for future in futures.as_completed(submitted):
                started = time.time()
                try:
                    outcomes = future.result()
                except Exception as error:  # the worker process itself failed
                    message = f"worker process failed: {type(error).__name__}: {error}"
                    outcomes = [
                        failed_outcome(task, message, started) for task in submitted[future]
                    ]
                yield from outcomes
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _start_worker(threads: int) -> None:
    torch.set_num_threads(threads)


class BatchedExecutor(Executor):
    """Groups batchable tasks into batched jobs, then hands every job to ``inner``.

    Tasks whose configs share :func:`~posenc.neural_fields.batched.batch_key` (they differ only in
    bandwidth and/or seed; linear or MLP model, Adam) become one job, split into several when
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

    def execute(self, tasks: Sequence[RunTask]) -> Iterator[RunOutcome]:
        return self.inner.execute_jobs(plan_jobs(tasks, self.max_batch_bytes, self.parallel))

    def execute_jobs(self, jobs: Sequence[Job]) -> Iterator[RunOutcome]:
        return self.inner.execute_jobs(jobs)


def make_executor(
    jobs: int | None = None,
    batch: bool = True,
    progress: bool = False,
    *,
    executor: str = "local",
    address: str | None = None,
) -> Executor:
    """The executor for ``--jobs``, ``--batch``, ``--executor`` and ``--address``.

    ``local``: a process pool when ``jobs > 1``, else this process (with a bar per fit if
    ``progress``); batched when ``batch``. ``ray``: a
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
