"""Stable rank and distance preservation of an embedding on a uniform grid: one call each.

Coordinates are the grid ``x_k = k / N``, ``k = 0..N-1`` per axis (P1's sampling of [0, 1)).
``method="auto"`` takes the exact structured paths of :mod:`posenc.analysis.spectral` where
they apply (a periodic 1D shifted basis: FFT of its block-circulant matrix; a 1D Fourier
embedding: its Toeplitz Gram); everything else embeds the grid and measures the matrix.

>>> from posenc.embeddings import make_embedding
>>> emb = make_embedding("gaussian", sigma=0.01, num_centers=10000, periodic=True)
>>> round(embedding_stable_rank(emb, 10000), 3)  # 1 / (2 sqrt(pi) sigma) = 28.209
28.209
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from posenc.analysis.metrics import (
    DEFAULT_THRESHOLD,
    distance_preservation,
    require_matrix_fits,
    row_similarity,
    stable_rank,
)
from posenc.analysis.spectral import BlockCirculant, fourier_features_stable_rank
from posenc.embeddings import Embedding, FourierFeatures, ShiftedBasis, kronecker_rows

MEASURE_METHODS = ("auto", "fft", "toeplitz", "gram", "svd")
SIMILARITY_METHODS = ("auto", "fft", "direct")
_ROW_CHUNK = 1024


@dataclass(frozen=True)
class SimilarityCurve:
    """Similarity ``D(delta)`` of grid samples to the centre sample ``x_c = (N // 2) / N``.

    ``displacement[k] = (k - N // 2) / N`` along the measured axis, ``similarity[k]`` the
    cosine similarity of the two embedded rows (unit-normalised embeddings), ``method`` the
    path that computed it (``"fft"`` or ``"direct"``).
    """

    displacement: np.ndarray
    similarity: np.ndarray
    method: str

    def distance_preservation(self, threshold: float = DEFAULT_THRESHOLD) -> float:
        """P1's DP: samples with similarity strictly above ``threshold``, / N, / 2."""
        return distance_preservation(torch.from_numpy(self.similarity), threshold)


def sample_grid(num_samples: int) -> Tensor:
    """The 1D grid ``k / N``, ``k = 0..N-1``, in float64."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"number of samples must be an integer >= 1, got {num_samples!r}")
    return torch.arange(num_samples, dtype=torch.float64) / num_samples


def fft_applies(embedding: Embedding) -> bool:
    """Whether the exact FFT path applies: a periodic shifted basis on one axis."""
    return isinstance(embedding, ShiftedBasis) and embedding.periodic and embedding.in_dim == 1


def toeplitz_applies(embedding: Embedding) -> bool:
    """Whether the exact Toeplitz path applies: Fourier features on one axis."""
    return isinstance(embedding, FourierFeatures) and embedding.in_dim == 1


def stable_rank_method(embedding: Embedding) -> str:
    """The method ``"auto"`` picks for ``embedding``: ``"fft"``, ``"toeplitz"`` or ``"gram"``."""
    if fft_applies(embedding):
        return "fft"
    return "toeplitz" if toeplitz_applies(embedding) else "gram"


@torch.no_grad()
def embedding_matrix(embedding: Embedding, num_samples: int) -> Tensor:
    """The float64 embedded matrix of the grid ``(k / N)^d``: ``N^d`` rows in C order.

    Separable embeddings are materialised as Kronecker rows. Raises ``ValueError`` before
    allocating when the matrix would exceed :data:`posenc.analysis.metrics.MAX_MATRIX_BYTES`.
    """
    axis = sample_grid(num_samples)
    num_rows = num_samples**embedding.in_dim
    require_matrix_fits(num_rows, embedding.out_dim, f"the {embedding.name} embedding")
    grids = torch.meshgrid(*[axis] * embedding.in_dim, indexing="ij")
    coords = torch.stack([grid.reshape(-1) for grid in grids], dim=1)
    features = embedding(coords)
    if embedding.separable:
        features = kronecker_rows(features)
    return features.to(torch.float64)


def embedding_stable_rank(embedding: Embedding, num_samples: int, method: str = "auto") -> float:
    """SR of ``embedding`` on the grid ``(k / N)^d`` (``N`` samples per axis).

    ``method``: ``"fft"`` (periodic 1D shifted bases), ``"toeplitz"`` (1D Fourier features),
    ``"gram"`` or ``"svd"`` (of the materialised matrix), or ``"auto"``: the first of these
    that applies (:func:`stable_rank_method`). All are exact; they differ in cost.
    """
    if method not in MEASURE_METHODS:
        raise ValueError(f"method must be one of {', '.join(MEASURE_METHODS)}; got {method!r}")
    if method == "auto":
        method = stable_rank_method(embedding)
    if method == "fft":
        return BlockCirculant.from_embedding(embedding, num_samples).stable_rank()
    if method == "toeplitz":
        return fourier_features_stable_rank(embedding, num_samples)
    return stable_rank(embedding_matrix(embedding, num_samples), method)


def similarity_curve(
    embedding: Embedding, num_samples: int, axis: int = 0, method: str = "auto"
) -> SimilarityCurve:
    """``D(delta)`` along ``axis`` through the grid centre, ``N`` samples on that axis.

    The other coordinates are held at the centre value ``(N // 2) / N``. ``method="fft"``
    (exact, periodic 1D shifted bases) costs ``O(K log K)``; ``"direct"`` embeds the line a
    chunk at a time and costs ``O(N out_dim)`` time and ``O(out_dim)`` memory per chunk row.
    ``"auto"`` takes the FFT where it applies.
    """
    if method not in SIMILARITY_METHODS:
        raise ValueError(f"method must be one of {', '.join(SIMILARITY_METHODS)}; got {method!r}")
    values = sample_grid(num_samples)
    if not -embedding.in_dim <= axis < embedding.in_dim:
        raise ValueError(f"axis {axis} is out of range for in_dim={embedding.in_dim}")
    centre = num_samples // 2
    displacement = (values - values[centre]).numpy()
    if method == "fft" or (method == "auto" and fft_applies(embedding)):
        similarity = BlockCirculant.from_embedding(embedding, num_samples).similarity(centre)
        return SimilarityCurve(displacement, similarity.numpy(), "fft")
    line = values[centre].repeat(num_samples, embedding.in_dim)
    line[:, axis] = values
    return SimilarityCurve(displacement, _direct_similarity(embedding, line, centre), "direct")


def embedding_distance_preservation(
    embedding: Embedding,
    num_samples: int,
    axis: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    method: str = "auto",
) -> float:
    """P1's DP of ``embedding`` along ``axis``: :func:`similarity_curve`, then the count rule."""
    curve = similarity_curve(embedding, num_samples, axis, method)
    return curve.distance_preservation(threshold)


@torch.no_grad()
def _direct_similarity(embedding: Embedding, line: Tensor, centre: int) -> np.ndarray:
    reference = embedding(line[centre : centre + 1])
    chunks = [
        row_similarity(torch.cat([reference, embedding(chunk)]), 0)[1:]
        for chunk in line.split(_ROW_CHUNK)
    ]
    return torch.cat(chunks).numpy()
