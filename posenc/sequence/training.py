"""Train a causal transformer on a task and measure its in- and out-of-distribution error.

A run is fully described by a :class:`RunConfig` (task and its parameters, model, optimiser,
seed, device), resolved from a named preset (``small``: trains on a laptop CPU in minutes;
``paper``: the CoPE paper's setting, for a GPU) plus overrides. One seed drives everything:
the model initialisation (``torch.manual_seed``), the training batches and every validation
and test set (independent ``numpy`` streams derived from it; ``lm`` holds out documents
instead), so a run repeats exactly on the same device.

The loss is the cross-entropy of the answer tokens only. Errors are measured on the answers
with greedy (argmax) predictions under teacher forcing: ``error`` is the fraction of wrong
answer tokens, ``sequence_error`` the fraction of sequences with at least one wrong answer.
For ``lm`` the answers are the bytes, and the loss gives bits per byte (``loss / ln 2``).
Learning curves are measured on validation sequences, the final results on test sequences.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from posenc import validation
from posenc.sequence.model import CausalTransformer, ModelConfig
from posenc.sequence.tasks import IN_DISTRIBUTION, Batch, Example, SequenceTask, collate, make_task

PRESETS = ("small", "paper")
SCHEDULES = ("cosine", "constant")

_PAPER_MODEL: dict[str, Any] = {
    "layers": 4,
    "width": 256,
    "heads": 4,
    "norm": "post",
    "dropout": 0.1,
    "max_position": 512,
}
_PAPER_TRAIN: dict[str, Any] = {
    "steps": 15625,
    "batch_size": 64,
    "lr": 7e-5,
    "warmup_steps": 0,
    "schedule": "constant",
    "grad_clip": 0.0,
    "train_size": 10000,
    "test_size": 1000,
    "eval_every": 500,
}
_SMALL_MODEL: dict[str, Any] = {"layers": 2, "width": 64, "heads": 4, "norm": "pre"}
_SMALL_TRAIN: dict[str, Any] = {
    "steps": 2000,
    "batch_size": 32,
    "lr": 3e-3,
    "warmup_steps": 100,
    "schedule": "cosine",
    "grad_clip": 1.0,
    "test_size": 1000,
    "eval_every": 250,
}

PRESET_VALUES: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "flipflop": {
        "small": {
            "task": {"num_instructions": 32, "ood_instructions": 64},
            "model": _SMALL_MODEL,
            "train": {**_SMALL_TRAIN, "steps": 2500, "lr": 1e-3},
        },
        "paper": {"task": {"num_instructions": 256}, "model": _PAPER_MODEL, "train": _PAPER_TRAIN},
    },
    "selective_copy": {
        "small": {
            "task": {
                "num_tokens": 16,
                "num_symbols": 8,
                "blanks": 16,
                "dense_blanks": 8,
                "sparse_blanks": 32,
            },
            "model": _SMALL_MODEL,
            "train": _SMALL_TRAIN,
        },
        "paper": {
            "task": {"num_tokens": 128, "blanks": 128, "dense_blanks": 64, "sparse_blanks": 256},
            "model": _PAPER_MODEL,
            "train": _PAPER_TRAIN,
        },
    },
    "counting": {
        "small": {
            "task": {"num_variables": 3, "max_statements": 32},
            "model": _SMALL_MODEL,
            "train": _SMALL_TRAIN,
        },
        "paper": {
            "task": {"num_variables": 3, "max_statements": 512},
            "model": _PAPER_MODEL,
            "train": _PAPER_TRAIN,
        },
    },
    "lm": {
        "small": {
            "task": {"corpus": "stdlib-docs", "context": 64},
            "model": _SMALL_MODEL,
            "train": {**_SMALL_TRAIN, "test_size": 4000, "curve_size": 512},
        },
        "paper": {
            "task": {"corpus": "stdlib-docs", "context": 512},
            "model": _PAPER_MODEL,
            "train": {**_PAPER_TRAIN, "train_size": None, "test_size": 8000},
        },
    },
}
"""Task parameters, model and training hyper-parameters of every preset, per task.

``small``: 2 layers, 64 wide, 4 heads, pre-norm, AdamW with 100 warm-up steps and cosine
decay, batch 32, fresh sequences every step; minutes per run on one CPU core. Flip-Flop trains
on 32 instructions and tests OOD on 64 (the paper keeps the length, but at 32 instructions
every encoding that learns the task is near-perfect on sparse and dense sequences of the same
length), for 2500 steps at lr 1e-3 (at lr 3e-3 CoPE stalls in distribution on some seeds);
counting and selective copy use 2000 steps at lr 3e-3; counting tests OOD on sequences with
more statements than any training sequence. ``lm`` trains on ``stdlib-docs`` at context 64 for
2000 steps at lr 3e-3 (fresh windows: about 11 passes over the training bytes) and tests on
4000 windows of 64 bytes (256 kB, or all of a smaller test split) at contexts 64, 128 and 256.

``paper``: the CoPE paper's counting recipe (4 layers, 256 wide,
4 heads, post-norm, dropout 0.1, Adam lr 7e-5, batch 64, 10k training sequences for 100
epochs, ``p_max`` 512), used for every task since the reference gives no other, with each task's
published data parameters (``lm``: context 512, fresh windows every step)."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, data and evaluation settings of a run.

    ``train_size=None`` draws fresh training sequences every step; an integer fixes a training
    set of that many sequences, visited in a new random order every epoch. ``test_size``
    held-out test sequences per split give the final results; learning curves evaluate
    ``curve_size`` held-out validation sequences per split every ``eval_every`` steps (see
    :meth:`~posenc.sequence.tasks.SequenceTask.held_out`; for ``lm`` both count windows of the
    training context, and every split covers the same bytes).
    """

    steps: int = 2000
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.0
    warmup_steps: int = 100
    schedule: str = "cosine"
    grad_clip: float = 1.0
    train_size: int | None = None
    test_size: int = 1000
    eval_every: int = 250
    curve_size: int = 256
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "test_size", "eval_every", "curve_size"):
            validation.positive_int(name, getattr(self, name))
        validation.positive_float("lr", self.lr)
        for name in ("weight_decay", "grad_clip"):
            if validation.finite_float(name, getattr(self, name)) < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)}")
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int):
            raise ValueError(f"warmup_steps must be an integer >= 0, got {self.warmup_steps!r}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an integer >= 0, got {self.warmup_steps}")
        validation.choice("schedule", self.schedule, SCHEDULES)
        if self.train_size is not None:
            validation.positive_int("train_size", self.train_size)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        check_device(self.device)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; :meth:`as_dict` is what ``config.json`` holds."""

    task: str
    pe: str
    preset: str = "small"
    task_params: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)

    def build_task(self) -> SequenceTask:
        """The task with its parameters."""
        return make_task(self.task, **self.task_params)

    def model_config(self, task: SequenceTask | None = None) -> ModelConfig:
        """The model's configuration, vocabulary and context taken from the task (and
        ``max_position``, unless set, from :meth:`SequenceTask.default_max_position`)."""
        task = task or self.build_task()
        model = {"max_position": task.default_max_position(), **self.model}
        return ModelConfig(
            vocab_size=len(task.vocabulary), context=task.context(), pe=self.pe, **model
        )

    def as_dict(self) -> dict[str, Any]:
        """Fully resolved configuration as plain values (task defaults and model included)."""
        task = self.build_task()
        return {
            "task": self.task,
            "pe": self.pe,
            "preset": self.preset,
            "task_params": task.parameters(),
            "model": self.model_config(task).as_dict(),
            "train": asdict(self.train),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        """Inverse of :meth:`as_dict`."""
        model = {
            key: value
            for key, value in values["model"].items()
            if key not in ("vocab_size", "context", "pe")
        }
        return cls(
            task=values["task"],
            pe=values["pe"],
            preset=values["preset"],
            task_params=dict(values["task_params"]),
            model=model,
            train=TrainConfig(**values["train"]),
        )


def resolve_config(
    task: str,
    pe: str,
    preset: str = "small",
    task_params: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
) -> RunConfig:
    """The preset's values for ``task``, updated by the given overrides, validated.

    Raises ``ValueError`` naming the first bad value (unknown task, encoding, preset or
    parameter, or a number out of range).
    """
    make_task(task)  # unknown task names fail first, with suggestions
    validation.choice("preset", preset, PRESETS)
    values = PRESET_VALUES[task][preset]
    config = RunConfig(
        task=task,
        pe=pe,
        preset=preset,
        task_params={**values["task"], **(task_params or {})},
        model={**values["model"], **(model or {})},
        train=_train_config({**values["train"], **(train or {})}),
    )
    config.model_config()  # validates the encoding and the model against the task
    return config


def _train_config(values: dict[str, Any]) -> TrainConfig:
    unknown = sorted(set(values) - set(TrainConfig.__dataclass_fields__))
    if unknown:
        raise ValueError(f"unknown training setting {', '.join(map(repr, unknown))}")
    return TrainConfig(**values)


def check_device(device: str) -> torch.device:
    """``device`` as a ``torch.device``; ``ValueError`` if malformed or not available here."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be cpu, cuda or cuda:N, got {device!r}") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here")
    if parsed.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be cpu, cuda or cuda:N, got {device!r}")
    return parsed


# --------------------------------------------------------------------------- measurement
def answer_loss(logits: Tensor, batch: Batch) -> Tensor:
    """Mean cross-entropy over the answer tokens of ``batch``."""
    return torch.nn.functional.cross_entropy(logits[batch.mask], batch.targets[batch.mask])


@dataclass(frozen=True)
class SplitResult:
    """Errors and loss of a model on one test set."""

    error: float
    sequence_error: float
    loss: float
    sequences: int
    answers: int


@torch.no_grad()
def evaluate(model: CausalTransformer, examples: Sequence[Example], batch_size: int) -> SplitResult:
    """Teacher-forced greedy error, sequence error and answer loss of ``model``.

    Sequences are batched by length so that padding stays small.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(examples)), key=lambda index: len(examples[index].tokens))
    wrong = answers = wrong_sequences = 0
    loss_sum = 0.0
    for start in range(0, len(order), batch_size):
        batch = collate([examples[index] for index in order[start : start + batch_size]], device)
        logits = model(batch.inputs)
        mistakes = (logits.argmax(-1) != batch.targets) & batch.mask
        wrong += int(mistakes.sum())
        answers += int(batch.mask.sum())
        wrong_sequences += int(mistakes.any(dim=1).sum())
        loss_sum += float(answer_loss(logits, batch)) * int(batch.mask.sum())
    model.train(was_training)
    return SplitResult(
        error=wrong / answers,
        sequence_error=wrong_sequences / len(examples),
        loss=loss_sum / answers,
        sequences=len(examples),
        answers=answers,
    )


# ------------------------------------------------------------------------------ training
@dataclass
class RunResult:
    """A finished run: its configuration, metrics (as in ``metrics.json``) and model."""

    config: RunConfig
    metrics: dict[str, Any]
    model: CausalTransformer
    task: SequenceTask


def data_stream(seed: int, purpose: int) -> np.random.Generator:
    """Independent generator for one use of a run's seed (0: training, 1 + i: test split i)."""
    return np.random.default_rng([seed, purpose])


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up over ``warmup_steps``, then constant or cosine decay to 10% at the end."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return config.lr
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))


class _TrainingData:
    """Training batches: fresh sequences every step, or epochs over a fixed set."""

    def __init__(self, task: SequenceTask, config: TrainConfig, device: torch.device) -> None:
        self.task, self.config, self.device = task, config, device
        self.rng = data_stream(config.seed, 0)
        self.fixed = (
            None
            if config.train_size is None
            else task.sample(IN_DISTRIBUTION, self.rng, config.train_size)
        )
        self.order: list[int] = []

    def next_batch(self) -> Batch:
        if self.fixed is None:
            examples = self.task.sample(IN_DISTRIBUTION, self.rng, self.config.batch_size)
        else:
            while len(self.order) < self.config.batch_size:
                self.order += self.rng.permutation(len(self.fixed)).tolist()
            picked, self.order = (
                self.order[: self.config.batch_size],
                self.order[self.config.batch_size :],
            )
            examples = [self.fixed[index] for index in picked]
        return collate(examples, self.device)


VALIDATION_STREAMS = 100
"""Purpose offset of the validation streams in :func:`data_stream` (tests use ``1 + i``)."""


def test_sets(task: SequenceTask, config: TrainConfig) -> dict[str, list[Example]]:
    """``test_size`` test sequences of every split, each split from its own stream of the seed."""
    return {
        split: task.held_out(split, "test", data_stream(config.seed, 1 + index), config.test_size)
        for index, split in enumerate(task.splits)
    }


def validation_sets(task: SequenceTask, config: TrainConfig) -> dict[str, list[Example]]:
    """``curve_size`` validation sequences of every split, from streams apart from the tests'."""
    return {
        split: task.held_out(
            split,
            "validation",
            data_stream(config.seed, VALIDATION_STREAMS + index),
            config.curve_size,
        )
        for index, split in enumerate(task.splits)
    }


def measure(
    model: CausalTransformer, task: SequenceTask, sets: dict[str, list[Example]], batch_size: int
) -> dict[str, dict[str, float]]:
    """:func:`evaluate` on every split, with the task's measures derived from the loss.

    ``batch_size`` sequences of the in-distribution length per batch; longer splits get
    proportionally fewer, so every batch holds about as many tokens.
    """
    results = {}
    for split, examples in sets.items():
        sequences = max(1, batch_size * task.max_length(IN_DISTRIBUTION) // task.max_length(split))
        result = asdict(evaluate(model, examples, sequences))
        results[split] = {**result, **task.loss_measures(result["loss"])}
    return results


def progress_postfix(point: dict[str, Any], task: SequenceTask) -> dict[str, str]:
    """What a progress bar shows after an evaluation: training and validation loss, and the
    in-distribution validation error (bits per byte for ``lm``)."""
    held = point[IN_DISTRIBUTION]
    shown = {"train": f"{point['train_loss']:.3f}", "val": f"{held['loss']:.3f}"}
    if task.measure == "bits_per_byte":
        shown["val_bpb"] = f"{held['bits_per_byte']:.3f}"
    else:
        shown["val_error"] = f"{held['error']:.3f}"
    return shown


def train(config: RunConfig, progress: bool = True) -> RunResult:
    """Train one model as ``config`` says; return its metrics and the trained model.

    ``metrics`` holds the final per-split results (``splits``), the in-distribution error
    (``id_error``), the primary out-of-distribution error (``ood_error``, split
    ``primary_ood``), the training loss of every step (``train_loss``), the learning curve
    (``curve``: per evaluation step, the error and loss of every split on ``curve_size``
    held-out validation sequences), the parameter count, the wall time of training
    (``training_seconds``), the CPU time of training and testing together (``cpu_seconds``,
    all threads: what the run costs on a shared machine) and what the data was
    (``data``: for ``lm`` the corpus, its fingerprint and the documents and bytes of each
    split). For ``lm`` every split result also holds ``bits_per_byte`` and ``perplexity``.
    Raises ``ValueError`` as soon as the training loss is not finite (a diverged run has no
    errors worth saving).
    """
    settings = config.train
    device = check_device(settings.device)
    task = config.build_task()
    torch.manual_seed(settings.seed)
    model = CausalTransformer(config.model_config(task)).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )
    data = _TrainingData(task, settings, device)
    validations = validation_sets(task, settings)
    tests = test_sets(task, settings)
    eval_batch = 2 * settings.batch_size
    losses: list[float] = []
    curve: list[dict[str, Any]] = []
    started, cpu_started = time.perf_counter(), time.process_time()
    steps = tqdm(
        range(settings.steps),
        desc=f"{config.task}/{config.pe} seed {settings.seed}",
        disable=not progress,
        leave=False,
        dynamic_ncols=True,
    )
    model.train()
    for step in steps:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(settings, step)
        batch = data.next_batch()
        loss = answer_loss(model(batch.inputs), batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if settings.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise ValueError(
                f"{config.task}/{config.pe} seed {settings.seed}: training diverged at step "
                f"{step + 1} (loss {losses[-1]}); lower lr"
            )
        if (step + 1) % settings.eval_every == 0 or step + 1 == settings.steps:
            point = {
                "step": step + 1,
                "train_loss": float(np.mean(losses[-settings.eval_every :])),
                **measure(model, task, validations, eval_batch),
            }
            curve.append(point)
            steps.set_postfix(progress_postfix(point, task))
    training_seconds = time.perf_counter() - started
    final = measure(model, task, tests, eval_batch)
    cpu_seconds = time.process_time() - cpu_started
    metrics = {
        "task": config.task,
        "pe": config.pe,
        "seed": settings.seed,
        "id_error": final[IN_DISTRIBUTION]["error"],
        "ood_error": final[task.primary_ood]["error"],
        "primary_ood": task.primary_ood,
        "splits": final,
        "train_loss": losses,
        "curve": curve,
        "parameters": sum(parameter.numel() for parameter in model.parameters()),
        "training_seconds": training_seconds,
        "cpu_seconds": cpu_seconds,
        "device": str(device),
        "data": task.data_summary(),
    }
    return RunResult(config, metrics, model, task)


def with_seed(config: RunConfig, seed: int) -> RunConfig:
    """``config`` with another seed."""
    return replace(config, train=replace(config.train, seed=seed))
