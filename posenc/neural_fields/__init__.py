"""Coordinate networks and fitting: models, solvers, named protocols, run folders.

>>> from posenc.data import load_source
>>> from posenc.neural_fields import fit, resolve_config
>>> config = resolve_config(signal="camera", size=64, steps=50)
>>> result = fit(load_source("camera", size=64), config)   # doctest: +SKIP
"""

from posenc.neural_fields.config import PROTOCOLS, FitConfig, resolve_config, validate_config
from posenc.neural_fields.fitting import (
    FitCallback,
    FitResult,
    TrainingHistory,
    fit,
    psnr,
)
from posenc.neural_fields.models import (
    MODEL_KINDS,
    MLPField,
    SeparableField,
    SirenField,
    build_model,
)
from posenc.neural_fields.output import save_fit

__all__ = [
    "MODEL_KINDS",
    "PROTOCOLS",
    "FitCallback",
    "FitConfig",
    "FitResult",
    "MLPField",
    "SeparableField",
    "SirenField",
    "TrainingHistory",
    "build_model",
    "fit",
    "psnr",
    "resolve_config",
    "save_fit",
    "validate_config",
]
