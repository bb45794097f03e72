"""Stable rank and distance preservation of an embedded matrix (P1, section 3).

These work on any matrix, one row per embedded coordinate. For whole embeddings (which pick
the fastest exact method, an FFT for periodic shifted bases) see :mod:`posenc.analysis.measure`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from posenc.theory import DEFAULT_THRESHOLD

STABLE_RANK_METHODS = ("gram", "svd")
MAX_MATRIX_BYTES = 2 * 1024**3
"""Largest float64 matrix the analysis materialises; larger requests raise ``ValueError``."""


def stable_rank(matrix: Tensor, method: str = "gram") -> float:
    """``SR(X) = ||X||_F^2 / ||X||_2^2 = sum_i s_i^2 / s_max^2`` (no centring), in float64.

    ``method="gram"`` (default) takes the largest eigenvalue of the smaller Gram matrix
    (``X X^T`` or ``X^T X``, whose eigenvalues are the squared singular values): for an
    ``N x K`` matrix it costs ``N K min(N, K)`` for the product plus ``min(N, K)^3`` for the
    eigenvalues, well below a full SVD. ``method="svd"`` takes the singular values
    themselves. Both agree to about 1e-12 relative. Raises ``ValueError`` for an empty,
    all-zero or non-finite matrix, whose stable rank is undefined.
    """
    matrix = checked_matrix(matrix, "stable rank")
    if method not in STABLE_RANK_METHODS:
        raise ValueError(
            f"stable rank method must be one of {', '.join(STABLE_RANK_METHODS)}; got {method!r}"
        )
    frobenius = float(matrix.square().sum())
    if frobenius == 0:
        raise ValueError("stable rank of an all-zero matrix is undefined")
    if method == "svd":
        largest = float(torch.linalg.svdvals(matrix)[0]) ** 2
    else:
        gram = matrix @ matrix.T if matrix.shape[0] <= matrix.shape[1] else matrix.T @ matrix
        largest = float(torch.linalg.eigvalsh(gram)[-1])
    return frobenius / largest


def distance_preservation(similarity: Tensor, threshold: float = DEFAULT_THRESHOLD) -> float:
    """P1's DP from the similarities of ``L`` grid points to one of them: a half-width.

    ``DP = #{i : similarity_i > threshold} / L / 2`` (strictly above): the half-width, as a
    fraction of the unit domain, of the region similar to the reference point. Every point
    above the threshold counts, also those of side lobes of an oscillating similarity.
    """
    similarity = torch.as_tensor(similarity)
    if similarity.ndim != 1 or similarity.numel() == 0:
        raise ValueError(
            f"similarity must be a non-empty 1D array, got shape {tuple(similarity.shape)}"
        )
    if not math.isfinite(threshold):
        raise ValueError(f"DP threshold must be a finite number, got {threshold!r}")
    return float((similarity > threshold).sum()) / similarity.numel() / 2


def row_similarity(features: Tensor, reference: int) -> Tensor:
    """``<psi_i, psi_ref> / (||psi_i|| ||psi_ref||)`` for every row ``i`` of ``features``.

    ``features`` is ``(L, F)``, or ``(L, d, K)`` per-axis factors of separable (Kronecker)
    rows, whose similarity is the product of the factors' similarities. A row that is all
    zero shares nothing with the reference: its similarity is 0. Raises ``ValueError`` when
    the reference row itself is zero or an entry is not finite.
    """
    features = torch.as_tensor(features).detach().to(torch.float64)
    if features.ndim == 2:
        features = features[:, None, :]
    if features.ndim != 3 or features.shape[0] == 0:
        raise ValueError(
            f"features must be (L, F) or (L, d, K) with L >= 1, got {tuple(features.shape)}"
        )
    if not bool(torch.isfinite(features).all()):
        raise ValueError("similarity of features with NaN or infinite entries is undefined")
    norms = torch.linalg.vector_norm(features, dim=2)
    if bool((norms[reference] == 0).any()):
        raise ValueError(
            f"the reference row {reference} is all zero: similarity to it is undefined"
        )
    unit = features / norms.clamp_min(torch.finfo(torch.float64).tiny)[:, :, None]
    return (unit * unit[reference]).sum(dim=2).prod(dim=1)


def grid_distance_preservation(
    features: Tensor,
    grid_shape: Sequence[int],
    axis: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
) -> float:
    """DP of embedded grid rows along one axis through the grid centre.

    ``features`` holds one row per grid point in C order of ``grid_shape`` (or per-axis
    factors ``(points, d, K)`` of separable rows). The rows on the line through the centre
    point ``n // 2`` along ``axis`` are compared with the centre row by
    :func:`row_similarity`; DP is :func:`distance_preservation` of those similarities.
    """
    shape = tuple(int(n) for n in grid_shape)
    if features.shape[0] != math.prod(shape):
        raise ValueError(
            f"features have {features.shape[0]} rows but grid_shape {shape} has "
            f"{math.prod(shape)} points"
        )
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"axis {axis} is out of range for a {len(shape)}D grid")
    centre = [n // 2 for n in shape]
    line_index: list[slice] = [slice(c, c + 1) for c in centre]
    line_index[axis] = slice(None)
    rows = features.reshape(*shape, *features.shape[1:])[tuple(line_index)]
    rows = rows.reshape(shape[axis], *features.shape[1:])
    return distance_preservation(row_similarity(rows, centre[axis]), threshold)


def require_matrix_fits(num_rows: int, num_cols: int, what: str) -> None:
    """Raise ``ValueError`` if a float64 ``num_rows x num_cols`` matrix exceeds the limit.

    The estimate comes before any allocation, so an oversized request fails at once with a
    message naming its size instead of exhausting memory.
    """
    size = num_rows * num_cols * 8
    if size > MAX_MATRIX_BYTES:
        raise ValueError(
            f"{what} needs a {num_rows} x {num_cols} float64 matrix ({size / 1024**3:.1f} GiB), "
            f"more than the {MAX_MATRIX_BYTES / 1024**3:.0f} GiB limit; use fewer samples"
        )


def checked_matrix(matrix: Tensor, what: str) -> Tensor:
    """``matrix`` as a non-empty, finite, float64 2D tensor, or a ``ValueError``."""
    matrix = torch.as_tensor(matrix)
    if matrix.ndim != 2 or matrix.numel() == 0:
        raise ValueError(f"{what} needs a non-empty 2D matrix, got shape {tuple(matrix.shape)}")
    matrix = matrix.detach().to(torch.float64)
    if not bool(torch.isfinite(matrix).all()):
        raise ValueError(f"{what} of a matrix with NaN or infinite entries is undefined")
    return matrix
