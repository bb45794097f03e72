"""Fit a signal with an embedding and a coordinate network: one call, one result record.

:func:`fit` embeds the training and test samples once, builds the model, trains it with
full-batch Adam exactly as the papers run it (MSE, betas (0.9, 0.999), weight decay, one step
per epoch) or solves it in closed form, and returns a :class:`FitResult`: the resolved
config, train and test PSNR (final, and the mean over the last ``last_k`` steps so that either
paper convention can be quoted), the PSNR on held-out samples only (differs from the test PSNR
for the ``all`` split, whose test set includes the training samples), the PSNR history,
timings, the peak memory of the fit beside the size of the dense embedded training matrix,
and the stable rank and distance preservation of the embedded training matrix.

Speed: the embedding is computed once per fit; the first layer is computed in the cheapest
exact form that applies (:mod:`posenc.neural_fields.sparse`); Adam is the fused kernel where
torch has one; per-step losses stay on the device, and test PSNR is evaluated on a schedule.
"""

from __future__ import annotations

import gc
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from posenc.data import Signal, Split, is_signal_spec, load_source, make_split
from posenc.embeddings import Embedding, describe_embedding, make_embedding
from posenc.neural_fields.config import FitConfig, validate_config
from posenc.neural_fields.models import SeparableField, build_model
from posenc.neural_fields.problems import (
    FlatProblem,
    GridProblem,
    solve_linear_closed_form,
    solve_separable_closed_form,
)
from posenc.neural_fields.sparse import FirstLayerPlan, plan_first_layer

FitCallback = Callable[[int, nn.Module, Any], None]
"""Called after every optimiser step as ``callback(step, model, train_inputs)``."""

PSNR_FLOOR_MSE = 1e-30
"""MSE below this counts as this (300 dB), keeping PSNR finite for exact fits."""


def psnr(mse: float | Tensor) -> float:
    """Peak signal-to-noise ratio of data in [0, 1]: ``-10 log10(MSE)`` in dB."""
    return -10 * math.log10(max(float(mse), PSNR_FLOOR_MSE))


@dataclass
class TrainingHistory:
    """Train PSNR at every step (before that step's update) and test PSNR at eval steps."""

    train_psnr: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    test_psnr: list[float] = field(default_factory=list)


@dataclass
class FitResult:
    """Everything one fit produced; :meth:`metrics` is what ``metrics.json`` holds."""

    config: FitConfig
    signal: Signal
    split: Split
    embedding: Embedding
    model: nn.Module
    prediction: Tensor
    train_psnr: float
    test_psnr: float
    heldout_psnr: float
    train_psnr_last: float
    test_psnr_last: float
    stable_rank: float
    distance_preservation: float
    timings: dict[str, float]
    history: TrainingHistory
    first_layer: str = "dense"
    peak_memory_bytes: int | None = None
    embedded_matrix_bytes: int = 0

    def metrics(self) -> dict[str, Any]:
        """A JSON-serialisable record: config, signal, PSNRs, SR/DP, timings, history."""
        last = f"mean of the last {self.config.last_k} steps"
        return {
            "config": self.config.to_dict(),
            "signal": {
                "name": self.signal.name,
                "shape": list(self.signal.values.shape),
                "source": self.signal.source,
            },
            "split": {
                "kind": self.split.kind,
                "train": len(self.split.train),
                "test": len(self.split.test),
            },
            "embedding": {
                "name": self.embedding.name,
                "out_dim": self.embedding.out_dim,
                "bandwidth_name": self.embedding.bandwidth_name,
                "bandwidth": self.embedding.bandwidth,
            },
            "train_psnr": self.train_psnr,
            "test_psnr": self.test_psnr,
            "heldout_psnr": self.heldout_psnr,
            "train_psnr_last": self.train_psnr_last,
            "test_psnr_last": self.test_psnr_last,
            "psnr_last_means": last,
            "stable_rank": self.stable_rank,
            "distance_preservation": self.distance_preservation,
            "timings_seconds": self.timings,
            "first_layer": self.first_layer,
            "memory": {
                "peak_bytes": self.peak_memory_bytes,
                "embedded_matrix_bytes": self.embedded_matrix_bytes,
                "peak_means": "largest memory the fit (embedding, training, evaluation) added "
                "to the process; embedded_matrix_bytes is the dense training matrix's size",
            },
            "history": {
                "train_psnr": self.history.train_psnr,
                "eval_steps": self.history.eval_steps,
                "test_psnr": self.history.test_psnr,
            },
        }

    def save_checkpoint(self, path: Path) -> None:
        """Model and embedding state with the config; loads with ``weights_only=True``."""
        torch.save(
            {
                "config": self.config.to_dict(),
                "model": self.model.state_dict(),
                "embedding": self.embedding.state_dict(),
            },
            path,
        )


def fit(
    signal: Signal,
    config: FitConfig,
    *,
    callbacks: Sequence[FitCallback] = (),
    progress: bool = False,
) -> FitResult:
    """Fit ``signal`` as ``config`` says; see the module docstring for the record returned."""
    validate_config(config)
    device = torch.device(config.device)
    torch.manual_seed(config.seed)
    split = make_split(
        signal.grid_shape, config.split, fraction=config.split_fraction, seed=config.seed
    )
    # Size the fit on an unnormalised copy (cheap to build) before building the real one.
    unnormalised = build_embedding(config, signal.ndim, normalization="none")
    plan = _plan_first_layer(config, unnormalised, signal.coordinates()[split.train])
    check_memory(estimate_fit_bytes(config, unnormalised, split, plan), device)
    embedding = build_embedding(config, signal.ndim).to(device)

    peak = PeakMemory(device)
    peak.start()
    start = time.perf_counter()
    if config.model == "separable":
        problem: FlatProblem | GridProblem = GridProblem.build(signal, split, embedding, device)
    else:
        problem = FlatProblem.build(signal, split, embedding, device, plan.kind)
    embedded = time.perf_counter()
    model = build_config_model(config, embedding, signal).to(device)
    if config.solver == "adam":
        history = train_adam(problem, model, config, callbacks, progress)
    else:
        history = TrainingHistory()
        solve_closed_form(problem, model)
    _synchronize(device)
    trained = time.perf_counter()

    with torch.no_grad():
        train_psnr = psnr(_mse(problem.predict_train(model), problem.train_targets))
        test_psnr = psnr(_mse(problem.predict_test(model), problem.test_targets))
        prediction = problem.predict_full(model).float().cpu()
    heldout = split.heldout
    flat_prediction = prediction.reshape(-1, signal.channels)[heldout]
    heldout_psnr = psnr(_mse(flat_prediction, signal.flat_values()[heldout]))
    peak_bytes = peak.stop()
    measured = time.perf_counter()
    stable_rank, distance_preservation = problem.training_matrix_metrics()
    return FitResult(
        config=config,
        signal=signal,
        split=split,
        embedding=embedding,
        model=model,
        prediction=prediction,
        train_psnr=train_psnr,
        test_psnr=test_psnr,
        heldout_psnr=heldout_psnr,
        train_psnr_last=_mean_last(history.train_psnr, config.last_k, train_psnr),
        test_psnr_last=_mean_of_evals_in_last(history, config, test_psnr),
        stable_rank=stable_rank,
        distance_preservation=distance_preservation,
        timings={
            "embed": embedded - start,
            "train": trained - embedded,
            "fit": trained - start,
            "evaluate": measured - trained,
            "matrix_metrics": time.perf_counter() - measured,
        },
        history=history,
        first_layer=plan.kind,
        peak_memory_bytes=peak_bytes,
        embedded_matrix_bytes=unnormalised.embedded_bytes(len(split.train)),
    )


def load_config_signal(config: FitConfig) -> Signal:
    """Load ``config.signal``; ``size`` and ``gray`` apply to images, not to 1D signals."""
    if is_signal_spec(config.signal):
        return load_source(config.signal)
    return load_source(config.signal, size=config.size, gray=config.gray)


def build_config_model(config: FitConfig, embedding: Embedding, signal: Signal) -> nn.Module:
    """The configured model for ``embedding``'s features of ``signal``, in the config's dtype
    (on the CPU; move it to the device). Its initial weights follow the torch seed."""
    return build_model(
        config.model,
        in_features=embedding.factor_dim if embedding.separable else embedding.out_dim,
        out_channels=signal.channels,
        depth=config.depth,
        width=config.width,
        sigmoid=config.sigmoid,
        in_dim=signal.ndim,
        siren_omega=config.siren_omega,
    ).to(dtype=config.torch_dtype)


def build_embedding(config: FitConfig, in_dim: int, normalization: str | None = None) -> Embedding:
    """The configured embedding; the run's seed also seeds random embeddings (RFF, noise)
    unless ``embedding_params`` sets ``seed`` itself. ``normalization`` overrides the
    config's."""
    params = dict(config.embedding_params)
    accepted = {parameter.name for parameter in describe_embedding(config.embedding).parameters}
    if "seed" in accepted:
        params.setdefault("seed", config.seed)
    return make_embedding(
        config.embedding,
        in_dim=in_dim,
        normalization=normalization or config.normalization,
        dtype=config.torch_dtype,
        **params,
    )


def train_adam(
    problem: FlatProblem | GridProblem,
    model: nn.Module,
    config: FitConfig,
    callbacks: Sequence[FitCallback] = (),
    progress: bool = False,
) -> TrainingHistory:
    """Full-batch Adam on the MSE, one step per epoch; test PSNR on the eval schedule.

    Test PSNR is evaluated every ``eval_every`` steps and at each of the last ``last_k``
    steps (P1 reports their mean). Per-step training losses stay on the device until the end,
    so the loop never waits for the accelerator except at evaluations.
    """
    optimizer = make_adam(model.parameters(), config)
    device = problem.train_targets.device
    losses = torch.empty(config.steps, device=device, dtype=torch.float64)
    history = TrainingHistory()
    bar = tqdm(total=config.steps, desc="fit", unit="step", disable=not progress, file=sys.stderr)
    for step in range(1, config.steps + 1):
        loss = train_step(problem, model, optimizer)
        losses[step - 1] = loss
        for callback in callbacks:
            callback(step, model, problem.train_inputs)
        if _is_eval_step(step, config):
            with torch.no_grad():
                history.eval_steps.append(step)
                history.test_psnr.append(
                    psnr(_mse(problem.predict_test(model), problem.test_targets))
                )
            bar.set_postfix(
                train_psnr=f"{psnr(loss):.2f}", test_psnr=f"{history.test_psnr[-1]:.2f}"
            )
        bar.update(1)
    bar.close()
    history.train_psnr = [psnr(value) for value in losses.cpu().tolist()]
    return history


def train_step(
    problem: FlatProblem | GridProblem, model: nn.Module, optimizer: torch.optim.Optimizer
) -> Tensor:
    """One full-batch step on the MSE; returns the loss before the update (detached, on the
    device: reading it is the caller's choice of when to wait for the accelerator)."""
    optimizer.zero_grad(set_to_none=True)
    loss = F.mse_loss(problem.predict_train(model), problem.train_targets)
    loss.backward()
    optimizer.step()
    return loss.detach()


def make_adam(parameters: Iterable[Tensor], config: FitConfig) -> torch.optim.Adam:
    """Adam with the config's lr, betas and weight decay; the fused kernel where torch has
    one for the device (CPU from torch 2.4, CUDA), else the default implementation."""
    parameters = list(parameters)
    settings = {"lr": config.lr, "betas": config.betas, "weight_decay": config.weight_decay}
    try:
        return torch.optim.Adam(parameters, fused=True, **settings)
    except RuntimeError:
        return torch.optim.Adam(parameters, **settings)


def solve_closed_form(problem: FlatProblem | GridProblem, model: nn.Module) -> None:
    """Least squares for a linear model; P2's pseudo-inverse for the separable one."""
    if isinstance(model, SeparableField):
        assert isinstance(problem, GridProblem)
        solve_separable_closed_form(problem, model)
    else:
        assert isinstance(problem, FlatProblem)
        solve_linear_closed_form(problem, model)


def estimate_fit_bytes(
    config: FitConfig, embedding: Embedding, split: Split, plan: FirstLayerPlan | None = None
) -> int:
    """Bytes a fit will hold at once: embedded matrices plus training activations.

    Flat models keep the embedded training and test rows (in the form ``plan`` says, dense
    by default) and, per hidden layer, about three training-set activations (forward value,
    its gradient, ReLU mask). The separable model keeps only its factors, its weight and the
    first layer's output on the training grid.
    """
    item = torch.empty((), dtype=config.torch_dtype).element_size()
    n_train, n_test = len(split.train), len(split.test)
    if embedding.separable:
        units = config.width if config.depth else 1
        weight = embedding.factor_dim**embedding.in_dim * units
        return item * (3 * (n_train + n_test) * units + 4 * weight)
    activations = 3 * n_train * config.width * config.depth * item
    plan = plan or FirstLayerPlan("dense")
    return (
        plan.embedded_bytes(embedding, n_train)
        + plan.embedded_bytes(embedding, n_test)
        + (activations)
    )


def check_memory(required: int, device: torch.device) -> None:
    """Raise ``ValueError`` saying how large the fit would be if it cannot fit in memory."""
    available = _available_bytes(device)
    if available is not None and required > available:
        raise ValueError(
            f"this fit needs about {required / 2**30:.1f} GiB (embedded matrices and "
            f"activations) but only {available / 2**30:.1f} GiB of {device.type} memory is "
            "available; use fewer centres or frequencies, a smaller image (--size), or the "
            "separable embedding"
        )


class PeakMemory:
    """Peak memory a block of work adds to what the process held when it started.

    CUDA: ``torch.cuda.max_memory_allocated`` over the block minus the allocated bytes at its
    start. CPU (Linux): the resident-set high-water mark (``VmHWM``), reset at the start by
    writing ``5`` to ``/proc/self/clear_refs`` after collecting garbage (so that earlier work
    freed during the block cannot hide its allocations), minus the resident set then
    (``VmRSS``); it counts every allocation of the process, including other threads', but not
    memory the C allocator hands out again from blocks freed earlier and still resident
    (glibc does so for blocks up to 32 MiB). ``None`` where neither is available.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.baseline: int | None = None

    def start(self) -> None:
        """Reset the high-water mark and remember the current usage."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline = torch.cuda.memory_allocated(self.device)
            return
        gc.collect()
        try:
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")
        except OSError:
            self.baseline = None
            return
        self.baseline = _proc_status_bytes("VmRSS")

    def stop(self) -> int | None:
        """Bytes of the peak above the usage at :meth:`start`, or ``None`` if unknown."""
        if self.baseline is None:
            return None
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) - self.baseline
        high_water = _proc_status_bytes("VmHWM")
        return None if high_water is None else max(high_water - self.baseline, 0)


def _proc_status_bytes(key: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _plan_first_layer(config: FitConfig, embedding: Embedding, coords: Tensor) -> FirstLayerPlan:
    """The first-layer form of a fit; closed-form solvers work on the dense matrix."""
    if config.solver != "adam":
        return FirstLayerPlan("dense")
    return plan_first_layer(config.first_layer, config.model, embedding, coords)


def _available_bytes(device: torch.device) -> int | None:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _mse(prediction: Tensor, target: Tensor) -> Tensor:
    return torch.mean((prediction - target) ** 2)


def _is_eval_step(step: int, config: FitConfig) -> bool:
    return step % config.eval_every == 0 or step > config.steps - config.last_k


def _mean_last(values: list[float], count: int, default: float) -> float:
    return sum(values[-count:]) / len(values[-count:]) if values else default


def _mean_of_evals_in_last(history: TrainingHistory, config: FitConfig, default: float) -> float:
    last = [
        value
        for step, value in zip(history.eval_steps, history.test_psnr, strict=True)
        if step > config.steps - config.last_k
    ]
    return sum(last) / len(last) if last else default


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
