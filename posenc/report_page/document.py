"""The parts every report page shares: the self-contained HTML document, figures, images,
sortable tables and embedded data.

A page is one HTML file that opens from disk with no network: Plotly's JavaScript is
embedded once in the head (:func:`plotly.offline.get_plotlyjs`), images are PNG data URIs,
and run data sits in ``<script type="application/json">`` blocks that the page's small glue
script (``report.js``: show a run on click, sort tables) reads.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from matplotlib.image import imsave
from plotly.colors import qualitative
from plotly.offline import get_plotlyjs

from posenc.files import write_text

REPORT_NAME = "report.html"
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
"""Plotly's options for every figure: no logo link (the page is offline), resize with the
window."""
MISSING = "–"
COLOURS = qualitative.Plotly
"""Colour of each embedding or encoding, in order."""


@dataclass(frozen=True)
class Column:
    """A column of a sortable table: its header, how a value is shown (a format spec for
    numbers) and the record key it reads."""

    key: str
    header: str
    number_format: str = ""


def write_page(path: Path, title: str, body: str, *, interactive: bool = True) -> Path:
    """Write the document ``title`` with ``body`` to ``path`` atomically; return ``path``."""
    write_text(Path(path), document(title, body, interactive=interactive))
    return Path(path)


def document(title: str, body: str, *, interactive: bool = True) -> str:
    """A whole HTML page: Plotly's JavaScript (``interactive`` pages: 4.8 MB), the shared
    style and glue, then ``body``."""
    assets = files("posenc.report_page")
    plotly = f'<script type="text/javascript">{get_plotlyjs()}</script>\n' if interactive else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>{assets.joinpath('report.css').read_text()}</style>\n"
        f"{plotly}"
        "</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{body}\n"
        f"<script>{assets.joinpath('report.js').read_text()}</script>\n"
        "</body>\n</html>\n"
    )


def figure_html(figure: go.Figure, div_id: str) -> str:
    """``figure`` as a ``<div id=div_id>`` drawn by the page's embedded Plotly."""
    return figure.to_html(
        full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG
    )


def json_block(element_id: str, data: Any) -> str:
    """``data`` as JSON in a ``<script type="application/json">`` element (``</`` escaped so
    that no string can close the element)."""
    text = json.dumps(data, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def section(title: str, *parts: str, note: str = "") -> str:
    """A titled section of the page, with an optional explanatory paragraph."""
    paragraph = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return f"<section><h2>{html.escape(title)}</h2>{paragraph}{''.join(parts)}</section>\n"


def png_data_uri(values: np.ndarray) -> str:
    """An image ``(H, W)`` or ``(H, W, C)`` with values in [0, 1] (clipped) as a PNG data URI;
    one channel is drawn in gray, three as RGB."""
    image = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    buffer = io.BytesIO()
    imsave(buffer, image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def file_data_uri(path: Path) -> str:
    """A PNG file as a data URI, byte for byte."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def grid_image(values: np.ndarray) -> np.ndarray:
    """What an image shows of a signal ``(*grid, C)`` on a 2D or 3D grid: the grid itself, or
    a volume's middle slice."""
    return values[values.shape[0] // 2] if values.ndim == 4 else values


def curve_figure(
    target: np.ndarray,
    prediction: np.ndarray,
    title: str,
    train_index: np.ndarray | None = None,
) -> go.Figure:
    """A 1D fit: the signal and the reconstruction (first channel) over ``x = k / N``, and the
    training samples if their flat indices are given."""
    x = np.arange(len(target)) / len(target)
    figure = go.Figure(
        [
            go.Scatter(x=x, y=target[:, 0], name="ground truth", line={"color": "#999"}),
            go.Scatter(x=x, y=prediction[:, 0], name="reconstruction", line={"width": 1.2}),
        ]
    )
    if train_index is not None:
        figure.add_scatter(
            x=x[train_index],
            y=target[train_index, 0],
            mode="markers",
            name="training samples",
            marker={"color": "black", "size": 3},
        )
    figure.update_layout(
        title=title, xaxis_title="coordinate x", yaxis_title="value", height=360, **LAYOUT
    )
    return figure


LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
    "legend": {"orientation": "h", "y": -0.2},
}
"""Layout shared by every figure of the pages."""


def sortable_table(
    records: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    table_id: str,
    row_keys: Sequence[str] | None = None,
) -> str:
    """A table whose headers sort it (the glue script): each cell keeps its raw value in
    ``data-value`` so numbers sort as numbers. ``row_keys`` tag rows with the run they show."""
    head = "".join(
        f'<th data-type="{_kind(c)}" class="{_kind(c)}">{html.escape(c.header)}</th>'
        for c in columns
    )
    rows = []
    for index, record in enumerate(records):
        key = f' data-run="{html.escape(row_keys[index])}"' if row_keys else ""
        cells = "".join(_cell(record.get(c.key), c) for c in columns)
        rows.append(f"<tr{key}>{cells}</tr>")
    return (
        f'<table class="sortable" id="{table_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def format_value(value: Any, number_format: str = ".4g") -> str:
    """A value as shown in tables and hover text; ``None`` and NaN as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, float):
        return format(value, number_format or ".4g")
    return str(value)


def _kind(column: Column) -> str:
    return "number" if column.number_format else "text"


def _cell(value: Any, column: Column) -> str:
    shown = html.escape(format_value(value, column.number_format))
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    raw = "" if missing else html.escape(str(value))
    return f'<td data-value="{raw}" class="{_kind(column)}">{shown}</td>'


def settings_list(settings: Mapping[str, Any]) -> str:
    """Settings as a compact definition list (``name`` = value)."""
    items = "".join(
        f"<div><dt>{html.escape(name)}</dt><dd>{html.escape(format_value(value))}</dd></div>"
        for name, value in settings.items()
    )
    return f'<dl class="settings">{items}</dl>'
