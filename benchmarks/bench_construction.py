"""Building a shifted basis costs time linear in its centres: 10^4 to 10^6 centres.

Construction is the centres and the domain normalisation, the largest row norm over [0, 1]
(window sums over prefix sums: ``O(M K)`` for ``K`` centres and ``M`` points per spacing).
For a Gaussian and a sinc (global support) at each ``K``, timed in one run, interleaved
(medians of several rounds, so both see the same background load):

- the build time and the time to embed 64 coordinates (64 rows of ``K`` features, work of
  the output's size), and their ratio, about constant across ``K`` when construction is
  linear;
- the scaling exponent of the build time between the two largest ``K``,
  ``log(t_2 / t_1) / log(K_2 / K_1)``: 1 for linear work, 2 for the quadratic normalisation
  it replaced (target <= 1.25; arrays leaving the caches add a little);
- at the smallest ``K``, that quadratic normalisation (every row over the 2048-point
  reference grid plus every centre, ``(2048 + K) K`` evaluations) against the build, and
  the two constants' relative difference.

``K`` is 10^4 and 10^5 with ``--quick``, up to 10^6 by default and 10^7 with ``--full``::

    python benchmarks/bench_construction.py [--quick | --full]
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any

import harness
import torch

from posenc.embeddings import REFERENCE_GRID_POINTS, make_embedding

CENTRES = {
    "quick": (10_000, 100_000),
    "default": (10_000, 100_000, 1_000_000),
    "full": (10_000, 100_000, 1_000_000, 10_000_000),
}
BASES = {"gaussian": {"sigma": 0.001}, "sinc": {"width": 0.002}}
EMBEDDED_ROWS = 64
REPEATS = 5
LINEAR_TARGET = 1.25


def quadratic_norm(name: str, centres: int, params: dict[str, float]) -> float:
    """The normalisation before: the largest row norm over the reference grid and every
    centre, each row evaluated in full."""
    basis = make_embedding(name, num_centers=centres, normalization="none", **params)
    values = torch.cat([torch.linspace(0.0, 1.0, REFERENCE_GRID_POINTS), basis.centers])
    largest = max(
        float(torch.linalg.vector_norm(basis.axis_features(chunk), dim=1).max())
        for chunk in values.split(max(1, 2**22 // centres))
    )
    return largest


def basis_rows(name: str, params: dict[str, float], sizes: tuple[int, ...]) -> list[dict]:
    rows, builds = [], {}
    coords = torch.rand(EMBEDDED_ROWS, generator=torch.Generator().manual_seed(0))
    for centres in sizes:
        construct = functools.partial(make_embedding, name, num_centers=centres, **params)
        works = {"build": construct, "embed": functools.partial(construct(), coords)}
        times = harness.interleaved_medians(works, REPEATS if centres < 10**6 else 3, "cpu")
        builds[centres] = times["build"]
        case = f"{name}, {centres} centres"
        rows += [
            harness.row("construction", case, "build time", times["build"], "s"),
            harness.row(
                "construction", case, f"embedding {EMBEDDED_ROWS} coordinates", times["embed"], "s"
            ),
            harness.row(
                "construction", case, f"build / embedding {EMBEDDED_ROWS} coordinates",
                times["build"] / times["embed"], "x",
            ),
        ]  # fmt: skip
    small, large = sizes[-2], sizes[-1]
    exponent = math.log(builds[large] / builds[small]) / math.log(large / small)
    rows.append(
        harness.row(
            "construction", f"{name}, {small} to {large} centres",
            "scaling exponent of the build time", exponent, "", f"<= {LINEAR_TARGET:g}",
            exponent <= LINEAR_TARGET, "1: linear, 2: quadratic",
        )
    )  # fmt: skip
    smallest = sizes[0]
    start = time.perf_counter()
    before = quadratic_norm(name, smallest, params)
    quadratic = time.perf_counter() - start
    constant = 1.0 / float(make_embedding(name, num_centers=smallest, **params).norm_scale)
    case = f"{name}, {smallest} centres"
    rows += [
        harness.row(
            "construction", case, "quadratic normalisation (grid + every centre) / build",
            quadratic / builds[smallest], "x",
        ),
        harness.row(
            "construction", case, "norm constant, relative difference from the quadratic one",
            abs(constant / before - 1), "",
        ),
    ]  # fmt: skip
    return rows


def run(quick: bool, device: str, full: bool = False) -> list[dict[str, Any]]:
    """Rows of both bases at the mode's sizes (construction runs on the CPU: ``device`` is
    not used)."""
    sizes = CENTRES[harness.mode_name(quick, full)]
    return [row for name, params in BASES.items() for row in basis_rows(name, params, sizes)]


if __name__ == "__main__":
    harness.run_standalone(run, __doc__.splitlines()[0])
