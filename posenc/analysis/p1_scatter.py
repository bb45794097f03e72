"""P1's SR-against-DP scatter as P1 draws it, beside posenc's matched-bandwidth version.

P1 draws, for each embedding size ``D``, random bandwidths from one uniform ``r in [0, 1]`` per
point: a periodic Gaussian basis of width ``sigma = 10^(2r - 3)`` (``sigma`` in
``[0.001, 0.1]``, log-uniform) and RFF with ``D / 2`` frequencies of scale ``s = 100^r``
(``s`` in ``[1, 100]``), and plots the stable rank against the distance preservation of each
``D x D`` embedded matrix (the grid ``k / D``) beside the Gaussian theory
``SR DP = sqrt(ln 10 / pi)``. Its RFF scales are not matched to its Gaussian widths, and reach
further on both sides (``s = 1`` is a DP of 0.34, ``s = 100`` of 0.0034).

:func:`posenc.analysis.stable_rank_dp_scatter` draws posenc's version: log-uniform widths
from ``[0.002, 0.1]`` and RFF at the matched scale ``s = 1 / (2 sqrt(2) pi sigma)``.
:func:`run_p1_scatter` computes both (exact FFT and Toeplitz paths) and compares them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from posenc.analysis.construction import analysis_embedding
from posenc.analysis.experiments import (
    SCATTER_FAMILIES,
    ScatterDraw,
    check_scatter_arguments,
    sr_dp_scatter,
    stable_rank_dp_scatter,
)
from posenc.analysis.plot_data import PlotData
from posenc.analysis.plots import render_panels
from posenc.analysis.reproduction import format_mean_std, mean_and_std, settings_dict
from posenc.protocols import P1_SCATTER_DIMENSIONS, P1_SCATTER_SIGMA_RANGE
from posenc.tables import Table
from posenc.theory import SR_DP_GAUSSIAN


@dataclass(frozen=True)
class P1ScatterSettings:
    """Settings of :func:`run_p1_scatter`; the defaults are P1's (4 sizes, 100 draws each)."""

    dimensions: tuple[int, ...] = P1_SCATTER_DIMENSIONS
    num_draws: int = 100
    seed: int = 0


QUICK = P1ScatterSettings(dimensions=(256, 512), num_draws=5)
"""Seconds: two small sizes, five draws each."""


def p1_bandwidths(r: float) -> tuple[float, float]:
    """P1's Gaussian width and RFF scale for the draw ``r``: ``(10^(2r - 3), 100^r)``."""
    return 10 ** (2 * r - 3), 100**r


def p1_sr_dp_scatter(
    dimensions: tuple[int, ...] = P1_SCATTER_DIMENSIONS,
    num_draws: int = 100,
    seed: int = 0,
    progress: bool | None = None,
) -> PlotData:
    """P1's scatter (module docstring): SR against DP of the Gaussian at ``10^(2r - 3)`` and
    RFF at ``100^r`` for ``num_draws`` uniform ``r`` per size ``D``, with the theory curve
    (:func:`~posenc.analysis.experiments.sr_dp_scatter`)."""
    check_scatter_arguments(dimensions, num_draws, P1_SCATTER_SIGMA_RANGE)
    rng = np.random.default_rng(seed)
    drawn = {
        d: (rng.uniform(0, 1, num_draws), rng.integers(0, 2**31, num_draws)) for d in dimensions
    }

    def draws(dimension: int) -> Iterator[ScatterDraw]:
        for r, rff_seed in zip(*drawn[dimension], strict=True):
            sigma, scale = p1_bandwidths(float(r))
            yield (
                {"r": float(r)},
                {
                    "gaussian": analysis_embedding("gaussian", dimension, sigma=sigma),
                    "rff": analysis_embedding("rff", dimension, seed=int(rff_seed), scale=scale),
                },
            )

    return sr_dp_scatter(
        "p1_sr_dp_scatter",
        "P1's draws: σ = 10^(2r−3), s = 100^r",
        dimensions,
        draws,
        num_draws,
        progress,
    )


@dataclass
class P1ScatterResult:
    """P1's scatter and the matched-bandwidth scatter, side by side."""

    settings: P1ScatterSettings
    p1: PlotData
    matched: PlotData
    name: str = "sr_dp_scatter_p1"

    def records(self) -> list[dict[str, Any]]:
        """One row per point of either scatter."""
        return [
            {"version": version, **point}
            for version, plot in (("P1 draws", self.p1), ("matched", self.matched))
            for point in plot.metrics["points"]
        ]

    def tables(self) -> list[Table]:
        """SR·DP (mean ± std) of each family in each version, its range of DP, and the
        share of points within 10 % of the theory's product."""
        rows = []
        for version, plot in (("P1 draws", self.p1), ("matched", self.matched)):
            for family in ("gaussian", "rff"):
                chosen = [p for p in plot.metrics["points"] if p["family"] == family]
                products = [p["stable_rank"] * p["distance_preservation"] for p in chosen]
                dps = [p["distance_preservation"] for p in chosen]
                near = sum(abs(v / SR_DP_GAUSSIAN - 1) <= 0.1 for v in products) / len(products)
                rows.append(
                    (
                        version,
                        SCATTER_FAMILIES[family][0],
                        format_mean_std(mean_and_std(products), 3),
                        f"{min(dps):.4f} – {max(dps):.4f}",
                        f"{100 * near:.0f} %",
                    )
                )
        title = f"SR·DP against the Gaussian theory {SR_DP_GAUSSIAN:.4f}"
        columns = ("draws", "family", "SR·DP", "DP range", "within 10 % of theory")
        return [Table(columns, tuple(rows), title)]

    def figure(self) -> Figure:
        """The two scatters side by side, one legend."""
        return render_panels([self.p1, self.matched])

    def to_dict(self) -> dict[str, Any]:
        """Settings and both figures' numbers."""
        return {
            "settings": settings_dict(self.settings),
            "p1": self.p1.to_dict(),
            "matched": self.matched.to_dict(),
        }


def run_p1_scatter(
    settings: P1ScatterSettings = P1ScatterSettings(), progress: bool = False
) -> P1ScatterResult:
    """Both scatters at the sizes and draw counts of ``settings``."""
    p1 = p1_sr_dp_scatter(settings.dimensions, settings.num_draws, settings.seed, progress)
    matched = stable_rank_dp_scatter(
        settings.dimensions, settings.num_draws, P1_SCATTER_SIGMA_RANGE, settings.seed, progress
    )
    matched = PlotData(
        matched.name,
        "Matched: σ log-uniform, s = 1 / (2√2 π σ)",
        matched.xlabel,
        matched.ylabel,
        matched.series,
        matched.xscale,
        matched.yscale,
        matched.metrics,
        matched.guides,
    )
    return P1ScatterResult(settings, p1, matched)
