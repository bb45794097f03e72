"""The full configuration of one fit, declared once: fields, types, defaults, help, checks.

A :class:`FitConfig` holds every hyper-parameter of a fit and is saved beside each result, so
a run can be repeated exactly. Each field is declared with :func:`setting`: its type (the
``Literal`` choices of :mod:`posenc.choices` where it is a choice), its default, a one-line
help text, its command-line group and its check. From that one declaration:

- a config is validated once, when it is made (``__post_init__``): every field's check, then
  the checks that involve several fields and a probe of the embedding's parameters;
- the command line's flags of ``posenc fit`` and ``posenc sweep`` are generated
  (:func:`settings`), each ``--help`` showing the default;
- a sweep file's ``[fit]`` table accepts exactly the fields its axes do not set.

:func:`resolve_config` starts from the defaults, applies a named protocol
(:data:`posenc.protocols.PROTOCOLS`), then the user's overrides. This module imports neither
torch nor the embeddings at import time, so the command line can describe itself quickly.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from posenc import validation
from posenc.choices import (
    DTypeName,
    FirstLayerForm,
    ModelKind,
    Normalization,
    Precision,
    Solver,
    SplitKind,
)
from posenc.protocols import PROTOCOLS

DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?")
"""Devices a config may name; whether CUDA is present is checked when a fit is planned."""


@dataclass(frozen=True)
class Setting:
    """How a config field is presented: its command-line ``group``, one line of ``help``,
    a ``check`` (``check(name, value)`` raises ``ValueError``), the default as shown to users
    where it is not the value itself, and whether it has a flag of its own (``cli``)."""

    group: str
    help: str
    check: Callable[[str, Any], Any] | None = None
    shown_default: str | None = None
    cli: bool = True


def setting(
    default: Any,
    group: str,
    help: str,
    check: Callable[[str, Any], Any] | None = None,
    *,
    shown_default: str | None = None,
    cli: bool = True,
) -> Any:
    """A dataclass field of :class:`FitConfig` with its :class:`Setting` attached."""
    meta = {"setting": Setting(group, help, check, shown_default, cli)}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=meta)
    return field(default=default, metadata=meta)


def _integer(minimum: int) -> Callable[[str, Any], int]:
    return lambda name, value: validation.integer(name, value, minimum)


def _optional_size(name: str, value: Any) -> None:
    if value is not None:
        validation.integer(name, value, 2)


def _betas(name: str, value: Any) -> None:
    if not isinstance(value, tuple) or len(value) != 2 or not all(0 <= b < 1 for b in value):
        raise ValueError(f"{name} must be two numbers in [0, 1), got {value!r}")


def _device(name: str, value: Any) -> None:
    if not isinstance(value, str) or not DEVICE_PATTERN.fullmatch(value):
        raise ValueError(f"{name} must be cpu or cuda[:N], got {value!r}")


def _protocol(name: str, value: Any) -> None:
    if value is not None and value not in PROTOCOLS:
        raise ValueError(f"unknown {name} {value!r} (available: {', '.join(PROTOCOLS)})")


def _optional_bool(name: str, value: Any) -> None:
    if value is not None:
        validation.boolean(name, value)


def _string(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")


def _mapping(name: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a mapping of parameter names to values")


@dataclass(frozen=True)
class FitConfig:
    """Every setting of one fit; see :func:`setting` for what each field declares.

    The defaults are a quick look that runs in well under a minute on a laptop CPU: the
    256 x 256 camera image, a Gaussian basis (sigma 0.01, 256 centres per axis), a 3 x 128
    ReLU MLP with sigmoid output and 300 Adam steps at lr 3e-3. The named protocols set the
    papers' heavier settings. ``sigmoid=None`` resolves by model: on for ``mlp`` and
    ``siren``, off for ``linear`` and ``separable``. ``first_layer`` says how the first
    layer's product with the embedded rows is computed; every form gives the same function up
    to rounding, and ``auto`` picks the fastest that applies.
    """

    signal: str = setting(
        "camera", "data", "built-in image name, image file, or 1D signal spec", _string
    )
    size: int | None = setting(
        256,
        "data",
        "resize images to SIZE x SIZE (0: keep; images only, none for 1D signals)",
        _optional_size,
    )
    gray: bool = setting(False, "data", "fit the grayscale image", validation.boolean)
    split: SplitKind = setting("offset", "data", "train/test split")
    split_fraction: float = setting(
        0.25, "data", "training fraction of the random split", validation.open_unit_float
    )

    embedding: str = setting(
        "gaussian",
        "embedding",
        "embedding name (see posenc embeddings)",
        _string,
        shown_default="gaussian, with sigma 0.01 and 256 centres per axis",
    )
    embedding_params: dict[str, Any] = setting(
        {"sigma": 0.01, "num_centers": 256},
        "embedding",
        "the embedding's parameters",
        _mapping,
        cli=False,
    )
    normalization: Normalization = setting(
        "domain",
        "embedding",
        "row scaling: domain (largest row norm over [0,1)^d is 1), train (P1/P2), none",
    )

    model: ModelKind = setting("mlp", "model and solver", "coordinate network")
    depth: int = setting(3, "model and solver", "hidden layers", _integer(0))
    width: int = setting(128, "model and solver", "hidden units per layer", _integer(1))
    sigmoid: bool | None = setting(
        None,
        "model and solver",
        "sigmoid on the output",
        _optional_bool,
        shown_default="on for mlp and siren, off otherwise",
    )
    siren_omega: float = setting(
        30.0, "model and solver", "SIREN frequency omega_0", validation.positive_float
    )
    first_layer: FirstLayerForm = setting(
        "auto",
        "model and solver",
        "how the first layer meets the embedding: auto (fastest exact form), dense, lookup "
        "(axis-wise embeddings on grids), sparse (compact shifted bases)",
    )
    solver: Solver = setting("adam", "model and solver", "training method")
    steps: int = setting(300, "model and solver", "Adam steps (full batch)", _integer(1))
    lr: float = setting(3e-3, "model and solver", "learning rate", validation.positive_float)
    betas: tuple[float, float] = setting(
        (0.9, 0.999), "model and solver", "Adam's betas", _betas, cli=False
    )
    weight_decay: float = setting(
        1e-8, "model and solver", "Adam's weight decay", validation.nonnegative_float
    )
    eval_every: int = setting(50, "model and solver", "test PSNR every N steps", _integer(1))
    last_k: int = setting(
        100, "model and solver", "steps averaged for the *_last PSNRs", _integer(1)
    )

    seed: int = setting(0, "run", "seed of the model and of random embeddings", _integer(0))
    device: str = setting("cpu", "run", "cpu or cuda[:N]", _device)
    dtype: DTypeName = setting("float32", "run", "floating-point type")
    precision: Precision = setting(
        "fp32",
        "run",
        "matrix products of a float32 network trained by Adam: fp32, bf16 (bfloat16 operands, "
        "float32 accumulation; fast on CPUs with AMX or AVX-512 BF16 and on GPUs), tf32 "
        "(TF32 tensor cores, NVIDIA GPUs)",
    )
    protocol: str | None = setting(
        None, "run", "the paper protocol the settings started from", _protocol, cli=False
    )

    def __post_init__(self) -> None:
        # No sigmoid given: networks (mlp, siren) squash their output into [0, 1] as P1/P3
        # do; linear and separable models stay linear (closed forms apply to them).
        if self.sigmoid is None:
            object.__setattr__(self, "sigmoid", self.model in ("mlp", "siren"))
        if self.size is not None and is_one_dimensional(self.signal):
            object.__setattr__(self, "size", None)  # 1D signals are never resized
        for info in settings():
            value = getattr(self, info.name)
            if info.choices:
                validation.choice(info.name, value, info.choices)
            if info.setting.check is not None:
                info.setting.check(info.name, value)
        _check_model_and_solver(self)
        _probe_embedding(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (the fields are scalars but for the parameter mapping,
        copied, and the betas, a list)."""
        data = {item.name: getattr(self, item.name) for item in dataclasses.fields(self)}
        data["embedding_params"] = dict(self.embedding_params)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FitConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown fit setting(s): {', '.join(unknown)}")
        if "betas" in data:
            data = {**data, "betas": tuple(data["betas"])}
        return cls(**data)

    @property
    def torch_dtype(self) -> Any:
        """The ``torch.dtype`` of embeddings, models and solvers."""
        import torch

        return getattr(torch, self.dtype)


@dataclass(frozen=True)
class SettingInfo:
    """One field of :class:`FitConfig` as the command line and the sweep file see it."""

    name: str
    kind: type
    optional: bool
    choices: tuple[str, ...]
    default: Any
    setting: Setting

    @property
    def shown_default(self) -> str:
        """The default as ``--help`` shows it."""
        if self.setting.shown_default is not None:
            return self.setting.shown_default
        return "none" if self.default is None else str(self.default)


@cache
def settings() -> tuple[SettingInfo, ...]:
    """Every field of :class:`FitConfig`, in declaration order, with its resolved type."""
    hints = typing.get_type_hints(FitConfig)
    return tuple(_setting_info(item, hints[item.name]) for item in dataclasses.fields(FitConfig))


def _setting_info(item: dataclasses.Field, hint: Any) -> SettingInfo:
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    optional = type(None) in typing.get_args(hint)
    choices: tuple[str, ...] = ()
    if typing.get_origin(hint) is Literal:
        kind, choices = str, tuple(typing.get_args(hint))
    elif optional and len(args) == 1:
        kind = args[0]
    else:
        kind = typing.get_origin(hint) or hint
    default = item.default_factory() if callable(item.default_factory) else item.default
    return SettingInfo(item.name, kind, optional, choices, default, item.metadata["setting"])


def resolve_config(protocol: str | None = None, **overrides: Any) -> FitConfig:
    """Defaults, then ``protocol``'s settings, then ``overrides``; validated.

    ``embedding_params`` merge key by key, and may give the generic ``bandwidth`` for the
    embedding's own bandwidth parameter. When ``overrides`` change the embedding, the
    protocol's embedding parameters that the new embedding does not accept are dropped.
    """
    from posenc.embeddings import embedding_class

    data = {**_defaults(), "sigmoid": None}
    if protocol is not None:
        _protocol("protocol", protocol)
        data.update(PROTOCOLS[protocol], protocol=protocol)
    params = dict(data["embedding_params"])
    embedding = overrides.get("embedding", data["embedding"])
    if embedding != data["embedding"]:
        accepted = embedding_class(embedding).parameter_names()
        params = {key: value for key, value in params.items() if key in accepted}
    params.update(_named_bandwidth(embedding, overrides.pop("embedding_params", None) or {}))
    if overrides.get("size") is not None and is_one_dimensional(
        overrides.get("signal", data["signal"])
    ):
        raise ValueError(
            f"size applies to images; {overrides.get('signal', data['signal'])!r} is a 1D "
            "signal, whose length is its own"
        )
    data.update(overrides, embedding_params=params)
    config = FitConfig.from_dict(data)
    check_device(config.device, config.precision)
    return config


def is_one_dimensional(signal: Any) -> bool:
    """Whether the source ``signal`` names is a 1D signal (so ``size`` does not apply)."""
    from posenc.data import is_signal_spec

    return isinstance(signal, str) and is_signal_spec(signal)


def check_device(device: str, precision: str = "fp32") -> None:
    """Raise ``ValueError`` if ``device`` names a CUDA device this machine does not have, or
    if ``precision`` is ``tf32`` and the device has no TF32 tensor cores.

    Checked when a fit is resolved or planned, not when a config is made: a config of a GPU
    run stays readable on a machine without one.
    """
    import torch

    parsed = torch.device(device)
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here")
    if parsed.type == "cuda" and parsed.index is not None:
        count = torch.cuda.device_count()
        if parsed.index >= count:
            raise ValueError(f"device {device!r} requested but this machine has {count} GPU(s)")
    if precision == "tf32" and (
        parsed.type != "cuda" or torch.cuda.get_device_capability(parsed) < (8, 0)
    ):
        raise ValueError(
            f"precision 'tf32' needs an NVIDIA GPU with TF32 tensor cores (Ampere or newer); "
            f"the fit runs on {device!r}"
        )


def _defaults() -> dict[str, Any]:
    return {
        info.name: dict(info.default) if isinstance(info.default, dict) else info.default
        for info in settings()
    }


def _named_bandwidth(embedding: str, params: dict[str, Any]) -> dict[str, Any]:
    """Replace a generic ``bandwidth`` key by the embedding's own bandwidth parameter."""
    if "bandwidth" not in params:
        return params
    from posenc.embeddings import embedding_class

    params = dict(params)
    value = params.pop("bandwidth")
    name = embedding_class(embedding).bandwidth_name
    if name is None:
        raise ValueError(f"embedding {embedding!r} has no bandwidth parameter to set")
    if name in params:
        raise ValueError(f"give either bandwidth or {name}, not both")
    params[name] = value
    return params


def _check_model_and_solver(config: FitConfig) -> None:
    separable = config.embedding_params.get("compose") == "separable"
    if (config.model == "separable") != separable:
        raise ValueError(
            "the separable model and compose='separable' go together: got "
            f"model={config.model!r} with compose={config.embedding_params.get('compose')!r}"
        )
    if config.model == "separable" and config.depth > 1:
        raise ValueError(f"the separable model has depth 0 or 1, got depth={config.depth}")
    if config.solver == "closed-form":
        linear = config.model == "linear" or (config.model == "separable" and config.depth == 0)
        if not linear or config.sigmoid:
            raise ValueError(
                "solver 'closed-form' needs a linear model without sigmoid "
                "(model linear, or separable with depth 0)"
            )
        if config.first_layer not in ("auto", "dense"):
            raise ValueError(
                f"solver 'closed-form' works on the dense embedded matrix; first_layer "
                f"{config.first_layer!r} applies to Adam only"
            )
    if config.precision != "fp32" and (config.solver != "adam" or config.dtype != "float32"):
        raise ValueError(
            f"precision {config.precision!r} applies to float32 networks trained by Adam; "
            f"got solver {config.solver!r} with dtype {config.dtype!r}"
        )


def _probe_embedding(config: FitConfig) -> None:
    """Declare the embedding without building it: validates its name and every parameter
    at a cost independent of the sizes they give."""
    from posenc.embeddings import declare_embedding

    params = dict(config.embedding_params)
    in_dim = 2 if params.get("compose") == "directions" else 1
    declare_embedding(config.embedding, in_dim=in_dim, normalization="none", **params)
