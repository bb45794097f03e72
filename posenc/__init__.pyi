from .analysis import (
    distance_preservation,
    embedding_distance_preservation,
    embedding_stable_rank,
    stable_rank,
)
from .config import FitConfig, resolve_config
from .data import load_source
from .embeddings import describe_embedding, embedding_names, make_embedding, register
from .neural_fields import FitResult, fit, fit_batched, load_config_signal, save_fit
from .protocols import PROTOCOLS
from .sweeps import draw_figures, load_points, make_executor, resolve_sweep, run_sweep

__version__: str

__all__ = [
    "PROTOCOLS",
    "FitConfig",
    "FitResult",
    "describe_embedding",
    "distance_preservation",
    "draw_figures",
    "embedding_distance_preservation",
    "embedding_names",
    "embedding_stable_rank",
    "fit",
    "fit_batched",
    "load_config_signal",
    "load_points",
    "load_source",
    "make_embedding",
    "make_executor",
    "register",
    "resolve_config",
    "resolve_sweep",
    "run_sweep",
    "save_fit",
    "stable_rank",
]
