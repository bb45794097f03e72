"""Adam replayed on the oracle's compact rows: the fit itself, for the candidates that decide.

The closed form of :mod:`posenc.oracle.adam` is within about half a dB of Adam over most of a
bandwidth range, but least exact at the edge between fits that interpolate the training
samples and fits that smooth them, which is where the best bandwidth of a natural signal
usually lies (at ``astronaut:row=160`` of P1's 1D protocol, sigma 0.0037, its held-out PSNR
was 2.3 dB below the real fit's, and the oracle chose a basis 1.4 times too wide). There the
oracle runs the training itself, on the compact rows it already holds
(:mod:`posenc.oracle.features`), for the few candidates whose closed-form prediction is near
the best.

The replay is posenc's Adam (the same optimiser, step for step) on a linear model whose kept
feature ``k`` stands for the ``q_k`` centres around it that quadrature merged (its weight
``q_k``): the model's output is ``sum_k q_k A_ik w_k + b``, and each merged weight receives
the gradient of one of the centres it stands for, ``(2 / (N C)) sum_i r_i A_ik`` (plus weight
decay), not ``q_k`` times it. Adam's step depends on a gradient's scale only through ``eps``,
so with that gradient the merged weight moves as each of its centres does (they see nearly
the same gradient, the basis being smooth on the scale of the merging), and the replay is
exact where nothing is merged (narrow bases, where the choice is decided). It starts from
zero weights (the fit starts from PyTorch's small uniform ones) and runs in float32, the fit's
own precision (float64 was a fifth slower and chose the same bandwidth on every validation
row); on the development rows its test PSNR was within 0.03 dB of the real fit's.

All candidates train at once: their rows form one sparse block-diagonal matrix, so a step
costs one pass over every candidate's entries (the oracle replays windowed rows only: dense
ones would cost what the fits cost).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse

from posenc.neural_fields import FitConfig
from posenc.oracle.adam import ADAM_EPS
from posenc.oracle.features import EmbeddedRows, Rows
from posenc.threads import one_thread

Fit = tuple[np.ndarray, np.ndarray]
"""The fit at the training rows (``N x C``) and at the query rows (``M x C``)."""


def replay_adam(
    candidates: list[EmbeddedRows], targets: np.ndarray, config: FitConfig
) -> list[Fit]:
    """The fit after ``config.steps`` Adam steps (``config``'s learning rate, betas and weight
    decay) of a linear model with a bias on each candidate's rows, all with the training
    values ``targets`` (``N x C``); see the module docstring."""
    count, channels = targets.shape
    blocks = _Blocks(candidates, gradient_scale=2.0 / (count * channels))
    values = np.tile(targets, (len(candidates), 1)).astype(np.float32)
    weights = np.zeros((blocks.num_features, channels), dtype=np.float32)
    adam = AdamState(torch.from_numpy(weights), config)  # updates ``weights`` in place
    with one_thread():
        for _ in range(config.steps):
            adam.step(torch.from_numpy(blocks.gradient(blocks.forward(weights) - values)))
    return blocks.fits(weights)


class AdamState:
    """PyTorch's Adam on one tensor (its fused CPU kernel, the one posenc's fits run), without
    the optimiser object's per-step bookkeeping, which for the replay's small tensors costs
    more than the arithmetic."""

    def __init__(self, parameter: torch.Tensor, config: FitConfig) -> None:
        self.parameter, self.config = parameter, config
        self.first = torch.zeros_like(parameter)
        self.second = torch.zeros_like(parameter)
        self.count = torch.zeros((), dtype=torch.float32)

    def step(self, gradient: torch.Tensor) -> None:
        """One Adam step with ``gradient`` (weight decay added inside the kernel)."""
        beta1, beta2 = self.config.betas
        self.count += 1  # the step number, which the kernel reads for its bias corrections
        torch._fused_adam_(
            [self.parameter], [gradient], [self.first], [self.second], [], [self.count],
            lr=self.config.lr, beta1=beta1, beta2=beta2,
            weight_decay=self.config.weight_decay, eps=ADAM_EPS, amsgrad=False, maximize=False,
        )  # fmt: skip


class _Blocks:
    """Every candidate's rows with a bias column, side by side as one sparse block-diagonal
    map from merged weights (``F x C``) to the outputs (``B N x C``), and the map back from
    the residuals to the loss gradient of each weight, ``gradient_scale`` included. SciPy's
    sparse products: for these shapes a third of the time of PyTorch's, whose sparse
    product pays a set-up per call."""

    def __init__(self, candidates: list[EmbeddedRows], gradient_scale: float) -> None:
        self.candidates = candidates
        self.count = int(candidates[0].train.shape[0])
        self.sizes = [rows.num_features + 1 for rows in candidates]
        self.num_features = sum(self.sizes)
        weighted = [_with_bias(rows.train, rows.weights) for rows in candidates]
        plain = [_with_bias(rows.train, np.ones(rows.num_features)) for rows in candidates]
        self.matrix = sparse.block_diag(weighted, format="csr", dtype=np.float32)
        # the transpose of a CSR matrix is CSC, whose product reads each residual row once
        self.transposed = (
            sparse.block_diag(plain, format="csr", dtype=np.float32) * gradient_scale
        ).T

    def forward(self, weights: np.ndarray) -> np.ndarray:
        """``[A_b diag(q_b), 1] w_b`` for every candidate ``b``, stacked (``B N x C``)."""
        return np.asarray(self.matrix @ weights)

    def gradient(self, residual: np.ndarray) -> np.ndarray:
        """``scale [A_b, 1]^T r_b`` for every candidate, stacked (``F x C``)."""
        return np.asarray(self.transposed @ residual)

    def fits(self, weights: np.ndarray) -> list[Fit]:
        """Each candidate's fit at its training and query rows."""
        train = np.split(self.forward(weights), len(self.candidates))
        parts = np.split(weights, np.cumsum(self.sizes)[:-1])
        fits = []
        for rows, part, at_train in zip(self.candidates, parts, train, strict=True):
            merged = part[:-1] * rows.weights[:, None]
            fits.append((at_train, np.asarray(rows.query @ merged) + part[-1]))
        return fits


def _with_bias(rows: Rows, weights: np.ndarray) -> Rows:
    """``[rows diag(weights), 1]`` in ``rows``' format."""
    if isinstance(rows, np.ndarray):
        return np.hstack([rows * weights, np.ones((rows.shape[0], 1))])
    ones = sparse.csr_matrix(np.ones((rows.shape[0], 1)))
    return sparse.hstack([rows @ sparse.diags(weights), ones], format="csr")
