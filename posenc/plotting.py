"""One restrained plot style for every posenc figure, drawn with Agg and never shown.

Figures are plain :class:`matplotlib.figure.Figure` objects on an Agg canvas; pyplot is not
used, so no window can open and no global backend is changed (a notebook keeps its own).
Sizes are for print: :data:`COLUMN_WIDTH` (one column of a two-column paper) and
:data:`PAGE_WIDTH`, 8 pt text, saved at 300 dpi.

Typical use in any module::

    from posenc.plotting import new_figure, save_figure, styled

    @styled
    def plot_losses(steps, losses):
        fig, ax = new_figure()
        ax.plot(steps, losses, label="train")
        ax.set(xlabel="training step", ylabel="MSE loss")
        ax.legend()
        return fig

    save_figure(plot_losses(steps, losses), "runs/x/losses.png")
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import matplotlib
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from posenc.files import atomic_path

COLUMN_WIDTH = 3.4
"""Inches: one column of a two-column paper."""
PAGE_WIDTH = 7.0
"""Inches: the full text width."""
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
"""Okabe-Ito colours (distinguishable with colour-vision deficiency), in cycle order."""
THEORY_LINESTYLE = (0, (4, 2))
"""Dashes of a theory (predicted) curve drawn beside a measured one."""

STYLE: dict[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.prop_cycle": cycler(color=PALETTE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "axes.grid": True,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.35,
    "lines.linewidth": 1.2,
    "lines.markersize": 3,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "image.cmap": "viridis",
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
}
"""The rcParams of the posenc style (applied by :func:`plot_style`, never globally)."""

Params = ParamSpec("Params")
Result = TypeVar("Result")


@contextmanager
def plot_style() -> Iterator[None]:
    """Apply :data:`STYLE` while drawing (rcParams are read when artists are created)."""
    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
        yield


def styled(function: Callable[Params, Result]) -> Callable[Params, Result]:
    """Decorator: run a plotting function inside :func:`plot_style`."""

    @functools.wraps(function)
    def wrapper(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        with plot_style():
            return function(*args, **kwargs)

    return wrapper


@styled
def new_figure(
    ncols: int = 1, nrows: int = 1, width: float = COLUMN_WIDTH, height: float | None = None
) -> tuple[Figure, Any]:
    """An Agg figure with a grid of axes: one :class:`Axes`, or an array of them.

    ``height`` defaults to ``0.75 width / ncols`` per row (4:3 panels).
    """
    height = nrows * 0.75 * width / ncols if height is None else height
    figure = blank_figure(width, height)
    axes = figure.subplots(nrows, ncols, squeeze=True)
    return figure, axes


def blank_figure(width: float, height: float) -> Figure:
    """An empty Agg figure with constrained layout, for layouts of sub-figures."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as a PNG at ``path`` (created or replaced whole), then close it.

    The image goes to a temporary file in the same folder that is renamed into place, so an
    interrupted save never leaves a truncated PNG. Closing releases the figure (also from
    pyplot's registry, should it be a pyplot figure).
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"figure path must end in .png, got {str(path)!r}")
    try:
        with plot_style(), atomic_path(path) as temporary:
            figure.savefig(temporary, format="png")
    finally:
        _close(figure)
    return path


def label_axes(axes: Axes, xlabel: str, ylabel: str, title: str | None = None) -> None:
    """Set both axis labels (say the unit, e.g. ``"displacement (unit domain)"``), and a title."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)


def _close(figure: Figure) -> None:
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(figure)
    figure.clear()
