"""An embedded fitting problem: training inputs and targets, test points, full-grid prediction.

The embedding is applied once per fit, here, never per step. Two layouts:

- :class:`FlatProblem`: one embedded row per sample, ``(N, F)``, for linear, MLP and SIREN
  models; dense, or as :class:`~posenc.neural_fields.sparse.SparseFeatures` for a structured
  first layer (see :mod:`posenc.neural_fields.sparse`);
- :class:`GridProblem`: per-axis factor matrices of a product grid, for the separable model,
  which never forms the ``K^d`` Kronecker features.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from posenc.analysis import grid_distance_preservation, stable_rank
from posenc.data import Signal, Split
from posenc.embeddings import AxisEmbedding, Embedding
from posenc.embeddings.base import AXIS_COMPOSITIONS
from posenc.neural_fields.models import SeparableField
from posenc.neural_fields.sparse import SparseFeatures, embed_rows

PREDICTION_CHUNK = 65536
"""Rows embedded and predicted at a time when reconstructing the full grid (at most)."""
PREDICTION_CHUNK_ELEMENTS = 2**22
"""Dense embedded values per chunk of the full-grid prediction (16 MiB in float32)."""


@dataclass
class FlatProblem:
    """Embedded rows of the training and test samples of a signal.

    ``first_layer`` is the form of the rows: ``dense`` tensors, or ``lookup`` / ``sparse``
    :class:`SparseFeatures`.
    """

    signal: Signal
    split: Split
    embedding: Embedding
    train_inputs: Tensor | SparseFeatures
    train_targets: Tensor
    test_inputs: Tensor | SparseFeatures
    test_targets: Tensor
    first_layer: str = "dense"

    @classmethod
    def build(
        cls,
        signal: Signal,
        split: Split,
        embedding: Embedding,
        device: torch.device,
        first_layer: str = "dense",
    ) -> FlatProblem:
        """Embed the training and test coordinates (fitting P1/P2's normalisation first)."""
        coords = signal.coordinates().to(device=device, dtype=embedding.dtype)
        values = signal.flat_values().to(device=device, dtype=embedding.dtype)
        if embedding.normalization == "train":
            embedding.fit_normalization(coords[split.train])
        with torch.no_grad():
            return cls(
                signal,
                split,
                embedding,
                train_inputs=embed_rows(embedding, coords[split.train], first_layer),
                train_targets=values[split.train],
                test_inputs=embed_rows(embedding, coords[split.test], first_layer),
                test_targets=values[split.test],
                first_layer=first_layer,
            )

    def predict_train(self, model: nn.Module) -> Tensor:
        """``(N_train, C)`` predictions; differentiable."""
        return model(self.train_inputs)

    def predict_test(self, model: nn.Module) -> Tensor:
        """``(N_test, C)`` predictions."""
        return model(self.test_inputs)

    @torch.no_grad()
    def predict_full(self, model: nn.Module) -> Tensor:
        """Prediction over the whole grid, ``(*grid_shape, C)``, a chunk of rows at a time."""
        device = self.train_targets.device
        coords = self.signal.coordinates().to(device=device, dtype=self.embedding.dtype)
        chunk_rows = PREDICTION_CHUNK
        if self.first_layer == "dense":
            chunk_rows = min(
                chunk_rows, PREDICTION_CHUNK_ELEMENTS // self.embedding.out_dim_per_row()
            )
        rows = [
            model(embed_rows(self.embedding, chunk, self.first_layer))
            for chunk in coords.split(max(chunk_rows, 1))
        ]
        return torch.cat(rows).reshape(*self.signal.grid_shape, -1)

    def training_matrix_metrics(self) -> tuple[float, float]:
        """Stable rank of the embedded training matrix and DP along its first axis.

        Structured rows ``X = S B`` give their SR through ``Z`` with ``Z^T Z = X^T X``.
        """
        return _defined(_rows_stable_rank, self.train_inputs), _defined(
            first_axis_distance_preservation, self
        )


@dataclass
class GridProblem:
    """Per-axis embedded factors of the training grid, for the separable model."""

    signal: Signal
    split: Split
    embedding: AxisEmbedding
    train_inputs: list[Tensor]
    train_targets: Tensor
    test_targets: Tensor

    @classmethod
    def build(
        cls, signal: Signal, split: Split, embedding: AxisEmbedding, device: torch.device
    ) -> GridProblem:
        """Embed each training axis once; targets are the training grid ``(*n, C)``."""
        if split.train_axes is None:
            raise ValueError(
                f"the separable model needs a grid training split (offset, rest or all), "
                f"got {split.kind!r}"
            )
        values = signal.values.to(device=device, dtype=embedding.dtype)
        if embedding.normalization == "train":
            embedding.fit_normalization(_grid_coords(signal, split.train_axes).to(device))
        flat = values.reshape(-1, values.shape[-1])
        return cls(
            signal,
            split,
            embedding,
            train_inputs=_axis_factors(signal, embedding, split.train_axes, device),
            train_targets=values[torch.meshgrid(*split.train_axes, indexing="ij")],
            test_targets=flat[split.test.to(device)],
        )

    def predict_train(self, model: nn.Module) -> Tensor:
        """Prediction over the training grid ``(*n, C)``; differentiable."""
        return model(self.train_inputs)

    def predict_test(self, model: nn.Module) -> Tensor:
        """``(N_test, C)`` predictions, from the test grid when the test set is one."""
        if self.split.test_axes is None:
            full = self.predict_full(model)
            return full.reshape(-1, full.shape[-1])[self.split.test.to(full.device)]
        device = self.train_targets.device
        factors = _axis_factors(self.signal, self.embedding, self.split.test_axes, device)
        grid = model(factors)
        return grid.reshape(-1, grid.shape[-1])

    @torch.no_grad()
    def predict_full(self, model: nn.Module) -> Tensor:
        """Prediction over the whole grid, ``(*grid_shape, C)``."""
        axes = [torch.arange(n) for n in self.signal.grid_shape]
        device = self.train_targets.device
        return model(_axis_factors(self.signal, self.embedding, axes, device))

    def training_matrix_metrics(self) -> tuple[float, float]:
        """SR of the Kronecker training matrix, from its factors, and DP along its first axis.

        ``SR(A (x) B) = SR(A) SR(B)``: Frobenius and spectral norms both multiply.
        """
        sr = math.prod(_defined(stable_rank, factor) for factor in self.train_inputs)
        return sr, _defined(first_axis_distance_preservation, self)


def _rows_stable_rank(inputs: Tensor | SparseFeatures) -> float:
    """SR of embedded rows; structured rows through their Gram root, or densely where the
    root's eigen-solver does not converge (many repeated eigenvalues)."""
    if not isinstance(inputs, SparseFeatures):
        return stable_rank(inputs)
    try:
        return stable_rank(inputs.gram_root())
    except torch.linalg.LinAlgError:
        return stable_rank(inputs.to_dense())


def _defined(metric: Callable[[Any], float], argument: Any) -> float:
    """``metric(argument)``, or NaN where it is undefined (an all-zero embedded matrix, a
    grid row whose embedding is zero): a fit's result does not depend on its analysis."""
    try:
        return metric(argument)
    except ValueError:
        return math.nan


def first_axis_distance_preservation(problem: FlatProblem | GridProblem) -> float:
    """DP along the first axis of the training grid (of the full grid if it is not a grid).

    Axis-wise embeddings (concat, directions, separable) are measured on their per-axis
    feature map: along one axis the other axes' blocks are constant and would add a
    similarity floor of (d - 1)/d to every point. Other embeddings (isotropic RFF) are
    measured on the line through the grid centre.
    """
    embedding, grid = problem.embedding, problem.signal.grid_shape
    axes = problem.split.train_axes
    indices = axes[0] if axes is not None else torch.arange(grid[0])
    device = problem.train_targets.device
    values = indices.to(device=device, dtype=embedding.dtype) / grid[0]
    with torch.no_grad():
        if (
            isinstance(embedding, AxisEmbedding)
            and embedding.compose in AXIS_COMPOSITIONS
            and not embedding.include_input
        ):
            features = embedding.axis_features(values)
        else:
            centre = [torch.full_like(values, (n // 2) / n) for n in grid[1:]]
            features = embedding.embed(torch.stack([values, *centre], dim=1))
    return grid_distance_preservation(features, (len(indices),))


def solve_separable_closed_form(problem: GridProblem, model: SeparableField) -> None:
    """P2's closed form for the linear separable model: ``W = S x_a pinv(Phi_a)``.

    In 2D, per channel, ``W_c = pinv(Phi_x) S_c pinv(Phi_y)^T``: the minimum-norm least-squares
    fit of the training grid ``S``. Computed in float64 and written into ``model.weight``.
    """
    core = problem.train_targets.to(torch.float64).movedim(-1, 0)
    for factor in problem.train_inputs:
        # core is (C, K_1, ..., K_{a-1}, n_a, ..., n_d): contract n_a with pinv(Phi_a).
        pseudo_inverse = torch.linalg.pinv(factor.to(torch.float64))
        core = torch.tensordot(pseudo_inverse, core, dims=([1], [1])).movedim(0, -1)
    with torch.no_grad():
        model.weight.copy_(core.to(model.weight.dtype))


def solve_linear_closed_form(problem: FlatProblem, model: nn.Module) -> None:
    """Minimum-norm least squares for a one-layer model ``y = x A^T + b`` (float64).

    Solves ``[X 1] [A^T; b^T] = Y``; with more features than samples this is the
    minimum-norm interpolant, P2 Proposition 1's memorising solution.
    """
    (linear,) = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if not isinstance(problem.train_inputs, Tensor):
        raise ValueError("the linear closed form needs dense embedded rows")
    inputs = problem.train_inputs.to(torch.float64)
    augmented = torch.cat([inputs, torch.ones_like(inputs[:, :1])], dim=1)
    solution = torch.linalg.pinv(augmented) @ problem.train_targets.to(torch.float64)
    with torch.no_grad():
        linear.weight.copy_(solution[:-1].T.to(linear.weight.dtype))
        linear.bias.copy_(solution[-1].to(linear.bias.dtype))


def _axis_factors(
    signal: Signal, embedding: AxisEmbedding, axes: Sequence[Tensor], device: torch.device
) -> list[Tensor]:
    with torch.no_grad():
        return [
            embedding.factor(indices.to(device=device, dtype=embedding.dtype) / n, axis)
            for axis, (indices, n) in enumerate(zip(axes, signal.grid_shape, strict=True))
        ]


def _grid_coords(signal: Signal, axes: Sequence[Tensor]) -> Tensor:
    values = [indices.double() / n for indices, n in zip(axes, signal.grid_shape, strict=True)]
    mesh = torch.meshgrid(*values, indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], dim=1)
