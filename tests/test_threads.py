"""Threads on shared machines: passive OpenMP waiting when posenc is imported first, and the
CPU count from the affinity mask and the cgroup quota."""

from __future__ import annotations

import os
import threading

import pytest
import torch
from threadpoolctl import threadpool_info

from posenc.threads import (
    cgroup_cpu_quota,
    map_on_cores,
    one_thread,
    usable_cores,
    use_usable_cores,
)
from tests.conftest import run_python

AFFINITY = len(os.sched_getaffinity(0))


def wait_policy(code: str, **env: str) -> str:
    """``OMP_WAIT_POLICY`` as seen after running ``code`` in a fresh interpreter."""
    script = f"{code}; import os; print(os.environ.get('OMP_WAIT_POLICY'))"
    result = run_python(script, env={"OMP_WAIT_POLICY": None, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_posenc_before_torch_makes_waiting_threads_sleep() -> None:
    assert wait_policy("import posenc; import torch") == "PASSIVE"
    assert wait_policy("import posenc", OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"  # the user's
    assert wait_policy("import torch; import posenc") == "None"  # too late to matter


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 0.5),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),
    ],
)
def test_cgroup_quotas_of_both_versions(tmp_path, files, quota) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_cpu_quota(tmp_path) == quota
    expected = AFFINITY if quota is None else min(AFFINITY, max(1, -(-quota // 1)))
    assert usable_cores(tmp_path) == expected


def test_a_quota_caps_the_affinity_mask(tmp_path) -> None:
    (tmp_path / "cpu.max").write_text("100000 100000\n")  # one CPU
    assert usable_cores(tmp_path) == 1


def test_torch_threads_follow_the_usable_cores_unless_the_user_set_them(monkeypatch) -> None:
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        torch.set_num_threads(1)
        assert use_usable_cores() == usable_cores()
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        assert use_usable_cores() == 1
    finally:
        torch.set_num_threads(before)


def blas_threads() -> list[int]:
    """Threads of each BLAS library NumPy and SciPy loaded."""
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_one_thread_holds_torch_and_blas_to_one_thread_and_restores_them_even_on_error() -> None:
    before, blas_before = torch.get_num_threads(), blas_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError), one_thread():
            assert torch.get_num_threads() == 1
            assert set(blas_threads()) == {1}
            raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
        assert blas_threads() == blas_before
    finally:
        torch.set_num_threads(before)


def test_map_on_cores_runs_side_by_side_on_one_thread_each_and_keeps_the_order() -> None:
    """As many calls run at once as torch has threads, each seeing one torch thread; results
    and ticks come in the order of the items."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    inside, both_in = threading.Barrier(2, timeout=10), []

    def work(item: int) -> tuple[int, int]:
        if item < 2:  # the first two wait for each other: they must run at the same time
            inside.wait()
            both_in.append(item)
        return item * item, torch.get_num_threads()

    ticks: list[int] = []
    try:
        results = map_on_cores(work, range(6), lambda: ticks.append(len(ticks)))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert results == [(item * item, 1) for item in range(6)]
    assert sorted(both_in) == [0, 1] and ticks == list(range(6))
