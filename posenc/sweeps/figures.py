"""The figures of a sweep, drawn from its results store and reconstruction files.

Nothing here reads a run from memory: :func:`~posenc.sweeps.points.load_points` reads the
finished rows of ``results.sqlite``, and each ``figure_*`` function turns those points into a
:class:`~matplotlib.figure.Figure` in the shared posenc style
(:mod:`posenc.plotting`). :func:`draw_figures` writes them all as PNGs:

- ``psnr_vs_bandwidth.png``: train (dashed) and test (solid) PSNR against bandwidth, one
  panel per embedding (each has its own bandwidth parameter), mean over seeds;
- ``psnr_vs_stable_rank.png`` (the headline): test PSNR against the stable rank of the
  embedded training matrix, one marker per embedding, coloured by bandwidth, one panel per
  signal and model;
- ``psnr_vs_dp.png``: the same against distance preservation;
- ``sr_vs_dp.png``: stable rank against distance preservation with the Gaussian theory
  ``SR = min(N, sqrt(ln 10 / pi) / DP)`` (P2, Proposition 2; ``N`` training samples);
- ``reconstructions[-K].png``: a grid of reconstructions, one row per embedding and one
  column per bandwidth across the sweep (at most :data:`GRID_COLUMNS`), for each signal and
  model (numbered when there are several).

:func:`figure_stable_rank_vs_bandwidth` (not drawn by :func:`draw_figures`) shows the stable
rank of each run's embedded training matrix against bandwidth, a panel per embedding.

Colour: when every embedding shares one bandwidth parameter the colour is its log10; when
they differ (sigma, scale, width ...) it is each point's log position within its own
embedding's range, from the widest basis (0) to the narrowest (1, the highest stable rank:
small sigma or width, large RFF scale).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from posenc.analysis.plots import THEORY
from posenc.config import FitConfig
from posenc.data import Signal
from posenc.plotting import (
    PAGE_WIDTH,
    PALETTE,
    label_axes,
    new_figure,
    save_figure,
    styled,
)
from posenc.sweeps.jobs import load_signal
from posenc.sweeps.points import SweepPoint, load_points, ordered
from posenc.theory import SR_DP_GAUSSIAN

FIGURES_FOLDER = "figures"
GRID_COLUMNS = 8
"""Most bandwidths shown per row of the reconstruction grid (evenly spread)."""
CURVE_LIMITS = (-0.1, 1.1)
"""Value range of the 1D reconstruction cells (signals are in [0, 1]; memorising fits swing
far outside it between the training samples)."""
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def draw_figures(folder: Path) -> list[Path]:
    """Draw every figure of the sweep in ``folder`` into ``folder/figures``; return the paths.

    Raises ``ValueError`` if the folder has no store or no finished run to plot.
    """
    folder = Path(folder)
    points = load_points(folder)
    if not points:
        raise ValueError(f"{str(folder)!r} has no finished runs to plot yet")
    out = folder / FIGURES_FOLDER
    paths = [
        save_figure(figure_psnr_vs_bandwidth(points), out / "psnr_vs_bandwidth.png"),
        save_figure(figure_psnr_vs_stable_rank(points), out / "psnr_vs_stable_rank.png"),
        save_figure(figure_psnr_vs_dp(points), out / "psnr_vs_dp.png"),
        save_figure(figure_sr_vs_dp(points), out / "sr_vs_dp.png"),
    ]
    facets = ordered(points, lambda p: p.facet)
    for index, facet in enumerate(facets):
        name = "reconstructions.png" if len(facets) == 1 else f"reconstructions-{index + 1}.png"
        chosen = [point for point in points if point.facet == facet]
        paths.append(save_figure(figure_reconstructions(chosen), out / name))
    return paths


# ------------------------------------------------------------------------ figures
@styled
def figure_psnr_vs_bandwidth(points: Sequence[SweepPoint]) -> Figure:
    """Train (dashed) and test (solid) PSNR against bandwidth, a panel per embedding."""
    figure, panels = _bandwidth_panels(points)
    for ax, embedding, mine, groups in panels:
        for colour, facet, chosen in groups:
            suffix = f" ({facet})" if facet else ""
            bandwidths, train, test = _seed_means(chosen)
            ax.plot(bandwidths, test, "-o", color=colour, label=f"test{suffix}")
            ax.plot(bandwidths, train, "--", color=colour, label=f"train{suffix}")
        _finish_bandwidth_panel(ax, embedding, mine, "PSNR (dB)")
    return figure


def _bandwidth_panels(
    points: Sequence[SweepPoint],
) -> tuple[Figure, list[tuple[Axes, str, list[SweepPoint], list[tuple[str, str, list]]]]]:
    """A panel per embedding over the swept points (all points if none has a bandwidth):
    ``(figure, panels)``, each panel ``(ax, embedding, its points, groups)`` with one group
    ``(colour, facet, points)`` per signal and model it has; ``facet`` is empty when the
    sweep has a single one."""
    swept = [point for point in points if point.bandwidth is not None] or list(points)
    embeddings = ordered(swept, lambda p: p.embedding)
    facets = ordered(swept, lambda p: p.facet)
    figure, axes = _panels(len(embeddings))
    panels = []
    for ax, embedding in zip(axes, embeddings, strict=False):
        mine = [point for point in swept if point.embedding == embedding]
        groups = [
            (PALETTE[index % len(PALETTE)], facet if len(facets) > 1 else "", chosen)
            for index, facet in enumerate(facets)
            if (chosen := [point for point in mine if point.facet == facet])
        ]
        panels.append((ax, embedding, mine, groups))
    return figure, panels


def _finish_bandwidth_panel(ax: Axes, embedding: str, mine: list[SweepPoint], y_label: str) -> None:
    """Log bandwidth axis where the values span decades, labels named after the bandwidth
    parameter, legend."""
    _log_if_wide(ax, [point.bandwidth for point in mine if point.bandwidth is not None])
    label_axes(ax, mine[0].bandwidth_name or "bandwidth", y_label, embedding)
    ax.legend()


@styled
def figure_psnr_vs_stable_rank(points: Sequence[SweepPoint]) -> Figure:
    """Test PSNR against stable rank: marker per embedding, colour by bandwidth, panel per
    signal and model."""
    return _scatter_by_facet(points, "stable_rank", "stable rank of the embedded training set")


@styled
def figure_psnr_vs_dp(points: Sequence[SweepPoint]) -> Figure:
    """Test PSNR against distance preservation, as :func:`figure_psnr_vs_stable_rank`."""
    return _scatter_by_facet(points, "distance_preservation", "distance preservation (unit domain)")


@styled
def figure_sr_vs_dp(points: Sequence[SweepPoint]) -> Figure:
    """Stable rank against DP of every run, and the Gaussian theory ``min(N, 0.856 / DP)``."""
    figure, ax = new_figure(width=PAGE_WIDTH / 2, height=0.85 * PAGE_WIDTH / 2)
    colours, colour_label, cmap, norm = _bandwidth_colours(points)
    _scatter(
        ax,
        points,
        [p.distance_preservation for p in points],
        [p.stable_rank for p in points],
        colours,
        cmap,
        norm,
    )
    counts = sorted({point.num_train for point in points})
    dp = np.array([p.distance_preservation for p in points])
    # from below the knee at DP = 0.856 / N (where SR reaches N) to past the widest basis
    line = np.geomspace(min(dp.min(), SR_DP_GAUSSIAN / counts[-1]) / 2, dp.max() * 2, 200)
    for count in counts:
        ax.plot(line, np.minimum(count, SR_DP_GAUSSIAN / line), zorder=3, **THEORY)
    ax.set_xscale("log")
    ax.set_yscale("log")
    label_axes(ax, "distance preservation (unit domain)", "stable rank")
    handles = _embedding_handles(points)
    handles.append(
        Line2D([], [], label=f"Gaussian theory: min(N, {SR_DP_GAUSSIAN:.3f}/DP)", **THEORY)
    )
    ax.legend(handles=handles, loc="best")
    _colourbar(figure, ax, cmap, norm, colour_label)
    return figure


@styled
def figure_stable_rank_vs_bandwidth(points: Sequence[SweepPoint]) -> Figure:
    """Stable rank of the embedded training matrix against bandwidth, a panel per embedding
    (mean over seeds), with a dotted line at ``N``, the number of training samples: a linear
    model memorises them once SR approaches ``N``."""
    figure, panels = _bandwidth_panels(points)
    for ax, embedding, mine, groups in panels:
        for colour, facet, chosen in groups:
            values = sorted({point.bandwidth for point in chosen}, key=lambda b: b or 0.0)
            ranks = [
                float(np.mean([p.stable_rank for p in chosen if p.bandwidth == value]))
                for value in values
            ]
            x = [value if value is not None else math.nan for value in values]
            ax.plot(x, ranks, "-o", color=colour, label=facet or "measured")
        for count in sorted({point.num_train for point in mine}):
            ax.axhline(count, color="0.4", lw=0.8, ls=":", label=f"N = {count}")
        ax.set_yscale("log")
        _finish_bandwidth_panel(ax, embedding, mine, "stable rank")
    return figure


@styled
def figure_reconstructions(points: Sequence[SweepPoint]) -> Figure:
    """Reconstructions across the sweep: a row per embedding, a column per bandwidth (at
    most :data:`GRID_COLUMNS`, evenly spread), for the lowest seed; titles give the
    bandwidth and test PSNR."""
    seed = min(point.seed for point in points)
    chosen = [point for point in points if point.seed == seed]
    embeddings = ordered(chosen, lambda p: p.embedding)
    rows = [
        _spread(
            sorted((p for p in chosen if p.embedding == name), key=lambda p: p.bandwidth or 0.0)
        )
        for name in embeddings
    ]
    columns = max(len(row) for row in rows)
    one_d = all(_is_curve(point) for row in rows for point in row)
    # Room for each cell's two-line title above a 4:3 curve or a square image.
    height = len(rows) * (PAGE_WIDTH / columns * (0.75 if one_d else 1.0) + 0.3) + 0.3
    figure, axes = new_figure(ncols=columns, nrows=len(rows), width=PAGE_WIDTH, height=height)
    grid = np.asarray(axes, dtype=object).reshape(len(rows), columns)
    for row, (name, row_points) in enumerate(zip(embeddings, rows, strict=True)):
        for column in range(columns):
            ax = grid[row, column]
            if column >= len(row_points):
                ax.set_axis_off()
                continue
            _draw_reconstruction(ax, row_points[column])
        grid[row, 0].set_ylabel(name)
    figure.suptitle(f"{chosen[0].facet}, seed {seed}")
    return figure


# ------------------------------------------------------------------------ helpers
def _scatter_by_facet(points: Sequence[SweepPoint], field: str, xlabel: str) -> Figure:
    facets = ordered(points, lambda p: p.facet)
    figure, axes = _panels(len(facets), height_ratio=0.8)
    colours, colour_label, cmap, norm = _bandwidth_colours(points)
    by_key = dict(zip((p.key for p in points), colours, strict=True))
    for ax, facet in zip(axes, facets, strict=False):
        chosen = [point for point in points if point.facet == facet]
        _scatter(
            ax,
            chosen,
            [getattr(p, field) for p in chosen],
            [p.test_psnr for p in chosen],
            [by_key[p.key] for p in chosen],
            cmap,
            norm,
        )
        ax.set_xscale("log")
        label_axes(ax, xlabel, "test PSNR (dB)", facet if len(facets) > 1 else None)
        ax.legend(handles=_embedding_handles(chosen), loc="best")
    _colourbar(figure, list(axes[: len(facets)]), cmap, norm, colour_label)
    return figure


def _scatter(
    ax: Axes,
    points: Sequence[SweepPoint],
    x: Sequence[float],
    y: Sequence[float],
    colours: Sequence[float],
    cmap: Colormap,
    norm: Normalize,
) -> None:
    markers = _markers(points)
    for embedding, marker in markers.items():
        index = [i for i, point in enumerate(points) if point.embedding == embedding]
        ax.scatter(
            [x[i] for i in index],
            [y[i] for i in index],
            c=[colours[i] for i in index],
            cmap=cmap,
            norm=norm,
            marker=marker,
            s=22,
            edgecolors="0.2",
            linewidths=0.4,
            zorder=2,
        )


def _bandwidth_colours(
    points: Sequence[SweepPoint],
) -> tuple[list[float], str, Colormap, Normalize]:
    """A colour value per point (NaN without a bandwidth), its label, the map and norm."""
    cmap = colormaps["viridis"].with_extremes(bad="0.6")
    logs = [
        math.log10(p.bandwidth) if p.bandwidth is not None and p.bandwidth > 0 else math.nan
        for p in points
    ]
    names = {
        p.bandwidth_name for p, value in zip(points, logs, strict=True) if math.isfinite(value)
    }
    if len(names) <= 1:
        finite = [value for value in logs if math.isfinite(value)] or [0.0]
        label = f"log10 {names.pop()}" if names else "bandwidth"
        return logs, label, cmap, Normalize(min(finite), max(finite))
    positions = [math.nan] * len(points)
    for embedding in ordered(points, lambda p: p.embedding):
        index = [
            i for i, p in enumerate(points) if p.embedding == embedding and math.isfinite(logs[i])
        ]
        for i, position in zip(index, _sweep_positions(points, logs, index), strict=True):
            positions[i] = position
    return positions, "position in the sweep: 0 widest, 1 narrowest basis", cmap, Normalize(0, 1)


def _sweep_positions(
    points: Sequence[SweepPoint], logs: Sequence[float], index: list[int]
) -> list[float]:
    """Log bandwidths of one embedding scaled to [0, 1], oriented so that the stable rank
    grows with the position (Gaussian sigma and RFF scale run in opposite directions)."""
    if not index:
        return []
    values = np.array([logs[i] for i in index])
    ranks = np.log([points[i].stable_rank for i in index])
    span = values.max() - values.min()
    scaled = (values - values.min()) / span if span > 0 else np.full(len(values), 0.5)
    trend = np.sum((values - values.mean()) * (ranks - ranks.mean()))
    return (1.0 - scaled if trend < 0 else scaled).tolist()


def _colourbar(figure: Figure, ax: Any, cmap: Colormap, norm: Normalize, label: str) -> None:
    figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=label, shrink=0.9)


def _markers(points: Sequence[SweepPoint]) -> dict[str, str]:
    embeddings = ordered(points, lambda p: p.embedding)
    return {name: MARKERS[index % len(MARKERS)] for index, name in enumerate(embeddings)}


def _embedding_handles(points: Sequence[SweepPoint]) -> list[Line2D]:
    return [
        Line2D(
            [],
            [],
            marker=marker,
            linestyle="none",
            color="0.45",
            markeredgecolor="0.2",
            markeredgewidth=0.4,
            markersize=5,
            label=name,
        )
        for name, marker in _markers(points).items()
    ]


def _seed_means(points: Sequence[SweepPoint]) -> tuple[list[float], list[float], list[float]]:
    """Bandwidths in increasing order and the mean train and test PSNR over seeds."""
    values = sorted({point.bandwidth for point in points}, key=lambda b: b or 0.0)
    train, test = [], []
    for value in values:
        same = [point for point in points if point.bandwidth == value]
        train.append(float(np.mean([point.train_psnr for point in same])))
        test.append(float(np.mean([point.test_psnr for point in same])))
    return [v if v is not None else math.nan for v in values], train, test


def _log_if_wide(ax: Axes, values: Sequence[float]) -> None:
    positive = [value for value in values if value > 0]
    if positive and len(positive) == len(values) and max(positive) > 10 * min(positive):
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())


def _panels(count: int, height_ratio: float = 0.75) -> tuple[Figure, list[Axes]]:
    columns = min(count, 3)
    rows = math.ceil(count / columns)
    width = PAGE_WIDTH if columns > 1 else PAGE_WIDTH / 2
    height = rows * height_ratio * width / columns + 0.3
    figure, axes = new_figure(ncols=columns, nrows=rows, width=width, height=height)
    flat = list(np.asarray(axes, dtype=object).reshape(-1))
    for ax in flat[count:]:
        ax.set_axis_off()
    return figure, flat


def _spread(points: list[SweepPoint]) -> list[SweepPoint]:
    if len(points) <= GRID_COLUMNS:
        return points
    picks = np.linspace(0, len(points) - 1, GRID_COLUMNS).round().astype(int)
    return [points[index] for index in picks]


def _is_curve(point: SweepPoint) -> bool:
    return point.reconstruction is not None and point.reconstruction.suffix == ".npy"


def _draw_reconstruction(ax: Axes, point: SweepPoint) -> None:
    band = "" if point.bandwidth is None else f"{point.bandwidth_name}={point.bandwidth:.3g}\n"
    ax.set_title(f"{band}{point.test_psnr:.1f} dB", fontsize=6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    path = point.reconstruction
    if path is None or not path.is_file():
        ax.text(0.5, 0.5, "no file", ha="center", va="center", transform=ax.transAxes)
        return
    if path.suffix == ".png":
        image = imread(path)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        return
    prediction = np.load(path)
    if prediction.ndim != 2:  # volumes: the middle slice of the first channel
        ax.imshow(prediction[prediction.shape[0] // 2, ..., 0], cmap="gray", vmin=0, vmax=1)
        return
    target = _target(point)
    coords = np.arange(prediction.shape[0]) / prediction.shape[0]
    if target is not None:
        ax.plot(coords, target.values[:, 0].numpy(), color="0.65", lw=0.8)
    ax.plot(coords, prediction[:, 0], color=PALETTE[0], lw=0.7)
    ax.set_ylim(*CURVE_LIMITS)


def _target(point: SweepPoint) -> Signal | None:
    try:
        return load_signal(FitConfig.from_dict(point.config))
    except (ValueError, OSError):
        return None
