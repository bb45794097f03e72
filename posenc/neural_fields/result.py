"""What a fit produced: PSNR, the training history, and the :class:`FitResult` record."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from posenc.config import FitConfig
from posenc.data import Signal, Split
from posenc.embeddings import Embedding

PSNR_FLOOR_MSE = 1e-30
"""MSE below this counts as this (300 dB), keeping PSNR finite for exact fits."""


def psnr(mse: float | Tensor) -> float:
    """Peak signal-to-noise ratio of data in [0, 1]: ``-10 log10(MSE)`` in dB."""
    return -10 * math.log10(max(float(mse), PSNR_FLOOR_MSE))


def mse(prediction: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over every sample and channel."""
    return torch.mean((prediction - target) ** 2)


@dataclass
class TrainingHistory:
    """Train PSNR at every step (before that step's update) and test PSNR at eval steps."""

    train_psnr: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    test_psnr: list[float] = field(default_factory=list)

    def train_psnr_last(self, count: int, default: float) -> float:
        """Mean train PSNR of the last ``count`` steps (``default`` without steps)."""
        return _mean(self.train_psnr[-count:], default)

    def test_psnr_last(self, steps: int, count: int, default: float) -> float:
        """Mean test PSNR of the evaluations among the last ``count`` of ``steps`` steps."""
        last = [
            value
            for step, value in zip(self.eval_steps, self.test_psnr, strict=True)
            if step > steps - count
        ]
        return _mean(last, default)


@dataclass
class FitResult:
    """Everything one fit produced; :meth:`metrics` is what ``metrics.json`` holds.

    ``peak_memory_bytes`` is measured (:class:`~posenc.neural_fields.memory.PeakMemory`); a
    fit trained in a batch of ``B`` records its share, the batch's peak divided by ``B``.
    """

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
    first_layer: str
    peak_memory_bytes: int | None
    embedded_matrix_bytes: int

    @property
    def last_steps_text(self) -> str:
        """What ``train_psnr_last`` and ``test_psnr_last`` are, in words: the mean of the last
        ``last_k`` steps only when there were that many."""
        steps = len(self.history.train_psnr)
        if steps == 0:
            return "final values (closed form, no training steps)"
        if steps < self.config.last_k:
            return f"mean of all {steps} steps"
        return f"mean of the last {self.config.last_k} steps"

    def metrics(self) -> dict[str, Any]:
        """A JSON-serialisable record: config, signal, PSNRs, SR/DP, timings, history."""
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
            "psnr_last_means": self.last_steps_text,
            "stable_rank": self.stable_rank,
            "distance_preservation": self.distance_preservation,
            "timings_seconds": self.timings,
            "first_layer": self.first_layer,
            "memory": {
                "peak_bytes": self.peak_memory_bytes,
                "embedded_matrix_bytes": self.embedded_matrix_bytes,
                "peak_means": "largest memory the fit (embedding, training, evaluation) added "
                "to the process (a batched fit's share of its batch's); embedded_matrix_bytes "
                "is the dense training matrix's size",
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


def _mean(values: Sequence[float], default: float) -> float:
    return sum(values) / len(values) if values else default
