"""The registry of embeddings: names to classes, construction by name, self-description.

A new embedding is a subclass of :class:`posenc.embeddings.base.Embedding` decorated with
:func:`register`; the command line, sweeps and the registry-wide tests then pick it up.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from posenc.embeddings.base import Embedding, Param

EmbeddingClass = TypeVar("EmbeddingClass", bound="type[Embedding]")

EMBEDDINGS: dict[str, type[Embedding]] = {}
"""Every registered embedding class, by name."""


@dataclass(frozen=True)
class ParameterInfo:
    """One constructor parameter: its name, default (``inspect.Parameter.empty`` if required),
    a one-line description, and the default as shown to users (``"1/num_centers"`` where the
    default is derived from other parameters)."""

    name: str
    default: Any
    help: str
    shown_default: str

    @property
    def required(self) -> bool:
        """Whether the parameter has no default."""
        return self.default is inspect.Parameter.empty


@dataclass(frozen=True)
class EmbeddingInfo:
    """What ``posenc embeddings`` shows about one embedding."""

    name: str
    family: str
    formula: str
    bandwidth_name: str | None
    summary: str
    parameters: tuple[ParameterInfo, ...]


def register(cls: EmbeddingClass) -> EmbeddingClass:
    """Class decorator: add an embedding class to :data:`EMBEDDINGS` under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty class attribute 'name'")
    if cls.name in EMBEDDINGS and EMBEDDINGS[cls.name] is not cls:
        raise ValueError(f"an embedding named {cls.name!r} is already registered")
    EMBEDDINGS[cls.name] = cls
    return cls


def embedding_names() -> list[str]:
    """Registered names, in registration order (Fourier family first)."""
    return list(EMBEDDINGS)


def embedding_class(name: str) -> type[Embedding]:
    """The class registered as ``name``; unknown names raise ``ValueError`` with suggestions."""
    if name in EMBEDDINGS:
        return EMBEDDINGS[name]
    close = difflib.get_close_matches(name, EMBEDDINGS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown embedding {name!r}{hint} (available: {', '.join(EMBEDDINGS)})")


def make_embedding(
    name: str | Mapping[str, Any],
    in_dim: int | None = None,
    *,
    bandwidth: float | None = None,
    **params: Any,
) -> Embedding:
    """Build the embedding registered as ``name``, or described by a config mapping.

    ``bandwidth`` sets the embedding's own bandwidth parameter (``sigma``, ``scale``, ``p``,
    ``width``, ...) whatever its name, so sweeps can treat every embedding alike. ``in_dim``
    defaults to 1. Unknown parameters raise ``ValueError`` naming them and the accepted ones.

    ``name`` may instead be a plain mapping, as loaded from JSON or TOML or written by
    :meth:`~posenc.embeddings.Embedding.to_config`: ``{"name": "gaussian", "in_dim": 2,
    "sigma": 0.01, "dtype": "float64"}``; its keys are the keywords above (``dtype`` by
    name), and the arguments given beside it override them.

    >>> make_embedding({"name": "rff", "in_dim": 2, "bandwidth": 4.0}).scale
    4.0
    """
    if isinstance(name, Mapping):
        config = dict(name)
        if "name" not in config:
            raise ValueError(
                f"an embedding config needs a 'name' (one of {', '.join(EMBEDDINGS)}); "
                f"got keys {', '.join(map(repr, config)) or 'none'}"
            )
        config.update(params)
        if in_dim is not None:
            config["in_dim"] = in_dim
        if bandwidth is not None:  # replaces the mapping's value of the same parameter
            config.pop(embedding_class(config["name"]).bandwidth_name or "bandwidth", None)
            config["bandwidth"] = bandwidth
        return make_embedding(**config)
    cls = embedding_class(name)
    return cls(in_dim=1 if in_dim is None else in_dim, **_with_bandwidth(cls, bandwidth, params))


def declare_embedding(
    name: str, in_dim: int = 1, *, bandwidth: float | None = None, **params: Any
) -> Embedding:
    """:func:`make_embedding`'s embedding checked but not built
    (:meth:`~posenc.embeddings.Embedding.declared`): its sizes without its tables, at a cost
    independent of them."""
    cls = embedding_class(name)
    return cls.declared(in_dim=in_dim, **_with_bandwidth(cls, bandwidth, params))


def _with_bandwidth(
    cls: type[Embedding], bandwidth: float | None, params: dict[str, Any]
) -> dict[str, Any]:
    if bandwidth is None:
        return params
    if cls.bandwidth_name is None:
        raise ValueError(f"embedding {cls.name!r} has no bandwidth parameter to set")
    if cls.bandwidth_name in params:
        raise ValueError(f"give either bandwidth or {cls.bandwidth_name}, not both")
    return {**params, cls.bandwidth_name: bandwidth}


def describe_embedding(name: str) -> EmbeddingInfo:
    """Name, family, formula, bandwidth parameter and documented parameters of ``name``."""
    cls = embedding_class(name)
    doc = inspect.getdoc(cls) or ""
    return EmbeddingInfo(
        name=cls.name,
        family=cls.family,
        formula=cls.formula,
        bandwidth_name=cls.bandwidth_name,
        summary=doc.split("\n\n")[0].replace("\n", " "),
        parameters=_parameters(cls),
    )


def _parameters(cls: type[Embedding]) -> tuple[ParameterInfo, ...]:
    return tuple(
        ParameterInfo(
            name,
            inspect.Parameter.empty if param.required else param.default,
            param.help,
            _shown_default(param),
        )
        for name, param in cls.declared_parameters().items()
    )


def _shown_default(param: Param[Any]) -> str:
    if param.shown_default is not None:
        return param.shown_default
    return "required" if param.required else repr(param.default)
