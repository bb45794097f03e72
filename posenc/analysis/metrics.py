"""Stable rank and distance preservation of an embedded matrix (REFERENCE section 1)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def stable_rank(matrix: Tensor) -> float:
    """``SR(X) = ||X||_F^2 / ||X||_2^2 = sum_i s_i^2 / s_max^2`` (no centring).

    Computed in float64 from the eigenvalues of the smaller Gram matrix (``X X^T`` or
    ``X^T X``), whose eigenvalues are the squared singular values. Raises ``ValueError`` for
    an empty, all-zero or non-finite matrix.
    """
    matrix = torch.as_tensor(matrix)
    if matrix.ndim != 2 or matrix.numel() == 0:
        raise ValueError(
            f"stable rank needs a non-empty 2D matrix, got shape {tuple(matrix.shape)}"
        )
    matrix = matrix.detach().to(torch.float64)
    if not bool(torch.isfinite(matrix).all()):
        raise ValueError("stable rank of a matrix with NaN or infinite entries is undefined")
    gram = matrix @ matrix.T if matrix.shape[0] <= matrix.shape[1] else matrix.T @ matrix
    eigenvalues = torch.linalg.eigvalsh(gram)
    largest = float(eigenvalues[-1])
    if largest <= 0:
        raise ValueError("stable rank of an all-zero matrix is undefined")
    return float(torch.trace(gram)) / largest


def grid_distance_preservation(
    features: Tensor, grid_shape: Sequence[int], axis: int = 0, threshold: float = 0.1
) -> float:
    """DP of embedded grid rows along one axis through the grid centre.

    ``features`` holds one row per grid point in C order of ``grid_shape``. The rows on the
    line through the centre point along ``axis`` are normalised to unit length; DP is the
    number of them whose similarity ``<psi(x_c), psi(x)>`` to the centre is strictly above
    ``threshold``, divided by the line length, divided by 2: the half-width, as a fraction of
    the unit domain, of the region similar to the centre.
    """
    shape = tuple(int(n) for n in grid_shape)
    if features.shape[0] != math.prod(shape):
        raise ValueError(
            f"features have {features.shape[0]} rows but grid_shape {shape} has "
            f"{math.prod(shape)} points"
        )
    centre = [n // 2 for n in shape]
    line_index = [slice(c, c + 1) for c in centre]
    line_index[axis] = slice(None)
    rows = features.reshape(*shape, -1)[tuple(line_index)].reshape(shape[axis], -1)
    unit = torch.nn.functional.normalize(rows.detach().to(torch.float64), dim=1)
    similarity = unit @ unit[centre[axis]]
    return float((similarity > threshold).sum()) / shape[axis] / 2
