"""Shared pieces of the benchmarks: modes, side-by-side timing, result rows, the table.

Every ``bench_*.py`` module exposes ``run(quick: bool, device: str) -> list[dict]`` (the
modules here also take ``full: bool = False``) and runs standalone with the same flags as
``run_all.py``. A row is a dict with the keys of :data:`COLUMNS`; ``met`` is ``True`` or
``False`` where the row has a target, else ``None``.

Importing this module puts the repository root first on ``sys.path``, so the benchmarks use
the ``posenc`` of the checkout they live in, and imports posenc before torch, so that torch's
waiting threads sleep instead of spinning (:mod:`posenc.threads`); the runners use as many
threads as the process has usable cores, as the command line does.
:func:`background_gemms` starts competing processes for measurements under load.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from posenc.threads import prefer_passive_waiting, use_usable_cores  # noqa: E402

prefer_passive_waiting()

import torch  # noqa: E402

from posenc.neural_fields import psnr  # noqa: E402
from posenc.neural_fields.embedded import FlatProblem  # noqa: E402
from posenc.neural_fields.fitting import make_adam  # noqa: E402
from posenc.neural_fields.pipeline import build_config_model, build_embedding  # noqa: E402

COLUMNS = ("benchmark", "case", "metric", "value", "unit", "target", "met", "note")
RESULTS_DIR = REPO_ROOT / "runs" / "benchmarks"
BACKGROUND_VARIABLE = "POSENC_BENCH_BACKGROUND_GEMMS"
"""Environment variable: competing GEMM processes of the benchmarks measured under load."""
BACKGROUND_GEMM_SIZE = 1024
GEMM_LOOP = (
    "import torch\n"
    "torch.set_num_threads(1)\n"
    "a = torch.rand({size}, {size})\n"
    "out = torch.empty_like(a)\n"
    "while True:\n"
    "    torch.mm(a, a, out=out)\n"
)


def mode_name(quick: bool, full: bool) -> str:
    """``quick`` (CI, about a minute), ``default`` (a few minutes) or ``full`` (the papers'
    step counts; hours on a CPU)."""
    if quick and full:
        raise ValueError("choose --quick or --full, not both")
    return "quick" if quick else "full" if full else "default"


def synchronize(device: str) -> None:
    """Wait for queued work on ``device`` (a no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(work: Callable[[], Any], device: str) -> float:
    """Wall seconds of ``work()``, the device synchronised before and after."""
    synchronize(device)
    start = time.perf_counter()
    work()
    synchronize(device)
    return time.perf_counter() - start


def interleaved_medians(
    works: dict[str, Callable[[], Any]], repeats: int, device: str, warmup: int = 1
) -> dict[str, float]:
    """Median wall seconds of each work, run in turn ``A, B, C, A, B, C, ...``.

    Interleaving exposes every candidate to the same background load of a shared machine;
    ``warmup`` untimed rounds come first.
    """
    times: dict[str, list[float]] = {name: [] for name in works}
    for round_index in range(warmup + repeats):
        for name, work in works.items():
            seconds = timed(work, device)
            if round_index >= warmup:
                times[name].append(seconds)
    return {name: statistics.median(values) for name, values in times.items()}


def background_count(default: int = 1) -> int:
    """Competing GEMM processes for measurements under load: ``$POSENC_BENCH_BACKGROUND_GEMMS``
    (set by ``--background-gemms``), else ``default``."""
    return int(os.environ.get(BACKGROUND_VARIABLE, default))


@contextlib.contextmanager
def background_gemms(count: int) -> Iterator[None]:
    """Run ``count`` processes that multiply 1024 x 1024 matrices on one thread each, without
    pause, while the block runs: a controlled competing load on the CPU and memory system."""
    code = GEMM_LOOP.format(size=BACKGROUND_GEMM_SIZE)
    processes = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL)
        for _ in range(count)
    ]
    try:
        time.sleep(2.0 if count else 0.0)  # let them start multiplying
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()


def row(
    benchmark: str,
    case: str,
    metric: str,
    value: float,
    unit: str,
    target: str = "",
    met: bool | None = None,
    note: str = "",
) -> dict[str, Any]:
    """One result row (see the module docstring)."""
    return {
        "benchmark": benchmark,
        "case": case,
        "metric": metric,
        "value": float(value),
        "unit": unit,
        "target": target,
        "met": met,
        "note": note,
    }


def format_value(value: Any) -> str:
    """Numbers to 4 significant digits (no exponent below a million), the rest as text."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "NO", None: ""}[value]
    if isinstance(value, float | int):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.3e}"
    return str(value)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A fixed-width text table of ``rows`` over :data:`COLUMNS`; keys outside them (from
    modules with their own rows) are appended to the note as ``key=value``."""
    lines = [list(COLUMNS)]
    for entry in rows:
        extra = [f"{key}={format_value(val)}" for key, val in entry.items() if key not in COLUMNS]
        cells = [format_value(entry.get(column, "")) for column in COLUMNS]
        cells[-1] = "; ".join(filter(None, [cells[-1], *extra]))
        lines.append(cells)
    widths = [max(len(line[index]) for line in lines) for index in range(len(COLUMNS) - 1)]
    text = []
    for number, line in enumerate(lines):
        padded = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        text.append("  ".join([*padded, line[-1]]).rstrip())
        if number == 0:
            text.append("  ".join("-" * width for width in widths) + "  ----")
    return "\n".join(text)


def environment(device: str, mode: str) -> dict[str, Any]:
    """What the numbers were measured on: versions, threads, device, load average."""
    info: dict[str, Any] = {
        "mode": mode,
        "device": device,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "load_average_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "stamp": f"bench-{time.strftime('%Y%m%d-%H%M%S')}-{mode}-{device}".replace(":", ""),
    }
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def write_results(rows: Sequence[dict[str, Any]], info: dict[str, Any], out_dir: Path) -> Path:
    """Write ``rows`` and ``info`` as ``<stamp>.json`` and ``<stamp>.csv`` (the stamp of
    :func:`environment`, so writing again replaces them); return the JSON's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = info["stamp"]
    info = {**info, "load_average_end": os.getloadavg()}
    json_path = out_dir / f"{stamp}.json"
    json_path.write_text(json.dumps({"environment": info, "rows": list(rows)}, indent=2) + "\n")
    with open(out_dir / f"{stamp}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return json_path


def parse_args(
    description: str, argv: Sequence[str] | None = None, extra_only: Sequence[str] = ()
) -> argparse.Namespace:
    """The flags every benchmark takes: ``--quick``, ``--full``, ``--device``, ``--out``;
    with ``extra_only``, also ``--only`` choosing among those names."""
    parser = argparse.ArgumentParser(description=description)
    if extra_only:
        parser.add_argument("--only", nargs="+", choices=list(extra_only), help="run only these")
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--quick", action="store_true", help="small sizes for CI (about a minute)")
    speed.add_argument("--full", action="store_true", help="the papers' step counts (hours on CPU)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for JSON and CSV")
    parser.add_argument(
        "--background-gemms",
        type=int,
        metavar="N",
        help=f"competing GEMM processes for the measurements under load (default 1; sets "
        f"${BACKGROUND_VARIABLE})",
    )
    args = parser.parse_args(argv)
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        parser.error(f"device {args.device!r} requested but CUDA is not available here")
    if args.background_gemms is not None:
        if args.background_gemms < 0:
            parser.error("--background-gemms must be 0 or more")
        os.environ[BACKGROUND_VARIABLE] = str(args.background_gemms)
    use_usable_cores()
    return args


def run_standalone(run: Callable[..., list[dict[str, Any]]], description: str) -> None:
    """Command-line entry of one benchmark module: run it, print the table, save it."""
    args = parse_args(description)
    mode = mode_name(args.quick, args.full)
    info = environment(args.device, mode)
    rows = run(quick=args.quick, device=args.device, full=args.full)
    print(format_table(rows))
    print(f"wrote {write_results(rows, info, args.out)}")


def mib(num_bytes: float | None) -> float:
    """Bytes in MiB (NaN for unknown)."""
    return float("nan") if num_bytes is None else num_bytes / 2**20


def build_training(config: Any, signal: Any, split: Any, first_layer: str) -> tuple[Any, Any, Any]:
    """``(problem, model, optimizer)`` for ``config`` with the first layer in the form given,
    built as :func:`posenc.neural_fields.fit` builds them (same seed, same initial weights)."""
    device = torch.device(config.device)
    embedding = build_embedding(config, signal.ndim).to(device)
    problem = FlatProblem.build(signal, split, embedding, device, first_layer)
    torch.manual_seed(config.seed)
    model = build_config_model(config, embedding, signal).to(device)
    return problem, model, make_adam(model.parameters(), config)


def test_psnr(problem: Any, model: Any) -> float:
    """Test PSNR of ``model`` on ``problem``, as ``fit`` computes its final one."""
    with torch.no_grad():
        prediction = problem.predict_test(model)
        return psnr(torch.mean((prediction - problem.test_targets) ** 2))
