from .construction import (
    analysis_embedding,
    default_embeddings,
    matched_bandwidth,
    matched_embeddings,
    reference_embedders,
)
from .experiments import (
    BandwidthResponse,
    EmbeddingProfile,
    bandwidth_response,
    basis_functions,
    embedding_profiles,
    similarity_vs_displacement,
    stable_rank_dp_scatter,
    stable_rank_vs_samples,
    summarize,
)
from .layers import LayerStableRank, activation_stable_ranks
from .measure import (
    SimilarityCurve,
    embedding_distance_preservation,
    embedding_matrix,
    embedding_stable_rank,
    similarity_curve,
    stable_rank_and_similarity,
)
from .metrics import distance_preservation, grid_distance_preservation, row_similarity, stable_rank
from .plot_data import BasisData, PlotData, Series
from .plots import render, render_basis, render_gallery, render_panels

__all__ = [
    "BandwidthResponse",
    "BasisData",
    "EmbeddingProfile",
    "LayerStableRank",
    "PlotData",
    "Series",
    "SimilarityCurve",
    "activation_stable_ranks",
    "analysis_embedding",
    "bandwidth_response",
    "basis_functions",
    "default_embeddings",
    "distance_preservation",
    "embedding_distance_preservation",
    "embedding_matrix",
    "embedding_profiles",
    "embedding_stable_rank",
    "grid_distance_preservation",
    "matched_bandwidth",
    "matched_embeddings",
    "reference_embedders",
    "render",
    "render_basis",
    "render_gallery",
    "render_panels",
    "row_similarity",
    "similarity_curve",
    "similarity_vs_displacement",
    "stable_rank",
    "stable_rank_and_similarity",
    "stable_rank_dp_scatter",
    "stable_rank_vs_samples",
    "summarize",
]
