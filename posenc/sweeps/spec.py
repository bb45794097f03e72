"""What a sweep runs: signals x embeddings x bandwidths x models x seeds, every run resolved.

A sweep is a mapping laid out like a ``sweep.toml`` file; the command line builds the same
mapping from its flags, so a file and flags mean the same thing::

    [sweep]
    signals = ["camera:row=200"]      # images or 1D signal specs (default: fit's default)
    embeddings = ["gaussian", "rff"]  # (default: fit's default embedding)
    bandwidths = "auto"               # for every embedding without its own (default "auto")
    models = ["linear"]               # (default: fit's default model)
    seeds = [0, 1]                    # (default: [0])
    protocol = "p1-1d"                # optional: a named protocol under every run

    [fit]                             # any other fit setting, for every run
    steps = 500

    [embedding_params]                # given to each embedding that has the parameter
    num_centers = 1024

    [embeddings.rff]                  # one embedding's own bandwidths and parameters
    bandwidths = "logspace:0:2:8"
    num_frequencies = 512

    [run]                             # how to run it; not part of what is run
    out = "runs/row200"
    jobs = 2
    batch = true

Bandwidth values are a number, a list, or a string: ``"0.01,0.02"``, ``"linspace:A:B:N"``
(``N`` values from ``A`` to ``B``), ``"logspace:A:B:N"`` (from ``10^A`` to ``10^B``), or
``"auto"`` / ``"auto:N"`` (:func:`auto_bandwidths`, 12 values unless ``N`` is given).

Every run is resolved to a full :class:`~posenc.neural_fields.FitConfig` and validated before
anything is written; a run's key is a hash of that config, so the same run always has the
same key and a re-run of a sweep finds the runs it has already done.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posenc.data import Signal, make_split
from posenc.embeddings import describe_embedding, embedding_class
from posenc.neural_fields import PROTOCOLS, FitConfig, load_config_signal, resolve_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_AUTO_COUNT = 12
"""Bandwidths of ``"auto"`` when no count is given."""
AUTO_STABLE_RANK_LOW = 2.0
"""Predicted stable rank at the wide (underfitting) end of an automatic range."""
AUTO_MEMORISE_FACTOR = 4.0
"""The narrow end of an automatic range predicts a stable rank of this many times ``N``."""

AXES = ("signals", "embeddings", "bandwidths", "models", "seeds", "protocol")
"""Keys of the ``[sweep]`` table."""
RUN_KEYS = ("out", "jobs", "batch")
"""Keys of the ``[run]`` table: how to run, not what."""
TABLES = ("sweep", "fit", "embedding_params", "embeddings", "run")
SWEPT_FIELDS = ("signal", "embedding", "embedding_params", "model", "seed", "protocol")
"""Fit settings set by the sweep's axes rather than by ``[fit]``."""
FIT_KEYS = tuple(f.name for f in dataclasses.fields(FitConfig) if f.name not in SWEPT_FIELDS)
"""Keys of the ``[fit]`` table."""
KEY_LENGTH = 16
"""Hex digits of a run key (64 bits of SHA-256)."""


# ---------------------------------------------------------------- automatic bandwidths
def _gaussian_sigma(stable_rank: float) -> float:
    return 1.0 / (2.0 * math.sqrt(math.pi) * stable_rank)


AUTO_BANDWIDTH_RULES = {
    # Each inverts the embedding's closed-form stable rank in posenc.analysis.theory.
    "gaussian": _gaussian_sigma,  # SR = 1 / (2 sqrt(pi) sigma)
    "rff": lambda sr: sr / math.sqrt(2.0 * math.pi),  # SR = sqrt(2 pi) s, the matched scale
    "triangle": lambda sr: 2.0 / (3.0 * sr),  # SR = 2 / (3 w)
    "sinc": lambda sr: 1.0 / sr,  # SR = 1 / w
    "impulse": lambda sr: 1.0 / (2.0 * sr),  # SR = 1 / (2 r)
}
"""Bandwidth that the theory says gives a stable rank ``SR``, per embedding."""


def auto_bandwidths(
    embedding: str, num_samples: int, count: int = DEFAULT_AUTO_COUNT
) -> list[float]:
    """``count`` bandwidths spanning underfit to memorise for ``num_samples`` training samples.

    Target stable ranks are log-spaced from 2 (a basis about half the domain wide: the fit
    underfits) to ``4 N`` (well past ``SR = N``, where even a linear model memorises the
    training samples and test PSNR collapses), and each is mapped to the bandwidth whose
    closed-form stable rank it is (:data:`AUTO_BANDWIDTH_RULES`): Gaussian
    ``sigma = 1 / (2 sqrt(pi) SR)``; RFF ``s = SR / sqrt(2 pi)`` (the scale matched to that
    sigma, ``s = 1 / (2 sqrt(2) pi sigma)``); triangle ``w = 2 / (3 SR)``; sinc
    ``w = 1 / SR``; impulse ``r = 1 / (2 SR)``. For ``N = 256`` the Gaussian range is
    sigma 0.141 to 2.75e-4, which brackets P1's 1D settings (0.01, 0.002, 0.0003). Values
    are returned in increasing order. A shifted basis spans at most ``num_centers``
    directions, so its narrow end memorises only when ``num_centers >= N``.
    """
    if embedding not in AUTO_BANDWIDTH_RULES:
        raise ValueError(
            f"'auto' bandwidths are defined for {', '.join(AUTO_BANDWIDTH_RULES)} (from their "
            f"closed-form stable rank); give explicit bandwidths for {embedding!r}"
        )
    if count < 1 or num_samples < 1:
        raise ValueError(f"'auto' needs count >= 1 and N >= 1, got count={count}, N={num_samples}")
    high = AUTO_MEMORISE_FACTOR * num_samples
    targets = np.geomspace(AUTO_STABLE_RANK_LOW, max(high, AUTO_STABLE_RANK_LOW), count)
    return sorted(float(AUTO_BANDWIDTH_RULES[embedding](float(sr))) for sr in targets)


def training_samples_per_axis(signal: Signal, config: FitConfig) -> int:
    """Distinct training coordinates along the first axis: ``N`` of a 1D signal, the side of
    the training grid of an image (``auto`` bandwidths are set per axis)."""
    split = make_split(
        signal.grid_shape, config.split, fraction=config.split_fraction, seed=config.seed
    )
    if split.train_axes is not None:
        return len(split.train_axes[0])
    return max(1, round(len(split.train) ** (1.0 / signal.ndim)))


# ------------------------------------------------------------------- value parsing
@dataclass(frozen=True)
class AutoBandwidths:
    """``"auto"``: :func:`auto_bandwidths` with ``count`` values, resolved per embedding."""

    count: int = DEFAULT_AUTO_COUNT


BandwidthValues = AutoBandwidths | tuple[float, ...]


def parse_bandwidths(value: Any, where: str) -> BandwidthValues:
    """Parse a bandwidth specification (module docstring); ``where`` names it in errors.

    Lists (of numbers or strings) are concatenated; ``auto`` stands alone.
    """
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError(f"{where}: no bandwidth values given")
    parsed = [_parse_bandwidth_item(item, where) for item in items]
    autos = [item for item in parsed if isinstance(item, AutoBandwidths)]
    if autos:
        if len(parsed) > 1:
            raise ValueError(f"{where}: 'auto' cannot be combined with other values")
        return autos[0]
    values = tuple(v for item in parsed for v in item)  # type: ignore[union-attr]
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        raise ValueError(f"{where}: value {duplicates[0]!r} is given twice")
    return values


def _parse_bandwidth_item(item: Any, where: str) -> BandwidthValues:
    if isinstance(item, bool) or not isinstance(item, (int, float, str)):
        raise ValueError(
            f"{where}: expected numbers or a string such as 'logspace:-4:-1:24', got {item!r}"
        )
    if not isinstance(item, str):
        return (_finite(float(item), where, repr(item)),)
    text = item.strip()
    head, _, rest = text.partition(":")
    if head == "auto":
        return AutoBandwidths(_parse_count(rest, where, text) if rest else DEFAULT_AUTO_COUNT)
    if head not in ("linspace", "logspace"):
        return tuple(_parse_number(part, where, text) for part in text.split(","))
    parts = rest.split(":")
    if len(parts) != 3:
        raise ValueError(f"{where}: {text!r}: expected {head}:START:STOP:COUNT")
    start, stop = (_parse_number(part, where, text) for part in parts[:2])
    values = np.linspace(start, stop, _parse_count(parts[2], where, text))
    if head == "logspace":
        values = 10.0**values
    return tuple(_finite(float(value), where, text) for value in values)


def _parse_number(text: str, where: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: {spec!r}: {text.strip()!r} is not a number") from None
    return _finite(value, where, spec)


def _finite(value: float, where: str, spec: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{where}: {spec!r}: values must be finite numbers")
    return value


def _parse_count(text: str, where: str, spec: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"{where}: {spec!r}: the count must be an integer >= 1, got {text!r}")
    return count


# --------------------------------------------------------------------- the sweep
@dataclass(frozen=True)
class EmbeddingAxis:
    """One embedding of a sweep: its bandwidths (``(None,)`` if it has no bandwidth
    parameter) and the parameters every one of its runs gets."""

    name: str
    bandwidths: tuple[float | None, ...]
    params: dict[str, Any]


@dataclass(frozen=True)
class SweepRun:
    """One run: its key, its full config, and the swept values that label it."""

    key: str
    config: FitConfig
    bandwidth_name: str | None
    bandwidth: float | None

    @property
    def label(self) -> str:
        """``signal embedding name=value model seed=S``, for listings."""
        config = self.config
        band = "" if self.bandwidth is None else f" {self.bandwidth_name}={self.bandwidth:.4g}"
        return f"{config.signal} {config.embedding}{band} {config.model} seed={config.seed}"


@dataclass(frozen=True)
class SweepSpec:
    """A resolved sweep: every axis explicit (``auto`` already turned into values)."""

    signals: tuple[str, ...]
    embeddings: tuple[EmbeddingAxis, ...]
    models: tuple[str, ...]
    seeds: tuple[int, ...]
    protocol: str | None
    settings: dict[str, Any]

    def runs(self) -> list[SweepRun]:
        """Every run, ordered by signal, model, embedding, bandwidth, seed; each validated.

        Raises ``ValueError`` naming the run whose settings cannot work.
        """
        runs = []
        for signal in self.signals:
            for model in self.models:
                for axis in self.embeddings:
                    name = describe_embedding(axis.name).bandwidth_name
                    for bandwidth in axis.bandwidths:
                        for seed in self.seeds:
                            config = self._config(signal, model, axis, bandwidth, seed)
                            runs.append(SweepRun(run_key(config), config, name, bandwidth))
        return runs

    def _config(
        self, signal: str, model: str, axis: EmbeddingAxis, bandwidth: float | None, seed: int
    ) -> FitConfig:
        params = dict(axis.params)
        if bandwidth is not None:
            params["bandwidth"] = bandwidth
        try:
            return resolve_config(
                self.protocol,
                **self.settings,
                signal=signal,
                embedding=axis.name,
                embedding_params=params,
                model=model,
                seed=seed,
            )
        except ValueError as error:
            band = "" if bandwidth is None else f" at bandwidth {bandwidth:g}"
            raise ValueError(f"{axis.name}{band}, model {model}: {error}") from None

    def to_mapping(self) -> dict[str, Any]:
        """The sweep in ``sweep.toml`` layout, every value explicit: reading it back with
        :func:`resolve_sweep` gives the same runs."""
        sweep: dict[str, Any] = {
            "signals": list(self.signals),
            "embeddings": [axis.name for axis in self.embeddings],
            "models": list(self.models),
            "seeds": list(self.seeds),
        }
        if self.protocol is not None:
            sweep["protocol"] = self.protocol
        settings = {key: _to_file_value(key, value) for key, value in self.settings.items()}
        embeddings = {
            axis.name: {
                **({"bandwidths": list(axis.bandwidths)} if axis.bandwidths != (None,) else {}),
                **axis.params,
            }
            for axis in self.embeddings
        }
        return {"sweep": sweep, "fit": settings, "embeddings": embeddings}

    @property
    def key(self) -> str:
        """:func:`runs_key` of the sweep's runs: the same sweep always has the same key."""
        return runs_key(self.runs())


def runs_key(runs: Sequence[SweepRun]) -> str:
    """A hash of the sorted run keys: the identity of a sweep."""
    return _digest(sorted(run.key for run in runs))


def run_key(config: FitConfig) -> str:
    """The run's identity: SHA-256 of its config as canonical JSON, first 16 hex digits."""
    return _digest(config.to_dict())


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def _to_file_value(key: str, value: Any) -> Any:
    """``size = None`` (keep the image's resolution) is written as 0, as on the command line."""
    if key == "size" and value is None:
        return 0
    return list(value) if isinstance(value, tuple) else value


# ------------------------------------------------------------------- resolution
def load_sweep_file(path: Path) -> dict[str, Any]:
    """Read a ``sweep.toml`` file; a syntax error raises ``ValueError`` naming the file."""
    try:
        with Path(path).open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: invalid TOML: {error}") from None


def split_run_options(mapping: Mapping[str, Any], source: str | None) -> dict[str, Any]:
    """The ``[run]`` table (``out``, ``jobs``, ``batch``), checked."""
    options = mapping.get("run", {})
    if not isinstance(options, Mapping):
        raise ValueError(_prefix(source) + "[run] must be a table")
    options = dict(options)
    _check_table_keys(options, "run", RUN_KEYS, source)
    if "jobs" in options and (not _is_int(options["jobs"]) or options["jobs"] < 1):
        raise ValueError(
            _at(source, "run", "jobs", f"must be an integer >= 1, got {options['jobs']!r}")
        )
    if "batch" in options and not isinstance(options["batch"], bool):
        raise ValueError(
            _at(source, "run", "batch", f"must be true or false, got {options['batch']!r}")
        )
    if "out" in options and not isinstance(options["out"], str):
        raise ValueError(
            _at(source, "run", "out", f"must be a folder name, got {options['out']!r}")
        )
    return options


def resolve_sweep(mapping: Mapping[str, Any], source: str | None = None) -> SweepSpec:
    """Check ``mapping`` (module docstring layout), resolve ``auto`` bandwidths and every run.

    ``source`` (a file name) prefixes error messages. Raises ``ValueError`` naming the table,
    key and problem for unknown tables or keys, malformed values, unknown embeddings or
    models, and any run whose settings do not validate. Loads each signal once (to check it
    exists and to count the training samples that ``auto`` needs).
    """
    unknown = [table for table in mapping if table not in TABLES]
    if unknown:
        raise ValueError(
            _prefix(source) + f"unknown table [{unknown[0]}] (allowed: {', '.join(TABLES)})"
        )
    for table in TABLES:
        if table in mapping and not isinstance(mapping[table], Mapping):
            raise ValueError(_prefix(source) + f"[{table}] must be a table")
    sweep = dict(mapping.get("sweep", {}))
    _check_table_keys(sweep, "sweep", AXES, source)
    protocol = _protocol(sweep, source)
    settings = _fit_settings(dict(mapping.get("fit", {})), source)
    try:
        base = resolve_config(protocol, **settings)
    except ValueError as error:
        raise ValueError(_prefix(source) + f"[fit] {error}") from None

    own_tables = dict(mapping.get("embeddings", {}))
    _string_list(sweep, "embeddings", source)
    names = swept_embedding_names(mapping)
    for name in names:
        _checked(source, "sweep", "embeddings", lambda name=name: embedding_class(name))
    for table in own_tables:
        if table not in names:
            raise ValueError(
                _prefix(source) + f"[embeddings.{table}]: {table!r} is not among the swept "
                f"embeddings ({', '.join(names)})"
            )
    signals = _string_list(sweep, "signals", source) or [base.signal]
    models = _string_list(sweep, "models", source) or [base.model]
    seeds = _seed_list(sweep, base.seed, source)
    loaded = {signal: _load_signal(base, signal, source) for signal in signals}
    samples = max(training_samples_per_axis(signal, base) for signal in loaded.values())
    default_values = (
        parse_bandwidths(sweep["bandwidths"], _where(source, "sweep", "bandwidths"))
        if "bandwidths" in sweep
        else AutoBandwidths()
    )
    common = dict(mapping.get("embedding_params", {}))
    _check_common_params(common, names, source)
    axes = tuple(
        _embedding_axis(name, own_tables.get(name, {}), common, default_values, samples, source)
        for name in names
    )
    spec = SweepSpec(tuple(signals), axes, tuple(models), tuple(seeds), protocol, settings)
    _check_runs(spec, source)
    return spec


def swept_embedding_names(mapping: Mapping[str, Any]) -> list[str]:
    """The embeddings ``mapping`` sweeps: ``[sweep] embeddings``, else the names of its
    ``[embeddings.NAME]`` tables, else the protocol's (or fit's default) embedding."""
    sweep = mapping.get("sweep", {})
    sweep = sweep if isinstance(sweep, Mapping) else {}
    names = sweep.get("embeddings")
    if isinstance(names, (str, list)) and names:
        return [names] if isinstance(names, str) else list(names)
    if isinstance(mapping.get("embeddings"), Mapping) and mapping["embeddings"]:
        return list(mapping["embeddings"])
    protocol = sweep.get("protocol")
    settings = PROTOCOLS.get(protocol, {}) if isinstance(protocol, str) else {}
    return [settings.get("embedding", FitConfig().embedding)]


def _protocol(sweep: Mapping[str, Any], source: str | None) -> str | None:
    protocol = sweep.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(
            _at(
                source,
                "sweep",
                "protocol",
                f"unknown protocol {protocol!r} (available: {', '.join(PROTOCOLS)})",
            )
        )
    return protocol


def _fit_settings(settings: dict[str, Any], source: str | None) -> dict[str, Any]:
    _check_table_keys(settings, "fit", FIT_KEYS, source)
    if settings.get("size") == 0:
        settings["size"] = None
    return settings


def _embedding_axis(
    name: str,
    own: Any,
    common: Mapping[str, Any],
    default_values: BandwidthValues,
    samples: int,
    source: str | None,
) -> EmbeddingAxis:
    table = f"embeddings.{name}"
    if not isinstance(own, Mapping):
        raise ValueError(_prefix(source) + f"[{table}] must be a table")
    info = describe_embedding(name)
    accepted = {parameter.name for parameter in info.parameters} - {"in_dim"}
    own = dict(own)
    values = own.pop("bandwidths", None)
    for key in own:
        if key == info.bandwidth_name:
            raise ValueError(_at(source, table, key, "set the swept values with 'bandwidths'"))
        if key not in accepted:
            raise ValueError(
                _at(
                    source,
                    table,
                    key,
                    f"{name} has no such parameter "
                    f"(accepted: bandwidths, {', '.join(sorted(accepted))})",
                )
            )
    params = {key: value for key, value in common.items() if key in accepted}
    params.update(own)
    if info.bandwidth_name is None:
        if values is not None:
            raise ValueError(_at(source, table, "bandwidths", f"{name} has no bandwidth parameter"))
        return EmbeddingAxis(name, (None,), params)
    parsed = (
        default_values
        if values is None
        else parse_bandwidths(values, _where(source, table, "bandwidths"))
    )
    if isinstance(parsed, AutoBandwidths):
        count = parsed.count
        parsed = tuple(
            _checked(source, table, "bandwidths", lambda: auto_bandwidths(name, samples, count))
        )
    return EmbeddingAxis(name, tuple(parsed), params)


def _check_common_params(
    common: Mapping[str, Any], names: Sequence[str], source: str | None
) -> None:
    infos = [describe_embedding(name) for name in names]
    for key in common:
        takers = [info for info in infos if key in {p.name for p in info.parameters}]
        if key == "in_dim" or not takers:
            raise ValueError(
                _at(
                    source,
                    "embedding_params",
                    key,
                    f"none of the swept embeddings ({', '.join(names)}) takes this parameter",
                )
            )
        if any(key == info.bandwidth_name for info in takers):
            raise ValueError(
                _at(source, "embedding_params", key, "set swept bandwidths with 'bandwidths'")
            )


def _check_runs(spec: SweepSpec, source: str | None) -> None:
    try:
        runs = spec.runs()
    except ValueError as error:
        raise ValueError(_prefix(source) + str(error)) from None
    seen: dict[str, SweepRun] = {}
    for run in runs:
        if run.key in seen:
            raise ValueError(
                _prefix(source) + f"two runs have the same settings: {seen[run.key].label} and "
                f"{run.label}"
            )
        seen[run.key] = run


def _load_signal(base: FitConfig, signal: str, source: str | None) -> Signal:
    config = dataclasses.replace(base, signal=signal)
    try:
        return load_config_signal(config)
    except (ValueError, OSError) as error:
        raise ValueError(_at(source, "sweep", "signals", str(error))) from None


def _string_list(table: Mapping[str, Any], key: str, source: str | None) -> list[str] | None:
    if key not in table:
        return None
    value = table[key]
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise ValueError(_at(source, "sweep", key, f"expected a list of names, got {value!r}"))
    if len(set(values)) != len(values):
        raise ValueError(_at(source, "sweep", key, f"a name is listed twice: {values}"))
    return list(values)


def _seed_list(table: Mapping[str, Any], default: int, source: str | None) -> list[int]:
    value = table.get("seeds", [default])
    values = [value] if _is_int(value) else value
    if (
        not isinstance(values, list)
        or not values
        or not all(_is_int(v) and v >= 0 for v in values)
        or len(set(values)) != len(values)
    ):
        raise ValueError(
            _at(source, "sweep", "seeds", f"expected distinct integers >= 0, got {value!r}")
        )
    return list(values)


def _check_table_keys(
    table: Mapping[str, Any], name: str, allowed: Sequence[str], source: str | None
) -> None:
    for key in table:
        if key not in allowed:
            raise ValueError(_at(source, name, key, f"unknown key (allowed: {', '.join(allowed)})"))


def _checked(source: str | None, table: str, key: str, action: Callable[[], Any]) -> Any:
    try:
        return action()
    except ValueError as error:
        raise ValueError(_at(source, table, key, str(error))) from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _prefix(source: str | None) -> str:
    return f"{source}: " if source else ""


def _where(source: str | None, table: str, key: str) -> str:
    return f"{_prefix(source)}[{table}] {key}"


def _at(source: str | None, table: str, key: str, problem: str) -> str:
    return f"{_where(source, table, key)}: {problem}"


# --------------------------------------------------------------------- writing
def to_toml(mapping: Mapping[str, Any]) -> str:
    """Write a ``sweep.toml`` mapping (tables of scalars, lists, and sub-tables) as TOML."""
    lines: list[str] = []
    _write_table(lines, [], mapping)
    return "\n".join(lines).strip() + "\n"


def _write_table(lines: list[str], path: list[str], table: Mapping[str, Any]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping) and v is not None}
    if path and (scalars or not table):
        lines.append(f"\n[{'.'.join(path)}]")
    lines.extend(f"{key} = {_toml_value(value)}" for key, value in scalars.items())
    for key, value in table.items():
        if isinstance(value, Mapping):
            _write_table(lines, [*path, key], value)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise ValueError(f"cannot write {value!r} to TOML")
