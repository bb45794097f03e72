"""The named choices of posenc, each declared once as a ``Literal`` type.

The modules that implement a choice derive their tuple of names from these types
(``SPLIT_KINDS = options(SplitKind)``), and :class:`posenc.config.FitConfig` checks its fields
and builds its command-line choices from them.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

SplitKind = Literal["offset", "rest", "all", "random"]
"""Train/test splits of a grid (:mod:`posenc.data.splits`)."""
Normalization = Literal["domain", "train", "none"]
"""How an embedding's rows are scaled (:mod:`posenc.embeddings.base`)."""
AxisComposition = Literal["concat", "directions", "separable"]
"""How an axis-wise embedding combines its per-axis features in d dimensions."""
Composition = Literal[AxisComposition, "isotropic"]
"""Every composition; ``isotropic`` draws d-dimensional frequencies (random Fourier features)."""
ModelKind = Literal["linear", "mlp", "siren", "separable"]
"""Coordinate networks (:mod:`posenc.neural_fields.models`)."""
Solver = Literal["adam", "closed-form"]
"""How a fit is trained."""
FirstLayerForm = Literal["auto", "dense", "lookup", "sparse"]
"""How the first layer meets the embedded rows (:mod:`posenc.neural_fields.sparse`)."""
DTypeName = Literal["float32", "float64"]
"""Floating-point types of embeddings, models and solvers."""
TrackerKind = Literal["tensorboard", "mlflow"]
"""Experiment trackers a run can be logged to (:mod:`posenc.tracking`)."""
Precision = Literal["fp32", "bf16", "tf32"]
"""How a float32 network computes its matrix products (:mod:`posenc.neural_fields.step`)."""


def options(choice: Any) -> tuple[str, ...]:
    """The names a ``Literal`` type allows, in declaration order (nested literals flattened)."""
    return tuple(get_args(choice))
