"""Run every benchmark and print one table: ``python benchmarks/run_all.py [--quick|--full]
[--device cpu|cuda] [--only NAME ...] [--out DIR]``.

Each ``benchmarks/bench_*.py`` module is imported and its ``run(quick, device)`` called (with
``full=`` too where its ``run`` takes it); the rows of all of them are printed as one table
and written as JSON (with the environment: versions, threads, device, load average) and CSV
into ``--out`` (default ``runs/benchmarks``), rewritten after each benchmark. Modes:
``--quick`` (CI, about two minutes on two cores), default (about 11 minutes; the papers' shapes
with few steps), ``--full`` (the papers' step counts: hours on a CPU).
"""

from __future__ import annotations

import importlib
import inspect
import sys
import time
from pathlib import Path
from typing import Any

import harness

ORDER = (
    "roofline",
    "plain_loop",
    "sparse",
    "closed_form",
    "batched_sweep",
    "oracle",
    "cli_startup",
)


def benchmark_names() -> list[str]:
    """Names of the ``bench_*.py`` modules beside this file, in the order of :data:`ORDER`
    first, then any others alphabetically."""
    paths = Path(__file__).parent.glob("bench_*.py")
    found = sorted(path.stem.removeprefix("bench_") for path in paths)
    return [name for name in ORDER if name in found] + [n for n in found if n not in ORDER]


def run_benchmark(name: str, quick: bool, full: bool, device: str) -> list[dict[str, Any]]:
    """Import ``bench_<name>`` and run it in the chosen mode."""
    module = importlib.import_module(f"bench_{name}")
    keywords: dict[str, Any] = {"quick": quick, "device": device}
    if "full" in inspect.signature(module.run).parameters:
        keywords["full"] = full
    elif full:
        print(f"{name}: no --full mode, running its default", file=sys.stderr)
    return module.run(**keywords)


def main() -> int:
    """Parse the flags, run the benchmarks, print and save the table."""
    names = benchmark_names()
    args = harness.parse_args(__doc__.splitlines()[0], extra_only=names)
    mode = harness.mode_name(args.quick, args.full)
    info = harness.environment(args.device, mode)
    rows: list[dict[str, Any]] = []
    for name in args.only or names:
        start = time.perf_counter()
        print(f"running {name} ({mode}, {args.device}) ...", file=sys.stderr, flush=True)
        rows += run_benchmark(name, args.quick, args.full, args.device)
        print(f"{name} done in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        harness.write_results(rows, info, args.out)  # what is done so far survives a failure
    print(harness.format_table(rows))
    print(
        f"load average at start {info['load_average_start']}, torch {info['torch']}, "
        f"{info['threads']} threads"
    )
    print(f"wrote {harness.write_results(rows, info, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
