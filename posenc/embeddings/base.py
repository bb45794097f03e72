"""The embedding base classes: coordinates in [0, 1)^d to feature vectors.

Every embedding is a ``torch.nn.Module`` mapping coordinates of shape ``(*batch, in_dim)`` to
features ``(*batch, out_dim)``, a drop-in encoding for any coordinate network:
:meth:`Embedding.forward` has no data-dependent branch and never waits for the device, so a
model containing it compiles as one graph (``torch.compile(fullgraph=True)``) and exports
(``torch.export``); :meth:`Embedding.embed` is the checked entry point posenc's own code uses
(finite values, any dtype and device converted). ``include_input=True`` appends the raw
coordinates to the features, as NeRF-style encodings do. :meth:`Embedding.to_config` writes
the parameters as a plain mapping (JSON and TOML types) that
:func:`~posenc.embeddings.make_embedding` builds the same embedding from.

The output is divided by a normalisation constant that is fixed once and never depends on
the batch being embedded:

``normalization="domain"`` (default)
    the constant makes the largest feature-row L2 norm over the domain equal to 1. For an
    axis-wise embedding with per-axis feature map ``f`` and ``P`` concatenated parts it is
    ``sqrt(P) * max_u ||f(u)||``, the maximum taken over ``REFERENCE_GRID_POINTS`` evenly
    spaced points of the closed interval [0, 1] (Fourier features have the closed form
    ``sqrt(K/2)``; shifted bases take every centre and points between centres, in time
    linear in their number, see :class:`~posenc.embeddings.shifted.ShiftedBasis`). That is
    the largest row norm of the axis-wise concatenation on the product grid (up to the
    grid's resolution), and an upper bound for P2's four directions. Building an embedding
    costs about as much as embedding a few thousand coordinates, whatever its size.
``normalization="train"``
    P1/P2's convention: divide by the largest row norm of the training coordinates. Call
    :meth:`Embedding.fit_normalization` once with the training coordinates; the constant is
    then frozen, so test coordinates are scaled by the same number.
``normalization="none"``
    raw features.

The appended coordinates of ``include_input`` are not scaled: the bounds above hold for the
encoding's part of the row. A separable (Kronecker) embedding returns the per-axis factors,
shape ``(*batch, in_dim, K)``, each factor normalised on its own so that the (never
materialised) Kronecker row ``f(x_1) (x) ... (x) f(x_d)`` has unit largest norm.

Parameters are declared once, as :class:`Param` class attributes (default, one line of help,
check): a subclass inherits its base classes' declarations (every shifted basis shares those
of :class:`~posenc.embeddings.shifted.ShiftedBasis`) and declares only its own. The
constructor takes them as keywords, checks them and stores them as attributes; a subclass
builds what it derives from them in :meth:`Embedding.build` and implements the raw feature
map. The metaclass computes the normalisation constant after construction, so a new
embedding needs no extra call.
"""

from __future__ import annotations

import abc
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

import torch
from torch import Tensor, nn

from posenc import validation
from posenc.choices import AxisComposition, Normalization, options

if TYPE_CHECKING:
    from posenc.theory import ClosedForm

REFERENCE_GRID_POINTS = 2048
"""Points of the 1D reference grid (evenly spaced on [0, 1]) over which the domain norm is taken."""

NORMALIZATIONS = options(Normalization)
AXIS_COMPOSITIONS = options(AxisComposition)

_CHUNK_ELEMENTS = 2**24
"""Feature values evaluated at a time when a normalisation constant is computed."""

T = TypeVar("T")

REQUIRED: Any = object()
"""The default of a :class:`Param` that has none."""


@dataclass(frozen=True)
class Param(Generic[T]):
    """One constructor parameter of an embedding, declared as a class attribute.

    ``default`` (or :data:`REQUIRED`); ``help``, one line for ``posenc embeddings``;
    ``check(name, value)``, which returns the value (converted) or raises ``ValueError``;
    ``derive(embedding)``, the default computed from the other parameters when the value is
    ``None``, shown to users as ``shown_default``; ``key``, the keyword when it differs from
    the attribute's name. On an instance the attribute holds the checked value.
    """

    default: Any = REQUIRED
    help: str = ""
    check: Callable[[str, Any], Any] | None = None
    derive: Callable[[Any], Any] | None = None
    shown_default: str | None = None
    key: str | None = None
    attribute: str = field(default="", init=False)

    def __set_name__(self, owner: type, name: str) -> None:
        object.__setattr__(self, "attribute", name)

    @overload
    def __get__(self, instance: None, owner: type) -> Param[T]: ...

    @overload
    def __get__(self, instance: object, owner: type) -> T: ...

    def __get__(self, instance: object, owner: type) -> Any:
        # An instance holds its value in its __dict__, which shadows this non-data
        # descriptor; on the class the attribute is the declaration itself.
        return self if instance is None else self.default

    @property
    def name(self) -> str:
        """The keyword of the parameter."""
        return self.key or self.attribute

    @property
    def required(self) -> bool:
        """Whether the parameter has no default."""
        return self.default is REQUIRED

    def resolve(self, embedding: Any, value: Any) -> Any:
        """The checked value of this parameter on ``embedding``."""
        if value is REQUIRED:
            raise ValueError(f"{embedding.name}: parameter {self.name!r} is required")
        if value is None and self.derive is not None:
            value = self.derive(embedding)
        return value if value is None or self.check is None else self.check(self.name, value)


class _EmbeddingMeta(abc.ABCMeta):
    """Runs ``_initialise_normalization`` once the outermost ``__init__`` has finished."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        instance = super().__call__(*args, **kwargs)
        instance._initialise_normalization()
        return instance


def _floating_dtype(name: str, value: Any) -> torch.dtype:
    """A floating-point ``torch.dtype``, given as one or by its name (``"float64"``)."""
    if isinstance(value, str):
        value = getattr(torch, value.removeprefix("torch."), value)
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise ValueError(f"{name} must be a floating-point torch dtype, got {value!r}")
    return value


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` as ``"float32"``: the name :func:`_floating_dtype` reads back."""
    return str(dtype).removeprefix("torch.")


class Embedding(nn.Module, metaclass=_EmbeddingMeta):
    """Base class: a fixed or trainable map from ``(*batch, in_dim)`` coordinates to features.

    Class attributes document the embedding for the registry and the command line:
    ``name`` (registry key), ``family`` (``"fourier"`` or ``"shifted"``), ``formula`` (plain
    text), ``bandwidth_name`` (the one parameter a sweep varies, or ``None``) and the
    :class:`Param` declarations of its constructor parameters. Optional hooks answer what
    the theory knows of it: :meth:`closed_form` and :meth:`bandwidth_for_stable_rank`.
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    formula: ClassVar[str] = ""
    bandwidth_name: ClassVar[str | None] = None
    compositions: ClassVar[tuple[str, ...]] = AXIS_COMPOSITIONS
    example_parameters: ClassVar[dict[str, Any]] = {}
    """Values for required parameters where an example instance is needed (tests, docs)."""

    in_dim = Param[int](1, "number of coordinate axes d (>= 1)", validation.positive_int)
    compose = Param[str]("concat", "multi-D composition: concat | directions (2D) | separable")
    normalization = Param[str](
        "domain",
        "domain (largest row norm over [0,1)^d is 1) | train | none",
        lambda name, value: validation.choice(name, value, NORMALIZATIONS),
    )
    feature_dtype = Param[torch.dtype](
        torch.float32, "floating-point type of the features", _floating_dtype, key="dtype"
    )
    include_input = Param[bool](
        False,
        "append the raw coordinates to the features (NeRF-style; not with compose=separable)",
        validation.boolean,
    )

    norm_scale: Tensor

    def __init__(self, **values: Any) -> None:
        super().__init__()
        self._set_parameters(values)
        self.build()

    @classmethod
    def declared(cls, **values: Any) -> Embedding:
        """The embedding with its parameters checked and set, but not built.

        Whatever follows from the parameters alone is there at a cost independent of the
        sizes they give (``out_dim``, ``factor_dim``, ``feature_shape``, ``embedded_bytes``,
        :meth:`construction_bytes`, the bandwidth and support radius): nothing is allocated
        for centres, frequencies or the normalisation. A fit is planned and its memory
        estimated from it before anything large exists. It cannot embed coordinates.
        """
        instance = cls.__new__(cls)
        nn.Module.__init__(instance)
        instance._set_parameters(values)
        return instance

    def _set_parameters(self, values: dict[str, Any]) -> None:
        """Check ``values`` against the declared parameters and set them as attributes."""
        declared = self.declared_parameters()
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise ValueError(
                f"embedding {self.name!r} has no parameter {', '.join(map(repr, unknown))} "
                f"(accepted: {', '.join(declared)})"
            )
        # Parameters with derived defaults come after those they derive from.
        for param in sorted(declared.values(), key=lambda param: param.derive is not None):
            value = param.resolve(self, values.get(param.name, param.default))
            setattr(self, param.attribute, value)
        validation.choice("compose", self.compose, self.compositions)
        if self.compose == "directions" and self.in_dim != 2:
            raise ValueError(f"compose='directions' needs in_dim=2, got in_dim={self.in_dim}")
        if self.include_input and self.compose == "separable":
            raise ValueError("include_input=True needs one feature row per point, not separable")
        shape = self._norm_scale_shape()
        self.register_buffer("norm_scale", torch.ones(shape, dtype=self.feature_dtype))
        # Whether normalization="train" still waits for fit_normalization: a Python flag,
        # so that forward can refuse without reading the (NaN) constant on the device.
        self.normalization_pending = False
        self.register_load_state_dict_post_hook(_note_loaded_normalization)

    @classmethod
    def declared_parameters(cls) -> dict[str, Param[Any]]:
        """Every constructor parameter by keyword: ``in_dim``, the bandwidth, then the most
        derived class's own, then its bases' (a redeclared parameter keeps the most derived
        declaration). Collected once per class."""
        return dict(_declared_parameters(cls))

    @classmethod
    def parameter_names(cls) -> set[str]:
        """The keywords the constructor accepts."""
        return set(cls.declared_parameters())

    def to_config(self) -> dict[str, Any]:
        """``{"name": ..., "in_dim": ..., every parameter: value}``, in JSON and TOML types;
        ``make_embedding(emb.to_config())`` rebuilds this embedding.

        Every declared parameter is written with the value in use (derived defaults
        resolved, ``dtype`` as its name, that of the buffers after ``.double()`` and the
        like); parameters whose value is ``None`` are left out, as TOML has no null and
        ``None`` is their default. The config describes construction: learned frequencies
        and a fitted ``train`` normalisation are state (``state_dict``). A value that cannot
        be written (a callable generator) raises ``ValueError``.
        """
        config: dict[str, Any] = {"name": self.name}
        for name, param in self.declared_parameters().items():
            value = getattr(self, param.attribute)
            if name == "dtype":
                value = dtype_name(self.dtype)
            if value is not None:
                config[name] = _plain_value(self.name, name, value)
        return config

    def build(self) -> None:
        """Set up what the parameters determine (buffers, frequencies); they are set."""

    def construction_bytes(self) -> int:
        """Bytes that building the embedding allocates at its peak: its tables (centres,
        frequencies, samples) and the temporaries of its normalisation. Follows from the
        parameters alone, so a :meth:`declared` embedding answers it."""
        return 0

    def closed_form(self) -> ClosedForm | None:
        """The theory's stable rank and similarity at this bandwidth (:mod:`posenc.theory`),
        or ``None`` where there is none."""
        return None

    @classmethod
    def bandwidth_for_stable_rank(cls, stable_rank: float) -> float:
        """The bandwidth whose closed-form stable rank (``N -> infinity``) is ``stable_rank``
        (``auto`` bandwidths use it); ``ValueError`` for an embedding without one."""
        raise ValueError(
            f"{cls.name!r} has no closed-form stable rank to choose bandwidths from; give "
            "explicit bandwidths"
        )

    # ----------------------------------------------------------------- public interface
    @property
    def separable(self) -> bool:
        """Whether ``forward`` returns per-axis Kronecker factors ``(N, in_dim, factor_dim)``."""
        return self.compose == "separable"

    @property
    def factor_dim(self) -> int:
        """Width of one per-axis factor (separable) or of one concatenated part."""
        raise NotImplementedError

    @property
    def encoding_dim(self) -> int:
        """Length of one encoded row without the appended coordinates of ``include_input``;
        for separable embeddings, of the Kronecker row."""
        raise NotImplementedError

    @property
    def out_dim(self) -> int:
        """Length of one embedded row (``encoding_dim``, plus ``in_dim`` with
        ``include_input``); for separable embeddings, of the Kronecker row."""
        return self.encoding_dim + (self.in_dim if self.include_input else 0)

    @property
    def bandwidth(self) -> float | None:
        """Value of the parameter named by ``bandwidth_name`` (``None`` if there is none)."""
        return None if self.bandwidth_name is None else float(getattr(self, self.bandwidth_name))

    @property
    def dtype(self) -> torch.dtype:
        """Floating-point type of the features."""
        return self.norm_scale.dtype

    def feature_shape(self, num_points: int) -> tuple[int, ...]:
        """Shape of ``forward`` on ``(num_points, in_dim)`` coordinates."""
        if self.separable:
            return (num_points, self.in_dim, self.factor_dim)
        return (num_points, self.out_dim)

    def out_dim_per_row(self) -> int:
        """Values ``forward`` produces per coordinate (``in_dim * factor_dim`` if separable)."""
        return math.prod(self.feature_shape(1))

    def embedded_bytes(self, num_points: int) -> int:
        """Bytes of the output of ``forward`` on ``num_points`` coordinates."""
        return math.prod(self.feature_shape(num_points)) * self.norm_scale.element_size()

    def forward(self, coords: Tensor) -> Tensor:
        """Features of ``coords`` of shape ``(*batch, in_dim)``: ``(*batch, out_dim)``, or the
        per-axis factors ``(*batch, in_dim, factor_dim)`` of a separable embedding. With
        ``in_dim == 1`` a vector ``(N,)`` is read as ``(N, 1)``.

        A plain layer: no data-dependent branch and no wait for the device, so it compiles
        as one graph and exports. It checks only what is known without reading the values:
        the shape, a fitted ``train`` normalisation, and the dtype. The input must convert to
        the embedding's dtype without loss by torch's type promotion (float16 or integers
        into float32 are promoted); a float64 input to a float32 embedding raises
        ``ValueError`` rather than being rounded (build it with ``dtype=torch.float64``, or
        pass ``coords.float()``). The values are not checked: NaN gives NaN, as in any layer;
        :meth:`embed` checks them.
        """
        coords = self._points(coords)
        if torch.promote_types(coords.dtype, self.dtype) != self.dtype:
            raise ValueError(
                f"{self.name}: coordinates are {dtype_name(coords.dtype)} but the embedding "
                f"computes in {dtype_name(self.dtype)}; pass coordinates of that type or build "
                f"the embedding with dtype={dtype_name(coords.dtype)}"
            )
        self.check_normalized()
        flat = coords.reshape(-1, self.in_dim).to(self.dtype)
        features = self.raw_features(flat)
        if self.separable:
            features = features * self.norm_scale[None, :, None]
        else:
            features = features * self.norm_scale
        if self.include_input:
            features = torch.cat([features, flat], dim=1)
        return features.reshape(*coords.shape[:-1], *features.shape[1:])

    def embed(self, coords: Tensor | Any) -> Tensor:
        """:meth:`forward` of :meth:`check_coordinates`: the checked entry point for
        coordinates from outside (any array, dtype and device; rounded to the embedding's
        dtype on purpose)."""
        return self(self.check_coordinates(coords))

    def check_coordinates(self, coords: Tensor | Any) -> Tensor:
        """Validate the shape ``(*batch, in_dim)`` (``(N,)`` too when ``in_dim == 1``) and that
        every value is finite; return ``coords`` as a tensor in the embedding's dtype, on its
        device, with the coordinate axis last.

        Reading the values waits for the device: call it where coordinates enter (posenc's
        fits and measurements do), not inside a model's ``forward``.
        """
        coords = self._points(torch.as_tensor(coords))
        coords = coords.to(device=self.norm_scale.device, dtype=self.dtype)
        if not torch.isfinite(coords).all():
            raise ValueError(f"{self.name}: coordinates contain NaN or infinite values")
        return coords

    def check_normalized(self) -> None:
        """Raise ``ValueError`` if ``normalization="train"`` has not been fitted yet."""
        if self.normalization_pending:
            raise ValueError(
                f"{self.name}: normalization='train' needs fit_normalization(train_coords) "
                "before embedding"
            )

    def _points(self, coords: Tensor) -> Tensor:
        """``coords`` with the coordinate axis last (added to a vector when ``in_dim == 1``);
        ``ValueError`` for any other shape. Decided by the shape alone."""
        if coords.ndim == 1 and self.in_dim == 1:
            return coords[:, None]
        if coords.ndim == 0 or coords.shape[-1] != self.in_dim:
            raise ValueError(
                f"{self.name}: coordinates must have shape (*batch, {self.in_dim}), "
                f"got {tuple(coords.shape)}"
            )
        return coords

    @torch.no_grad()
    def fit_normalization(self, coords: Tensor) -> None:
        """Freeze the constant to P1/P2's: 1 / the largest row norm over ``coords``.

        For a separable embedding each axis factor gets its own constant, so the Kronecker
        rows of ``coords`` have largest norm 1. Only valid with ``normalization="train"``.
        """
        if self.normalization != "train":
            raise ValueError(
                f"{self.name}: fit_normalization needs normalization='train', "
                f"this embedding uses {self.normalization!r}"
            )
        coords = self.check_coordinates(coords).reshape(-1, self.in_dim)
        largest = _chunked_max_norm(
            self.raw_features, coords, self.out_dim_per_row(), separable=self.separable
        )
        self.norm_scale.copy_(_reciprocal_norm(self.name, largest))
        self.normalization_pending = False

    # ---------------------------------------------------------------- for subclasses
    @abc.abstractmethod
    def raw_features(self, coords: Tensor) -> Tensor:
        """Unnormalised features of ``(N, in_dim)`` coordinates in the embedding's dtype,
        without the appended coordinates; no data-dependent branches (see :meth:`forward`)."""

    @abc.abstractmethod
    def domain_norm(self) -> Tensor:
        """Largest row norm over the domain: a scalar, or one value per axis if separable."""

    # -------------------------------------------------------------------- internals
    def _norm_scale_shape(self) -> tuple[int, ...]:
        return (self.in_dim,) if self.compose == "separable" else ()

    @torch.no_grad()
    def _initialise_normalization(self) -> None:
        if self.normalization == "domain":
            self.norm_scale.copy_(_reciprocal_norm(self.name, self.domain_norm()))
        elif self.normalization == "train":
            self.norm_scale.fill_(math.nan)
            self.normalization_pending = True

    def extra_repr(self) -> str:
        bandwidth = ""
        if self.bandwidth_name is not None:
            bandwidth = f"{self.bandwidth_name}={self.bandwidth:g}, "
        included = ", include_input=True" if self.include_input else ""
        return (
            f"in_dim={self.in_dim}, out_dim={self.out_dim}, {bandwidth}compose={self.compose}, "
            f"normalization={self.normalization}{included}"
        )


def _note_loaded_normalization(module: nn.Module, incompatible_keys: Any) -> None:
    """After ``load_state_dict``: a ``train`` normalisation is fitted when its loaded
    constant is (the unfitted constant is NaN)."""
    assert isinstance(module, Embedding)
    if module.normalization == "train":
        module.normalization_pending = not bool(torch.isfinite(module.norm_scale).all())


def _plain_value(embedding: str, name: str, value: Any) -> Any:
    """``value`` in JSON and TOML types (tensors and arrays as lists, paths as text)."""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [_plain_value(embedding, name, item) for item in value]
    raise ValueError(
        f"{embedding}: parameter {name!r} holds a {type(value).__name__}, which a config "
        "cannot hold"
    )


class AxisEmbedding(Embedding):
    """An embedding built from one per-axis feature map ``f: R -> R^K``.

    Compositions for ``in_dim = d``:

    - ``concat``: ``[f(x_1), ..., f(x_d)]`` (P1's 2D construction), ``d * K`` features;
    - ``directions`` (2D only, P2's "simple" shifted encoding): ``[f(x), f(y), f((x + y) / 2),
      f((x - y + 1) / 2)]``, ``4 K`` features;
    - ``separable``: the factors ``(f(x_1), ..., f(x_d))`` of the Kronecker row, returned as
      ``(N, d, K)``; a separable model consumes them without forming ``K^d`` features.

    Subclasses implement :meth:`axis_features` and :attr:`factor_dim`.
    """

    @abc.abstractmethod
    def axis_features(self, values: Tensor) -> Tensor:
        """Unnormalised per-axis features: ``(N,)`` values to ``(N, factor_dim)``."""

    @property
    def num_parts(self) -> int:
        """How many per-axis feature blocks a row concatenates (or multiplies, if separable)."""
        return 4 if self.compose == "directions" else self.in_dim

    @property
    def encoding_dim(self) -> int:
        if self.separable:
            return self.factor_dim**self.in_dim
        return self.num_parts * self.factor_dim

    def factor(self, values: Tensor, axis: int) -> Tensor:
        """Normalised separable factor of one axis: ``(n,)`` values to ``(n, factor_dim)``.

        Embedding a product grid axis by axis this way gives the factors of its Kronecker
        rows without forming the grid.
        """
        if not self.separable:
            raise ValueError(f"{self.name}: factor() needs compose='separable'")
        return self.axis_features(values.to(self.dtype)) * self.norm_scale[axis]

    def projections(self, coords: Tensor) -> list[Tensor]:
        """The scalar inputs of each part: the axes, or P2's four directions in 2D."""
        if self.compose == "directions":
            x, y = coords[:, 0], coords[:, 1]
            return [x, y, (x + y) / 2, (x - y + 1) / 2]
        return list(coords.unbind(dim=1))

    def raw_features(self, coords: Tensor) -> Tensor:
        parts = [self.axis_features(values) for values in self.projections(coords)]
        if self.separable:
            return torch.stack(parts, dim=1)
        return torch.cat(parts, dim=1)

    def reference_values(self) -> Tensor:
        """Per-axis values over which the domain norm is taken (the reference grid)."""
        return reference_grid(self.dtype, self.norm_scale.device)

    def largest_axis_norm(self) -> Tensor:
        """``max_u ||f(u)||`` over [0, 1], a scalar: by default over :meth:`reference_values`.

        Subclasses with a closed form or a cheaper exact computation override it; it must
        cost about as much as a few embedded rows, never the square of ``factor_dim``.
        """
        values = self.reference_values()
        return _chunked_max_norm(
            lambda u: self.axis_features(u[:, 0]), values[:, None], self.factor_dim
        )

    def construction_bytes(self) -> int:
        """The reference grid's features, a chunk at a time, and a copy (float64 at most)."""
        return 2 * min(REFERENCE_GRID_POINTS * self.factor_dim, _CHUNK_ELEMENTS) * 8

    @torch.no_grad()
    def domain_norm(self) -> Tensor:
        largest = self.largest_axis_norm()
        if self.separable:
            return largest.expand(self.in_dim).clone()
        return largest * math.sqrt(self.num_parts)


@functools.cache
def _declared_parameters(cls: type[Embedding]) -> dict[str, Param[Any]]:
    found: dict[str, Param[Any]] = {}
    for klass in cls.__mro__:
        for value in vars(klass).values():
            if isinstance(value, Param):
                found.setdefault(value.name, value)
    first = ["in_dim", *([cls.bandwidth_name] if cls.bandwidth_name else [])]
    return {**{name: found.pop(name) for name in first}, **found}


def reference_grid(dtype: torch.dtype, device: torch.device | str = "cpu") -> Tensor:
    """The 1D grid, evenly spaced on [0, 1], over which the domain norm is taken."""
    return torch.linspace(0.0, 1.0, REFERENCE_GRID_POINTS, dtype=dtype, device=device)


def kronecker_rows(factors: Tensor) -> Tensor:
    """Materialise separable features: ``(N, d, K)`` factors to ``(N, K^d)`` Kronecker rows.

    Row ``n`` is ``factors[n, 0] (x) factors[n, 1] (x) ... (x) factors[n, d - 1]``, with the
    last axis varying fastest. Meant for analysis and small problems: it allocates ``N K^d``.
    """
    if factors.ndim != 3:
        raise ValueError(f"factors must have shape (N, d, K), got {tuple(factors.shape)}")
    rows = factors[:, 0]
    for axis in range(1, factors.shape[1]):
        rows = (rows[:, :, None] * factors[:, axis, None, :]).reshape(rows.shape[0], -1)
    return rows


def _chunked_max_norm(
    features: Any, coords: Tensor, row_width: int, separable: bool = False
) -> Tensor:
    """Largest row norm of ``features(coords)``, evaluated a chunk of rows at a time."""
    largest: Tensor | None = None
    for chunk in coords.split(max(1, _CHUNK_ELEMENTS // row_width)):
        norms = torch.linalg.vector_norm(features(chunk), dim=-1)
        chunk_max = norms.amax(dim=0)
        largest = chunk_max if largest is None else torch.maximum(largest, chunk_max)
    if largest is None:
        raise ValueError("cannot normalise over an empty set of coordinates")
    return largest if separable else largest.reshape(())


def _reciprocal_norm(name: str, norm: Tensor) -> Tensor:
    if not bool(torch.isfinite(norm).all()) or bool((norm <= 0).any()):
        raise ValueError(
            f"{name}: cannot normalise, the largest feature-row norm is {norm.tolist()} "
            "(all features are zero or not finite for these parameters)"
        )
    return 1.0 / norm
