"""P1's and P2's published SR and DP tables, rebuilt through the public embeddings and the FFT path.

P1's analysis matrix is the D x D circulant (D = 10000) of a unit-norm generator, rows at
x = k / N: here a periodic shifted basis with 10000 centres embedding the grid k / N. SR and
DP do not depend on a global scale, so ``normalization="none"`` stands for the unit norm.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from posenc.analysis import embedding_distance_preservation, embedding_stable_rank, similarity_curve
from posenc.embeddings import make_embedding
from posenc.theory import SR_DP_GAUSSIAN

D = 10_000
SAMPLES = (1, 2, 5, 10, 20, 30, 40, 50)


def p1_basis(name: str, **params: Any) -> Any:
    return make_embedding(
        name, num_centers=D, periodic=True, normalization="none", dtype=torch.float64, **params
    )


@pytest.mark.parametrize(
    ("sigma", "sr", "dp"),
    [
        (0.1, 2.821, 0.30345),
        (0.05, 5.642, 0.15175),
        (0.01, 28.209, 0.03035),
        (0.005, 56.419, 0.01515),
        (0.001, 282.095, 0.00305),
    ],
)
def test_gaussian_sr_and_dp_at_d_10000(sigma: float, sr: float, dp: float) -> None:
    emb = p1_basis("gaussian", sigma=sigma)
    assert embedding_stable_rank(emb, D) == pytest.approx(sr, rel=0.005)
    assert embedding_distance_preservation(emb, D) == pytest.approx(dp, rel=0.01)
    assert similarity_curve(emb, D).method == "fft"


def test_gaussian_sr_times_dp_is_constant() -> None:
    """SR * DP stays within 2% of sqrt(ln 10 / pi) = 0.85612 over sigma in [0.002, 0.1]."""
    assert pytest.approx(0.85612, abs=5e-6) == SR_DP_GAUSSIAN
    for sigma in np.geomspace(0.002, 0.1, 12):
        emb = p1_basis("gaussian", sigma=float(sigma))
        product = embedding_stable_rank(emb, D) * embedding_distance_preservation(emb, D)
        assert product == pytest.approx(SR_DP_GAUSSIAN, rel=0.02), sigma


@pytest.mark.parametrize(
    ("name", "params", "table"),
    [
        ("impulse", {}, (1, 2, 5, 10, 20, 30, 40, 50)),
        ("square_wave", {"frequency": 1.0}, (1, 1, 2.39, 2.39, 2.45, 2.46, 2.46, 2.46)),
        ("sine", {"frequency": 1.0, "offset": 0.7}, (1, 1.98, 2.02, 2.02, 2.02, 2.02, 2.02, 2.02)),
        ("gaussian", {"sigma": 0.01}, (1, 2, 5, 10, 19.92, 26.68, 28.11, 28.21)),
    ],
)
def test_stable_rank_against_samples(
    name: str, params: dict[str, Any], table: tuple[float, ...]
) -> None:
    emb = p1_basis(name, **params)
    measured = [embedding_stable_rank(emb, n) for n in SAMPLES]
    assert measured == pytest.approx(table, rel=0.01)


RFF_TABLE = (1, 2, 4.89, 9.65, 12.15, 12.16, 12.16, 12.16)


def test_rff_stable_rank_against_samples_within_its_seed_spread() -> None:
    """RFF s = 5, 5000 frequencies: the table is one random draw.

    Its SR varies from draw to draw (for N >= 20 the spread is about 0.4, 3%), so a
    single draw of ours could miss the table by twice that. The test draws 16 frequency
    matrices and asks the table to lie within 3 standard deviations of their mean: a
    band a correct implementation leaves with probability about 0.3% per entry, and
    one that a wrong scale (5% off in SR) or a missing factor would leave.
    """
    draws = np.array(
        [
            [
                embedding_stable_rank(
                    make_embedding(
                        "rff",
                        scale=5.0,
                        num_frequencies=5000,
                        seed=seed,
                        normalization="none",
                        dtype=torch.float64,
                    ),
                    n,
                )
                for n in SAMPLES
            ]
            for seed in range(16)
        ]
    )
    mean, spread = draws.mean(axis=0), draws.std(axis=0, ddof=1)
    assert spread[0] < 1e-12  # one sample: SR = 1 exactly
    assert np.all(np.abs(np.array(RFF_TABLE) - mean) <= 3 * spread + 1e-9)
    assert np.all(spread[4:] < 0.05 * mean[4:])  # the band stays narrow: under 5%
    assert mean[-1] == pytest.approx(math.sqrt(2 * math.pi) * 5.0, rel=0.03)
