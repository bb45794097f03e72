"""Train many fits of one signal at once: a sweep's bandwidths and seeds as one batched model.

Fits that differ only in the embedding's bandwidth and/or the seed, with a linear or ReLU
MLP model trained by Adam, have the same shapes: ``B`` embedded training matrices
``(N, F)`` and ``B`` models with the same layers. :func:`train_batch` trains one
:class:`BatchedMLP` whose layer ``l`` holds all ``B`` weight matrices ``(B, out, in)``
(``h_{l+1} = relu(h_l W_l^T + b_l)`` by one batched matmul), so a step costs one set of
kernel launches and one optimiser update instead of ``B``. The first layer takes the form a
single fit would take (:mod:`posenc.neural_fields.sparse`): dense rows stacked as
``(B, N, F)``, or structured rows stacked block-diagonally
(:class:`~posenc.neural_fields.sparse.StackedFeatures`).

:func:`fit_batched` gives each fit the same result as :func:`posenc.neural_fields.fit`, up to
float rounding, because it runs the same steps:

- every member is planned and prepared by :func:`~posenc.neural_fields.pipeline.plan_fit` and
  :func:`~posenc.neural_fields.pipeline.prepare` (seeded, split, embedded, its first-layer
  form chosen by the same rule, its model built and initialised from the same seed); members
  whose forms differ are trained in separate batches;
- the loss is the *sum* over members of each member's MSE, so each member's gradient is that
  of its own MSE, and Adam (element-wise, weight decay included) updates each member exactly
  as a separate optimiser would;
- the evaluation schedule is ``fit``'s, and the trained weights are copied back into each
  member's own model, which :func:`~posenc.neural_fields.pipeline.evaluate` then measures.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from posenc.config import FitConfig
from posenc.data import Signal
from posenc.embeddings import describe_embedding
from posenc.neural_fields.embedded import FlatProblem
from posenc.neural_fields.fitting import fit, is_eval_step, make_adam
from posenc.neural_fields.memory import (
    MemoryEstimate,
    MemoryPart,
    PeakMemory,
    check_memory,
    combine,
)
from posenc.neural_fields.models import MLPField
from posenc.neural_fields.pipeline import (
    FitPlan,
    PreparedFit,
    evaluate,
    plan_fit,
    prepare,
    synchronize,
)
from posenc.neural_fields.result import FitResult, TrainingHistory, psnr
from posenc.neural_fields.sparse import StackedFeatures, stack_rows
from posenc.progress import StepReport, progress_bar

BATCHABLE_MODELS = ("linear", "mlp")


def batching_pays(config: FitConfig) -> bool:
    """Whether training this fit in a batch is faster than training it alone.

    Not for a ReLU MLP with hidden layers on a CPU: alone it runs the written-out step
    (:class:`~posenc.neural_fields.step.MLPStep`, rows in cache-sized chunks, fused
    epilogues), which trains a 256 x 256 image about twice as fast per fit as the batched
    autograd step over ``(B, N, width)`` activations (``benchmarks/bench_batched_sweep.py``,
    image case). Linear models and GPUs gain from batching (the same benchmark's row cases).
    """
    hidden = config.model == "mlp" and config.depth > 0
    return batch_key(config) is not None and not (hidden and config.device == "cpu")


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


def batch_memory(plans: Sequence[FitPlan]) -> MemoryEstimate:
    """What a batch holds at once: each member's estimate, plus the stacked copy of the
    structured rows (dense rows are stacked in place)."""
    stacked = sum(plan.rows_bytes for plan in plans if plan.first_layer.kind != "dense")
    extra = [MemoryPart("stacked rows", stacked, "the batch (--no-batch)")] if stacked else []
    return combine([plan.memory for plan in plans], extra)


def batch_bytes(plans: Sequence[FitPlan]) -> int:
    """Estimated peak bytes of a batch (:func:`batch_memory`)."""
    return batch_memory(plans).total


def plan_batch(signal: Signal, configs: Sequence[FitConfig]) -> list[FitPlan]:
    """Plan every member (:func:`~posenc.neural_fields.pipeline.plan_fit`); ``ValueError``
    if the configs cannot be trained together."""
    keys = {batch_key(config) for config in configs}
    if None in keys or len(keys) != 1:
        raise ValueError(
            "a batch needs linear or MLP fits by Adam that differ only in bandwidth and seed"
        )
    return [plan_fit(signal, config) for config in configs]


class BatchedMLP(nn.Module):
    """``B`` independent :class:`~posenc.neural_fields.MLPField` models evaluated at once.

    Layer ``l`` holds weights ``(B, out, in)`` and biases ``(B, out, 1)`` (each member's
    ``nn.Linear`` layout); the input is ``(B, N, F)`` rows (or their
    :class:`~posenc.neural_fields.sparse.StackedFeatures`) and the output ``(B, N, C)``.
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

    def forward(self, inputs: Tensor | StackedFeatures) -> Tensor:
        last = len(self.weights) - 1
        hidden: Tensor | StackedFeatures = inputs
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            if isinstance(hidden, StackedFeatures):
                hidden = hidden.linear(weight, bias)
            else:
                hidden = _affine(hidden, weight, bias)
            if index < last:
                hidden = torch.relu(hidden)
        assert isinstance(hidden, Tensor)
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


def fit_batched(
    signal: Signal,
    configs: Sequence[FitConfig],
    *,
    progress: bool | None = None,
    on_steps: StepReport | None = None,
) -> list[FitResult]:
    """Fit ``signal`` once per config, trained together; one result per config, in order.

    The configs must share :func:`batch_key` (differ only in bandwidth and seed). Raises
    ``ValueError`` if they do not, or if the batch would not fit in memory. Each result's
    ``peak_memory_bytes`` is its share of the batch's measured peak. ``progress``: a bar
    per step (``None``: in a terminal or a notebook); ``on_steps(n)`` is told of every
    training step as it is taken (by every member of a group at once).
    """
    if not configs:
        return []
    plans = plan_batch(signal, configs)
    device = torch.device(configs[0].device)
    check_memory(batch_memory(plans), device, f"a batch of {len(plans)} fits")
    peak = PeakMemory(device)
    peak.start()
    members = [prepare(signal, plan.config, plan) for plan in plans]
    results: dict[int, FitResult] = {}
    for group in _groups_by_form(members):
        start = time.perf_counter()
        histories = train_batch([members[index] for index in group], progress, on_steps)
        synchronize(device)
        seconds = time.perf_counter() - start
        for index, history in zip(group, histories, strict=True):
            member = members[index]
            share = seconds / len(group)
            timings = {
                "embed": member.embed_seconds,
                "train": share,
                "fit": member.embed_seconds + share,
                "batch_train": seconds,
            }
            results[index] = evaluate(member, history, timings)
    peak_bytes = peak.stop()
    share_bytes = None if peak_bytes is None else peak_bytes // len(members)
    return [
        dataclasses.replace(results[index], peak_memory_bytes=share_bytes)
        for index in range(len(members))
    ]


def fit_many(
    signal: Signal, configs: Sequence[FitConfig], *, progress: bool | None = None
) -> list[FitResult]:
    """Fit ``signal`` once per config; one result per config, in order, equal to ``fit``'s.

    Configs that share a :func:`batch_key` and for which :func:`batching_pays` are trained
    together by :func:`fit_batched`; every other config is fitted alone by
    :func:`~posenc.neural_fields.fitting.fit`.
    """
    groups: dict[str, list[int]] = {}
    for index, config in enumerate(configs):
        key = batch_key(config) if batching_pays(config) else None
        groups.setdefault(key if key is not None else f"alone {index}", []).append(index)
    results: dict[int, FitResult] = {}
    for indices in groups.values():
        members = [configs[index] for index in indices]
        fitted = (
            fit_batched(signal, members, progress=progress)
            if len(members) > 1
            else [fit(signal, members[0], progress=progress)]
        )
        results.update(zip(indices, fitted, strict=True))
    return [results[index] for index in range(len(configs))]


def train_batch(
    members: Sequence[PreparedFit],
    progress: bool | None = None,
    on_steps: StepReport | None = None,
) -> list[TrainingHistory]:
    """``fit``'s Adam loop on the members at once: per-member MSEs, their sum as the loss.

    The members' first layers must have one form. Their trained weights are written back
    into each member's model. The bar (``progress``) shows the steps and the members' best
    test PSNR so far; ``on_steps(1)`` is called after every step.
    """
    config = members[0].config
    problems = [_flat_problem(member) for member in members]
    train_inputs = _stack_inputs(problems, "train_inputs")
    test_inputs = _stack_inputs(problems, "test_inputs")
    train_targets = torch.stack([problem.train_targets for problem in problems])
    test_targets = torch.stack([problem.test_targets for problem in problems])
    models = [member.model for member in members]
    batched = BatchedMLP(models, bool(config.sigmoid))
    optimizer = make_adam(batched.parameters(), config)
    size = len(members)
    losses = torch.empty(config.steps, size, device=members[0].device, dtype=torch.float64)
    eval_steps: list[int] = []
    test_psnrs: list[list[float]] = []
    bar = progress_bar(
        progress, total=config.steps, desc=f"batch of {size}", unit="step", leave=False
    )
    for step in range(1, config.steps + 1):
        optimizer.zero_grad(set_to_none=True)
        member_mse = _member_mse(batched(train_inputs), train_targets)
        member_mse.sum().backward()
        optimizer.step()
        losses[step - 1] = member_mse.detach()
        if is_eval_step(step, config):
            with torch.no_grad():
                mse = _member_mse(batched(test_inputs), test_targets)
            eval_steps.append(step)
            test_psnrs.append([psnr(value) for value in mse.tolist()])
            bar.set_postfix(best_test_psnr=f"{max(test_psnrs[-1]):.2f}")
        bar.update(1)
        if on_steps is not None:
            on_steps(1)
    bar.close()
    batched.write_back(models)
    train = losses.cpu().T.tolist()
    return [
        TrainingHistory(
            train_psnr=[psnr(value) for value in train[member]],
            eval_steps=list(eval_steps),
            test_psnr=[values[member] for values in test_psnrs],
        )
        for member in range(size)
    ]


def _groups_by_form(members: Sequence[PreparedFit]) -> list[list[int]]:
    """Indices of the members that share a first-layer form, in order of first member."""
    groups: dict[str, list[int]] = {}
    for index, member in enumerate(members):
        groups.setdefault(member.plan.first_layer.kind, []).append(index)
    return list(groups.values())


def _flat_problem(member: PreparedFit) -> FlatProblem:
    if not isinstance(member.problem, FlatProblem):
        raise ValueError("only fits with one embedded row per sample can be batched")
    return member.problem


def _stack_inputs(problems: Sequence[FlatProblem], name: str) -> Tensor | StackedFeatures:
    """Stack each member's embedded rows. Dense members then hold views of the ``(B, N, F)``
    stack, so the rows are stored once."""
    rows = [getattr(problem, name) for problem in problems]
    stacked = stack_rows(rows)
    if isinstance(stacked, Tensor):
        for index, problem in enumerate(problems):
            setattr(problem, name, stacked[index])
    return stacked


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
    return model.linear_layers()


def _member_mse(prediction: Tensor, target: Tensor) -> Tensor:
    return ((prediction - target) ** 2).mean(dim=(1, 2))
