"""Batched training of a 16-bandwidth 1D linear sweep against the same 16 fits one by one.

Each case fits row 200 of ``camera`` (512 samples, even ones for training) with a Gaussian
basis at 16 sigmas log-spaced from 1e-4 to 1e-1 and a linear model without sigmoid, twice in
the same run: 16 calls of :func:`posenc.neural_fields.fit` one after another (baseline), and
one :func:`posenc.sweeps.fit_batched` call. Both produce the 16 complete results (PSNRs, full
prediction, stable rank, distance preservation); the table gives both wall times, their
ratio, the same for the training loops alone, and the largest PSNR difference between the
two (train, test and held-out PSNR, and the last-steps means). Baseline and batched runs
alternate, and the best of a few repeats of each is reported, so that load from other
processes on a shared machine affects both alike.

Cases: the sweep of ``posenc sweep --signal camera:row=200 --model linear`` with fit's
defaults (256 centres, Adam 300 steps), the same at P1's 2000 steps, and (not with --quick)
P1's 1D protocol itself (10000 centres, 2000 steps; memory-bound: every step streams the 16
embedded matrices, so batching saves only the per-step overheads).

Run from the repository root::

    python benchmarks/bench_batched_sweep.py            # all cases
    python benchmarks/bench_batched_sweep.py --quick    # the two 256-centre cases
    python benchmarks/bench_batched_sweep.py --device cuda

On a machine shared with other busy processes, set ``OMP_WAIT_POLICY=PASSIVE``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from posenc.neural_fields import FitConfig, FitResult, fit, resolve_config
from posenc.neural_fields.fitting import load_config_signal
from posenc.sweeps import fit_batched

SIGMAS = np.logspace(-4, -1, 16)
PSNR_FIELDS = ("train_psnr", "test_psnr", "heldout_psnr", "train_psnr_last", "test_psnr_last")
CASES = {
    # name: (protocol, overrides, repeats; the best of the repeats is reported)
    "row sweep, 256 centres, 300 steps": (None, {}, 5),
    "row sweep, 256 centres, 2000 steps": (None, {"steps": 2000, "lr": 1e-3}, 2),
    "P1 1D protocol, 10000 centres, 2000 steps": ("p1-1d", {}, 1),
}
QUICK_CASES = tuple(CASES)[:2]


def sweep_configs(protocol: str | None, overrides: dict[str, Any], device: str) -> list[FitConfig]:
    """The 16 configs of one case."""
    return [
        resolve_config(
            protocol,
            signal="camera:row=200",
            embedding="gaussian",
            model="linear",
            sigmoid=False,
            device=device,
            embedding_params={"bandwidth": float(sigma)},
            **overrides,
        )
        for sigma in SIGMAS
    ]


def timed(function: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def measure(case: str, configs: list[FitConfig], repeat: int) -> dict[str, Any]:
    """Best of ``repeat`` interleaved runs of the baseline and the batched sweep."""
    signal = load_config_signal(configs[0])
    baseline_times, batched_times, baseline_train, batched_train = [], [], [], []
    sequential: list[FitResult] = []
    batched: list[FitResult] = []
    for _ in range(repeat):
        seconds, sequential = timed(lambda: [fit(signal, config) for config in configs])
        baseline_times.append(seconds)
        baseline_train.append(sum(result.timings["train"] for result in sequential))
        seconds, batched = timed(lambda: fit_batched(signal, configs))
        batched_times.append(seconds)
        batched_train.append(batched[0].timings["batch_train"])
    difference = max(
        abs(getattr(ours, name) - getattr(theirs, name))
        for ours, theirs in zip(batched, sequential, strict=True)
        for name in PSNR_FIELDS
    )
    best = max(sequential, key=lambda result: result.test_psnr)
    return {
        "benchmark": "batched_sweep",
        "case": case,
        "runs": len(configs),
        "steps": configs[0].steps,
        "baseline_s": min(baseline_times),
        "posenc_s": min(batched_times),
        "ratio": min(baseline_times) / min(batched_times),
        "baseline_train_s": min(baseline_train),
        "posenc_train_s": min(batched_train),
        "train_ratio": min(baseline_train) / min(batched_train),
        "max_psnr_difference_db": difference,
        "best_sigma": best.config.embedding_params["sigma"],
        "best_test_psnr_db": best.test_psnr,
        "device": configs[0].device,
    }


def run(quick: bool, device: str) -> list[dict[str, Any]]:
    """One row per case: wall times of 16 fits one by one and batched, ratio, PSNR agreement."""
    warm = sweep_configs(None, {"steps": 5}, device)[:2]
    fit_batched(load_config_signal(warm[0]), warm)  # first-call costs out of the timings
    fit(load_config_signal(warm[0]), warm[0])
    rows = []
    for name in QUICK_CASES if quick else tuple(CASES):
        protocol, overrides, repeat = CASES[name]
        rows.append(measure(name, sweep_configs(protocol, overrides, device), repeat))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the 256-centre cases")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, device {args.device}"
    )
    rows = run(args.quick, args.device)
    header = (
        f"{'case':<44} {'16 fits s':>10} {'batched s':>10} {'ratio':>6} "
        f"{'train s':>8} {'batched':>8} {'ratio':>6} {'max dPSNR':>10}"
    )
    print(header)
    for row in rows:
        print(
            f"{row['case']:<44} {row['baseline_s']:10.2f} {row['posenc_s']:10.2f} "
            f"{row['ratio']:6.2f} {row['baseline_train_s']:8.2f} {row['posenc_train_s']:8.2f} "
            f"{row['train_ratio']:6.2f} {row['max_psnr_difference_db']:10.2e}"
        )
    for row in rows:
        print(
            f"{row['case']}: best sigma {row['best_sigma']:.4g}, "
            f"test PSNR {row['best_test_psnr_db']:.2f} dB"
        )


if __name__ == "__main__":
    main()
