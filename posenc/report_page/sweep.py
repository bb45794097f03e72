"""The report page of a sweep folder: ``posenc report SWEEP_FOLDER`` writes ``report.html``.

Read from the folder alone (the store, through :func:`posenc.sweeps.load_points` and
:func:`posenc.sweeps.frame.run_records`, and the saved reconstructions), the page shows:

- test PSNR against the stable rank of the embedded training matrix, against its distance
  preservation, and against each embedding's own bandwidth parameter (a panel per embedding),
  one colour per embedding; hovering a point shows its run's settings and PSNRs, clicking it
  shows its reconstruction beside the ground truth;
- the settings every run shares;
- the best run of each embedding, every finished run (sortable; a click on a row shows the
  run) and the failed runs with their errors.

A 2D run's reconstruction is its saved PNG, shown byte for byte; a 1D run's is drawn over the
signal; a volume's as its middle slice.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from posenc.neural_fields import FitConfig
from posenc.report_page.document import (
    COLOURS,
    LAYOUT,
    PLOT_CONFIG,
    REPORT_NAME,
    Column,
    curve_figure,
    figure_html,
    file_data_uri,
    format_value,
    grid_image,
    json_block,
    png_data_uri,
    section,
    settings_list,
    sortable_table,
    write_page,
)
from posenc.sweeps.best_runs import best_points
from posenc.sweeps.frame import RECORD_COLUMNS, run_records
from posenc.sweeps.jobs import load_signal, signal_key
from posenc.sweeps.points import SweepPoint, load_points
from posenc.sweeps.store import FAILED, FINISHED

SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "cross", "star", "pentagon")
"""Marker symbol of each signal and model of a sweep that has several."""
PLOT_IDS = ("psnr-vs-stable-rank", "psnr-vs-dp", "psnr-vs-bandwidth")
"""The ``id`` of the page's three scatter plots, in page order."""

WHAT_RAN = (
    Column("embedding", "embedding"),
    Column("bandwidth_name", "parameter"),
    Column("bandwidth", "bandwidth", ".4g"),
    Column("signal", "signal"),
    Column("model", "model"),
    Column("seed", "seed", "d"),
)
"""The columns that say which run a table row is."""
RUN_COLUMNS = (
    *WHAT_RAN,
    Column("train_psnr", "train PSNR (dB)", ".2f"),
    Column("test_psnr", "test PSNR (dB)", ".2f"),
    Column("heldout_psnr", "held-out PSNR (dB)", ".2f"),
    Column("test_psnr_last", "test PSNR, last steps (dB)", ".2f"),
    Column("stable_rank", "SR", ".1f"),
    Column("distance_preservation", "DP", ".4g"),
    Column("num_train", "N train", "d"),
    Column("fit_seconds", "fit (s)", ".2f"),
)
"""Columns of the run tables, before the settings that vary across the sweep."""
FAILED_COLUMNS = (*WHAT_RAN, Column("error", "error"), Column("key", "run"))


@dataclass(frozen=True)
class SweepView:
    """What the page shows of a sweep: its plotted points, every run's record, and the config
    keys whose values differ between finished runs (``varying``) or not (``common``)."""

    folder: Path
    points: list[SweepPoint]
    records: dict[str, dict[str, Any]]
    varying: list[str]
    common: dict[str, Any]

    @property
    def finished(self) -> list[dict[str, Any]]:
        return [r for r in self.records.values() if r["status"] == FINISHED]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.records.values() if r["status"] == FAILED]


def write_sweep_report(folder: Path) -> Path:
    """Write ``report.html`` into the sweep folder ``folder`` and return its path.

    Raises ``ValueError`` if ``folder`` is not a sweep folder or has no finished run yet.
    """
    view = load_view(Path(folder))
    return write_page(view.folder / REPORT_NAME, f"posenc sweep: {view.folder.name}", body(view))


def load_view(folder: Path) -> SweepView:
    """Read the sweep in ``folder`` for its page."""
    points = load_points(folder)
    if not points:
        raise ValueError(f"{str(folder)!r} has no finished runs to report yet")
    records = {record["key"]: record for record in run_records(folder)}
    finished = [record for record in records.values() if record["status"] == FINISHED]
    varying, common = _split_settings(finished)
    return SweepView(folder, points, records, varying, common)


def body(view: SweepView) -> str:
    """The page's body: the plots and tables beside the run panel."""
    finished, failed = view.finished, view.failed
    counts = f"{len(finished)} finished run{'s' * (len(finished) != 1)}"
    if failed:
        counts += f", {len(failed)} failed"
    unplotted = len(finished) - len(view.points)
    if unplotted:
        counts += f" ({unplotted} with a non-finite PSNR, SR or DP, not plotted)"
    overview = (
        f'<p class="note">{html.escape(str(view.folder))}: {counts}. '
        "Hover a point for its run's settings and PSNRs; click a point or a table row to see "
        "its reconstruction beside the ground truth.</p>"
    )
    figures = [
        f'<div class="plot {"wide" if div_id == "psnr-vs-bandwidth" else ""}">'
        f"{figure_html(figure, div_id)}</div>"
        for figure, div_id in zip(_figures(view), PLOT_IDS, strict=True)
    ]
    plots = section(
        "Test PSNR against stable rank, distance preservation and bandwidth",
        f'<div class="plots">{"".join(figures)}</div>',
    )
    tables = [
        section("Settings every run shares", settings_list(view.common)),
        section(
            "Best run of each embedding",
            _run_table(view, best_points(view.points), "best-runs"),
            note="The highest test PSNR of each embedding (per signal and model), over every "
            "bandwidth and seed.",
        ),
        section(
            "Every finished run",
            _run_table(view, view.points, "runs"),
            note="Click a header to sort by it, a row to show the run.",
        ),
    ]
    if failed:
        tables.append(section("Failed runs", sortable_table(failed, FAILED_COLUMNS, "failed-runs")))
    # The panel comes first in the document (CSS puts it on the right) so that the plots'
    # column has its final width when Plotly draws them.
    return (
        overview
        + '<div class="layout"><aside>'
        + _run_panel()
        + "</aside><main>"
        + plots
        + "".join(tables)
        + "</main></div>"
        + json_block("report-data", _report_data(view))
    )


# ---------------------------------------------------------------------------- settings
def _split_settings(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    """Config keys of ``records`` that vary (present in only some, or with several values)
    and those every record shares, with their value. A run's own bandwidth parameter is
    shown as its bandwidth and left out of both."""
    bandwidth_keys = {f"embedding_params.{r['bandwidth_name']}" for r in records}
    keys = dict.fromkeys(
        name
        for record in records
        for name in record
        if name not in RECORD_COLUMNS and name not in bandwidth_keys
    )
    varying, common = [], {}
    for name in keys:
        values = {json.dumps(record.get(name, "<absent>"), sort_keys=True) for record in records}
        if len(values) > 1:
            varying.append(name)
        else:
            common[name] = records[0][name]
    return varying, common


def _run_lines(view: SweepView, point: SweepPoint) -> list[str]:
    """A run's description, a line each: what was fitted, its PSNRs, SR and DP, then the
    settings that vary across the sweep (plain text)."""
    record = view.records[point.key]
    band = f" {point.bandwidth_name} = {point.bandwidth:.4g}" if point.bandwidth is not None else ""
    heldout = format_value(record["heldout_psnr"], ".2f")
    lines = [
        f"{point.embedding}{band}",
        f"{point.signal}, {point.model}, seed {point.seed}",
        f"test {point.test_psnr:.2f} dB, train {point.train_psnr:.2f} dB, held-out {heldout} dB",
        f"SR {point.stable_rank:.1f}, DP {point.distance_preservation:.4g}, "
        f"N train {point.num_train}",
    ]
    lines += [f"{name} = {format_value(record[name])}" for name in view.varying if name in record]
    return [*lines, f"run {point.key}"]


# ----------------------------------------------------------------------------- figures
def _figures(view: SweepView) -> list[go.Figure]:
    return [
        _scatter_figure(view, "stable_rank", "stable rank of the embedded training set"),
        _scatter_figure(view, "distance_preservation", "distance preservation (unit domain)"),
        _bandwidth_figure(view),
    ]


def _groups(points: Iterable[SweepPoint], attribute: Any) -> dict[Any, list[SweepPoint]]:
    """Points grouped by ``attribute(point)``, in the order the groups first occur."""
    groups: dict[Any, list[SweepPoint]] = {}
    for point in points:
        groups.setdefault(attribute(point), []).append(point)
    return groups


def _style(view: SweepView) -> tuple[dict[str, str], dict[str, str]]:
    """The colour of each embedding and the marker symbol of each signal and model."""
    embeddings = _groups(view.points, lambda p: p.embedding)
    facets = _groups(view.points, lambda p: p.facet)
    colours = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(embeddings)}
    symbols = {name: SYMBOLS[i % len(SYMBOLS)] for i, name in enumerate(facets)}
    return colours, symbols


def _trace(
    view: SweepView, points: Sequence[SweepPoint], x: Sequence[float], name: str, **style: Any
) -> go.Scatter:
    return go.Scatter(
        x=list(x),
        y=[point.test_psnr for point in points],
        name=name,
        customdata=[point.key for point in points],
        text=["<br>".join(map(html.escape, _run_lines(view, point))) for point in points],
        hovertemplate="%{text}<extra></extra>",
        **style,
    )


def _scatter_figure(view: SweepView, field: str, title: str) -> go.Figure:
    """Test PSNR against ``field`` (log axis): a trace per embedding, and per signal and
    model when the sweep has several."""
    colours, symbols = _style(view)
    several = len(symbols) > 1
    figure = go.Figure()
    traces = _groups(view.points, lambda p: (p.embedding, p.facet))
    for (embedding, facet), points in traces.items():
        figure.add_trace(
            _trace(
                view,
                points,
                [getattr(point, field) for point in points],
                f"{embedding} ({facet})" if several else embedding,
                mode="markers",
                marker={
                    "color": colours[embedding],
                    "symbol": symbols[facet],
                    "size": 9,
                    "line": {"width": 0.6, "color": "#333"},
                },
            )
        )
    figure.update_layout(title=f"test PSNR against {title.split(' of ')[0]}", height=420, **LAYOUT)
    figure.update_xaxes(type="log", title=title)
    figure.update_yaxes(title="test PSNR (dB)")
    return figure


def _bandwidth_figure(view: SweepView) -> go.Figure:
    """Test PSNR against each embedding's own bandwidth parameter, a panel per embedding, a
    line per signal, model and seed (runs without a bandwidth are not drawn)."""
    colours, symbols = _style(view)
    swept = [point for point in view.points if point.bandwidth is not None]
    embeddings = _groups(swept, lambda p: p.embedding)
    columns = max(1, min(3, len(embeddings)))
    rows = max(1, math.ceil(len(embeddings) / columns))
    figure = make_subplots(
        rows=rows, cols=columns, subplot_titles=list(embeddings), horizontal_spacing=0.08
    )
    for index, (embedding, mine) in enumerate(embeddings.items()):
        row, column = index // columns + 1, index % columns + 1
        lines = _groups(mine, lambda p: (p.facet, p.seed))
        for number, ((facet, seed), points) in enumerate(lines.items()):
            ordered = sorted(points, key=_bandwidth)
            label = f"{embedding}, {facet}, seed {seed}" if len(lines) > 1 else embedding
            trace = _trace(
                view,
                ordered,
                [_bandwidth(point) for point in ordered],
                label,
                mode="lines+markers",
                legendgroup=embedding,
                showlegend=number == 0,
                line={"color": colours[embedding], "width": 1},
                marker={"color": colours[embedding], "symbol": symbols[facet], "size": 8},
            )
            figure.add_trace(trace, row=row, col=column)
        values = [_bandwidth(point) for point in mine]
        wide = min(values) > 0 and max(values) > 10 * min(values)
        figure.update_xaxes(
            type="log" if wide else "linear", title=mine[0].bandwidth_name, row=row, col=column
        )
        figure.update_yaxes(title="test PSNR (dB)" if column == 1 else None, row=row, col=column)
    figure.update_layout(title="test PSNR against bandwidth", height=360 * rows + 90, **LAYOUT)
    figure.update_layout(margin={"t": 90})
    return figure


def _bandwidth(point: SweepPoint) -> float:
    """A swept point's bandwidth (the bandwidth figure draws only points that have one)."""
    if point.bandwidth is None:
        raise ValueError(f"run {point.key} has no bandwidth")
    return point.bandwidth


# ------------------------------------------------------------------------ run panel
def _run_table(view: SweepView, points: Sequence[SweepPoint], table_id: str) -> str:
    columns = [*RUN_COLUMNS, *(Column(name, name) for name in view.varying)]
    records = [view.records[point.key] for point in points]
    keys = [point.key for point in points]
    table = sortable_table(records, [*columns, Column("key", "run")], table_id, keys)
    return f'<div class="table-scroll">{table}</div>'


def _run_panel() -> str:
    return (
        '<div id="run-detail"><h2>Run</h2>'
        '<p class="placeholder note">Click a point or a table row.</p>'
        '<h3 id="run-title"></h3><div id="run-settings"></div>'
        '<div id="run-images" class="images" hidden>'
        '<figure><img id="run-truth" alt="ground truth"><figcaption>ground truth</figcaption>'
        "</figure>"
        '<figure><img id="run-reconstruction" alt="reconstruction">'
        "<figcaption>reconstruction</figcaption></figure></div>"
        '<div id="run-curve" hidden></div></div>'
    )


def _report_data(view: SweepView) -> dict[str, Any]:
    """The runs the glue script shows, by key, and the ground truths they share."""
    truths: dict[str, str] = {}
    runs = {}
    for point in view.points:
        truth_id, target = _ground_truth(point)
        lines = _run_lines(view, point)
        run: dict[str, Any] = {"title": lines[0], "settings": "\n".join(lines[1:])}
        run.update(_reconstruction(point, target, truth_id, truths))
        runs[point.key] = run
    return {"runs": runs, "truths": truths, "plot_config": PLOT_CONFIG}


def _ground_truth(point: SweepPoint) -> tuple[str, np.ndarray | None]:
    """What identifies the signal a run fitted, and its values (``None`` where they cannot be
    loaded again: a source file moved, or a config this version no longer reads)."""
    try:
        config = FitConfig.from_dict(point.config)
        return json.dumps(signal_key(config)), load_signal(config).values.numpy()
    except (ValueError, OSError):
        return point.signal, None


def _reconstruction(
    point: SweepPoint, target: np.ndarray | None, truth_id: str, truths: dict[str, str]
) -> dict[str, Any]:
    """What the panel shows of a run: a curve over the signal (1D), or the images of the
    ground truth (added to ``truths``) and of the reconstruction."""
    path = point.reconstruction
    if path is None or not path.is_file():
        return {}
    if path.suffix == ".png":
        image = file_data_uri(path)
    else:
        prediction = np.load(path)
        if prediction.ndim == 2:
            if target is None:
                target = np.full_like(prediction, np.nan)
            title = f"{point.signal}: test {point.test_psnr:.2f} dB"
            return {"curve": json.loads(curve_figure(target, prediction, title).to_json())}
        image = png_data_uri(grid_image(prediction))
    if target is None:
        return {"reconstruction": image}
    if truth_id not in truths:
        truths[truth_id] = png_data_uri(grid_image(target))
    return {"reconstruction": image, "truth": truth_id}
