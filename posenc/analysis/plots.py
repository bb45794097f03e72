"""Draw the analysis experiments in the shared style (:mod:`posenc.analysis.plotting`).

:func:`render` draws any :class:`~posenc.analysis.experiments.PlotData`: measured series as
coloured lines (or points), theory series as thin dark dashes on top of them (where theory
and measurement agree the dashes run along the coloured curve), with one legend entry
standing for every theory curve, under the axes. :func:`render_basis` draws a
:class:`~posenc.analysis.experiments.BasisData`: basis functions beside the Gram matrix.
"""

from __future__ import annotations

import math

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from posenc.analysis.experiments import BasisData, PlotData, Series
from posenc.analysis.plotting import (
    COLUMN_WIDTH,
    PAGE_WIDTH,
    PALETTE,
    THEORY_LINESTYLE,
    label_axes,
    new_figure,
    styled,
)

THEORY = {"color": "0.15", "linestyle": THEORY_LINESTYLE, "linewidth": 0.9}
"""How a theory curve is drawn: thin dark dashes over the measured curve."""


@styled
def render(plot: PlotData) -> Figure:
    """A one-panel figure of ``plot``: labelled axes, its scales, a legend under the axes."""
    labels = [s.label for s in plot.series if not s.theory] + [g for g, _ in plot.guides]
    has_theory = any(series.theory for series in plot.series)
    legend_rows = math.ceil((len(labels) + has_theory) / 2)
    figure, axes = new_figure(height=0.75 * COLUMN_WIDTH + 0.16 * legend_rows)
    for series in plot.series:
        _draw(axes, series)
    for label, value in plot.guides:
        axes.axhline(value, color="0.5", linestyle=":", linewidth=0.8, label=label)
    axes.set_xscale(plot.xscale)
    axes.set_yscale(plot.yscale)
    label_axes(axes, plot.xlabel, plot.ylabel, plot.title)
    handles, labels = axes.get_legend_handles_labels()
    if has_theory:
        handles.append(Line2D([], [], **THEORY))
        labels.append("theory")
    figure.legend(handles, labels, loc="outside lower center", ncol=2)
    return figure


@styled
def render_basis(data: BasisData) -> Figure:
    """Two panels: the chosen basis functions on ``[0, 1)``, and the Gram matrix ``X X^T``."""
    figure, (left, right) = new_figure(ncols=2, width=PAGE_WIDTH, height=0.4 * PAGE_WIDTH)
    for row, (index, values) in enumerate(zip(data.feature_indices, data.functions, strict=True)):
        left.plot(data.x, values, color=PALETTE[row % len(PALETTE)], label=f"feature {index}")
    label_axes(left, "coordinate x (unit domain)", "feature value", "basis functions")
    left.legend(loc="upper right", frameon=True, framealpha=0.9)
    extent = (data.gram_points[0], data.gram_points[-1], data.gram_points[-1], data.gram_points[0])
    image = right.imshow(data.gram, extent=extent, interpolation="nearest")
    right.grid(False)
    label_axes(right, "coordinate x' (unit domain)", "coordinate x (unit domain)", "Gram matrix")
    figure.colorbar(image, ax=right, label="<ψ(x), ψ(x')>")
    figure.suptitle(data.title)
    return figure


def _draw(axes: Axes, series: Series) -> None:
    if series.theory:
        axes.plot(series.x, series.y, zorder=3, **THEORY)
        return
    axes.plot(
        series.x,
        series.y,
        color=PALETTE[series.group % len(PALETTE)],
        marker=series.marker,
        linestyle="-" if series.line else "none",
        label=series.label,
    )
