"""What the papers' experiments share: settings with quick and full presets, a result that
knows its records, tables and figure, summaries over repeats, and a run folder.

Each experiment module (:mod:`~posenc.analysis.layer_rank`, :mod:`~posenc.analysis.stride`,
:mod:`~posenc.analysis.embedding_size`, :mod:`~posenc.analysis.p3_table`,
:mod:`~posenc.analysis.p1_bandwidths`, :mod:`~posenc.analysis.p1_scatter`) defines a frozen
settings dataclass whose defaults are the paper's axes (``full``), a ``QUICK`` instance that
runs in seconds, and a ``run_*`` function returning an :class:`ExperimentResult`.
:func:`write_result` saves any result as files a person can open; ``posenc experiment``
(:mod:`posenc.cli.experiment`) and ``notebooks/08_papers_experiments.ipynb`` use it.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import statistics
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from matplotlib.figure import Figure

from posenc.files import write_json
from posenc.plotting import save_figure
from posenc.tables import Table

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Settings = TypeVar("Settings", bound="DataclassInstance")


class ExperimentResult(Protocol):
    """The result of one experiment: its settings, one record per fit or measurement, the
    summary tables, the figure, and everything as JSON."""

    name: str

    def records(self) -> list[dict[str, Any]]:
        """Flat rows (one per fit or measurement), for ``results.csv``."""
        ...

    def tables(self) -> list[Table]:
        """The summary tables (mean and spread over repeats), for the terminal and Markdown."""
        ...

    def figure(self) -> Figure:
        """The experiment's figure."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Settings, records and summaries as JSON-ready data."""
        ...


def settings_dict(settings: Any) -> dict[str, Any]:
    """A frozen settings dataclass as JSON-ready data (tuples become lists)."""
    return {
        field.name: _plain(getattr(settings, field.name)) for field in dataclasses.fields(settings)
    }


def override_settings(settings: Settings, overrides: Mapping[str, Any]) -> Settings:
    """``settings`` with fields replaced by ``overrides`` (``KEY=VALUE`` strings already
    parsed to numbers where they look like numbers).

    A tuple field takes a comma-separated string or a single value; values are converted to
    the type of the field's current elements. Unknown keys raise ``ValueError`` naming the
    accepted ones.
    """
    fields = {field.name: field for field in dataclasses.fields(settings)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; accepted: {', '.join(fields)}")
    changes = {key: _coerce(key, getattr(settings, key), value) for key, value in overrides.items()}
    return dataclasses.replace(settings, **changes)


def mean_and_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and population standard deviation of the finite values (NaN, NaN if none)."""
    finite = [float(value) for value in values if math.isfinite(value)]
    if not finite:
        return math.nan, math.nan
    return statistics.fmean(finite), statistics.pstdev(finite)


def format_mean_std(pair: tuple[float, float], digits: int = 2) -> str:
    """``"mean ± std"`` of a :func:`mean_and_std` pair, or ``"-"`` if it is NaN."""
    mean, std = pair
    return "-" if math.isnan(mean) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def write_result(
    result: ExperimentResult,
    out: Path,
    extra_config: Mapping[str, Any] | None = None,
    figure_name: str | None = None,
) -> list[Path]:
    """Write ``result`` into the folder ``out`` (created if needed) and return the files:
    ``config.json`` (settings and ``extra_config``), ``results.json``, ``results.csv``,
    ``tables.md`` and ``<figure_name or result.name>.png``."""
    out.mkdir(parents=True, exist_ok=True)
    data = result.to_dict()
    config = {"experiment": result.name, "settings": data.get("settings", {})}
    write_json(out / "config.json", {**config, **dict(extra_config or {})})
    write_json(out / "results.json", _finite(data))
    records = result.records()
    csv_path = out / "results.csv"
    with csv_path.open("w", newline="") as handle:
        columns = list(dict.fromkeys(key for record in records for key in record))
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(records)
    tables_path = out / "tables.md"
    tables_path.write_text("\n\n".join(table.to_markdown() for table in result.tables()) + "\n")
    figure_path = save_figure(result.figure(), out / f"{figure_name or result.name}.png")
    return [out / "config.json", out / "results.json", csv_path, tables_path, figure_path]


def _coerce(key: str, current: Any, value: Any) -> Any:
    if isinstance(current, tuple):
        if value == "":
            return ()
        items = value.split(",") if isinstance(value, str) else [value]
        kind = type(current[0]) if current else _guess
        return tuple(_convert(key, kind, item) for item in items)
    if current is None or isinstance(value, type(current)):
        return value
    return _convert(key, type(current), value)


def _convert(key: str, kind: Callable[[Any], Any], value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
    try:
        if kind is bool and isinstance(value, str):
            if value.lower() not in ("true", "false"):
                raise ValueError
            return value.lower() == "true"
        return kind(value)
    except (TypeError, ValueError):
        name = getattr(kind, "__name__", str(kind))
        raise ValueError(f"setting {key}: cannot read {value!r} as {name}") from None


def _guess(value: Any) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except (TypeError, ValueError):
            pass
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def _finite(data: Any) -> Any:
    """``data`` with NaN and infinities replaced by ``None`` (JSON has no NaN)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, Mapping):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return data
