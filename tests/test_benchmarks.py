"""The benchmark runner finds every benchmark and each one speaks the shared row format (the
timings themselves are never asserted: they belong to ``benchmarks/run_all.py``'s table)."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

from tests.conftest import REPO_ROOT

BENCHMARK_DIR = REPO_ROOT / "benchmarks"


@pytest.fixture(scope="module")
def run_all() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCHMARK_DIR))
    try:
        yield importlib.import_module("run_all")
    finally:
        sys.path.remove(str(BENCHMARK_DIR))


def test_the_runner_finds_every_benchmark_file(run_all) -> None:
    files = sorted(path.stem.removeprefix("bench_") for path in BENCHMARK_DIR.glob("bench_*.py"))
    assert sorted(run_all.benchmark_names()) == files
    assert run_all.benchmark_names()[: len(run_all.ORDER)] == list(run_all.ORDER)


def test_every_benchmark_runs_in_the_three_modes_on_a_named_device(run_all) -> None:
    for name in run_all.benchmark_names():
        parameters = inspect.signature(importlib.import_module(f"bench_{name}").run).parameters
        assert list(parameters) == ["quick", "device", "full"], name


def test_rows_carry_the_shared_columns_and_a_verdict_for_each_target(run_all, tmp_path) -> None:
    harness = importlib.import_module("harness")
    rows = run_all.run_benchmark("stable_rank", quick=True, full=False, device="cpu")
    assert rows and all(set(row) == set(harness.COLUMNS) for row in rows)
    assert all((row["target"] == "") == (row["met"] is None) for row in rows)
    assert all(row["met"] for row in rows if row["met"] is not None)  # SR agrees to 1e-6
    info = harness.environment("cpu", "quick")
    written = harness.write_results(rows, info, tmp_path)
    assert written.exists() and written.with_suffix(".csv").exists()
    assert len(harness.format_table(rows).splitlines()) == len(rows) + 2
