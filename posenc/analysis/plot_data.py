"""The data model of the analysis figures: the exact numbers a figure draws.

Every experiment (:mod:`posenc.analysis.experiments`) returns a :class:`PlotData` of
:class:`Series` (or a :class:`BasisData`), so that a figure and its JSON/CSV never disagree;
:mod:`posenc.analysis.plots` draws them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Series:
    """One curve or point cloud: ``y`` against ``x``.

    ``group`` picks the colour (series of one embedding share it); ``theory`` series are
    drawn dashed; ``marker`` (a matplotlib marker) marks the points, and ``line=False``
    leaves them unconnected (a scatter).
    """

    label: str
    x: np.ndarray
    y: np.ndarray
    group: int = 0
    theory: bool = False
    marker: str | None = None
    line: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "label": self.label,
            "theory": self.theory,
            "x": [float(v) for v in self.x],
            "y": [float(v) for v in self.y],
        }


@dataclass(frozen=True)
class PlotData:
    """Everything one x-y figure shows: axes, scales, series, and its scalar results.

    ``guides`` are labelled horizontal reference lines ``(label, y)``, such as a threshold.
    """

    name: str
    title: str
    xlabel: str
    ylabel: str
    series: tuple[Series, ...]
    xscale: str = "linear"
    yscale: str = "linear"
    metrics: dict[str, Any] = field(default_factory=dict)
    guides: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: labels, scales, every series' points, the metrics."""
        return {
            "title": self.title,
            "xlabel": self.xlabel,
            "ylabel": self.ylabel,
            "xscale": self.xscale,
            "yscale": self.yscale,
            "metrics": self.metrics,
            "guides": [{"label": label, "y": y} for label, y in self.guides],
            "series": [series.to_dict() for series in self.series],
        }

    def rows(self) -> list[dict[str, Any]]:
        """Long-format rows ``figure, series, theory, x, y``: one per plotted point."""
        return [
            {"figure": self.name, "series": s.label, "theory": s.theory, "x": x, "y": y}
            for s in self.series
            for x, y in zip(s.x.tolist(), s.y.tolist(), strict=True)
        ]


@dataclass(frozen=True)
class BasisData:
    """Basis functions of one embedding on ``[0, 1)`` and the Gram matrix of its grid."""

    name: str
    title: str
    x: np.ndarray
    functions: np.ndarray
    feature_indices: tuple[int, ...]
    gram_points: np.ndarray
    gram: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the plotted functions (one list per feature) and the Gram matrix."""
        return {
            "title": self.title,
            "x": self.x.tolist(),
            "features": list(self.feature_indices),
            "functions": self.functions.tolist(),
            "gram_points": self.gram_points.tolist(),
            "gram": self.gram.tolist(),
        }
