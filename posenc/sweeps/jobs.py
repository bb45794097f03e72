"""A sweep's unit of work: a *job*, a tuple of runs computed together in one process.

:func:`run_job` computes a job: one fit for a single task, one batched training
(:func:`~posenc.neural_fields.fit_batched`) for several, and returns a :class:`RunOutcome` per
task; it never raises for a failing run. :func:`plan_jobs` groups the runs that differ only in
bandwidth and/or seed (a linear or MLP model trained by Adam on the same signal) into batched
jobs. An :class:`Executor` takes jobs and yields outcomes as jobs finish, in any order; it
never writes results itself. The driver (:func:`posenc.sweeps.runner.run_sweep`) owns the
results store and writes each outcome as it arrives, so an executor that runs jobs elsewhere
(a cluster engine) only has to ship :func:`run_job` calls out and their outcomes back::

    class ClusterExecutor(Executor):
        def execute_jobs(self, jobs, on_steps=None):
            handles = [submit(run_job, job) for job in jobs]
            for handle in as_they_complete(handles):
                yield from handle.result()

The engines are :mod:`posenc.sweeps.executors` (this process, a local process pool) and
:mod:`posenc.sweeps.ray_executor` (a Ray cluster).
"""

from __future__ import annotations

import abc
import itertools
import math
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from posenc.config import FitConfig
from posenc.data import Signal
from posenc.neural_fields import FitResult, fit, fit_batched, load_config_signal
from posenc.neural_fields.batched import batch_bytes, batch_key, batching_pays, plan_batch
from posenc.sweeps.store import FAILED, FINISHED

DEFAULT_MAX_BATCH_BYTES = 2 * 1024**3
"""Largest estimated memory of one batched job; larger groups are split into several jobs."""
SIGNAL_CACHE_SIZE = 8
"""Signals kept loaded per process (a sweep reuses each for many runs)."""

_signals: dict[tuple[str, int | None, bool], Signal] = {}


@dataclass(frozen=True)
class RunTask:
    """One run to compute: its key in the store and its full config."""

    key: str
    config: FitConfig


Job = tuple[RunTask, ...]
"""Tasks computed together by :func:`run_job` (batched when there are several)."""

JobSteps = Callable[[Sequence[str], int], None]
"""Told that the runs with these keys each took ``n`` more training steps: how a driver
follows training inside jobs (:func:`posenc.sweeps.runner.run_sweep`'s bar)."""


@dataclass
class RunOutcome:
    """How one run ended: the fit's metrics record and full-grid prediction, or its error.

    ``executor`` is ``"single"`` (one fit) or ``"batched"`` (trained in a batch of
    ``batch_size``); ``worker`` is ``host:pid`` of the process that computed it.
    """

    task: RunTask
    status: str
    metrics: dict | None
    prediction: np.ndarray | None
    error: str | None
    started_at: float
    finished_at: float
    executor: str
    batch_size: int
    worker: str


def signal_key(config: FitConfig) -> tuple[str, int | None, bool]:
    """What identifies the signal ``config`` fits: runs with the same key fit the same data."""
    return (config.signal, config.size, config.gray)


def load_signal(config: FitConfig) -> Signal:
    """``load_config_signal(config)``, kept per process for the sweep's next runs."""
    key = signal_key(config)
    if key not in _signals:
        if len(_signals) >= SIGNAL_CACHE_SIZE:
            _signals.clear()
        _signals[key] = load_config_signal(config)
    return _signals[key]


def run_job(
    job: Job,
    progress: bool | None = False,
    signal: Signal | None = None,
    on_steps: JobSteps | None = None,
) -> list[RunOutcome]:
    """Compute every task of ``job``; never raises for a failing run.

    Several tasks are trained as one batch; if the batch as a whole fails (e.g. it does not
    fit in memory), its tasks are run one by one, so each ends with its own outcome. A run
    that raises is returned as ``failed`` with the error's type and message. ``signal`` is the
    already loaded signal that every task of ``job`` fits (same :func:`signal_key`), for an
    executor that ships it to workers; by default :func:`load_signal` loads it here.
    ``progress``: a bar per fit; ``on_steps`` hears of every training step.
    """
    if len(job) > 1:
        started = time.time()
        keys = [task.key for task in job]
        try:
            signal = signal if signal is not None else load_signal(job[0].config)
            results = fit_batched(
                signal,
                [task.config for task in job],
                progress=progress,
                on_steps=None if on_steps is None else lambda steps: on_steps(keys, steps),
            )
        except Exception:
            return [_run_single(task, progress, signal, on_steps) for task in job]
        finished = time.time()
        return [
            _finished(task, result, started, finished, "batched", len(job))
            for task, result in zip(job, results, strict=True)
        ]
    return [_run_single(task, progress, signal, on_steps) for task in job]


def _run_single(
    task: RunTask, progress: bool | None, signal: Signal | None, on_steps: JobSteps | None
) -> RunOutcome:
    started = time.time()
    callbacks = [] if on_steps is None else [lambda _: on_steps([task.key], 1)]
    try:
        signal = signal if signal is not None else load_signal(task.config)
        result = fit(signal, task.config, callbacks=callbacks, progress=progress)
    except Exception as error:
        return failed_outcome(task, f"{type(error).__name__}: {error}", started)
    return _finished(task, result, started, time.time(), "single", 1)


def _finished(
    task: RunTask, result: FitResult, started: float, finished: float, executor: str, size: int
) -> RunOutcome:
    return RunOutcome(
        task=task,
        status=FINISHED,
        metrics=result.metrics(),
        prediction=result.prediction.numpy(),
        error=None,
        started_at=started,
        finished_at=finished,
        executor=executor,
        batch_size=size,
        worker=_worker(),
    )


def failed_outcome(task: RunTask, error: str, started: float) -> RunOutcome:
    """A ``failed`` outcome of ``task`` with the message ``error``."""
    return RunOutcome(
        task=task,
        status=FAILED,
        metrics=None,
        prediction=None,
        error=error,
        started_at=started,
        finished_at=time.time(),
        executor="single",
        batch_size=1,
        worker=_worker(),
    )


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


JobClaim = Callable[[Job], Job]
"""Called on each job just before it starts; returns the tasks this process may compute
(the job itself, a part of it, or nothing): how processes sharing a sweep split its runs."""


class Executor(abc.ABC):
    """Computes jobs and yields one :class:`RunOutcome` per task as jobs finish.

    ``on_steps`` follows training inside the jobs where the executor can report it (the
    local executors do); an executor may also ignore it, the driver then advances per
    finished run.
    """

    def start(self) -> None:  # noqa: B027 - most executors need no start
        """Check that the executor can run (connect to a cluster, say) before the sweep
        writes anything; a ``ValueError`` or ``OSError`` says why not, in one line."""

    def stop(self) -> None:  # noqa: B027 - most executors hold nothing between calls
        """Let go of what :meth:`start` took (a cluster connection)."""

    def execute(
        self,
        tasks: Sequence[RunTask],
        *,
        claim: JobClaim | None = None,
        on_steps: JobSteps | None = None,
    ) -> Iterator[RunOutcome]:
        """Compute ``tasks``, each as its own job, passing each through ``claim``."""
        return self.execute_jobs(claimed([(task,) for task in tasks], claim), on_steps)

    @abc.abstractmethod
    def execute_jobs(
        self, jobs: Iterable[Job], on_steps: JobSteps | None = None
    ) -> Iterator[RunOutcome]:
        """Compute ``jobs`` (each by :func:`run_job`); yield outcomes as they finish.

        Jobs are taken from ``jobs`` only when one can start (a worker is free), so that a
        claim is made when its runs are about to be fitted.
        """


def claimed(jobs: Iterable[Job], claim: JobClaim | None) -> Iterator[Job]:
    """``jobs`` passed through ``claim``, lazily; jobs left empty are skipped."""
    for job in jobs:
        kept = job if claim is None else claim(job)
        if kept:
            yield kept


def plan_jobs(
    tasks: Sequence[RunTask], max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES, parallel: int = 1
) -> list[Job]:
    """Group ``tasks`` into jobs (see :class:`BatchedExecutor`), in order of first task.

    A group of batchable tasks is cut into ``max(ceil(bytes / max_batch_bytes),
    min(parallel, size))`` consecutive parts of near-equal size.
    """
    groups: dict[str, list[RunTask]] = {}
    order: list[str | RunTask] = []
    for task in tasks:
        key = batch_key(task.config) if batching_pays(task.config) else None
        if key is None:
            order.append(task)
        elif key in groups:
            groups[key].append(task)
        else:
            groups[key] = [task]
            order.append(key)
    jobs: list[Job] = []
    for item in order:
        if isinstance(item, RunTask):
            jobs.append((item,))
        else:
            jobs.extend(_split_group(groups[item], max_batch_bytes, parallel))
    return jobs


def _split_group(group: list[RunTask], max_batch_bytes: int, parallel: int) -> list[Job]:
    if len(group) == 1:
        return [tuple(group)]
    try:
        signal = load_signal(group[0].config)
        size = batch_bytes(plan_batch(signal, [task.config for task in group]))
    except (ValueError, OSError):  # the runs will fail one by one, each recording why
        return [(task,) for task in group]
    parts = min(len(group), max(math.ceil(size / max_batch_bytes), min(parallel, len(group))))
    bounds = np.linspace(0, len(group), parts + 1).round().astype(int)
    return [tuple(group[start:stop]) for start, stop in itertools.pairwise(bounds.tolist())]
