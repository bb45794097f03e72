"""The sweep file: ``sweep.toml``'s tables and keys, reading and writing it, key checks.

The layout (a sweep given by flags builds the same mapping)::

    [sweep]                           # the swept axes
    signals = ["camera:row=200"]
    embeddings = ["gaussian", "rff"]
    bandwidths = "auto"
    models = ["linear"]
    seeds = [0, 1]
    protocol = "p1-1d"

    [fit]                             # any other fit setting (FIT_KEYS), for every run
    [embedding_params]                # given to each embedding that has the parameter
    [embeddings.NAME]                 # one embedding's bandwidths and parameters
    [run]                             # how to run it: out, jobs, batch, log, max_runs

The ``[fit]`` keys are the fields of :class:`~posenc.config.FitConfig` that the axes do not
set, read from the config's declaration.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import tomli_w

from posenc.choices import TrackerKind
from posenc.choices import options as choice_names
from posenc.config import FitConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

AXES = ("signals", "embeddings", "bandwidths", "models", "seeds", "protocol")
"""Keys of the ``[sweep]`` table."""
RUN_KEYS = ("out", "jobs", "batch", "log", "max_runs")
"""Keys of the ``[run]`` table: how to run, not what."""
DEFAULT_MAX_RUNS = 1000
"""Runs a sweep may have unless ``--max-runs`` (``[run] max_runs``) allows more: a sweep of
thousands of fits takes hours to days, and one mistyped count should not start it."""
TABLES = ("sweep", "fit", "embedding_params", "embeddings", "run")
SWEPT_FIELDS = ("signal", "embedding", "embedding_params", "model", "seed", "protocol")
"""Fit settings set by the sweep's axes rather than by ``[fit]``."""
FIT_KEYS = tuple(f.name for f in dataclasses.fields(FitConfig) if f.name not in SWEPT_FIELDS)
"""Keys of the ``[fit]`` table."""


def load_sweep_file(path: Path) -> dict[str, Any]:
    """Read a ``sweep.toml`` file; a syntax error raises ``ValueError`` naming the file."""
    try:
        with Path(path).open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: invalid TOML: {error}") from None


def split_run_options(mapping: Mapping[str, Any], source: str | None) -> dict[str, Any]:
    """The ``[run]`` table (``out``, ``jobs``, ``batch``, ``log``: trackers, ``max_runs``),
    checked."""
    options = mapping.get("run", {})
    if not isinstance(options, Mapping):
        raise ValueError(prefix(source) + "[run] must be a table")
    options = dict(options)
    check_table_keys(options, "run", RUN_KEYS, source)
    for key in ("jobs", "max_runs"):
        if key in options and (not is_int(options[key]) or options[key] < 1):
            raise ValueError(
                at(source, "run", key, f"must be an integer >= 1, got {options[key]!r}")
            )
    if "batch" in options and not isinstance(options["batch"], bool):
        raise ValueError(
            at(source, "run", "batch", f"must be true or false, got {options['batch']!r}")
        )
    if "out" in options and not isinstance(options["out"], str):
        raise ValueError(at(source, "run", "out", f"must be a folder name, got {options['out']!r}"))
    if "log" in options:
        log = options["log"]
        trackers = choice_names(TrackerKind)
        if not isinstance(log, list) or not all(kind in trackers for kind in log):
            raise ValueError(
                at(source, "run", "log", f"must be a list of {', '.join(trackers)}; got {log!r}")
            )
    return options


def to_toml(mapping: Mapping[str, Any]) -> str:
    """A ``sweep.toml`` mapping as TOML (``None`` values are left out: TOML has none)."""
    return tomli_w.dumps(_without_none(mapping))


def _without_none(table: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: _without_none(value) if isinstance(value, Mapping) else value
        for key, value in table.items()
        if value is not None
    }


def string_list(table: Mapping[str, Any], key: str, source: str | None) -> list[str] | None:
    if key not in table:
        return None
    value = table[key]
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise ValueError(at(source, "sweep", key, f"expected a list of names, got {value!r}"))
    if len(set(values)) != len(values):
        raise ValueError(at(source, "sweep", key, f"a name is listed twice: {values}"))
    return list(values)


def seed_list(table: Mapping[str, Any], default: int, source: str | None) -> list[int]:
    value = table.get("seeds", [default])
    values = [value] if is_int(value) else value
    if (
        not isinstance(values, list)
        or not values
        or not all(is_int(v) and v >= 0 for v in values)
        or len(set(values)) != len(values)
    ):
        raise ValueError(
            at(source, "sweep", "seeds", f"expected distinct integers >= 0, got {value!r}")
        )
    return list(values)


def check_table_keys(
    table: Mapping[str, Any], name: str, allowed: Sequence[str], source: str | None
) -> None:
    for key in table:
        if key not in allowed:
            raise ValueError(at(source, name, key, f"unknown key (allowed: {', '.join(allowed)})"))


def checked(source: str | None, table: str, key: str, action: Callable[[], Any]) -> Any:
    try:
        return action()
    except ValueError as error:
        raise ValueError(at(source, table, key, str(error))) from None


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def prefix(source: str | None) -> str:
    return f"{source}: " if source else ""


def where(source: str | None, table: str, key: str) -> str:
    return f"{prefix(source)}[{table}] {key}"


def at(source: str | None, table: str, key: str, problem: str) -> str:
    return f"{where(source, table, key)}: {problem}"
