"""Train/test splits of a uniform grid, as sorted flat (C-order) indices.

Kinds (``even`` = indices ``0, 2, 4, ...`` of an axis, ``odd`` = ``1, 3, 5, ...``):

- ``offset``: train even on every axis (``[::2, ::2]``), test odd on every axis
  (``[1::2, 1::2]``); P1 2D and P3.
- ``rest``: train even on every axis, test every point not trained on; P2.
- ``all``: train even on every axis, test every point, training points included; P1 1D.
- ``random``: train ``round(fraction * N)`` points drawn with the seed, test the others.

In 1D, ``offset`` and ``rest`` coincide (test = odd samples).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from posenc.choices import SplitKind, options
from posenc.data.signal import check_grid_shape
from posenc.validation import choice

SPLIT_KINDS = options(SplitKind)


@dataclass(frozen=True, eq=False)
class Split:
    """Sorted int64 flat indices of the training and test points of a grid.

    ``train_axes`` / ``test_axes``: when the set is the product grid of per-axis indices
    (every train set but ``random``'s; ``offset`` and ``all`` tests, and ``rest`` in 1D), the
    sorted per-axis indices, so that the set is ``{ravel(i_0, ..., i_{d-1}) : i_k in
    axes[k]}``; else ``None``. Separable models use them to work on the small per-axis factors.
    """

    kind: str
    train: Tensor
    test: Tensor
    train_axes: tuple[Tensor, ...] | None
    test_axes: tuple[Tensor, ...] | None

    @property
    def heldout(self) -> Tensor:
        """Test indices that are not training indices (sorted); one boolean mask, O(N)."""
        if self.test.numel() == 0 or self.train.numel() == 0:
            return self.test
        size = int(max(self.test.max(), self.train.max())) + 1
        trained = torch.zeros(size, dtype=torch.bool)
        trained[self.train] = True
        return self.test[~trained[self.test]]


def make_split(
    grid_shape: Sequence[int], kind: str = "offset", *, fraction: float = 0.25, seed: int = 0
) -> Split:
    """Split the grid ``grid_shape`` into training and test points (kinds in the module
    docstring).

    ``fraction`` (in ``(0, 1)``) and ``seed`` (integer >= 0) are used by ``random`` only, which
    draws ``round(fraction * N)`` training points with ``numpy.random.default_rng(seed)``.
    Raises ``ValueError`` for an unknown kind, a bad fraction or seed, an axis with fewer
    than 2 samples, or a random split leaving either set empty.
    """
    shape = check_grid_shape(grid_shape, "split")
    choice("split kind", kind, SPLIT_KINDS)
    if isinstance(fraction, bool) or not (isinstance(fraction, (int, float)) and 0 < fraction < 1):
        raise ValueError(f"split fraction must be a number in (0, 1), got {fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"split seed must be an integer >= 0, got {seed!r}")
    if kind == "random":
        return _random_split(shape, fraction, seed)
    even = tuple(torch.arange(0, n, 2) for n in shape)
    odd = tuple(torch.arange(1, n, 2) for n in shape)
    train = product_indices(even, shape)
    if kind == "offset":
        return Split(kind, train, product_indices(odd, shape), even, odd)
    if kind == "all":
        every = tuple(torch.arange(n) for n in shape)
        return Split(kind, train, torch.arange(math.prod(shape)), even, every)
    rest_axes = odd if len(shape) == 1 else None
    return Split(kind, train, _complement(train, shape), even, rest_axes)


def split_sizes(
    grid_shape: Sequence[int], kind: str = "offset", *, fraction: float = 0.25
) -> tuple[int, int]:
    """``(training, test)`` point counts of :func:`make_split`, without building the split
    (for planning a fit's memory before its index tensors exist)."""
    shape = check_grid_shape(grid_shape, "split")
    choice("split kind", kind, SPLIT_KINDS)
    total = math.prod(shape)
    even = math.prod((n + 1) // 2 for n in shape)
    if kind == "offset":
        return even, math.prod(n // 2 for n in shape)
    if kind == "all":
        return even, total
    if kind == "rest":
        return even, total - even
    count = round(fraction * total)
    return count, total - count


def product_indices(axes: Sequence[Tensor], shape: Sequence[int]) -> Tensor:
    """Flat C-order indices of the product grid ``axes[0] x ... x axes[d-1]`` of ``shape``
    (sorted when every ``axes[k]`` is sorted)."""
    strides = [math.prod(shape[k + 1 :]) for k in range(len(shape))]
    mesh = torch.meshgrid(*axes, indexing="ij")
    flat = torch.zeros_like(mesh[0])
    for index, stride in zip(mesh, strides, strict=True):
        flat += index * stride
    return flat.reshape(-1)


def _complement(indices: Tensor, shape: Sequence[int]) -> Tensor:
    keep = torch.ones(math.prod(shape), dtype=torch.bool)
    keep[indices] = False
    return torch.nonzero(keep).reshape(-1)


def _random_split(shape: tuple[int, ...], fraction: float, seed: int) -> Split:
    total = math.prod(shape)
    count = round(fraction * total)
    if not 0 < count < total:
        raise ValueError(
            f"split fraction {fraction!r} of {total} points gives {count} training points; "
            "both training and test sets need at least one"
        )
    chosen = np.random.default_rng(seed).permutation(total)[:count]
    train = torch.from_numpy(np.sort(chosen)).to(torch.int64)
    return Split("random", train, _complement(train, shape), None, None)
