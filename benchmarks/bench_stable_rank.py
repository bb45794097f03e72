"""Stable rank and distance preservation of a D x D embedding: structured paths vs dense ones.

Two matrices, each measured by every method in the same run, times printed side by side:

1. P1's periodic Gaussian basis (sigma = 0.01, D centres, D samples ``k / D``): the exact FFT
   path (one generator row, block-circulant spectrum) against the Gram eigenvalues and a full
   SVD of the materialised matrix. DP: FFT autocorrelation against dense row similarities.
2. RFF (D / 2 frequencies, scale 5, D samples): the Toeplitz/Lanczos path against the Gram
   eigenvalues of the materialised matrix.

Run from the repository root::

    python benchmarks/bench_stable_rank.py            # D = 10000 (minutes: the SVD)
    python benchmarks/bench_stable_rank.py --quick    # D = 2000

On a machine shared with other busy processes, set ``OMP_WAIT_POLICY=PASSIVE``: spinning
OpenMP threads that lose their core can slow dense LAPACK calls by two orders of magnitude.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from posenc.analysis import (
    distance_preservation,
    embedding_matrix,
    row_similarity,
    stable_rank,
    stable_rank_and_similarity,
)
from posenc.embeddings import make_embedding


def timed(function: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def structured(embedding: Any, samples: int) -> tuple[float, float]:
    sr, curve = stable_rank_and_similarity(embedding, samples)
    return sr, curve.distance_preservation()


def dense_dp(matrix: torch.Tensor) -> float:
    centre = matrix.shape[0] // 2
    return distance_preservation(row_similarity(matrix, centre))


def report(
    title: str, rows: list[tuple[str, float, float | None, float | None]], reference_sr: float
) -> None:
    """Rows ``(method, seconds, SR or None, DP or None)``; ratios are to the first row."""
    print(f"\n{title}")
    print(f"  {'method':<34} {'seconds':>10} {'x first':>9} {'SR':>14} {'SR rel. diff':>13} DP")
    for method, seconds, sr, dp in rows:
        ratio = seconds / rows[0][1]
        sr_text = "-" if sr is None else f"{sr:.8f}"
        diff_text = "-" if sr is None else f"{abs(sr / reference_sr - 1):.1e}"
        dp_text = "-" if dp is None else f"{dp:.6f}"
        print(
            f"  {method:<34} {seconds:10.4f} {ratio:9.1f} {sr_text:>14} {diff_text:>13} {dp_text}"
        )


def gaussian_section(dim: int, repeat: int) -> None:
    build_time, emb = timed(
        lambda: make_embedding(
            "gaussian",
            sigma=0.01,
            num_centers=dim,
            periodic=True,
            normalization="none",
            dtype=torch.float64,
        )
    )
    fft_time, (fft_sr, fft_dp) = timed(lambda: structured(emb, dim), repeat)
    matrix_time, matrix = timed(lambda: embedding_matrix(emb, dim))
    gram_time, gram_sr = timed(lambda: stable_rank(matrix, "gram"))
    dp_time, dp = timed(lambda: dense_dp(matrix))
    svd_time, svd_sr = timed(lambda: stable_rank(matrix, "svd"))
    print(
        f"\nbuilding the embedding: {build_time:.3f} s; materialising {dim}x{dim}: "
        f"{matrix_time:.2f} s (neither is in the rows below)"
    )
    report(
        f"Gaussian basis sigma=0.01, {dim}x{dim}: SR and DP (SR rel. diff against the SVD)",
        [
            ("FFT path: SR + DP", fft_time, fft_sr, fft_dp),
            ("Gram eigenvalues: SR", gram_time, gram_sr, None),
            ("dense row similarities: DP", dp_time, None, dp),
            ("full SVD: SR", svd_time, svd_sr, None),
        ],
        reference_sr=svd_sr,
    )
    print(f"  FFT SR + DP vs full SVD SR alone: {svd_time / fft_time:.0f}x faster")


def rff_section(dim: int, repeat: int) -> None:
    emb = make_embedding(
        "rff", scale=5.0, num_frequencies=dim // 2, normalization="none", dtype=torch.float64
    )
    toeplitz_time, (toeplitz_sr, toeplitz_dp) = timed(lambda: structured(emb, dim), repeat)
    matrix = embedding_matrix(emb, dim)
    gram_time, gram_sr = timed(lambda: stable_rank(matrix, "gram"))
    dp_time, dp = timed(lambda: dense_dp(matrix))
    report(
        f"RFF scale=5, {dim // 2} frequencies, {dim} samples (SR rel. diff against the Gram)",
        [
            ("Toeplitz + Lanczos path: SR + DP", toeplitz_time, toeplitz_sr, toeplitz_dp),
            ("dense row similarities: DP", dp_time, None, dp),
            ("Gram eigenvalues: SR", gram_time, gram_sr, None),
        ],
        reference_sr=gram_sr,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="D = 2000 instead of 10000")
    parser.add_argument("--dim", type=int, help="matrix size D (overrides --quick)")
    parser.add_argument("--repeat", type=int, default=5, help="repeats of the fast paths")
    args = parser.parse_args()
    dim = args.dim or (2000 if args.quick else 10_000)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}"
    )
    gaussian_section(dim, args.repeat)
    rff_section(dim, args.repeat)


if __name__ == "__main__":
    main()
