"""Tables of results: aligned text for terminals, HTML for notebooks, Markdown for documents.

A :class:`Table` holds rows of values under named columns and formats numbers when shown, so
the values stay exact. Notebooks display a table as the last expression of a cell (HTML);
``print(table)`` gives aligned text; :meth:`Table.to_markdown` a Markdown table.

>>> table = Table.from_records([{"sigma": 0.01, "SR": 28.2095}], ["sigma", "SR"])
>>> print(table)
sigma     SR
 0.01  28.21

Builders for the tables the toolkit shows: :func:`embedding_catalog` (every registered
embedding with its formula), :func:`measurement_table` (SR and DP beside their theory) and
:func:`plot_table` (the series of a figure at chosen x).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from posenc.embeddings import describe_embedding, embedding_names

if TYPE_CHECKING:
    from posenc.analysis.plot_data import PlotData

MISSING = "-"
"""How an absent value (``None``, NaN) is shown."""
CATALOG_SKIPPED_PARAMETERS = frozenset(
    {"in_dim", "compose", "normalization", "dtype", "periodic", "trainable"}
)
"""Parameters every embedding shares, left out of the catalogue's defaults column."""


@dataclass(frozen=True)
class Table:
    """Rows of values under ``columns``, with an optional ``title``.

    Floats are shown with ``formats[column]`` (a format spec such as ``".2f"``), else with
    ``float_format``; ``None`` and NaN as :data:`MISSING`. Numeric columns are right-aligned.
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    title: str = ""
    float_format: str = ".4g"
    formats: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for index, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(
                    f"table row {index} has {len(row)} values for {len(self.columns)} columns"
                )
        unknown = sorted(set(self.formats) - set(self.columns))
        if unknown:
            raise ValueError(f"formats given for unknown column(s): {', '.join(unknown)}")

    @classmethod
    def from_records(
        cls,
        records: Sequence[Mapping[str, Any]],
        columns: Mapping[str, str] | Sequence[str],
        title: str = "",
        float_format: str = ".4g",
        formats: Mapping[str, str] | None = None,
    ) -> Table:
        """A table of ``records`` (dicts): ``columns`` lists the keys shown, or maps each key
        to its header. ``formats`` are keyed by record key. A missing key raises ``ValueError``."""
        headers = dict(columns) if isinstance(columns, Mapping) else {key: key for key in columns}
        for index, record in enumerate(records):
            missing = [key for key in headers if key not in record]
            if missing:
                raise ValueError(f"record {index} has no {', '.join(map(repr, missing))}")
        unknown = sorted(set(formats or {}) - set(headers))
        if unknown:
            raise ValueError(f"formats given for unknown column(s): {', '.join(unknown)}")
        return cls(
            tuple(headers.values()),
            tuple(tuple(record[key] for key in headers) for record in records),
            title,
            float_format,
            {headers[key]: spec for key, spec in (formats or {}).items()},
        )

    def column(self, name: str) -> list[Any]:
        """The values of one column, in row order."""
        if name not in self.columns:
            raise ValueError(f"no column {name!r} (columns: {', '.join(self.columns)})")
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def cells(self) -> list[list[str]]:
        """Every value formatted as shown, one list per row."""
        return [
            [self._format(value, column) for value, column in zip(row, self.columns, strict=True)]
            for row in self.rows
        ]

    def __str__(self) -> str:
        cells = self.cells()
        numeric = self._numeric_columns()
        widths = [
            max([len(header)] + [len(row[i]) for row in cells])
            for i, header in enumerate(self.columns)
        ]
        lines = [self.title] if self.title else []
        for row in [list(self.columns), *cells]:
            padded = [
                cell.rjust(width) if is_number else cell.ljust(width)
                for cell, width, is_number in zip(row, widths, numeric, strict=True)
            ]
            lines.append("  ".join(padded).rstrip())
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's plain-text display: the aligned text."""
        printer.text(str(self))

    def _repr_html_(self) -> str:
        numeric = self._numeric_columns()
        align = ['style="text-align: right"' if n else 'style="text-align: left"' for n in numeric]
        head = "".join(
            f"<th {a}>{html.escape(c)}</th>" for c, a in zip(self.columns, align, strict=True)
        )
        body = "".join(
            "<tr>"
            + "".join(f"<td {a}>{html.escape(c)}</td>" for c, a in zip(row, align, strict=True))
            + "</tr>"
            for row in self.cells()
        )
        caption = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def to_markdown(self) -> str:
        """A Markdown (GitHub) table; the title, if any, as a bold line above it."""
        numeric = self._numeric_columns()
        rule = ["---:" if is_number else "---" for is_number in numeric]
        lines = [f"**{self.title}**", ""] if self.title else []
        for row in [list(self.columns), rule, *self.cells()]:
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        return "\n".join(lines)

    def _numeric_columns(self) -> list[bool]:
        return [
            any(_is_number(row[i]) for row in self.rows)
            and all(_is_number(row[i]) or _is_missing(row[i]) for row in self.rows)
            for i in range(len(self.columns))
        ]

    def _format(self, value: Any, column: str) -> str:
        if _is_missing(value):
            return MISSING
        if isinstance(value, float):
            return format(value, self.formats.get(column, self.float_format))
        return str(value)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings flattened into one level, keys joined with a dot:
    ``{"a": 1, "b": {"c": 2}}`` becomes ``{"a": 1, "b.c": 2}``. Lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def embedding_catalog(names: Sequence[str] | None = None) -> Table:
    """Every registered embedding (or ``names``): name, family, bandwidth parameter, the
    defaults of its own parameters, and its formula."""
    rows = []
    for name in names if names is not None else embedding_names():
        info = describe_embedding(name)
        defaults = " ".join(
            f"{parameter.name}={parameter.shown_default}"
            for parameter in info.parameters
            if parameter.name not in CATALOG_SKIPPED_PARAMETERS
        )
        rows.append(
            (info.name, info.family, info.bandwidth_name or MISSING, defaults, info.formula)
        )
    return Table(("NAME", "FAMILY", "BANDWIDTH", "DEFAULTS", "FORMULA"), tuple(rows))


MEASUREMENT_COLUMNS = {
    "label": "embedding",
    "num_samples": "N",
    "method": "method",
    "stable_rank": "SR",
    "theory_stable_rank": "SR theory",
    "distance_preservation": "DP",
    "theory_distance_preservation": "DP theory",
    "sr_x_dp": "SR x DP",
}
"""Keys of :func:`posenc.analysis.summarize` records shown by :func:`measurement_table`."""


def measurement_table(records: Sequence[Mapping[str, Any]], title: str = "") -> Table:
    """Records of :func:`posenc.analysis.summarize`: SR and DP of each embedding beside their
    closed forms (:data:`MISSING` where there is none), and their product."""
    return Table.from_records(records, MEASUREMENT_COLUMNS, title, ".5g")


def plot_table(
    plot: PlotData,
    x_values: Sequence[float] | None = None,
    theory: bool = False,
    float_format: str = ".4g",
) -> Table:
    """The series of ``plot`` as rows, their values at ``x_values`` (default: every x of the
    first series) as columns; theory series too if ``theory``. A series without a point at
    some x shows :data:`MISSING` there."""
    shown = [series for series in plot.series if theory or not series.theory]
    if not shown:
        raise ValueError(f"figure {plot.name!r} has no series to tabulate")
    xs = list(shown[0].x.tolist() if x_values is None else x_values)
    rows = []
    for series in shown:
        by_x = dict(zip(series.x.tolist(), series.y.tolist(), strict=True))
        rows.append((series.label, *(by_x.get(x) for x in xs)))
    header = f"{plot.ylabel} at {plot.xlabel} ="
    return Table((header, *(_number_label(x) for x in xs)), tuple(rows), plot.title, float_format)


def _number_label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
