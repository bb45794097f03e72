"""Draw the analysis experiments in the shared style (:mod:`posenc.plotting`).

:func:`render` draws any :class:`~posenc.analysis.experiments.PlotData`: measured series as
coloured lines (or points), theory series as thin dark dashes on top of them (where theory
and measurement agree the dashes run along the coloured curve), with one legend entry
standing for every theory curve, under the axes. :func:`render_panels` draws several side by
side with one shared legend. :func:`render_basis` draws a
:class:`~posenc.analysis.experiments.BasisData`: basis functions beside the Gram matrix.
:func:`render_gallery` draws :class:`~posenc.analysis.experiments.EmbeddingProfile` rows:
basis functions, similarity curve and Gram matrix of each embedding, titled by its formula.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D

from posenc.analysis.experiments import EmbeddingProfile
from posenc.analysis.plot_data import BasisData, PlotData, Series
from posenc.plotting import (
    COLUMN_WIDTH,
    PAGE_WIDTH,
    PALETTE,
    THEORY_LINESTYLE,
    blank_figure,
    label_axes,
    new_figure,
    styled,
)

THEORY: dict[str, Any] = {"color": "0.15", "linestyle": THEORY_LINESTYLE, "linewidth": 0.9}
"""How a theory curve is drawn: thin dark dashes over the measured curve."""
GUIDE: dict[str, Any] = {"color": "0.5", "linestyle": ":", "linewidth": 0.8}
"""How a horizontal reference line (a threshold) is drawn."""
MAX_PANEL_COLUMNS = 3
"""Panels per row of :func:`render_panels`."""


@styled
def render(plot: PlotData) -> Figure:
    """A one-panel figure of ``plot``: labelled axes, its scales, a legend under the axes."""
    return render_panels([plot])


@styled
def render_panels(plots: Sequence[PlotData]) -> Figure:
    """The figures ``plots`` side by side (up to three per row), one legend under them all.

    One panel is a column wide, several share the page width; series with the same label in
    several panels get one legend entry.
    """
    if not plots:
        raise ValueError("give at least one figure to draw")
    ncols = min(len(plots), MAX_PANEL_COLUMNS)
    nrows = math.ceil(len(plots) / ncols)
    width = COLUMN_WIDTH if ncols == 1 else PAGE_WIDTH
    labels = list(
        dict.fromkeys(
            label
            for plot in plots
            for label in [s.label for s in plot.series if not s.theory]
            + [label for label, _ in plot.guides]
        )
    )
    has_theory = any(series.theory for plot in plots for series in plot.series)
    legend_columns = 2 if ncols == 1 else 4
    legend_rows = math.ceil((len(labels) + has_theory) / legend_columns)
    figure, axes = new_figure(
        ncols=ncols,
        nrows=nrows,
        width=width,
        height=nrows * 0.75 * width / ncols + 0.16 * legend_rows,
    )
    panels = list(axes.flat) if hasattr(axes, "flat") else [axes]
    handles: dict[str, Artist] = {}
    for panel, plot in zip(panels, plots, strict=False):
        _draw_plot(panel, plot)
        for handle, label in zip(*panel.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    for unused in panels[len(plots) :]:
        unused.set_visible(False)
    shown = [handles[label] for label in labels]
    if has_theory:
        shown.append(Line2D([], [], **THEORY))
        labels.append("theory")
    figure.legend(shown, labels, loc="outside lower center", ncol=legend_columns)
    return figure


@styled
def render_basis(data: BasisData) -> Figure:
    """Two panels: the chosen basis functions on ``[0, 1)``, and the Gram matrix ``X X^T``."""
    figure, (left, right) = new_figure(ncols=2, width=PAGE_WIDTH, height=0.4 * PAGE_WIDTH)
    _draw_basis(left, data)
    label_axes(left, "coordinate x (unit domain)", "feature value", "basis functions")
    left.legend(loc="upper right", frameon=True, framealpha=0.9)
    image = _draw_gram(right, data)
    label_axes(right, "coordinate x' (unit domain)", "coordinate x (unit domain)", "Gram matrix")
    figure.colorbar(image, ax=right, label="<ψ(x), ψ(x')>")
    figure.suptitle(data.title)
    return figure


@styled
def render_gallery(profiles: Sequence[EmbeddingProfile]) -> Figure:
    """One row per embedding, titled by its label and formula: basis functions, similarity to
    the centre sample against displacement (theory dashed, threshold dotted, DP in the
    corner), and the Gram matrix of the sampled grid."""
    if not profiles:
        raise ValueError("give at least one embedding profile to draw")
    row_height = 0.27 * PAGE_WIDTH
    figure = blank_figure(PAGE_WIDTH, row_height * len(profiles))
    rows = figure.subfigures(len(profiles), 1, squeeze=False)[:, 0]
    for index, (row, profile) in enumerate(zip(rows, profiles, strict=True)):
        _draw_profile(row, profile, first=index == 0, last=index == len(profiles) - 1)
    return figure


def _draw_profile(row: SubFigure, profile: EmbeddingProfile, first: bool, last: bool) -> None:
    row.suptitle(f"{profile.label}:   {profile.formula}", x=0.01, ha="left", fontsize=8)
    basis, similarity, gram = row.subplots(1, 3, width_ratios=(1.15, 1.15, 0.9))
    _draw_basis(basis, profile.basis)
    for series in profile.similarity.series:
        _draw(similarity, series)
    for _, value in profile.similarity.guides:
        similarity.axhline(value, **GUIDE)
    dp = profile.summary["distance_preservation"]
    similarity.text(
        0.98,
        0.95,
        f"DP = {dp:.4g}",
        transform=similarity.transAxes,
        ha="right",
        va="top",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
    )
    image = _draw_gram(gram, profile.basis)
    row.colorbar(image, ax=gram)
    titles = ("basis functions", "similarity D(δ) to the centre", "Gram matrix <ψ(x), ψ(x')>")
    xlabels = ("coordinate x", "displacement δ", "coordinate x'")
    for axes, title, xlabel in zip((basis, similarity, gram), titles, xlabels, strict=True):
        if first:
            axes.set_title(title)
        if last:
            axes.set_xlabel(xlabel)


def _draw_plot(axes: Axes, plot: PlotData) -> None:
    for series in plot.series:
        _draw(axes, series)
    for label, value in plot.guides:
        axes.axhline(value, label=label, **GUIDE)
    axes.set_xscale(plot.xscale)
    axes.set_yscale(plot.yscale)
    label_axes(axes, plot.xlabel, plot.ylabel, plot.title)


def _draw_basis(axes: Axes, data: BasisData) -> None:
    for row, (index, values) in enumerate(zip(data.feature_indices, data.functions, strict=True)):
        axes.plot(data.x, values, color=PALETTE[row % len(PALETTE)], label=f"feature {index}")


def _draw_gram(axes: Axes, data: BasisData) -> AxesImage:
    extent = (data.gram_points[0], data.gram_points[-1], data.gram_points[-1], data.gram_points[0])
    image = axes.imshow(data.gram, extent=extent, interpolation="nearest")
    axes.grid(False)
    return image


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
