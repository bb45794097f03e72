"""Train many fits of one signal at once: a sweep's bandwidths and seeds as one batched model.

Fits that differ only in the embedding's bandwidth and/or the seed, with a linear or ReLU
MLP model trained by Adam, have the same shapes: ``B`` embedded training matrices
``(N, F)`` and ``B`` models with the same layers. :func:`fit_batched` stacks them into
``(B, N, F)`` and trains one :class:`BatchedMLP` whose layer ``l`` holds all ``B`` weight
matrices ``(B, out, in)`` (``h_{l+1} = relu(h_l W_l^T + b_l)`` by one batched matmul), so a
step costs one set of kernel launches and one optimiser update instead of ``B``.

It gives each fit the same result as :func:`posenc.neural_fields.fit`, up to float rounding:

- every member is prepared as ``fit`` prepares it (seeded, split, embedded, its model built
  and initialised from the same seed), then its weights are copied into the batch;
- the loss is the *sum* over members of each member's MSE, so each member's gradient is that
  of its own MSE, and Adam (element-wise, weight decay included) updates each member exactly
  as a separate optimiser would;
- the evaluation schedule is ``fit``'s, and the trained weights are copied back into each
  member's own model, from which PSNRs, the full-grid prediction, stable rank and distance
  preservation are computed by the same problem methods ``fit`` uses.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm import tqdm

from posenc.data import Signal, Split, make_split
from posenc.embeddings import Embedding, describe_embedding
from posenc.neural_fields import FitConfig, FitResult, TrainingHistory, psnr, validate_config
from posenc.neural_fields.fitting import (
    build_config_model,
    build_embedding,
    check_memory,
    estimate_fit_bytes,
)
from posenc.neural_fields.models import MLPField
from posenc.neural_fields.problems import FlatProblem

BATCHABLE_MODELS = ("linear", "mlp")
CHECK_ROWS = 4
"""Rows on which the batched model is checked against each member's own model at the start."""


def batch_key(config: FitConfig) -> str | None:
    """Fits with equal keys can be trained together; ``None`` if this one cannot be batched.

    The key is the config without its seed and bandwidth. Batchable: a linear or MLP model,
    Adam, and a non-separable embedding.
    """
    if (
        config.model not in BATCHABLE_MODELS
        or config.solver != "adam"
        or config.embedding_params.get("compose") == "separable"
    ):
        return None
    data = config.to_dict()
    del data["seed"]
    bandwidth_name = describe_embedding(config.embedding).bandwidth_name
    data["embedding_params"] = {
        key: value for key, value in config.embedding_params.items() if key != bandwidth_name
    }
    return json.dumps(data, sort_keys=True)


def batch_bytes(signal: Signal, configs: Sequence[FitConfig]) -> int:
    """Bytes the batch holds at once: ``fit``'s estimate for one member times the members
    (members differ only in bandwidth and seed, so their sizes are equal)."""
    if not configs:
        return 0
    config = configs[0]
    embedding = build_embedding(config, signal.ndim, normalization="none")
    return len(configs) * estimate_fit_bytes(config, embedding, _split(signal, config))


class BatchedMLP(nn.Module):
    """``B`` independent :class:`~posenc.neural_fields.MLPField` models evaluated at once.

    Layer ``l`` holds weights ``(B, out, in)`` and biases ``(B, out, 1)`` (each member's
    ``nn.Linear`` layout); the input is ``(B, N, F)`` and the output ``(B, N, C)``.
    """

    def __init__(self, models: Sequence[nn.Module], sigmoid: bool) -> None:
        super().__init__()
        layers = [_linear_layers(model) for model in models]
        if len({len(stack) for stack in layers}) != 1:
            raise ValueError("models of a batch must have the same number of layers")
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([stack[index].weight.detach() for stack in layers]))
            for index in range(len(layers[0]))
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([stack[index].bias.detach()[:, None] for stack in layers]))
            for index in range(len(layers[0]))
        )
        self.sigmoid = sigmoid

    def forward(self, inputs: Tensor) -> Tensor:
        hidden = inputs
        last = len(self.weights) - 1
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            hidden = _affine(hidden, weight, bias)
            if index < last:
                hidden = torch.relu(hidden)
        return torch.sigmoid(hidden) if self.sigmoid else hidden

    @torch.no_grad()
    def write_back(self, models: Sequence[nn.Module]) -> None:
        """Copy member ``b``'s trained weights into ``models[b]``."""
        for member, model in enumerate(models):
            for layer, weight, bias in zip(
                _linear_layers(model), self.weights, self.biases, strict=True
            ):
                layer.weight.copy_(weight[member])
                layer.bias.copy_(bias[member, :, 0])


@dataclass
class _Member:
    """One fit of the batch, prepared as :func:`posenc.neural_fields.fit` prepares it."""

    config: FitConfig
    split: Split
    embedding: Embedding
    problem: FlatProblem
    model: nn.Module
    embed_seconds: float


def fit_batched(
    signal: Signal, configs: Sequence[FitConfig], *, progress: bool = False
) -> list[FitResult]:
    """Fit ``signal`` once per config, all trained together; one result per config, in order.

    The configs must share :func:`batch_key` (differ only in bandwidth and seed). Raises
    ``ValueError`` if they do not, or if the batch would not fit in memory.
    """
    if not configs:
        return []
    keys = {batch_key(config) for config in configs}
    if None in keys or len(keys) != 1:
        raise ValueError(
            "a batch needs linear or MLP fits by Adam that differ only in bandwidth and seed"
        )
    config = configs[0]
    device = torch.device(config.device)
    check_memory(batch_bytes(signal, configs), device)
    members = [_prepare(signal, member_config, device) for member_config in configs]
    train_inputs = _stack_inputs(members, "train_inputs")
    test_inputs = _stack_inputs(members, "test_inputs")
    train_targets = torch.stack([member.problem.train_targets for member in members])
    test_targets = torch.stack([member.problem.test_targets for member in members])
    batched = BatchedMLP([member.model for member in members], config.sigmoid)
    _check_reproduces(batched, members, train_inputs)

    start = time.perf_counter()
    histories = _train(
        batched, config, train_inputs, train_targets, test_inputs, test_targets, progress
    )
    _synchronize(device)
    train_seconds = time.perf_counter() - start
    batched.write_back([member.model for member in members])
    return [
        _result(signal, member, history, train_seconds, len(members))
        for member, history in zip(members, histories, strict=True)
    ]


def _prepare(signal: Signal, config: FitConfig, device: torch.device) -> _Member:
    validate_config(config)
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    split = _split(signal, config)
    embedding = build_embedding(config, signal.ndim).to(device)
    problem = FlatProblem.build(signal, split, embedding, device)
    embedded = time.perf_counter()
    model = build_config_model(config, embedding, signal).to(device)
    return _Member(config, split, embedding, problem, model, embedded - start)


def _split(signal: Signal, config: FitConfig) -> Split:
    return make_split(
        signal.grid_shape, config.split, fraction=config.split_fraction, seed=config.seed
    )


def _stack_inputs(members: Sequence[_Member], name: str) -> Tensor:
    """Stack each member's embedded rows into ``(B, N, F)``; the members then hold views of
    the stack, so the rows are stored once."""
    first = getattr(members[0].problem, name)
    stacked = first.new_empty((len(members), *first.shape))
    for index, member in enumerate(members):
        stacked[index] = getattr(member.problem, name)
        setattr(member.problem, name, stacked[index])
    return stacked


@torch.no_grad()
def _check_reproduces(batched: BatchedMLP, members: Sequence[_Member], inputs: Tensor) -> None:
    """Fail early (``RuntimeError``) if the batched model does not compute each member's."""
    outputs = batched(inputs[:, :CHECK_ROWS])
    for index, member in enumerate(members):
        expected = member.model(inputs[index, :CHECK_ROWS])
        if not torch.allclose(outputs[index], expected, rtol=1e-4, atol=1e-5):
            raise RuntimeError(
                f"the batched model does not reproduce {type(member.model).__name__}; "
                "train these runs one by one"
            )


def _train(
    batched: BatchedMLP,
    config: FitConfig,
    train_inputs: Tensor,
    train_targets: Tensor,
    test_inputs: Tensor,
    test_targets: Tensor,
    progress: bool,
) -> list[TrainingHistory]:
    """``fit``'s Adam loop on the batch: per-member MSEs, their sum as the loss."""
    optimizer = torch.optim.Adam(
        batched.parameters(), lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
    )
    size = train_inputs.shape[0]
    losses = torch.empty(config.steps, size, device=train_inputs.device, dtype=torch.float64)
    eval_steps: list[int] = []
    test_psnrs: list[list[float]] = []
    bar = tqdm(
        total=config.steps,
        desc=f"batch of {size}",
        unit="step",
        disable=not progress,
        leave=False,
        file=sys.stderr,
    )
    for step in range(1, config.steps + 1):
        optimizer.zero_grad(set_to_none=True)
        member_mse = _member_mse(batched(train_inputs), train_targets)
        member_mse.sum().backward()
        optimizer.step()
        losses[step - 1] = member_mse.detach()
        if _is_eval_step(step, config):
            with torch.no_grad():
                mse = _member_mse(batched(test_inputs), test_targets)
            eval_steps.append(step)
            test_psnrs.append([psnr(value) for value in mse.tolist()])
        bar.update(1)
    bar.close()
    train = losses.cpu().T.tolist()
    return [
        TrainingHistory(
            train_psnr=[psnr(value) for value in train[member]],
            eval_steps=list(eval_steps),
            test_psnr=[values[member] for values in test_psnrs],
        )
        for member in range(size)
    ]


def _result(
    signal: Signal, member: _Member, history: TrainingHistory, train_seconds: float, size: int
) -> FitResult:
    """The member's :class:`FitResult`, measured as :func:`posenc.neural_fields.fit` does."""
    config, problem, model = member.config, member.problem, member.model
    start = time.perf_counter()
    with torch.no_grad():
        train_psnr = psnr(_mse(problem.predict_train(model), problem.train_targets))
        test_psnr = psnr(_mse(problem.predict_test(model), problem.test_targets))
        prediction = problem.predict_full(model).float().cpu()
    heldout = member.split.heldout
    flat_prediction = prediction.reshape(-1, signal.channels)[heldout]
    heldout_psnr = psnr(_mse(flat_prediction, signal.flat_values()[heldout]))
    measured = time.perf_counter()
    stable_rank, distance_preservation = problem.training_matrix_metrics()
    share = train_seconds / size
    return FitResult(
        config=config,
        signal=signal,
        split=member.split,
        embedding=member.embedding,
        model=model,
        prediction=prediction,
        train_psnr=train_psnr,
        test_psnr=test_psnr,
        heldout_psnr=heldout_psnr,
        train_psnr_last=_mean(history.train_psnr[-config.last_k :], train_psnr),
        test_psnr_last=_mean(
            [
                value
                for step, value in zip(history.eval_steps, history.test_psnr, strict=True)
                if step > config.steps - config.last_k
            ],
            test_psnr,
        ),
        stable_rank=stable_rank,
        distance_preservation=distance_preservation,
        timings={
            "embed": member.embed_seconds,
            "train": share,
            "fit": member.embed_seconds + share,
            "evaluate": measured - start,
            "matrix_metrics": time.perf_counter() - measured,
            "batch_train": train_seconds,
        },
        history=history,
    )


def _affine(inputs: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``inputs W^T + b`` for every member: ``(B, N, in) -> (B, N, out)``.

    Computed as ``(W inputs^T + b)^T`` by one batched matmul, whose result has ``N`` columns:
    on the CPU, batched matmuls with few output columns (a linear model's 1-3 channels) run
    up to 10x slower than this orientation, which is never slower for wide layers.
    """
    return torch.baddbmm(bias, weight, inputs.transpose(1, 2)).transpose(1, 2)


def _linear_layers(model: nn.Module) -> list[nn.Linear]:
    if not isinstance(model, MLPField):
        raise ValueError(f"only MLPField models can be batched, not {type(model).__name__}")
    return [module for module in model.modules() if isinstance(module, nn.Linear)]


def _member_mse(prediction: Tensor, target: Tensor) -> Tensor:
    return ((prediction - target) ** 2).mean(dim=(1, 2))


def _mse(prediction: Tensor, target: Tensor) -> Tensor:
    return torch.mean((prediction - target) ** 2)


def _mean(values: Sequence[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def _is_eval_step(step: int, config: FitConfig) -> bool:
    """``fit``'s schedule: every ``eval_every`` steps and each of the last ``last_k``."""
    return step % config.eval_every == 0 or step > config.steps - config.last_k


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
