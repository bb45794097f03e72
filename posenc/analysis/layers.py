"""Stable rank of each hidden layer's activations during training (P1's "SR through layers").

:class:`LayerStableRank` is a fitting callback: the fitter calls ``callback(state)`` with a
:class:`~posenc.neural_fields.FitStep` after every optimiser step (``state.step`` from 1), and
every ``every`` steps the callback runs one extra forward pass of the training inputs under
``torch.no_grad()``, catches each hidden layer's output with forward hooks (removed again
before it returns, also on error) and records the stable rank of each, the activations
being one row per training point and one column per unit.

Hidden layers are ``model.hidden_layers()`` when the model has that method (every posenc
model does), else every :class:`torch.nn.ReLU` in ``model.modules()``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from posenc.analysis.metrics import stable_rank
from posenc.analysis.plot_data import PlotData, Series

if TYPE_CHECKING:
    from posenc.neural_fields.fitting import FitStep


def hidden_layers(model: nn.Module) -> list[nn.Module]:
    """``model.hidden_layers()`` if the model defines it, else its ``nn.ReLU`` modules."""
    method = getattr(model, "hidden_layers", None)
    if callable(method):
        return list(method())
    return [module for module in model.modules() if isinstance(module, nn.ReLU)]


def activation_stable_ranks(model: nn.Module, inputs: Any) -> list[float]:
    """SR of every hidden layer's output on ``inputs``, in the order the layers run.

    Outputs are reshaped to ``(-1, units)`` (all leading axes are points). A layer whose
    output is all zero (every unit dead) or not finite (training diverged) has no stable
    rank: it is recorded as NaN rather than stopping the fit. A module used several times
    contributes one value per call.
    """
    outputs: list[Tensor] = []

    def keep(_module: nn.Module, _inputs: Any, output: Tensor) -> None:
        outputs.append(output.detach())

    handles = [layer.register_forward_hook(keep) for layer in hidden_layers(model)]
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return [_stable_rank_or_nan(output) for output in outputs]


class LayerStableRank:
    """Fitting callback recording ``(step, [SR of each hidden layer])`` every ``every`` steps.

    >>> tracker = LayerStableRank(every=100)
    >>> # fit(..., callbacks=[tracker]); then tracker.history, tracker.plot()

    Each record costs one forward pass of the training inputs plus one Gram eigenproblem per
    layer (``width x width``), so ``every`` trades resolution for time.
    """

    def __init__(self, every: int = 100) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1, got {every!r}")
        self.every = every
        self.history: list[tuple[int, list[float]]] = []

    def __call__(self, state: FitStep) -> None:
        """Record the layers' stable ranks when the step is a multiple of ``every``."""
        if state.step % self.every == 0:
            ranks = activation_stable_ranks(state.model, state.train_inputs)
            self.history.append((state.step, ranks))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"every": k, "steps": [...], "stable_ranks": [[layer values]...]}``."""
        return {
            "every": self.every,
            "steps": [step for step, _ in self.history],
            "stable_ranks": [[_json_number(v) for v in ranks] for _, ranks in self.history],
        }

    def plot(self) -> PlotData:
        """SR of each hidden layer against the training step (NaN records leave gaps)."""
        if not self.history:
            raise ValueError("no stable ranks recorded yet: train for at least `every` steps")
        steps = np.array([step for step, _ in self.history])
        depth = max(len(ranks) for _, ranks in self.history)
        table = np.full((len(steps), depth), math.nan)
        for row, (_, ranks) in enumerate(self.history):
            table[row, : len(ranks)] = ranks
        series = tuple(
            Series(f"hidden layer {layer + 1}", steps, table[:, layer], layer, marker=".")
            for layer in range(depth)
        )
        return PlotData(
            "layer_stable_rank",
            "Stable rank of hidden activations during training",
            "training step",
            "stable rank of activations",
            series,
        )


def _stable_rank_or_nan(output: Tensor) -> float:
    activations = output.reshape(-1, output.shape[-1])
    if not bool(activations.any()) or not bool(torch.isfinite(activations).all()):
        return math.nan
    return stable_rank(activations)


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else value
