"""The report page of a sequence comparison: ``posenc seq compare`` writes ``report.html``
beside its run folders.

It shows the task's measure (answer error, or bits per byte for language modelling) of each
encoding per split (mean ± standard deviation over seeds, beside the CoPE paper's number where
it has one) as a table and as grouped bars, the measure against training step (mean over
seeds) per split, and every run in a sortable table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from posenc.report_page.document import (
    COLOURS,
    LAYOUT,
    REPORT_NAME,
    Column,
    figure_html,
    section,
    sortable_table,
    write_page,
)

if TYPE_CHECKING:
    from posenc.sequence.reporting import Measure


def write_comparison_report(
    out: Path,
    runs: Sequence[Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    splits: Sequence[str],
    title: str,
    measure: Measure,
) -> Path:
    """Write ``report.html`` into the comparison folder ``out``; return its path.

    ``runs`` are the runs' ``metrics.json`` records, ``rows`` the summary rows of
    :func:`posenc.sequence.reporting.summary_rows` (per encoding: ``<split>_<key>_mean``,
    ``<split>_<key>_std`` and ``<split>_paper``, for ``measure``'s key).
    """
    body = "".join(
        [
            section(
                f"{measure.label.capitalize()} by encoding",
                _summary_table(rows, splits, measure),
                figure_html(_bars(rows, splits, measure), "errors"),
                note="Mean ± standard deviation over seeds; crosses and the paper column: "
                "the CoPE paper's numbers, for its own larger setting. " + measure.paper_note,
            ),
            section(
                f"{measure.label.capitalize()} during training",
                figure_html(_curves(runs, splits, measure), "curves"),
            ),
            section(
                "Every run",
                sortable_table(
                    _run_records(runs, splits, measure), _run_columns(splits, measure), "runs"
                ),
                note="Click a header to sort by it.",
            ),
        ]
    )
    return write_page(Path(out) / REPORT_NAME, f"posenc seq compare: {title}", body)


def _summary_table(
    rows: Sequence[Mapping[str, Any]], splits: Sequence[str], measure: Measure
) -> str:
    head = "<th>encoding</th><th>seeds</th>" + "".join(
        f"<th>{split} {measure.label}</th><th>{split} {measure.paper_label}</th>"
        for split in splits
    )
    lines = []
    for row in rows:
        cells = f"<td>{row['pe']}</td><td>{row['seeds']}</td>"
        for split in splits:
            paper, key, digits = row[f"{split}_paper"], f"{split}_{measure.key}", measure.digits
            spread = f" ± {row[f'{key}_std']:.{digits}f}" if row["seeds"] > 1 else ""
            cells += f"<td>{row[f'{key}_mean']:.{digits}f}{spread}</td>"
            cells += f"<td>{'–' if math.isnan(paper) else f'{paper:g}'}</td>"
        lines.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _bars(rows: Sequence[Mapping[str, Any]], splits: Sequence[str], measure: Measure) -> go.Figure:
    """Grouped bars of each encoding's measure per split (± std over seeds), the paper's
    numbers as crosses over their bars where they are in the same unit."""
    figure = go.Figure()
    for row in rows:
        figure.add_bar(
            x=list(splits),
            y=[row[f"{split}_{measure.key}_mean"] for split in splits],
            error_y={"array": [row[f"{split}_{measure.key}_std"] for split in splits]},
            name=row["pe"],
            offsetgroup=row["pe"],
            legendgroup=row["pe"],
        )
        papers = [row[f"{split}_paper"] for split in splits]
        if not measure.paper_note and not all(math.isnan(value) for value in papers):
            figure.add_scatter(
                x=list(splits),
                y=[None if math.isnan(value) else value for value in papers],
                mode="markers",
                marker={"symbol": "x", "color": "black", "size": 9},
                name=f"{row['pe']}: paper",
                offsetgroup=row["pe"],
                legendgroup=row["pe"],
            )
    figure.update_layout(
        barmode="group", scattermode="group", yaxis_title=measure.label, height=420, **LAYOUT
    )
    return figure


def _curves(
    runs: Sequence[Mapping[str, Any]], splits: Sequence[str], measure: Measure
) -> go.Figure:
    """Mean (over seeds) measure against step, a panel per split, a line per encoding."""
    figure = make_subplots(rows=1, cols=len(splits), subplot_titles=list(splits))
    encodings = list(dict.fromkeys(run["pe"] for run in runs))
    for index, pe in enumerate(encodings):
        mine = [run for run in runs if run["pe"] == pe]
        steps = [point["step"] for point in mine[0]["curve"]]
        for column, split in enumerate(splits, start=1):
            errors = [[measure.of(point[split]) for point in run["curve"]] for run in mine]
            figure.add_scatter(
                x=steps,
                y=np.mean(errors, axis=0),
                name=pe,
                legendgroup=pe,
                showlegend=column == 1,
                mode="lines+markers",
                line={"color": COLOURS[index % len(COLOURS)]},
                row=1,
                col=column,
            )
            figure.update_xaxes(title="step", row=1, col=column)
    figure.update_yaxes(title=measure.label, row=1, col=1)
    figure.update_layout(height=380, **LAYOUT)
    return figure


def _run_columns(splits: Sequence[str], measure: Measure) -> list[Column]:
    columns = [Column("pe", "encoding"), Column("seed", "seed", "d")]
    columns += [
        Column(f"{split}_{kind}", f"{split} {label}", f".{digits}f")
        for split in splits
        for kind, label, digits, _ in _run_measures(measure)
    ]
    columns += [Column(f"{split}_loss", f"{split} loss", ".4g") for split in splits]
    return [
        *columns,
        Column("parameters", "parameters", "d"),
        Column("training_seconds", "training (s)", ".1f"),
    ]


def _run_measures(measure: Measure) -> list[tuple[str, str, int, float]]:
    """Per-split columns of the runs table: key, label, digits and factor to the unit."""
    columns = [(measure.key, measure.label, measure.digits, measure.scale)]
    if measure.key == "error":
        columns.append(("sequence_error", "sequence error (%)", 2, 100.0))
    return columns


def _run_records(
    runs: Sequence[Mapping[str, Any]], splits: Sequence[str], measure: Measure
) -> list[dict]:
    records = []
    for run in runs:
        record = {key: run[key] for key in ("pe", "seed", "parameters", "training_seconds")}
        for split in splits:
            for kind, _, _, scale in _run_measures(measure):
                record[f"{split}_{kind}"] = scale * run["splits"][split][kind]
            record[f"{split}_loss"] = run["splits"][split]["loss"]
        records.append(record)
    return records
