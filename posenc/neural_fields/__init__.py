"""Coordinate networks and fitting: models, solvers, named protocols, run folders.

>>> from posenc.neural_fields import fit, load_config_signal, resolve_config
>>> config = resolve_config(signal="camera", size=64, steps=50)
>>> result = fit(load_config_signal(config), config)   # doctest: +SKIP

``FitConfig``, ``resolve_config`` (:mod:`posenc.config`) and ``PROTOCOLS``
(:mod:`posenc.protocols`) are re-exported here beside the fitting they configure. A fit is
plan -> prepare -> train -> evaluate (:mod:`~posenc.neural_fields.pipeline`), alone
(:func:`fit`), many trained together (:func:`fit_batched`), or a list of configs each the
faster way (:func:`fit_many`).
"""

from posenc.config import FitConfig, resolve_config
from posenc.neural_fields.batched import fit_batched, fit_many
from posenc.neural_fields.fitting import FitCallback, FitStep, fit
from posenc.neural_fields.models import (
    MODEL_KINDS,
    MLPField,
    SeparableField,
    SirenField,
    build_model,
)
from posenc.neural_fields.output import save_fit
from posenc.neural_fields.pipeline import (
    FitPlan,
    PreparedFit,
    evaluate,
    load_config_signal,
    plan_fit,
    prepare,
)
from posenc.neural_fields.result import FitResult, TrainingHistory, psnr
from posenc.protocols import PROTOCOLS

__all__ = [
    "MODEL_KINDS",
    "PROTOCOLS",
    "FitCallback",
    "FitConfig",
    "FitPlan",
    "FitResult",
    "FitStep",
    "MLPField",
    "PreparedFit",
    "SeparableField",
    "SirenField",
    "TrainingHistory",
    "build_model",
    "evaluate",
    "fit",
    "fit_batched",
    "fit_many",
    "load_config_signal",
    "plan_fit",
    "prepare",
    "psnr",
    "resolve_config",
    "save_fit",
]
