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

import math
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
from posenc.analysis.spectral import FREQUENCY_CHUNK, BlockCirculant, ToeplitzGram
from posenc.embeddings import Embedding, FourierFeatures, ShiftedBasis, kronecker_rows

STRUCTURED_METHODS = ("fft", "toeplitz")
MEASURE_METHODS = ("auto", *STRUCTURED_METHODS, "gram", "svd")
SIMILARITY_METHODS = ("auto", *STRUCTURED_METHODS, "direct")
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


def structured_method(embedding: Embedding) -> str | None:
    """The exact structured path for ``embedding``, or ``None``.

    ``"fft"`` for a periodic shifted basis on one axis (block-circulant matrix),
    ``"toeplitz"`` for Fourier features on one axis (Toeplitz Gram).
    """
    if embedding.in_dim != 1 or embedding.include_input:
        return None
    if isinstance(embedding, ShiftedBasis) and embedding.periodic:
        return "fft"
    return "toeplitz" if isinstance(embedding, FourierFeatures) else None


def stable_rank_method(embedding: Embedding) -> str:
    """The method ``"auto"`` picks for ``embedding``: ``"fft"``, ``"toeplitz"`` or ``"gram"``."""
    return structured_method(embedding) or "gram"


def working_matrix_shape(embedding: Embedding, num_samples: int) -> tuple[int, int]:
    """Shape of the largest float64 matrix that measuring SR on ``N`` samples allocates.

    FFT path: the ``N / gcd(N, K)`` base rows; Toeplitz path: one chunk of lags times
    frequencies; otherwise the embedded matrix itself. Lets callers check memory first.
    """
    method = stable_rank_method(embedding)
    if method == "fft" and isinstance(embedding, ShiftedBasis):
        centres = embedding.num_centers
        return num_samples // math.gcd(num_samples, centres), centres
    if method == "toeplitz" and isinstance(embedding, FourierFeatures):
        return num_samples, min(embedding.frequencies.numel(), FREQUENCY_CHUNK)
    return num_samples**embedding.in_dim, embedding.out_dim


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
    features = embedding.embed(coords)
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
    if method in STRUCTURED_METHODS:
        return _structure(embedding, num_samples, method).stable_rank()
    return stable_rank(embedding_matrix(embedding, num_samples), method)


def similarity_curve(
    embedding: Embedding, num_samples: int, axis: int = 0, method: str = "auto"
) -> SimilarityCurve:
    """``D(delta)`` along ``axis`` through the grid centre, ``N`` samples on that axis.

    The other coordinates are held at the centre value ``(N // 2) / N``. ``method``:
    ``"fft"`` (periodic 1D shifted bases, ``O(K log K)`` for ``N = K``), ``"toeplitz"`` (1D
    Fourier features, ``O(N F)``), ``"direct"`` (any embedding: the line is embedded a chunk
    at a time, ``O(N out_dim)``), or ``"auto"``: the first that applies.

    For a concatenation ``[f(x), f(y)]`` the unchanged axis keeps its half of every row, so
    the similarity along one axis never drops below 1/2 and DP is 1/2 whatever the
    bandwidth: measure the per-axis embedding instead. Separable rows do not have this
    offset (their similarity is the product of the per-axis similarities).
    """
    if method not in SIMILARITY_METHODS:
        raise ValueError(f"method must be one of {', '.join(SIMILARITY_METHODS)}; got {method!r}")
    if not -embedding.in_dim <= axis < embedding.in_dim:
        raise ValueError(f"axis {axis} is out of range for in_dim={embedding.in_dim}")
    if method == "auto":
        method = structured_method(embedding) or "direct"
    values = sample_grid(num_samples)
    centre = num_samples // 2
    if method in STRUCTURED_METHODS:
        similarity = _structure(embedding, num_samples, method).similarity(centre)
    else:
        line = values[centre].repeat(num_samples, embedding.in_dim)
        line[:, axis] = values
        similarity = _direct_similarity(embedding, line, centre)
    return SimilarityCurve(_displacements(values), similarity.numpy(), method)


def stable_rank_and_similarity(
    embedding: Embedding, num_samples: int
) -> tuple[float, SimilarityCurve]:
    """:func:`embedding_stable_rank` and :func:`similarity_curve` (along axis 0) together.

    Where a structured path applies, its FFT or Gram column is computed once for both.
    """
    method = structured_method(embedding)
    if method is None:
        return embedding_stable_rank(embedding, num_samples), similarity_curve(
            embedding, num_samples
        )
    structure = _structure(embedding, num_samples, method)
    similarity = structure.similarity(num_samples // 2).numpy()
    curve = SimilarityCurve(_displacements(sample_grid(num_samples)), similarity, method)
    return structure.stable_rank(), curve


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


def _structure(
    embedding: Embedding, num_samples: int, method: str
) -> BlockCirculant | ToeplitzGram:
    if method == "fft":
        return BlockCirculant.from_embedding(embedding, num_samples)
    return ToeplitzGram.from_embedding(embedding, num_samples)


def _displacements(values: Tensor) -> np.ndarray:
    """``(k - N // 2) / N``: displacement of every grid value from the centre one."""
    return (values - values[values.shape[0] // 2]).numpy()


@torch.no_grad()
def _direct_similarity(embedding: Embedding, line: Tensor, centre: int) -> Tensor:
    reference = embedding.embed(line[centre : centre + 1])
    chunks = [
        row_similarity(torch.cat([reference, embedding.embed(chunk)]), 0)[1:]
        for chunk in line.split(_ROW_CHUNK)
    ]
    return torch.cat(chunks)
