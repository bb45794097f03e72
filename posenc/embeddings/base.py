"""The embedding base classes: coordinates in [0, 1)^d to feature vectors.

Every embedding is a ``torch.nn.Module`` mapping coordinates ``x`` of shape ``(N, in_dim)``
to features. Its output is divided by a normalisation constant that is fixed once and never
depends on the batch being embedded:

``normalization="domain"`` (default)
    the constant makes the largest feature-row L2 norm over the domain equal to 1. For an
    axis-wise embedding with per-axis feature map ``f`` and ``P`` concatenated parts it is
    ``sqrt(P) * max_u ||f(u)||``, the maximum taken over ``REFERENCE_GRID_POINTS`` evenly
    spaced points of the closed interval [0, 1] (shifted bases add their centres, where
    peaked generators reach their largest norm). That is the largest row norm of the
    axis-wise concatenation on the product grid (up to the grid's resolution), and an upper
    bound for P2's four directions.
``normalization="train"``
    P1/P2's convention: divide by the largest row norm of the training coordinates. Call
    :meth:`Embedding.fit_normalization` once with the training coordinates; the constant is
    then frozen, so test coordinates are scaled by the same number.
``normalization="none"``
    raw features.

A separable (Kronecker) embedding returns the per-axis factors, shape ``(N, in_dim, K)``,
each factor normalised on its own so that the (never materialised) Kronecker row
``f(x_1) (x) ... (x) f(x_d)`` has unit largest norm.

Subclasses set up their parameters in ``__init__`` and implement the raw feature map; the
metaclass computes the normalisation constant after ``__init__`` returns, so a new embedding
needs no extra call.
"""

from __future__ import annotations

import abc
import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from posenc import validation
from posenc.choices import AxisComposition, Normalization, options

REFERENCE_GRID_POINTS = 2048
"""Points of the 1D reference grid (evenly spaced on [0, 1]) over which the domain norm is taken."""

NORMALIZATIONS = options(Normalization)
AXIS_COMPOSITIONS = options(AxisComposition)

_CHUNK_ELEMENTS = 2**24
"""Feature values evaluated at a time when a normalisation constant is computed."""


class _EmbeddingMeta(abc.ABCMeta):
    """Runs ``_initialise_normalization`` once the outermost ``__init__`` has finished."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        instance = super().__call__(*args, **kwargs)
        instance._initialise_normalization()
        return instance


class Embedding(nn.Module, metaclass=_EmbeddingMeta):
    """Base class: a fixed or trainable map from ``(N, in_dim)`` coordinates to features.

    Class attributes document the embedding for the registry and the command line:
    ``name`` (registry key), ``family`` (``"fourier"`` or ``"shifted"``), ``formula`` (plain
    text), ``bandwidth_name`` (the one parameter a sweep varies, or ``None``) and
    ``parameter_help`` (one line per constructor parameter) and ``derived_defaults`` (how a
    default of ``None`` is resolved, e.g. ``"1/num_centers"``).
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    formula: ClassVar[str] = ""
    bandwidth_name: ClassVar[str | None] = None
    parameter_help: ClassVar[dict[str, str]] = {}
    derived_defaults: ClassVar[dict[str, str]] = {}
    compositions: ClassVar[tuple[str, ...]] = AXIS_COMPOSITIONS

    norm_scale: Tensor

    def __init__(
        self,
        in_dim: int = 1,
        compose: str = "concat",
        normalization: str = "domain",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.in_dim = validation.positive_int("in_dim", in_dim)
        self.compose = validation.choice("compose", compose, self.compositions)
        self.normalization = validation.choice("normalization", normalization, NORMALIZATIONS)
        if compose == "directions" and in_dim != 2:
            raise ValueError(f"compose='directions' needs in_dim=2, got in_dim={in_dim}")
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point torch dtype, got {dtype}")
        self.register_buffer("norm_scale", torch.ones(self._norm_scale_shape(), dtype=dtype))

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
    def out_dim(self) -> int:
        """Length of one embedded row; for separable embeddings, of the Kronecker row."""
        raise NotImplementedError

    @property
    def bandwidth(self) -> float | None:
        """Value of the parameter named by ``bandwidth_name`` (``None`` if there is none)."""
        return None if self.bandwidth_name is None else float(getattr(self, self.bandwidth_name))

    @property
    def dtype(self) -> torch.dtype:
        """Floating-point type of the features."""
        return self.norm_scale.dtype

    def feature_shape(self, num_points: int) -> tuple[int, ...]:
        """Shape of ``forward`` on ``num_points`` coordinates."""
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
        """Embed ``coords`` of shape ``(N, in_dim)`` (or ``(N,)`` when ``in_dim == 1``)."""
        coords = self.check_coordinates(coords)
        self.check_normalized()
        raw = self.raw_features(coords)
        if self.separable:
            return raw * self.norm_scale[None, :, None]
        return raw * self.norm_scale

    def check_coordinates(self, coords: Tensor) -> Tensor:
        """Validate shape and finiteness; return ``coords`` as ``(N, in_dim)`` in ``dtype``."""
        coords = torch.as_tensor(coords)
        if coords.ndim == 1 and self.in_dim == 1:
            coords = coords[:, None]
        if coords.ndim != 2 or coords.shape[1] != self.in_dim:
            raise ValueError(
                f"{self.name}: coordinates must have shape (N, {self.in_dim}), "
                f"got {tuple(coords.shape)}"
            )
        coords = coords.to(device=self.norm_scale.device, dtype=self.dtype)
        if not torch.isfinite(coords).all():
            raise ValueError(f"{self.name}: coordinates contain NaN or infinite values")
        return coords

    def check_normalized(self) -> None:
        """Raise ``ValueError`` if ``normalization="train"`` has not been fitted yet."""
        if self.normalization == "train" and torch.isnan(self.norm_scale).any():
            raise ValueError(
                f"{self.name}: normalization='train' needs fit_normalization(train_coords) "
                "before embedding"
            )

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
        coords = self.check_coordinates(coords)
        largest = _chunked_max_norm(
            self.raw_features, coords, self.out_dim_per_row(), separable=self.separable
        )
        self.norm_scale.copy_(_reciprocal_norm(self.name, largest))

    # ---------------------------------------------------------------- for subclasses
    @abc.abstractmethod
    def raw_features(self, coords: Tensor) -> Tensor:
        """Unnormalised features of validated ``(N, in_dim)`` coordinates."""

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

    def extra_repr(self) -> str:
        bandwidth = ""
        if self.bandwidth_name is not None:
            bandwidth = f"{self.bandwidth_name}={self.bandwidth:g}, "
        return (
            f"in_dim={self.in_dim}, out_dim={self.out_dim}, {bandwidth}compose={self.compose}, "
            f"normalization={self.normalization}"
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
    def out_dim(self) -> int:
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

    @torch.no_grad()
    def domain_norm(self) -> Tensor:
        values = self.reference_values()
        largest = _chunked_max_norm(
            lambda u: self.axis_features(u[:, 0]), values[:, None], self.factor_dim
        )
        if self.separable:
            return largest.expand(self.in_dim).clone()
        return largest * math.sqrt(self.num_parts)


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
