"""What a sweep runs: signals x embeddings x bandwidths x models x seeds, every run resolved.

:func:`resolve_sweep` checks a mapping laid out like a ``sweep.toml`` file
(:mod:`posenc.sweeps.sweep_file`; the command line builds the same mapping from its flags),
turns ``auto`` and ``suggest`` bandwidths into values (:mod:`posenc.sweeps.bandwidths`;
``suggest`` asks the bandwidth oracle, :mod:`posenc.oracle`, once per embedding, signal and
model), and resolves every
run to a full :class:`~posenc.config.FitConfig`, validated before anything is written. A
run's key is a hash of that config (:mod:`posenc.sweeps.keys`), so the same run always has
the same key and a re-run of a sweep finds the runs it has already done.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from posenc.config import FitConfig, is_one_dimensional, resolve_config
from posenc.data import Signal
from posenc.embeddings import describe_embedding, embedding_class
from posenc.neural_fields import load_config_signal, plan_fit
from posenc.protocols import PROTOCOLS
from posenc.sweeps.bandwidths import (
    SUGGEST,
    AutoBandwidths,
    BandwidthValues,
    SuggestedBandwidths,
    auto_bandwidths,
    bandwidths_around,
    parse_bandwidths,
    training_samples_per_axis,
)
from posenc.sweeps.keys import run_key, runs_key
from posenc.sweeps.sweep_file import (
    AXES,
    FIT_KEYS,
    TABLES,
    at,
    check_table_keys,
    checked,
    prefix,
    seed_list,
    string_list,
    where,
)


@dataclass(frozen=True)
class EmbeddingAxis:
    """One embedding of a sweep: its bandwidths (``(None,)`` if it has no bandwidth
    parameter) and the parameters every one of its runs gets.

    With ``suggested`` (``suggest:N``) the values depend on the signal and the model:
    ``around[(signal, model)]`` holds them, and ``bandwidths`` is empty."""

    name: str
    bandwidths: tuple[float | None, ...]
    params: dict[str, Any]
    suggested: SuggestedBandwidths | None = None
    around: Mapping[tuple[str, str], tuple[float, ...]] = field(default_factory=dict)

    def values(self, signal: str, model: str) -> tuple[float | None, ...]:
        """The bandwidths this embedding's runs of ``signal`` with ``model`` fit."""
        return self.around[(signal, model)] if self.suggested else self.bandwidths


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
    _resolved: list[SweepRun] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def run_count(self) -> int:
        """How many runs the sweep has, counted from its axes (nothing resolved)."""
        values = sum(
            len(axis.values(signal, model))
            for axis in self.embeddings
            for signal in self.signals
            for model in self.models
        )
        return values * len(self.seeds)

    def runs(self) -> list[SweepRun]:
        """Every run, ordered by signal, model, embedding, bandwidth, seed; each validated.

        Resolved once (in time linear in the number of runs) and kept. Raises ``ValueError``
        naming the run whose settings cannot work.
        """
        if self._resolved is None:
            runs = []
            for signal in self.signals:
                for model in self.models:
                    for axis in self.embeddings:
                        name = describe_embedding(axis.name).bandwidth_name
                        for bandwidth in axis.values(signal, model):
                            for seed in self.seeds:
                                config = self._config(signal, model, axis, bandwidth, seed)
                                runs.append(SweepRun(run_key(config), config, name, bandwidth))
            object.__setattr__(self, "_resolved", runs)
        assert self._resolved is not None
        return list(self._resolved)

    def _config(
        self, signal: str, model: str, axis: EmbeddingAxis, bandwidth: float | None, seed: int
    ) -> FitConfig:
        params = dict(axis.params)
        if bandwidth is not None:
            params["bandwidth"] = bandwidth
        settings = self.settings
        if is_one_dimensional(signal):  # size resizes the sweep's images only
            settings = {key: value for key, value in settings.items() if key != "size"}
        try:
            return resolve_config(
                self.protocol,
                **settings,
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
        """The sweep in ``sweep.toml`` layout, every value explicit but ``suggest:N``
        (the oracle is deterministic): reading it back with :func:`resolve_sweep` gives the
        same runs."""
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
            axis.name: {**_bandwidths_entry(axis), **axis.params} for axis in self.embeddings
        }
        return {"sweep": sweep, "fit": settings, "embeddings": embeddings}

    @property
    def key(self) -> str:
        """:func:`runs_key` of the sweep's runs: the same sweep always has the same key."""
        return runs_key([run.key for run in self.runs()])


def _bandwidths_entry(axis: EmbeddingAxis) -> dict[str, Any]:
    if axis.suggested is not None:
        return {"bandwidths": f"{SUGGEST}:{axis.suggested.count}"}
    return {"bandwidths": list(axis.bandwidths)} if axis.bandwidths != (None,) else {}


def _to_file_value(key: str, value: Any) -> Any:
    """``size = None`` (keep the image's resolution) is written as 0, as on the command line."""
    if key == "size" and value is None:
        return 0
    return list(value) if isinstance(value, tuple) else value


def resolve_sweep(
    mapping: Mapping[str, Any], source: str | None = None, max_runs: int | None = None
) -> SweepSpec:
    """Check ``mapping`` (module docstring layout), resolve ``auto`` bandwidths and every run.

    ``source`` (a file name) prefixes error messages. Raises ``ValueError`` naming the table,
    key and problem for unknown tables or keys, malformed values, unknown embeddings or
    models, more runs than ``max_runs`` (counted before any is resolved), any run whose
    settings do not validate, and any run that cannot fit in memory (:func:`check_runs_fit`).
    Loads each signal once (to check it exists, to count the training samples that
    ``auto`` needs, and for the oracle that ``suggest`` asks). ``size`` applies to the
    sweep's images; 1D signals keep their length.
    """
    unknown = [table for table in mapping if table not in TABLES]
    if unknown:
        raise ValueError(
            prefix(source) + f"unknown table [{unknown[0]}] (allowed: {', '.join(TABLES)})"
        )
    for table in TABLES:
        if table in mapping and not isinstance(mapping[table], Mapping):
            raise ValueError(prefix(source) + f"[{table}] must be a table")
    sweep = dict(mapping.get("sweep", {}))
    check_table_keys(sweep, "sweep", AXES, source)
    protocol = _protocol(sweep, source)
    settings = _fit_settings(dict(mapping.get("fit", {})), source)
    try:
        base = resolve_config(protocol, **{k: v for k, v in settings.items() if k != "size"})
    except ValueError as error:
        raise ValueError(prefix(source) + f"[fit] {error}") from None

    own_tables = dict(mapping.get("embeddings", {}))
    string_list(sweep, "embeddings", source)
    names = swept_embedding_names(mapping)
    for name in names:
        checked(source, "sweep", "embeddings", functools.partial(embedding_class, name))
    for table in own_tables:
        if table not in names:
            raise ValueError(
                prefix(source) + f"[embeddings.{table}]: {table!r} is not among the swept "
                f"embeddings ({', '.join(names)})"
            )
    signals = string_list(sweep, "signals", source) or [base.signal]
    models = string_list(sweep, "models", source) or [base.model]
    seeds = seed_list(sweep, base.seed, source)
    if settings.get("size") is not None and all(map(is_one_dimensional, signals)):
        raise ValueError(
            at(source, "fit", "size", "applies to images, and every swept signal is 1D")
        )
    loaded = {signal: _load_signal(protocol, settings, signal, source) for signal in signals}
    samples = max(training_samples_per_axis(signal, base) for signal in loaded.values())
    default_values = (
        parse_bandwidths(sweep["bandwidths"], where(source, "sweep", "bandwidths"))
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
    spec = _suggested_values(spec, loaded, source)
    if max_runs is not None and spec.run_count > max_runs:
        raise ValueError(
            prefix(source) + f"this sweep has {spec.run_count} runs, more than the "
            f"{max_runs} allowed; give --max-runs {spec.run_count} (or max_runs = "
            f"{spec.run_count} in [run]) to run it"
        )
    _check_runs(spec, source)
    check_runs_fit(spec, loaded, source)
    return spec


def check_runs_fit(
    spec: SweepSpec, signals: Mapping[str, Signal], source: str | None = None
) -> None:
    """Refuse the sweep (``ValueError`` naming the run) if one of its runs cannot fit in
    memory alone (:func:`~posenc.neural_fields.plan_fit`).

    Runs that differ only in seed (with a grid split) or bandwidth share their memory but
    for the sparse first layer's active centres, which grow with the bandwidth: each such
    group is planned at its narrowest and its widest bandwidth, so the check costs a few
    plans per group, not one per run.
    """
    groups: dict[str, list[SweepRun]] = {}
    for run in spec.runs():
        groups.setdefault(_memory_group(run), []).append(run)
    for members in groups.values():
        ordered = sorted(members, key=lambda run: run.bandwidth or 0.0)
        for run in {id(run): run for run in (ordered[0], ordered[-1])}.values():
            try:
                plan_fit(signals[run.config.signal], run.config)
            except ValueError as error:
                raise ValueError(prefix(source) + f"run {run.label}: {error}") from None


def _memory_group(run: SweepRun) -> str:
    """The run's config without its bandwidth and (unless the split draws with it) seed."""
    data = run.config.to_dict()
    if data["split"] != "random":
        del data["seed"]
    data["embedding_params"] = {
        key: value for key, value in data["embedding_params"].items() if key != run.bandwidth_name
    }
    return json.dumps(data, sort_keys=True)


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
            at(
                source,
                "sweep",
                "protocol",
                f"unknown protocol {protocol!r} (available: {', '.join(PROTOCOLS)})",
            )
        )
    return protocol


def _fit_settings(settings: dict[str, Any], source: str | None) -> dict[str, Any]:
    check_table_keys(settings, "fit", FIT_KEYS, source)
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
        raise ValueError(prefix(source) + f"[{table}] must be a table")
    info = describe_embedding(name)
    accepted = embedding_class(name).parameter_names() - {"in_dim"}
    own = dict(own)
    values = own.pop("bandwidths", None)
    for key in own:
        if key == info.bandwidth_name:
            raise ValueError(at(source, table, key, "set the swept values with 'bandwidths'"))
        if key not in accepted:
            raise ValueError(
                at(
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
            raise ValueError(at(source, table, "bandwidths", f"{name} has no bandwidth parameter"))
        return EmbeddingAxis(name, (None,), params)
    parsed = (
        default_values
        if values is None
        else parse_bandwidths(values, where(source, table, "bandwidths"))
    )
    if isinstance(parsed, SuggestedBandwidths):
        return EmbeddingAxis(name, (), params, suggested=parsed)
    if isinstance(parsed, AutoBandwidths):
        count = parsed.count
        parsed = tuple(
            checked(source, table, "bandwidths", lambda: auto_bandwidths(name, samples, count))
        )
    return EmbeddingAxis(name, tuple(parsed), params)


def _suggested_values(
    spec: SweepSpec, signals: Mapping[str, Signal], source: str | None
) -> SweepSpec:
    """``spec`` with every ``suggest:N`` axis resolved: per signal and model, the values
    :func:`~posenc.sweeps.bandwidths.bandwidths_around` the oracle's suggestion for the
    fit setting the runs share (the first seed's)."""
    if not any(axis.suggested for axis in spec.embeddings):
        return spec
    from posenc.oracle import suggest_bandwidth

    axes = []
    for axis in spec.embeddings:
        if axis.suggested is None:
            axes.append(axis)
            continue
        around = {}
        for signal in spec.signals:
            for model in spec.models:
                config = spec._config(signal, model, axis, None, spec.seeds[0])
                try:
                    suggestion = suggest_bandwidth(signals[signal], config)
                except ValueError as error:
                    raise ValueError(
                        at(source, f"embeddings.{axis.name}", "bandwidths", f"{SUGGEST}: {error}")
                    ) from None
                values = bandwidths_around(suggestion.bandwidth, axis.suggested.count)
                around[(signal, model)] = tuple(values)
        axes.append(dataclasses.replace(axis, around=around))
    return dataclasses.replace(spec, embeddings=tuple(axes))


def _check_common_params(
    common: Mapping[str, Any], names: Sequence[str], source: str | None
) -> None:
    infos = [describe_embedding(name) for name in names]
    for key in common:
        takers = [info for info in infos if key in embedding_class(info.name).parameter_names()]
        if key == "in_dim" or not takers:
            raise ValueError(
                at(
                    source,
                    "embedding_params",
                    key,
                    f"none of the swept embeddings ({', '.join(names)}) takes this parameter",
                )
            )
        if any(key == info.bandwidth_name for info in takers):
            raise ValueError(
                at(source, "embedding_params", key, "set swept bandwidths with 'bandwidths'")
            )


def _check_runs(spec: SweepSpec, source: str | None) -> None:
    try:
        runs = spec.runs()
    except ValueError as error:
        raise ValueError(prefix(source) + str(error)) from None
    seen: dict[str, SweepRun] = {}
    for run in runs:
        if run.key in seen:
            raise ValueError(
                prefix(source) + f"two runs have the same settings: {seen[run.key].label} and "
                f"{run.label}"
            )
        seen[run.key] = run


def _load_signal(
    protocol: str | None, settings: Mapping[str, Any], signal: str, source: str | None
) -> Signal:
    """``signal`` as its runs load it (``size`` applies to images only)."""
    if is_one_dimensional(signal):
        settings = {key: value for key, value in settings.items() if key != "size"}
    try:
        return load_config_signal(resolve_config(protocol, **settings, signal=signal))
    except (ValueError, OSError) as error:
        raise ValueError(at(source, "sweep", "signals", str(error))) from None
