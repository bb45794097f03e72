"""The full configuration of one fit, and the papers' protocols as named presets.

A :class:`FitConfig` holds every hyper-parameter of a fit; it is saved beside each result so
a run can be repeated exactly. :func:`resolve_config` starts from the defaults, applies a named
protocol (REFERENCE section 4), then the user's overrides, and validates the result before
any work starts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from posenc.embeddings import describe_embedding, make_embedding, validation
from posenc.embeddings.base import NORMALIZATIONS
from posenc.neural_fields.models import MODEL_KINDS

SOLVERS = ("adam", "closed-form")
SPLITS = ("offset", "rest", "all", "random")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class FitConfig:
    """Every setting of one fit. Field groups: data, embedding, model, solver, run.

    The defaults are a quick look that runs in well under a minute on a laptop CPU: the
    256 x 256 camera image, a Gaussian basis (sigma 0.01, 256 centres per axis), a 3 x 128
    ReLU MLP with sigmoid output and 300 Adam steps at lr 3e-3. The named protocols set the
    papers' heavier settings. ``sigmoid=None`` resolves by model: on for ``mlp`` and
    ``siren``, off for ``linear`` and ``separable``.
    """

    signal: str = "camera"
    size: int | None = 256
    gray: bool = False
    split: str = "offset"
    split_fraction: float = 0.25

    embedding: str = "gaussian"
    embedding_params: dict[str, Any] = field(
        default_factory=lambda: {"sigma": 0.01, "num_centers": 256}
    )
    normalization: str = "domain"

    model: str = "mlp"
    depth: int = 3
    width: int = 128
    sigmoid: bool | None = None
    siren_omega: float = 30.0

    solver: str = "adam"
    steps: int = 300
    lr: float = 3e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 1e-8
    eval_every: int = 50
    last_k: int = 100

    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    protocol: str | None = None

    def __post_init__(self) -> None:
        # No sigmoid given: networks (mlp, siren) squash their output into [0, 1] as P1/P3
        # do; linear and separable models stay linear (closed forms apply to them).
        if self.sigmoid is None:
            object.__setattr__(self, "sigmoid", self.model in ("mlp", "siren"))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        data = dataclasses.asdict(self)
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
    def torch_dtype(self) -> torch.dtype:
        """The floating-point type of embeddings, models and solvers."""
        return DTYPES[self.dtype]


_P1 = {"solver": "adam", "lr": 1e-3, "steps": 2000, "weight_decay": 1e-8, "last_k": 100}

PROTOCOLS: dict[str, dict[str, Any]] = {
    # P1 1D: single linear layer on a 10000-centre Gaussian basis, even samples for training,
    # test over all 512 samples, embeddings divided by the largest training row norm.
    "p1-1d": {
        **_P1,
        "signal": "camera:row=256",
        "split": "all",
        "embedding": "gaussian",
        "embedding_params": {"sigma": 0.002, "num_centers": 10000},
        "normalization": "train",
        "model": "linear",
        "sigmoid": False,
        "eval_every": 100,
    },
    # P1 2D: 512x512 RGB image, offset split, concatenated Gaussian with 1000 features,
    # 4 hidden ReLU layers of 256 and a sigmoid output.
    "p1-2d": {
        **_P1,
        "signal": "astronaut",
        "size": 512,
        "split": "offset",
        "embedding": "gaussian",
        "embedding_params": {"sigma": 0.003, "num_centers": 500, "compose": "concat"},
        "normalization": "train",
        "model": "mlp",
        "depth": 4,
        "width": 256,
        "sigmoid": True,
        "eval_every": 100,
    },
    # P3 Table 1: Gaussian RFF (256 x 2, sigma 10), 3 hidden layers of 256, sigmoid, offset
    # split on the 512 grid; P3 does not normalise its embedding.
    "p3": {
        **_P1,
        "signal": "astronaut",
        "size": 512,
        "split": "offset",
        "embedding": "rff",
        "embedding_params": {"scale": 10.0, "num_frequencies": 256},
        "normalization": "none",
        "model": "mlp",
        "depth": 3,
        "width": 256,
        "sigmoid": True,
        "eval_every": 100,
    },
    # P2 "simple": K = 512 features as four directions of 128 Gaussian centres, depth 4,
    # lr 5e-3, no sigmoid, tested on every non-training pixel.
    "p2-simple": {
        **_P1,
        "signal": "astronaut",
        "size": 512,
        "split": "rest",
        "embedding": "gaussian",
        "embedding_params": {"sigma": 0.006, "num_centers": 128, "compose": "directions"},
        "normalization": "train",
        "model": "mlp",
        "depth": 4,
        "width": 256,
        "sigmoid": False,
        "lr": 5e-3,
        "eval_every": 100,
    },
    # P2 "complex": separable (Kronecker) Gaussian, K = 256 per axis, linear, lr 0.1.
    "p2-complex": {
        **_P1,
        "signal": "astronaut",
        "size": 512,
        "split": "rest",
        "embedding": "gaussian",
        "embedding_params": {"sigma": 0.004, "num_centers": 256, "compose": "separable"},
        "normalization": "train",
        "model": "separable",
        "depth": 0,
        "sigmoid": False,
        "lr": 0.1,
        "eval_every": 100,
    },
    # P2 closed form: W = pinv(Phi_x) S pinv(Phi_y)^T on a separable Gaussian, sigma 0.0025.
    "p2-closed-form": {
        "signal": "astronaut",
        "size": 512,
        "split": "rest",
        "embedding": "gaussian",
        "embedding_params": {"sigma": 0.0025, "num_centers": 256, "compose": "separable"},
        "normalization": "train",
        "model": "separable",
        "depth": 0,
        "sigmoid": False,
        "solver": "closed-form",
    },
}


def resolve_config(protocol: str | None = None, **overrides: Any) -> FitConfig:
    """Defaults, then ``protocol``'s settings, then ``overrides``; validated.

    ``embedding_params`` merge key by key. When ``overrides`` change the embedding, the
    protocol's embedding parameters that the new embedding does not accept are dropped.
    """
    settings = {**FitConfig().to_dict(), "sigmoid": None}  # resolved once the model is known
    if protocol is not None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r} (available: {', '.join(PROTOCOLS)})")
        settings.update(PROTOCOLS[protocol], protocol=protocol)
    params = dict(settings["embedding_params"])
    embedding = overrides.get("embedding", settings["embedding"])
    if embedding != settings["embedding"]:
        accepted = _accepted_parameters(embedding)
        params = {key: value for key, value in params.items() if key in accepted}
    params.update(_named_bandwidth(embedding, overrides.pop("embedding_params", None) or {}))
    settings.update(overrides, embedding_params=params)
    config = FitConfig.from_dict(settings)
    validate_config(config)
    return config


def validate_config(config: FitConfig) -> None:
    """Raise ``ValueError`` naming the first setting that cannot work."""
    _check_choice("split", config.split, SPLITS)
    _check_choice("model", config.model, MODEL_KINDS)
    _check_choice("solver", config.solver, SOLVERS)
    _check_choice("normalization", config.normalization, NORMALIZATIONS)
    _check_choice("dtype", config.dtype, DTYPES)
    _check_integer("depth", config.depth, minimum=0)
    _check_integer("width", config.width, minimum=1)
    _check_integer("steps", config.steps, minimum=1)
    _check_integer("eval_every", config.eval_every, minimum=1)
    _check_integer("last_k", config.last_k, minimum=1)
    if config.size is not None:
        _check_integer("size", config.size, minimum=2)
    for name in ("lr", "siren_omega"):
        value = getattr(config, name)
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if not 0 <= config.weight_decay < math.inf:
        raise ValueError(f"weight_decay must be a finite number >= 0, got {config.weight_decay}")
    if not 0 < config.split_fraction < 1:
        raise ValueError(f"split_fraction must be in (0, 1), got {config.split_fraction}")
    _check_device(config.device)
    _check_model_and_solver(config)
    # Building a tiny copy of the embedding validates its name and every parameter.
    _probe_embedding(config)


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


def _probe_embedding(config: FitConfig) -> None:
    params = dict(config.embedding_params)
    if "num_centers" in params:
        validation.positive_int("num_centers", params["num_centers"])
        params["num_centers"] = 2  # a tiny probe keeps validation cheap
    in_dim = 2 if params.get("compose") == "directions" else 1
    make_embedding(config.embedding, in_dim=in_dim, normalization="none", **params)


def _named_bandwidth(embedding: str, params: dict[str, Any]) -> dict[str, Any]:
    """Replace a generic ``bandwidth`` key by the embedding's own bandwidth parameter."""
    if "bandwidth" not in params:
        return params
    params = dict(params)
    value = params.pop("bandwidth")
    name = describe_embedding(embedding).bandwidth_name
    if name is None:
        raise ValueError(f"embedding {embedding!r} has no bandwidth parameter to set")
    if name in params:
        raise ValueError(f"give either bandwidth or {name}, not both")
    params[name] = value
    return params


def _accepted_parameters(name: str) -> set[str]:
    return {parameter.name for parameter in describe_embedding(name).parameters}


def _check_choice(name: str, value: Any, allowed: Any) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _check_integer(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_device(device: str) -> None:
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must be cpu or cuda[:N], got {device!r}") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here")
    if parsed.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be cpu or cuda[:N], got {device!r}")
