"""Signals sampled on a uniform grid, and the coordinates of that grid.

A signal with grid shape ``(n_0, ..., n_{d-1})`` has its sample ``(i_0, ..., i_{d-1})`` at the
coordinate ``x = (i_0 / n_0, ..., i_{d-1} / n_{d-1})`` in ``[0, 1)^d``. Flattening is C order
(last axis fastest) everywhere: ``coordinate_grid(shape)[k]`` is the coordinate of
``values.reshape(-1, channels)[k]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

MIN_AXIS_SAMPLES = 2
"""Every grid axis needs at least this many samples (a train/test split needs two)."""


def check_grid_shape(shape: Sequence[int], label: str) -> tuple[int, ...]:
    """Return ``shape`` as a tuple if every axis is an integer >= ``MIN_AXIS_SAMPLES``.

    Raises ``ValueError`` naming ``label`` (the input the shape came from) otherwise.
    """
    axes = tuple(shape)
    valid = len(axes) > 0 and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= MIN_AXIS_SAMPLES for n in axes
    )
    if not valid:
        raise ValueError(
            f"{label}: grid shape {axes} is too small; every axis needs at least "
            f"{MIN_AXIS_SAMPLES} samples"
        )
    return axes


def coordinate_grid(shape: Sequence[int], dtype: torch.dtype = torch.float32) -> Tensor:
    """Coordinates of a uniform grid, shape ``(prod(shape), len(shape))``, C order.

    Row ``k`` holds ``(i_0 / n_0, ..., i_{d-1} / n_{d-1})`` where ``(i_0, ..., i_{d-1})`` is
    the C-order multi-index of ``k`` in ``shape``. Computed in float64, then cast to ``dtype``.
    """
    axes = tuple(shape)
    if not axes or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in axes):
        raise ValueError(f"grid shape must be a non-empty sequence of integers >= 1, got {axes}")
    per_axis = [torch.arange(n, dtype=torch.float64) / n for n in axes]
    mesh = torch.meshgrid(*per_axis, indexing="ij")
    return torch.stack(mesh, dim=-1).reshape(math.prod(axes), len(axes)).to(dtype)


def resample(values: Tensor, shape: Sequence[int]) -> Tensor:
    """Resample ``values`` of shape ``(*grid, channels)`` (1 or 2 grid axes) to ``(*shape,
    channels)``.

    Bilinear (linear in 1D) interpolation at the cell centres of the new grid; when shrinking,
    the triangle filter is widened by the scale factor (anti-aliasing), so every output is a
    convex combination of inputs and stays in the input range.
    """
    grid = tuple(values.shape[:-1])
    target = tuple(shape)
    if len(grid) not in (1, 2) or len(target) != len(grid):
        raise ValueError(f"cannot resample a grid of shape {grid} to {target}")
    if target == grid:
        return values
    planar = values.movedim(-1, 0).unsqueeze(0)
    if len(grid) == 1:
        planar, target = planar.unsqueeze(2), (1, *target)
    out = F.interpolate(planar, size=target, mode="bilinear", align_corners=False, antialias=True)
    out = out.squeeze(0)
    if len(grid) == 1:
        out = out.squeeze(1)
    return out.movedim(0, -1).contiguous()


@dataclass(frozen=True, eq=False)
class Signal:
    """Samples of a signal on a uniform grid, with channels last.

    ``values`` has shape ``(*grid_shape, channels)``, dtype float32, every entry in ``[0, 1]``;
    ``name`` is a short label (``"camera"``, ``"photo.png"``, ``"camera:row=200"``);
    ``source`` is a JSON-serialisable description of how the values were made (file or
    built-in name, crop, size, row, synthetic parameters), enough to make them again.
    Construction raises ``ValueError`` naming the signal if ``values`` breaks these rules.
    """

    values: Tensor
    name: str
    source: dict[str, Any]

    def __post_init__(self) -> None:
        values = self.values
        label = f"signal {self.name!r}"
        if not isinstance(values, Tensor) or values.dtype != torch.float32:
            raise ValueError(f"{label}: values must be a float32 tensor")
        if values.ndim < 2:
            raise ValueError(
                f"{label}: values must have shape (*grid_shape, channels), "
                f"got {tuple(values.shape)}"
            )
        check_grid_shape(values.shape[:-1], label)
        if values.shape[-1] < 1:
            raise ValueError(f"{label}: values have no channels")
        if not bool(((values >= 0) & (values <= 1)).all()):
            raise ValueError(f"{label}: values must lie in [0, 1] (NaN is not allowed)")

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """Samples per axis, ``values.shape[:-1]``."""
        return tuple(self.values.shape[:-1])

    @property
    def ndim(self) -> int:
        """Number of coordinate axes (1 for a 1D signal, 2 for an image)."""
        return self.values.ndim - 1

    @property
    def channels(self) -> int:
        """Values per grid point (1 for gray, 3 for RGB)."""
        return int(self.values.shape[-1])

    def coordinates(self) -> Tensor:
        """``coordinate_grid(grid_shape)``: row ``k`` is the coordinate of ``flat_values()[k]``."""
        return coordinate_grid(self.grid_shape)

    def flat_values(self) -> Tensor:
        """Values as ``(prod(grid_shape), channels)`` in C order (a view, no copy)."""
        return self.values.reshape(-1, self.channels)


@dataclass(frozen=True)
class SignalShape:
    """What loading a source gives, known before its samples are decoded.

    ``grid_shape`` and ``channels`` of the :class:`Signal` it loads to, and ``load_bytes``,
    the memory decoding it takes at its peak (the decoded file, its conversion to float32 and
    any resampling; 0 for a signal already in memory). Read from a file's header or a spec,
    so that a fit is planned, and refused if it cannot fit, before anything large exists.
    """

    grid_shape: tuple[int, ...]
    channels: int
    load_bytes: int = 0

    @classmethod
    def of(cls, signal: Signal) -> SignalShape:
        """The shape of a signal already loaded."""
        return cls(signal.grid_shape, signal.channels)

    @property
    def ndim(self) -> int:
        """Number of coordinate axes."""
        return len(self.grid_shape)

    @property
    def num_points(self) -> int:
        """Samples on the grid."""
        return math.prod(self.grid_shape)

    @property
    def values_bytes(self) -> int:
        """Bytes of the loaded float32 values."""
        return self.num_points * self.channels * 4
