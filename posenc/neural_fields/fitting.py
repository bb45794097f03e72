"""Fit a signal with an embedding and a coordinate network: one call, one result record.

:func:`fit` is :func:`~posenc.neural_fields.pipeline.prepare` (embed the training and test
samples once, build the seeded model), training (full-batch Adam exactly as the papers run
it: MSE, betas (0.9, 0.999), weight decay, one step per epoch; or the closed form), and
:func:`~posenc.neural_fields.pipeline.evaluate`. It returns a
:class:`~posenc.neural_fields.result.FitResult`: the resolved config, train and test PSNR
(final, and the mean over the last ``last_k`` steps so that either paper convention can be
quoted), the PSNR on held-out samples only (differs from the test PSNR for the ``all``
split, whose test set includes the training samples), the PSNR history, timings, the peak
memory of the fit beside the size of the dense embedded training matrix, and the stable rank
and distance preservation of the embedded training matrix.

Speed: the embedding is computed once per fit; the first layer is computed in the cheapest
exact form that applies (:mod:`posenc.neural_fields.sparse`); a ReLU MLP's step is written
out at the cost of its matrix products (:mod:`posenc.neural_fields.step`); Adam is the fused
kernel where torch has one; per-step losses stay on the device, and test PSNR is evaluated on
a schedule. ``config.precision`` sets how the network's products are computed (fp32, bf16,
tf32); the PSNRs are those of the network run at that precision.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from posenc.config import FitConfig
from posenc.data import Signal
from posenc.neural_fields.embedded import (
    FlatProblem,
    GridProblem,
    solve_linear_closed_form,
    solve_separable_closed_form,
)
from posenc.neural_fields.memory import PeakMemory
from posenc.neural_fields.models import SeparableField
from posenc.neural_fields.pipeline import (
    PreparedFit,
    evaluate,
    plan_fit,
    prepare,
    synchronize,
)
from posenc.neural_fields.result import FitResult, TrainingHistory, mse, psnr
from posenc.neural_fields.step import autocast, make_train_step, matmul_precision
from posenc.progress import progress_bar


@dataclass(frozen=True)
class FitStep:
    """What a fit callback is given after each optimiser step.

    ``step`` counts from 1 to ``steps``; ``loss`` is the training MSE before this step's
    update (detached, on the device); ``test_psnr`` is the test PSNR after the update at
    the evaluation steps (:func:`is_eval_step`), else ``None``. ``model`` and
    ``train_inputs`` are the live model and its embedded training rows.
    """

    step: int
    steps: int
    loss: Tensor
    test_psnr: float | None
    model: nn.Module
    train_inputs: Any

    @property
    def train_loss(self) -> float:
        """The training MSE as a number (reading it waits for the device)."""
        return float(self.loss)

    @property
    def train_psnr(self) -> float:
        """The training PSNR in dB, ``-10 log10(loss)``."""
        return psnr(self.loss)


FitCallback = Callable[[FitStep], None]
"""Called after every optimiser step (and evaluation, at evaluation steps) with a
:class:`FitStep`."""


def fit(
    signal: Signal,
    config: FitConfig,
    *,
    callbacks: Sequence[FitCallback] = (),
    progress: bool | None = None,
) -> FitResult:
    """Fit ``signal`` as ``config`` says; see the module docstring for the record returned.

    ``callbacks`` see every training step (:class:`FitStep`); ``progress``: a bar per step
    (``None``: in a terminal or a notebook, see :mod:`posenc.progress`). Raises
    ``ValueError`` before any large allocation if the fit cannot fit in memory.
    ``timings`` holds every phase in seconds: ``plan``, ``embed`` (the embedded problem),
    ``model``, ``train``, ``evaluate``, ``matrix_metrics``, and ``fit`` (embedding and
    training, the part that scales with the problem) and ``total`` (the whole call).
    """
    start = time.perf_counter()
    plan = plan_fit(signal, config)
    device = torch.device(config.device)
    peak = PeakMemory(device)
    peak.start()
    planned = time.perf_counter()
    prepared = prepare(signal, config, plan)
    prepared_at = time.perf_counter()
    with matmul_precision(config.precision):
        if config.solver == "adam":
            history = train_adam(prepared, callbacks, progress)
        else:
            history = TrainingHistory()
            solve_closed_form(prepared.problem, prepared.model)
        synchronize(device)
        trained = time.perf_counter()
        timings = {
            "plan": planned - start,
            "embed": prepared.embed_seconds,
            "model": prepared_at - planned - prepared.embed_seconds,
            "train": trained - prepared_at,
            "fit": prepared.embed_seconds + trained - prepared_at,
        }
        result = evaluate(prepared, history, timings)
    result.timings["total"] = time.perf_counter() - start
    return dataclasses.replace(result, peak_memory_bytes=peak.stop())


def is_eval_step(step: int, config: FitConfig) -> bool:
    """The evaluation schedule: every ``eval_every`` steps and each of the last ``last_k``
    (P1 reports the mean test PSNR of the last 100 steps)."""
    return step % config.eval_every == 0 or step > config.steps - config.last_k


def train_adam(
    prepared: PreparedFit, callbacks: Sequence[FitCallback] = (), progress: bool | None = None
) -> TrainingHistory:
    """Full-batch Adam on the MSE, one step per epoch; test PSNR on :func:`is_eval_step`.

    Each step is :func:`~posenc.neural_fields.step.make_train_step`'s (written-out for ReLU
    MLPs, a CUDA graph on NVIDIA GPUs). Per-step training losses stay on the device until
    the end, so the loop never waits for the accelerator except at evaluations (and when a
    callback reads the loss).
    """
    config, problem, model = prepared.config, prepared.problem, prepared.model
    optimizer = make_adam(model.parameters(), config)
    step_once = make_train_step(problem, model, optimizer, config.precision)
    losses = torch.empty(config.steps, device=prepared.device, dtype=torch.float64)
    history = TrainingHistory()
    bar = progress_bar(progress, total=config.steps, desc="fit", unit="step")
    for step in range(1, config.steps + 1):
        loss = step_once()
        losses[step - 1] = loss
        test_psnr = None
        if is_eval_step(step, config):
            with torch.no_grad(), autocast(config.precision, prepared.device):
                prediction = problem.predict_test(model)
            test_psnr = psnr(mse(prediction.float(), problem.test_targets))
            history.eval_steps.append(step)
            history.test_psnr.append(test_psnr)
            bar.set_postfix(train_psnr=f"{psnr(loss):.2f}", test_psnr=f"{test_psnr:.2f}")
        if callbacks:
            state = FitStep(step, config.steps, loss, test_psnr, model, problem.train_inputs)
            for callback in callbacks:
                callback(state)
        bar.update(1)
    bar.close()
    history.train_psnr = [psnr(value) for value in losses.cpu().tolist()]
    return history


def make_adam(parameters: Iterable[Tensor], config: FitConfig) -> torch.optim.Adam:
    """Adam with the config's lr, betas and weight decay; the fused kernel where torch has
    one for the device (CPU from torch 2.4, CUDA), else the default implementation; on CUDA
    safe to capture in a CUDA graph (its step count stays on the device)."""
    parameters = list(parameters)
    settings: dict[str, Any] = {
        "lr": config.lr,
        "betas": config.betas,
        "weight_decay": config.weight_decay,
        "capturable": torch.device(config.device).type == "cuda",
    }
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
