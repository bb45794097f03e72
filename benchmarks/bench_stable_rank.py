"""Stable rank and distance preservation of a D x D embedding: structured paths vs dense ones.

Two matrices, each measured by every method in the same run:

1. P1's periodic Gaussian basis (sigma = 0.01, D centres, D samples ``k / D``): the exact FFT
   path (one generator row, block-circulant spectrum) against the Gram eigenvalues and a full
   SVD of the materialised matrix. DP: FFT autocorrelation against dense row similarities.
2. RFF (D / 2 frequencies, scale 5, D samples): the Toeplitz/Lanczos path against the Gram
   eigenvalues of the materialised matrix.

Rows: each method's time, the speed-up of the structured path, and its SR's relative
difference from the dense reference (target 1e-6) and DP difference. D is 2000 with
``--quick``, 4000 by default and 10000 (P1's size; minutes for the SVD) with ``--full``.
Run from the repository root (or through ``benchmarks/run_all.py``)::

    python benchmarks/bench_stable_rank.py [--quick | --full]

On a machine shared with other busy processes, set ``OMP_WAIT_POLICY=PASSIVE``: spinning
OpenMP threads that lose their core can slow dense LAPACK calls by two orders of magnitude.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import harness
import torch

from posenc.analysis import (
    distance_preservation,
    embedding_matrix,
    row_similarity,
    stable_rank,
    stable_rank_and_similarity,
)
from posenc.embeddings import make_embedding

DIMENSIONS = {"quick": 2000, "default": 4000, "full": 10_000}
REPEATS = 5
SR_TOLERANCE = 1e-6


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


def gaussian_rows(dim: int) -> list[dict[str, Any]]:
    """FFT path against the Gram eigenvalues and the full SVD of the materialised matrix."""
    emb = make_embedding(
        "gaussian",
        sigma=0.01,
        num_centers=dim,
        periodic=True,
        normalization="none",
        dtype=torch.float64,
    )
    fft_time, (fft_sr, fft_dp) = timed(lambda: structured(emb, dim), REPEATS)
    matrix = embedding_matrix(emb, dim)
    gram_time, gram_sr = timed(lambda: stable_rank(matrix, "gram"))
    dp_time, dense = timed(lambda: dense_dp(matrix))
    svd_time, svd_sr = timed(lambda: stable_rank(matrix, "svd"))
    case = f"gaussian sigma 0.01, {dim}x{dim}"
    difference = abs(fft_sr / svd_sr - 1)
    return [
        harness.row("stable_rank", case, "FFT path: SR + DP time", fft_time, "s"),
        harness.row("stable_rank", case, "Gram eigenvalues: SR time", gram_time, "s"),
        harness.row("stable_rank", case, "dense row similarities: DP time", dp_time, "s"),
        harness.row("stable_rank", case, "full SVD: SR time", svd_time, "s"),
        harness.row("stable_rank", case, "full SVD / FFT path", svd_time / fft_time, "x"),
        harness.row(
            "stable_rank", case, "FFT SR relative difference from SVD", difference, "",
            f"<= {SR_TOLERANCE:g}", difference <= SR_TOLERANCE, f"SR {svd_sr:.6f}",
        ),
        harness.row(
            "stable_rank", case, "Gram SR relative difference from SVD",
            abs(gram_sr / svd_sr - 1), "", f"<= {SR_TOLERANCE:g}",
            abs(gram_sr / svd_sr - 1) <= SR_TOLERANCE,
        ),
        harness.row(
            "stable_rank", case, "FFT DP - dense DP", fft_dp - dense, "", note=f"DP {dense:.6f}"
        ),
    ]  # fmt: skip


def rff_rows(dim: int) -> list[dict[str, Any]]:
    """Toeplitz/Lanczos path against the Gram eigenvalues of the materialised matrix."""
    emb = make_embedding(
        "rff", scale=5.0, num_frequencies=dim // 2, normalization="none", dtype=torch.float64
    )
    fast_time, (fast_sr, fast_dp) = timed(lambda: structured(emb, dim), REPEATS)
    matrix = embedding_matrix(emb, dim)
    gram_time, gram_sr = timed(lambda: stable_rank(matrix, "gram"))
    dp_time, dense = timed(lambda: dense_dp(matrix))
    case = f"rff scale 5, {dim // 2} frequencies, {dim} samples"
    difference = abs(fast_sr / gram_sr - 1)
    return [
        harness.row("stable_rank", case, "Toeplitz path: SR + DP time", fast_time, "s"),
        harness.row("stable_rank", case, "Gram eigenvalues: SR time", gram_time, "s"),
        harness.row("stable_rank", case, "dense row similarities: DP time", dp_time, "s"),
        harness.row("stable_rank", case, "Gram / Toeplitz path", gram_time / fast_time, "x"),
        harness.row(
            "stable_rank", case, "Toeplitz SR relative difference from Gram", difference, "",
            f"<= {SR_TOLERANCE:g}", difference <= SR_TOLERANCE, f"SR {gram_sr:.6f}",
        ),
        harness.row(
            "stable_rank", case, "Toeplitz DP - dense DP", fast_dp - dense, "",
            note=f"DP {dense:.6f}",
        ),
    ]  # fmt: skip


def run(quick: bool, device: str, full: bool = False) -> list[dict[str, Any]]:
    """Rows of both matrices at the mode's D (the analysis runs on the CPU in float64, so
    ``device`` is not used)."""
    dim = DIMENSIONS[harness.mode_name(quick, full)]
    return gaussian_rows(dim) + rff_rows(dim)


if __name__ == "__main__":
    harness.run_standalone(run, __doc__.splitlines()[0])
