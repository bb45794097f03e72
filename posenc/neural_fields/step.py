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
  all of them;
- after the first layer, activations and their gradients are held one row per unit and one
  column per sample (``X^T`` rather than ``X``), so that every product of the step reads its
  left operand contiguous and the weight gradient ``G X^T`` needs neither a transposed copy
  nor a conversion: the products go to the fastest library at hand
  (:func:`matrix_products`): oneDNN on CPUs, which copies a left operand that is not
  contiguous; PyTorch's matrix multiply elsewhere. The ReLU mask and its backward then
  meet operands of the same layout. Only the first layer's output comes one row per
  sample (a gather-sum of table rows), and its gradient goes back so;
- ReLU's backward works in place;
- a structured first layer (:mod:`posenc.neural_fields.sparse`, ``X = S B``) is ``S T`` with
  the table ``T = [B W^T; b]``: a constant column appended to ``S`` selects the bias row.
  ``S T`` is a gather-sum of table rows (``embedding_bag``), the backward ``S^T G`` a
  product with ``S``'s precomputed transpose.

With ``precision="bf16"`` the matrix products take bfloat16 operands (float32 accumulation
inside the kernels; on CPUs with AMX or AVX-512 BF16 several times faster) and store
activations and their gradients in bfloat16, as ``torch.autocast`` does for linear layers;
the weights, their gradients, the loss and Adam stay in float32.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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
GRAPH_WARMUP_STEPS = 3
"""Eager steps before a CUDA graph is captured (they create the optimiser state)."""

Step = Callable[[], Tensor]
"""A training step: updates the model, returns the loss before the update (on the device)."""


class MLPStep:
    """Loss and gradients of an :class:`~posenc.neural_fields.MLPField` (``depth >= 1``) on
    fixed training rows; see the module docstring.

    Calling it writes every parameter's ``.grad`` (the tensors it set at construction, which
    the optimiser reads) and returns the MSE as a 0-d float32 tensor on the device.
    ``products`` is the library that multiplies the layers' matrices (:func:`matrix_products`;
    its ``name`` says which).
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
        self.channel_targets = targets.T.contiguous()
        device, dtype = targets.device, layers[0].weight.dtype
        self.dtype = torch.bfloat16 if precision == "bf16" else dtype
        count = len(targets)
        default = count if device.type == "cuda" else CHUNK_ROWS
        self.chunk_rows = max(1, min(count, chunk_rows or default))
        self.products = matrix_products(device, self.dtype)
        for layer in layers:
            for parameter in (layer.weight, layer.bias):
                parameter.grad = torch.zeros_like(parameter)
        self.first = (
            _StructuredFirstLayer(rows, layers[0], self.dtype, self.chunk_rows)
            if isinstance(rows, SparseFeatures)
            else _DenseFirstLayer(rows, layers[0], self.dtype, self.products)
        )

    @torch.no_grad()
    def __call__(self) -> Tensor:
        layers = self.layers[1:]
        weights = [layer.weight.to(self.dtype) for layer in layers]
        biases = [layer.bias.to(self.dtype)[:, None] for layer in layers]
        transposes = [weight.T.contiguous() for weight in weights]
        self.first.begin()
        channels, count = self.channel_targets.shape
        scale = 2.0 / (count * channels)
        total = torch.zeros((), device=self.channel_targets.device, dtype=torch.float64)
        for index, start in enumerate(range(0, count, self.chunk_rows)):
            rows = slice(start, min(start + self.chunk_rows, count))
            hidden = [torch.relu_(self.first.forward(index, rows)).T]
            for weight, bias in zip(weights[:-1], biases[:-1], strict=True):
                hidden.append(torch.relu_(self.products.affine(weight, hidden[-1], bias)))
            output = self.products.affine(weights[-1], hidden[-1], biases[-1])
            error, gradient = self._output_error(output, rows, scale)
            total += error.square().sum()
            self._backward(index, rows, hidden, gradient, weights, transposes)
        self.first.finish()
        return (total / (count * channels)).to(self.channel_targets.dtype)

    def _output_error(self, output: Tensor, rows: slice, scale: float) -> tuple[Tensor, Tensor]:
        """The error of the chunk's output (one row per channel) against its targets (after
        the sigmoid, if any), and the loss gradient at the output layer's product (``scale``
        times the error, through the sigmoid), in the compute type."""
        output = output.to(self.channel_targets.dtype)
        if self.sigmoid:
            output = output.sigmoid_()
        error = output - self.channel_targets[:, rows]
        gradient = error * scale
        if self.sigmoid:
            gradient.mul_(output * (1 - output))
        return error, gradient.to(self.dtype)

    def _backward(
        self,
        chunk: int,
        rows: slice,
        hidden: list[Tensor],
        gradient: Tensor,
        weights: list[Tensor],
        transposes: list[Tensor],
    ) -> None:
        """Accumulate the chunk's parameter gradients, last layer first: ``G X^T`` and the
        row sums of ``G`` for a layer with input ``X`` and output gradient ``G`` (both one
        row per unit), then ``W^T G`` through the ReLU for the layer before; the first
        layer gets its gradient one row per sample, ``G^T W``."""
        layers = self.layers[1:]
        for layer in range(len(layers) - 1, -1, -1):
            inputs = hidden[layer]
            weight_grad = self.products.product(gradient, inputs.T)
            _accumulate(_grad(layers[layer].weight), weight_grad, chunk)
            bias_grad = gradient.sum(1, dtype=layers[layer].bias.dtype)
            _accumulate(_grad(layers[layer].bias), bias_grad, chunk)
            if layer:
                gradient = self.products.product(transposes[layer], gradient)
                _relu_backward(gradient, inputs)
        first_gradient = self.products.product(gradient.T, weights[0])
        _relu_backward(first_gradient, hidden[0].T)
        self.first.backward(chunk, rows, first_gradient)


def _relu_backward(gradient: Tensor, activations: Tensor) -> None:
    """``gradient`` set to zero where the ReLU's output ``activations`` is (in place)."""
    torch.ops.aten.threshold_backward.grad_input(gradient, activations, 0, grad_input=gradient)


class MatrixProducts:
    """The products of a training step, by PyTorch's own matrix multiply (BLAS on the CPU,
    cuBLAS on NVIDIA GPUs); ``name`` names the library."""

    name = "torch"

    def product(self, left: Tensor, right: Tensor) -> Tensor:
        """``left @ right``, either operand in any layout."""
        return torch.mm(left, right)

    def affine(self, weight: Tensor, inputs: Tensor, bias: Tensor) -> Tensor:
        """``W X + b``: a layer's output for the inputs ``X`` (one column per sample), the
        bias ``b`` a column."""
        return torch.addmm(bias, weight, inputs)


class OneDNNProducts(MatrixProducts):
    """The same products by oneDNN, the library PyTorch's CPU build carries for its fused
    kernels (``torch.ops.mkldnn._linear_pointwise``, :func:`onednn_linear`). oneDNN reads the
    right operand in any layout but copies a left operand that is not contiguous, so such a
    product goes to PyTorch's multiply, which reads it in place. On CPUs that PyTorch's BLAS
    does not run at full vector width (MKL on AMD's, for one) oneDNN's products are up to
    twice as fast."""

    name = "onednn"

    def product(self, left: Tensor, right: Tensor) -> Tensor:
        if not left.is_contiguous():
            return super().product(left, right)
        return onednn_linear(left, right.T, None, "none")

    def affine(self, weight: Tensor, inputs: Tensor, bias: Tensor) -> Tensor:
        return self.product(weight, inputs).add_(bias)


def matrix_products(device: torch.device, dtype: torch.dtype) -> MatrixProducts:
    """oneDNN's products for float32 and bfloat16 on a CPU whose PyTorch build has them,
    PyTorch's matrix multiply otherwise (GPUs, float64)."""
    usable = (
        device.type == "cpu"
        and dtype in (torch.float32, torch.bfloat16)
        and torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    )
    return OneDNNProducts() if usable else MatrixProducts()


def onednn_linear(inputs: Tensor, weight: Tensor, bias: Tensor | None, attribute: str) -> Tensor:
    """oneDNN's ``x W^T + b`` with the post-operation ``attribute`` (``"relu"``, ``"none"``)."""
    return torch.ops.mkldnn._linear_pointwise(inputs, weight, bias, attribute, [], "")


class _DenseFirstLayer:
    """``X W^T + b`` on dense rows; gradients accumulated chunk by chunk (the weight's by
    PyTorch's matrix multiply, which reads ``X`` transposed in place instead of copying it)."""

    def __init__(
        self, rows: Tensor, layer: nn.Linear, dtype: torch.dtype, products: MatrixProducts
    ) -> None:
        self.rows, self.layer, self.dtype, self.products = rows, layer, dtype, products

    def begin(self) -> None:
        self.weight = self.layer.weight.to(self.dtype)
        self.bias = self.layer.bias.to(self.dtype)

    def forward(self, chunk: int, rows: slice) -> Tensor:
        inputs = self.rows[rows].to(self.dtype)
        return self.products.product(inputs, self.weight.T).add_(self.bias)

    def backward(self, chunk: int, rows: slice, gradient: Tensor) -> None:
        inputs = self.rows[rows].to(self.dtype)
        _accumulate(_grad(self.layer.weight), torch.mm(gradient.T, inputs), chunk)
        _accumulate(_grad(self.layer.bias), gradient.sum(0, dtype=self.layer.bias.dtype), chunk)

    def finish(self) -> None:
        return None


class _StructuredFirstLayer:
    """``S T`` with ``T = [B W^T; b]`` and ``S`` extended by a constant column that selects
    the bias row."""

    def __init__(
        self, features: SparseFeatures, layer: nn.Linear, dtype: torch.dtype, chunk_rows: int
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
        self.table = torch.zeros(table_rows + 1, width, dtype=dtype, device=device)
        self.table_grad = torch.empty(
            table_rows + 1, width, dtype=layer.weight.dtype, device=device
        )

    def begin(self) -> None:
        self.table[:-1] = self.features.table(self.layer.weight)
        self.table[-1] = self.layer.bias

    def forward(self, chunk: int, rows: slice) -> Tensor:
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


def _accumulate(total: Tensor, value: Tensor, chunk: int) -> None:
    """``total (+)= value``: set on chunk 0, added after (a bfloat16 value to a float32
    total)."""
    if chunk == 0:
        total.copy_(value)
    else:
        total.add_(value)


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
