"""Embedded rows in a form whose Gram products are cheap: the oracle's view of an embedding.

The oracle needs, for many bandwidths, products ``A W A^T`` of the embedded training rows
``A`` (``N x F``) with a diagonal weight ``W`` (and the same with query rows). Computing them
from the dense ``N x F`` matrix costs ``N^2 F`` per bandwidth, which for P1's 10000 centres
dwarfs everything else. A shifted basis ``f(u)_k = psi(u - t_k)`` on ``K`` evenly spaced
centres allows two shortcuts:

- **windows** (exact to rounding): ``psi`` is negligible (below ``NEGLIGIBLE`` of its peak)
  beyond a radius ``r``, so each row has about ``2 K r`` non-zero entries; rows become a
  sparse matrix.
- **quadrature**: when ``r`` spans many centres, a sum over centres ``sum_k g(t_k)`` of a
  function ``g`` that varies on the scale of ``r`` is, to high accuracy, a weighted sum over
  every ``m``-th centre (:func:`quadrature_nodes`: the trapezoid rule, whose error for a
  smooth generator falls faster than any power of the spacing away from the domain's edges;
  at rows that the edge of a non-periodic basis cuts it is a fraction of a percent, and for
  a generator with kinks, such as the triangle, about as much everywhere). ``m`` is chosen
  so that a radius holds ``POINTS_PER_RADIUS`` kept centres.

So every bandwidth costs about ``N`` times ``2 POINTS_PER_RADIUS`` entries, whatever ``K``.
Other embeddings (Fourier features, generators of global support) use their dense rows with
unit weights. Rows are normalised as the fit normalises them (``train``: by the largest
training row norm; ``domain``: by the largest norm over the embedding's reference grid;
``none``), so the quadratic forms ``sum_k w_k A_ik A_jk`` equal the fit's inner products.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeAlias, TypeGuard

import numpy as np
import torch
from scipy import sparse

from posenc.embeddings import AxisEmbedding, Embedding, ShiftedBasis

NEGLIGIBLE = 1e-12
"""Relative generator value below which a shifted basis counts as zero (far below float32's
resolution, and far below the gradients that move Adam at all)."""
POINTS_PER_RADIUS = 30
"""Centres kept per negligible radius when quadrature thins a dense basis."""

Rows: TypeAlias = "np.ndarray | sparse.csr_matrix"
"""Embedded rows: dense for embeddings of global support, CSR for windowed shifted bases."""


def squared_entries(rows: Rows) -> Rows:
    """``A * A`` elementwise, in ``rows``' own format."""
    if isinstance(rows, np.ndarray):
        return rows * rows
    return rows.multiply(rows).tocsr()


def dense(rows: Rows) -> np.ndarray:
    """``rows`` as a dense array."""
    if isinstance(rows, np.ndarray):
        return rows
    return np.asarray(rows.toarray())


@dataclass(frozen=True)
class EmbeddedRows:
    """Normalised embedded rows of training (``train``, ``N x F'``) and query (``query``,
    ``M x F'``) coordinates with quadrature weights ``weights`` (``F'``): the fit's inner
    product of two rows is ``sum_k weights_k a_k b_k``. ``stride`` is the centre thinning (1:
    every feature kept)."""

    train: Rows
    query: Rows
    weights: np.ndarray
    stride: int = 1

    @property
    def num_features(self) -> int:
        """``F'``, the columns kept."""
        return int(self.weights.shape[0])

    def gram(self, scale: np.ndarray) -> np.ndarray:
        """``A diag(weights * scale) A^T`` of the training rows, as a dense array (``scale``
        non-negative). Dense rows form it as ``B B^T`` with ``B = A diag(weights * scale)^(1/2)``,
        which NumPy computes as a symmetric rank-k update: half the products."""
        diagonal = self.weights * scale
        if isinstance(self.train, np.ndarray):
            halved = self.train * np.sqrt(diagonal)
            return halved @ halved.T
        return dense(self.train @ sparse.diags(diagonal) @ self.train.T)

    def feature_sums(self, vectors: np.ndarray, squared: bool = False) -> np.ndarray:
        """``A^T v`` per column of ``vectors`` (``N x C``), with ``A`` squared elementwise when
        ``squared``: sums over training rows for every kept feature, ``F' x C``."""
        rows = squared_entries(self.train) if squared else self.train
        return np.asarray(rows.T @ vectors)

    def largest_row_norm(self) -> float:
        """``max_i sqrt(sum_k weights_k A_ik^2)`` over the training rows."""
        squares = np.asarray(squared_entries(self.train) @ self.weights)
        return math.sqrt(float(np.max(squares)))

    def row_sums(self, absolute: bool = True) -> np.ndarray:
        """``sum_k weights_k |A_ik|`` per training row: the fit's L1 row norm."""
        rows = abs(self.train) if absolute else self.train
        return np.asarray(rows @ self.weights).ravel()


def embed_rows(
    embedding: Embedding, normalization: str, train: np.ndarray, query: np.ndarray
) -> EmbeddedRows:
    """Rows of ``train`` (``N x d``) and ``query`` (``M x d``) coordinates, normalised as
    ``normalization`` says. ``embedding`` is built with ``normalization="none"`` in float64.
    """
    if embedding.separable:
        raise ValueError("the oracle works on flat embedded rows, not separable factors")
    if is_windowed(embedding):
        rows = _windowed_rows(embedding, train, query)
    else:
        with torch.no_grad():
            dense = embedding(torch.from_numpy(np.concatenate([train, query]))).double().numpy()
        rows = EmbeddedRows(dense[: len(train)], dense[len(train) :], np.ones(dense.shape[1]))
    scale = 1.0 / _norm(embedding, normalization, rows)
    return EmbeddedRows(rows.train * scale, rows.query * scale, rows.weights, rows.stride)


def is_windowed(embedding: Embedding) -> TypeGuard[ShiftedBasis]:
    """Whether ``embedding``'s rows are formed as windows (sparse, thinned by quadrature): a
    shifted basis negligible beyond a radius. Other embeddings have dense rows."""
    return isinstance(embedding, ShiftedBasis) and bool(embedding.negligible_radius(NEGLIGIBLE))


def thinning_stride(embedding: ShiftedBasis) -> int:
    """Every how many centres quadrature keeps one (1: all)."""
    radius = embedding.negligible_radius(NEGLIGIBLE) or 0.0
    return max(1, int(radius * embedding.num_centers / POINTS_PER_RADIUS))


def _windowed_rows(embedding: ShiftedBasis, train: np.ndarray, query: np.ndarray) -> EmbeddedRows:
    stride = thinning_stride(embedding)
    kept, weights = quadrature_nodes(embedding.num_centers, stride, embedding.periodic)
    centres = embedding.centers.double().numpy()[kept]
    parts = [
        [_window_matrix(embedding, values, centres, stride) for values in _parts(embedding, c)]
        for c in (train, query)
    ]
    return EmbeddedRows(
        sparse.hstack(parts[0], format="csr"),
        sparse.hstack(parts[1], format="csr"),
        np.tile(weights, len(parts[0])),
        stride,
    )


def quadrature_nodes(count: int, stride: int, periodic: bool) -> tuple[np.ndarray, np.ndarray]:
    """Kept centre indices and their weights, so that ``sum_k g(k)`` over all ``count``
    centres is ``sum_j weights_j g(kept_j)`` for ``g`` smooth on the scale of ``stride``.

    Every ``stride``-th centre, plus the last one when the basis has ends. A node's weight is
    the mean of its spacings to its neighbours (the trapezoid rule); on a line, the end nodes
    get ``(1 + spacing) / 2``, the Euler-Maclaurin end correction between a sum with unit
    spacing and one with spacing ``stride`` (it keeps a basis cut by the domain's edge
    right to within a fraction of a percent).
    """
    kept = np.arange(0, count, stride)
    if periodic:
        gaps = np.diff(np.append(kept, count))
        return kept, (gaps + np.roll(gaps, 1)) / 2.0
    if kept[-1] != count - 1:
        kept = np.append(kept, count - 1)
    gaps = np.diff(kept).astype(np.float64)
    if len(kept) == 1:
        return kept, np.ones(1)
    left, right = np.concatenate([[1.0], gaps]), np.concatenate([gaps, [1.0]])
    return kept, (left + right) / 2.0


def _parts(embedding: AxisEmbedding, coords: np.ndarray) -> list[np.ndarray]:
    """The scalar input of each concatenated part (the axes, or P2's four directions)."""
    projected = embedding.projections(torch.from_numpy(coords))
    return [values.numpy() for values in projected]


def _window_matrix(
    embedding: ShiftedBasis, values: np.ndarray, centres: np.ndarray, stride: int
) -> sparse.csr_matrix:
    """CSR rows ``psi(u_n - t_k)`` over the kept ``centres`` (sorted, spaced ``stride / K``
    apart but for the last) within the negligible radius."""
    radius = embedding.negligible_radius(NEGLIGIBLE) or 0.0
    count, spacing = len(centres), stride / embedding.num_centers
    width = min(count, math.ceil(2 * radius / spacing) + 3)
    first = np.searchsorted(centres, values - radius) - 1
    if not embedding.periodic:
        first = np.clip(first, 0, count - width)
    columns = first[:, None] + np.arange(width)
    if embedding.periodic:
        columns %= count
    displacement = values[:, None] - centres[columns]
    if embedding.periodic:
        displacement -= np.round(displacement)
    with torch.no_grad():
        entries = embedding.generator(torch.from_numpy(displacement)).double().numpy()
    indptr = np.arange(0, len(values) * width + 1, width)
    return sparse.csr_matrix((entries.ravel(), columns.ravel(), indptr), shape=(len(values), count))


def _norm(embedding: Embedding, normalization: str, rows: EmbeddedRows) -> float:
    """The fit's normalisation constant (the divisor) for these rows."""
    if normalization == "none":
        return 1.0
    if normalization == "train":
        return rows.largest_row_norm()
    if not isinstance(rows.train, np.ndarray):
        assert isinstance(embedding, ShiftedBasis)
        reference = embedding.reference_values().double().numpy()
        kept, weights = quadrature_nodes(embedding.num_centers, rows.stride, embedding.periodic)
        centres = embedding.centers.double().numpy()[kept]
        window = _window_matrix(embedding, reference, centres, rows.stride)
        squares = np.asarray(window.multiply(window) @ weights)
        return math.sqrt(float(squares.max()) * embedding.num_parts)
    with torch.no_grad():
        return float(embedding.domain_norm().double())
