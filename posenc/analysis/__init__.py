"""Measurements of embedded matrices: stable rank, distance preservation, and their theory.

- :mod:`~posenc.analysis.metrics`: SR and DP of any matrix (Gram or SVD).
- :mod:`~posenc.analysis.spectral`: exact structured paths, FFT for periodic shifted bases and
  Toeplitz/Lanczos for Fourier features.
- :mod:`~posenc.analysis.measure`: one call per quantity on an embedding and a sample grid.
- :mod:`~posenc.analysis.theory`: closed forms (Gaussian, RFF, triangle, sinc, ...).
"""

from posenc.analysis.measure import (
    SimilarityCurve,
    embedding_distance_preservation,
    embedding_matrix,
    embedding_stable_rank,
    similarity_curve,
    stable_rank_method,
)
from posenc.analysis.metrics import (
    distance_preservation,
    grid_distance_preservation,
    row_similarity,
    stable_rank,
)
from posenc.analysis.spectral import (
    BlockCirculant,
    circulant_similarity,
    circulant_stable_rank,
    fourier_features_stable_rank,
    shifted_basis_similarity,
    shifted_basis_stable_rank,
)
from posenc.analysis.theory import SR_DP_GAUSSIAN, ClosedForm, closed_form

__all__ = [
    "SR_DP_GAUSSIAN",
    "BlockCirculant",
    "ClosedForm",
    "SimilarityCurve",
    "circulant_similarity",
    "circulant_stable_rank",
    "closed_form",
    "distance_preservation",
    "embedding_distance_preservation",
    "embedding_matrix",
    "embedding_stable_rank",
    "fourier_features_stable_rank",
    "grid_distance_preservation",
    "row_similarity",
    "shifted_basis_similarity",
    "shifted_basis_stable_rank",
    "similarity_curve",
    "stable_rank",
    "stable_rank_method",
]
