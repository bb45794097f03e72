"""Measurements of embedded matrices: stable rank, distance preservation, and their theory."""

from posenc.analysis.metrics import grid_distance_preservation, stable_rank

__all__ = ["grid_distance_preservation", "stable_rank"]
