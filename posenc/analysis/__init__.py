"""Measurements of embedded matrices: stable rank, distance preservation, and their theory.

- :mod:`~posenc.analysis.metrics`: SR and DP of any matrix (Gram or SVD).
- :mod:`~posenc.analysis.spectral`: exact structured paths, FFT for periodic shifted bases and
  Toeplitz/Lanczos for Fourier features.
- :mod:`~posenc.analysis.measure`: one call per quantity on an embedding and a sample grid.
- :mod:`~posenc.analysis.theory`: closed forms (Gaussian, RFF, triangle, sinc, ...).
- :mod:`~posenc.analysis.experiments`: P1's figures as functions returning their numbers;
  :mod:`~posenc.analysis.plots` draws them in the style of :mod:`~posenc.analysis.plotting`;
  :func:`analysis_embedding` builds an embedding as P1 analyses it.
- :mod:`~posenc.analysis.layers`: the stable rank of hidden activations during training.

The papers' remaining experiments live in their own modules, imported by name (each one a
settings class with the papers' axes, a ``QUICK`` preset and a ``run_*`` function; see
:mod:`~posenc.analysis.reproduction` and ``posenc experiment``):
:mod:`~posenc.analysis.layer_rank`, :mod:`~posenc.analysis.stride`,
:mod:`~posenc.analysis.embedding_size`, :mod:`~posenc.analysis.p3_table`,
:mod:`~posenc.analysis.p1_bandwidths` and :mod:`~posenc.analysis.p1_scatter`.
"""

from posenc.analysis.experiments import (
    BandwidthResponse,
    BasisData,
    EmbeddingProfile,
    PlotData,
    Series,
    analysis_embedding,
    analysis_parameters,
    bandwidth_response,
    basis_functions,
    default_embeddings,
    embedding_profiles,
    matched_bandwidth,
    matched_embeddings,
    reference_embedders,
    similarity_vs_displacement,
    stable_rank_dp_scatter,
    stable_rank_vs_samples,
    summarize,
)
from posenc.analysis.layers import LayerStableRank, activation_stable_ranks
from posenc.analysis.measure import (
    SimilarityCurve,
    embedding_distance_preservation,
    embedding_matrix,
    embedding_stable_rank,
    similarity_curve,
    stable_rank_and_similarity,
    stable_rank_method,
)
from posenc.analysis.metrics import (
    distance_preservation,
    grid_distance_preservation,
    row_similarity,
    stable_rank,
)
from posenc.analysis.plots import render, render_basis, render_gallery, render_panels
from posenc.analysis.plotting import save_figure
from posenc.analysis.spectral import (
    BlockCirculant,
    ToeplitzGram,
    circulant_similarity,
    circulant_stable_rank,
    fourier_features_similarity,
    fourier_features_stable_rank,
    shifted_basis_similarity,
    shifted_basis_stable_rank,
)
from posenc.analysis.theory import SR_DP_GAUSSIAN, ClosedForm, closed_form

__all__ = [
    "SR_DP_GAUSSIAN",
    "BandwidthResponse",
    "BasisData",
    "BlockCirculant",
    "ClosedForm",
    "EmbeddingProfile",
    "LayerStableRank",
    "PlotData",
    "Series",
    "SimilarityCurve",
    "ToeplitzGram",
    "activation_stable_ranks",
    "analysis_embedding",
    "analysis_parameters",
    "bandwidth_response",
    "basis_functions",
    "circulant_similarity",
    "circulant_stable_rank",
    "closed_form",
    "default_embeddings",
    "distance_preservation",
    "embedding_distance_preservation",
    "embedding_matrix",
    "embedding_profiles",
    "embedding_stable_rank",
    "fourier_features_similarity",
    "fourier_features_stable_rank",
    "grid_distance_preservation",
    "matched_bandwidth",
    "matched_embeddings",
    "reference_embedders",
    "render",
    "render_basis",
    "render_gallery",
    "render_panels",
    "row_similarity",
    "save_figure",
    "shifted_basis_similarity",
    "shifted_basis_stable_rank",
    "similarity_curve",
    "similarity_vs_displacement",
    "stable_rank",
    "stable_rank_and_similarity",
    "stable_rank_dp_scatter",
    "stable_rank_method",
    "stable_rank_vs_samples",
    "summarize",
]
