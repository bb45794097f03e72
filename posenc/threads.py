"""Threads of posenc's tensor work, chosen for machines shared with other busy processes.

torch runs CPU kernels on OpenMP threads which, by default, spin for a while at every
barrier waiting for their partners. When other processes hold the cores, a thread spins while
its partner is descheduled, and multi-threaded work slows down many times over. Measured on
2 cores at load average 13 to 17 (``benchmarks/bench_threads.py`` measures it again): the
stable rank of a p1-2d training matrix took 3 to 23 s with 2 spinning threads and 0.1 s with
2 passive ones; a 20-step default ``posenc fit`` trained in 35 to 67 s with 2 spinning
threads, 15 s with 2 passive ones and 12 s with one; a p1-2d training step took 5.2 to 6.9 s
with 2 spinning threads, 1.1 to 3.6 s with 2 passive ones and 2.3 to 5.2 s with one. Hence:

- :func:`prefer_passive_waiting` sets ``OMP_WAIT_POLICY=PASSIVE`` (waiting threads sleep
  instead of spinning) unless the environment sets a policy. OpenMP reads it once, when
  torch is imported, so importing :mod:`posenc` before torch does this; a process that
  imported torch first keeps spinning threads (set the variable before starting it).
- :func:`usable_cores` counts the CPUs this process may use: its affinity mask, capped by a
  cgroup CPU quota (containers). torch's default counts the machine's cores, so a container
  limited to 2 CPUs on a 64-core host would run 64 threads. The command line sets torch's
  threads to this count unless ``OMP_NUM_THREADS`` says otherwise (:func:`use_usable_cores`).
- :func:`one_thread` runs a stretch of many small kernels on one thread: there waking the
  partner threads at each kernel costs more than they share (the oracle's replay, 2000 Adam
  steps on a few 10^4 weights, took 0.6 s on 2 threads and 0.26 s on one).
- :func:`map_on_cores` shares independent pieces of such work out among the cores instead,
  one piece per core: a 256 x 256 symmetric eigendecomposition takes as long on 2 BLAS
  threads as on one (5.8 and 6.1 ms), while two of them side by side on one thread each take
  half the time of two in turn (16 of them: 0.049 s against 0.099 s).
"""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController

CGROUP_ROOT = Path("/sys/fs/cgroup")
Item = TypeVar("Item")
Result = TypeVar("Result")


def prefer_passive_waiting() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` if no policy is set and torch is not loaded yet;
    return whether the OpenMP runtime will wait passively."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"


def usable_cores(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota
    (``cpu.max`` of cgroup v2, ``cpu.cfs_quota_us / cpu.cfs_period_us`` of v1) rounded up."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = cgroup_cpu_quota(cgroup_root)
    return max(1, min(cores or 1, math.ceil(quota) if quota else cores or 1))


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota of this process's cgroup in CPUs, ``None`` where there is none."""
    try:
        limit, interval = (cgroup_root / "cpu.max").read_text().split()[:2]
        return None if limit == "max" else int(limit) / int(interval)
    except (OSError, ValueError):
        pass
    try:
        quota = int((cgroup_root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((cgroup_root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


def use_usable_cores() -> int:
    """Set torch's thread count to :func:`usable_cores` unless ``OMP_NUM_THREADS`` is set;
    return the thread count in effect."""
    import torch

    if not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(usable_cores())
    return torch.get_num_threads()


@contextmanager
def one_thread() -> Iterator[None]:
    """torch's CPU kernels, and the BLAS and LAPACK under NumPy and SciPy (those loaded when
    this is first used), on one thread inside the block; both thread counts are restored
    after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with _thread_pools().limit(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(threads)


@functools.cache
def _thread_pools() -> ThreadpoolController:
    """The thread pools of the native libraries loaded when first asked (finding them reads
    every loaded library, about a millisecond: once, not at every :func:`one_thread`)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def map_on_cores(
    function: Callable[[Item], Result],
    items: Iterable[Item],
    done: Callable[[], object] | None = None,
) -> list[Result]:
    """``[function(item) for item in items]``, the calls spread over as many threads as torch
    has for its kernels (``torch.get_num_threads()``: ``OMP_NUM_THREADS``, or what the command
    line or the caller set), whose kernels each run on one thread (:func:`one_thread`): for
    independent pieces of NumPy, SciPy or torch work too small to share out inside (their
    kernels release the GIL, so the threads run side by side). ``function`` must not change
    shared state. ``done`` is called after each result, in the order of ``items`` (a
    progress bar's tick).
    """
    import torch

    results = []
    workers = torch.get_num_threads()
    with one_thread(), ThreadPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(function, items):
            results.append(result)
            if done is not None:
                done()
    return results
