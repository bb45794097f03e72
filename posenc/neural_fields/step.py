"""The training step at the cost of its matrix products: a ReLU MLP's forward, MSE and
backward written out, and the step replayed as a CUDA graph on NVIDIA GPUs.

:func:`make_train_step` builds the step that :func:`~posenc.neural_fields.fitting.train_adam`
repeats: :class:`MLPStep` and the optimiser for :class:`~posenc.neural_fields.MLPField`
models with hidden layers, autograd (:func:`train_step`) for the others; on CUDA the whole
step, optimiser included, is captured once and replayed (:class:`GraphedStep`).

:class:`MLPStep` computes what autograd computes for ``F.mse_loss(model(rows), targets)``
(the loss and every parameter's gradient, equal to float rounding: sums run in another
order), with the work between the matrix products cut down:

- rows are processed ``chunk_rows`` at a time (forward, loss and backward of one chunk, then
  the next): the MSE and the weight gradients are sums over rows, so a chunk's activations
  are used while they are still in cache, and a fit holds a chunk of activations instead of
  all of them. Buffers are allocated once, not per step;
- each hidden layer's bias rides in the next product: activations carry a column of ones,
  ``[h, 1] [W, b]^T = h W^T + b``, and ``G^T [h, 1]`` is the weight and the bias gradient of
  one product (no bias pass, no column sum);
- ReLU and its backward work in place;
- a structured first layer (:mod:`posenc.neural_fields.sparse`, ``X = S B``) is ``S T`` with
  the table ``T = [B W^T, 0; b, 1]``: a constant column appended to ``S`` selects the bias
  row, which also writes the column of ones. ``S T`` is a gather-sum of table rows
  (``embedding_bag``), the backward ``S^T G`` a product with ``S``'s precomputed transpose.

With ``precision="bf16"`` the matrix products take bfloat16 operands (float32 accumulation
inside the kernels; on CPUs with AMX or AVX-512 BF16 several times faster) and store
activations and their gradients in bfloat16, as ``torch.autocast`` does for linear layers;
the weights, their gradients, the loss and Adam stay in float32.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posenc.choices import Precision, options
from posenc.neural_fields.embedded import FlatProblem, GridProblem
from posenc.neural_fields.models import MLPField
from posenc.neural_fields.sparse import SparseFeatures, selection_transposes

PRECISIONS = options(Precision)
CHUNK_ROWS = 8192
"""Rows per chunk of :class:`MLPStep` on the CPU (8192 x 256 float32 activations: 8 MiB per
layer). Smaller chunks make the products less efficient, larger ones leave the cache; on a
GPU the whole batch is one chunk."""
ALIGNMENT_BYTES = 64
"""Rows of activation buffers start on cache-line (and AVX-512 vector) boundaries."""
GRAPH_WARMUP_STEPS = 3
"""Eager steps before a CUDA graph is captured (they create the optimiser state)."""

Step = Callable[[], Tensor]
"""A training step: updates the model, returns the loss before the update (on the device)."""


class MLPStep:
    """Loss and gradients of an :class:`~posenc.neural_fields.MLPField` (``depth >= 1``) on
    fixed training rows; see the module docstring.

    Calling it writes every parameter's ``.grad`` (the tensors it set at construction, which
    the optimiser reads) and returns the MSE as a 0-d float32 tensor on the device.
    """

    def __init__(
        self,
        model: MLPField,
        rows: Tensor | SparseFeatures,
        targets: Tensor,
        precision: str = "fp32",
        chunk_rows: int | None = None,
    ) -> None:
        layers = model.linear_layers()
        if len(layers) < 2:
            raise ValueError("MLPStep needs a model with at least one hidden layer")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
        self.layers, self.sigmoid = layers, model.sigmoid
        self.rows, self.targets = rows, targets
        device, dtype = targets.device, layers[0].weight.dtype
        self.dtype = torch.bfloat16 if precision == "bf16" else dtype
        count = len(targets)
        default = count if device.type == "cuda" else CHUNK_ROWS
        self.chunk_rows = max(1, min(count, chunk_rows or default))
        self.width = width = layers[0].out_features
        if any(layer.in_features != width for layer in layers[1:]):
            raise ValueError("MLPStep needs hidden layers of one width")
        make: dict[str, Any] = {"device": device, "dtype": self.dtype}
        stride = _aligned(width + 1, self.dtype)
        # Activations [h, 1, 0...]; the dense first layer writes into buffer 0, a structured
        # one gathers its own (the table carries the column of ones).
        self.activations = [
            _with_ones_column(torch.zeros(self.chunk_rows, stride, **make), width)
            for _ in layers[:-1]
        ]
        self.gradients = [torch.empty(self.chunk_rows, width, **make) for _ in range(2)]
        # [W, b] of every layer after the first, in the compute type, refreshed every step.
        self.augmented = [
            torch.empty(layer.out_features, width + 1, **make) for layer in layers[1:]
        ]
        self.augmented_grads = [
            torch.empty(layer.out_features, width + 1, device=device, dtype=dtype)
            for layer in layers[1:]
        ]
        for layer in layers:
            for parameter in (layer.weight, layer.bias):
                parameter.grad = torch.zeros_like(parameter)
        self.first = (
            _StructuredFirstLayer(rows, layers[0], self.dtype, self.chunk_rows, stride)
            if isinstance(rows, SparseFeatures)
            else _DenseFirstLayer(rows, layers[0], self.dtype)
        )

    @torch.no_grad()
    def __call__(self) -> Tensor:
        for augmented, layer in zip(self.augmented, self.layers[1:], strict=True):
            augmented[:, :-1].copy_(layer.weight)
            augmented[:, -1].copy_(layer.bias)
        self.first.begin()
        count, channels = self.targets.shape
        scale = 2.0 / (count * channels)
        total = torch.zeros((), device=self.targets.device, dtype=torch.float64)
        for index, start in enumerate(range(0, count, self.chunk_rows)):
            rows = slice(start, min(start + self.chunk_rows, count))
            hidden = self._forward(index, rows)
            output = torch.mm(hidden[-1][:, : self.width + 1], self.augmented[-1].T)
            output = output.to(self.targets.dtype)
            if self.sigmoid:
                output = output.sigmoid_()
            error = output - self.targets[rows]
            total += error.square().sum()
            gradient = error.mul_(scale)
            if self.sigmoid:
                gradient.mul_(output * (1 - output))
            self._backward(index, rows, hidden, gradient.to(self.dtype))
        for augmented_grad, layer in zip(self.augmented_grads, self.layers[1:], strict=True):
            _grad(layer.weight).copy_(augmented_grad[:, :-1])
            _grad(layer.bias).copy_(augmented_grad[:, -1])
        self.first.finish()
        return (total / (count * channels)).to(self.targets.dtype)

    def _forward(self, chunk: int, rows: slice) -> list[Tensor]:
        """Hidden activations ``[h_l, 1]`` of the chunk, ReLU applied."""
        first = self.first.forward(chunk, rows, self.activations[0])
        torch.relu_(first[:, : self.width])
        hidden = [first]
        for layer, buffer in enumerate(self.activations[1:]):
            out = buffer[: len(first), : self.width]
            torch.mm(hidden[-1][:, : self.width + 1], self.augmented[layer].T, out=out)
            torch.relu_(out)
            hidden.append(buffer[: len(first)])
        return hidden

    def _backward(self, chunk: int, rows: slice, hidden: list[Tensor], gradient: Tensor) -> None:
        """Accumulate the weight gradients of the chunk, last layer first."""
        for layer in range(len(self.augmented) - 1, -1, -1):
            inputs = hidden[layer]
            _accumulate(self.augmented_grads[layer], gradient.T, inputs[:, : self.width + 1], chunk)
            previous = self.gradients[layer % 2][: len(inputs)]
            torch.mm(gradient, self.augmented[layer][:, : self.width], out=previous)
            torch.ops.aten.threshold_backward.grad_input(
                previous, inputs[:, : self.width], 0, grad_input=previous
            )
            gradient = previous
        self.first.backward(chunk, rows, gradient)


class _DenseFirstLayer:
    """``X W^T + b`` on dense rows; gradients accumulated chunk by chunk."""

    def __init__(self, rows: Tensor, layer: nn.Linear, dtype: torch.dtype) -> None:
        self.rows, self.layer, self.dtype = rows, layer, dtype
        self.weight = torch.empty_like(layer.weight, dtype=dtype)
        self.bias = torch.empty_like(layer.bias, dtype=dtype)
        self.weight_grad = torch.empty_like(layer.weight)
        self.bias_grad = torch.empty_like(layer.bias)

    def begin(self) -> None:
        self.weight.copy_(self.layer.weight)
        self.bias.copy_(self.layer.bias)

    def forward(self, chunk: int, rows: slice, buffer: Tensor) -> Tensor:
        inputs = self.rows[rows].to(self.dtype)
        out = buffer[: len(inputs), : self.layer.out_features]
        torch.mm(inputs, self.weight.T, out=out).add_(self.bias)
        return buffer[: len(inputs)]

    def backward(self, chunk: int, rows: slice, gradient: Tensor) -> None:
        _accumulate(self.weight_grad, gradient.T, self.rows[rows].to(self.dtype), chunk)
        column_sums = gradient.sum(0, dtype=self.bias_grad.dtype)
        if chunk == 0:
            self.bias_grad.copy_(column_sums)
        else:
            self.bias_grad.add_(column_sums)

    def finish(self) -> None:
        _grad(self.layer.weight).copy_(self.weight_grad)
        _grad(self.layer.bias).copy_(self.bias_grad)


class _StructuredFirstLayer:
    """``S T`` with ``T = [B W^T, 0; b, 1]`` and ``S`` extended by a constant column."""

    def __init__(
        self,
        features: SparseFeatures,
        layer: nn.Linear,
        dtype: torch.dtype,
        chunk_rows: int,
        stride: int,
    ) -> None:
        self.features, self.layer = features, layer
        count, table_rows = features.rows.shape
        device = features.rows.device
        constant = torch.full((count, 1), table_rows, dtype=torch.int64, device=device)
        self.columns = torch.cat([features.columns, constant], 1)
        weights = features.entry_weights()
        weights = torch.cat([weights, torch.ones_like(weights[:, :1])], 1)
        self.weights = None if features.weights is None else weights.to(dtype)
        self.transposes = selection_transposes(self.columns, weights, table_rows + 1, chunk_rows)
        width = layer.out_features
        self.table = torch.zeros(table_rows + 1, stride, dtype=dtype, device=device)
        self.table[-1, width] = 1
        self.table_grad = torch.empty(
            table_rows + 1, width, dtype=layer.weight.dtype, device=device
        )

    def begin(self) -> None:
        width = self.layer.out_features
        self.table[:-1, :width] = self.features.table(self.layer.weight)
        self.table[-1, :width] = self.layer.bias

    def forward(self, chunk: int, rows: slice, buffer: Tensor) -> Tensor:
        weights = None if self.weights is None else self.weights[rows]
        return F.embedding_bag(
            self.columns[rows], self.table, mode="sum", per_sample_weights=weights
        )

    def backward(self, chunk: int, rows: slice, gradient: Tensor) -> None:
        transpose = self.transposes[chunk]
        gradient = gradient.to(self.table_grad.dtype)
        if chunk == 0:
            torch.mm(transpose, gradient, out=self.table_grad)
        else:
            self.table_grad.addmm_(transpose, gradient)

    def finish(self) -> None:
        _grad(self.layer.weight).copy_(self.features.table_grad(self.table_grad[:-1]))
        _grad(self.layer.bias).copy_(self.table_grad[-1])


def _accumulate(total: Tensor, left: Tensor, right: Tensor, chunk: int) -> None:
    """``total (+)= left @ right``: set on chunk 0, added after; a bfloat16 product is added
    to the float32 total."""
    if left.dtype == total.dtype:
        if chunk == 0:
            torch.mm(left, right, out=total)
        else:
            total.addmm_(left, right)
    elif chunk == 0:
        total.copy_(left @ right)
    else:
        total.add_(left @ right)


def _aligned(columns: int, dtype: torch.dtype) -> int:
    """``columns`` rounded up to whole :data:`ALIGNMENT_BYTES` of ``dtype``."""
    per_line = ALIGNMENT_BYTES // torch.empty((), dtype=dtype).element_size()
    return math.ceil(columns / per_line) * per_line


def _with_ones_column(buffer: Tensor, column: int) -> Tensor:
    buffer[:, column] = 1
    return buffer


def train_step(
    problem: FlatProblem | GridProblem,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    precision: str = "fp32",
) -> Tensor:
    """One full-batch step on the MSE by autograd (the network under :func:`autocast`);
    returns the loss before the update (detached, on the device: reading it is the caller's
    choice of when to wait for the accelerator)."""
    optimizer.zero_grad(set_to_none=True)
    targets = problem.train_targets
    with autocast(precision, targets.device):
        prediction = problem.predict_train(model)
    loss = F.mse_loss(prediction.to(targets.dtype), targets)
    loss.backward()
    optimizer.step()
    return loss.detach()


def make_train_step(
    problem: FlatProblem | GridProblem,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    precision: str = "fp32",
) -> Step:
    """The step :func:`~posenc.neural_fields.fitting.train_adam` repeats (module docstring)."""
    if isinstance(problem, FlatProblem) and isinstance(model, MLPField) and model.depth > 0:
        fused = MLPStep(model, problem.train_inputs, problem.train_targets, precision)

        def step() -> Tensor:
            loss = fused()
            optimizer.step()
            return loss

    else:

        def step() -> Tensor:
            return train_step(problem, model, optimizer, precision)

    if problem.train_targets.device.type == "cuda":
        return GraphedStep(step)
    return step


class GraphedStep:
    """A step captured as one CUDA graph after :data:`GRAPH_WARMUP_STEPS` eager steps, then
    replayed: one launch per step instead of one per kernel.

    The eager steps run on a side stream (as CUDA graph capture requires) and are real
    training steps. If capture fails, training goes on eagerly with a warning (``graphed``
    says which).
    """

    def __init__(self, step: Step) -> None:
        self.step = step
        self.eager_steps = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.loss: Tensor | None = None
        self.graphed = False
        self.failed = False

    def __call__(self) -> Tensor:
        if self.graph is not None:
            self.graph.replay()
            assert self.loss is not None
            return self.loss
        if self.failed or self.eager_steps < GRAPH_WARMUP_STEPS:
            return self._eager()
        return self._capture()

    def _eager(self) -> Tensor:
        self.eager_steps += 1
        if self.failed:
            return self.step()
        with _side_stream():
            return self.step()

    def _capture(self) -> Tensor:
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                loss = self.step()
        except RuntimeError as error:
            warnings.warn(f"CUDA graph capture failed, training eagerly: {error}", stacklevel=2)
            self.failed = True
            return self._eager()
        self.graph, self.loss, self.graphed = graph, loss, True
        graph.replay()  # capture records the step without running it
        return loss


@contextmanager
def _side_stream() -> Iterator[None]:
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        yield
    torch.cuda.current_stream().wait_stream(stream)


def autocast(precision: str, device: torch.device) -> torch.autocast:
    """``torch.autocast`` to bfloat16 for ``precision="bf16"``, disabled otherwise."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


@contextmanager
def matmul_precision(precision: str) -> Iterator[None]:
    """For ``precision="tf32"``, float32 products on TF32 tensor cores (NVIDIA Ampere and
    newer) inside the block; the previous setting is restored after it."""
    if precision != "tf32":
        yield
        return
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def _grad(parameter: Tensor) -> Tensor:
    """``parameter``'s gradient buffer, which the step fills (allocated at construction)."""
    assert parameter.grad is not None, "the step's parameters hold gradient buffers"
    return parameter.grad
