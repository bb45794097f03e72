"""Fits of grid signals (images) through one operator per axis.

For an axis-wise embedding on a product grid every row of the embedded matrix is built from
per-axis feature maps ``f(u)``, and two fits reduce to one-dimensional ones:

- **the separable linear model** (P2's Kronecker product, ``model="separable"``, depth 0,
  closed form): its least-squares fit of the training grid ``Y`` is ``L_0 Y L_1^T`` per
  channel, with ``L_a = F_a pinv(A_a)`` the minimum-norm interpolation operator of axis
  ``a`` (``A_a`` the per-axis factor at the training coordinates, ``F_a`` at every
  coordinate of the axis): exact.
- **an MLP on a concatenation** ``[f(x), f(y)]`` (posenc fit's default): its first layer
  sees each axis through ``f``, so what it can resolve, and how it fills in the points
  between training coordinates along an axis, is what Adam makes of that axis's basis. The
  odd centres of a basis too narrow to reach them stay at their random start and the test
  collapses; a basis that reaches them is filled in; a wide one smooths and underfits. The
  oracle predicts the MLP's fit as the product ``L_0 Y L_1^T`` of per-axis Adam operators
  (:func:`posenc.oracle.adam.fit_operators`) with the network's learning rate and steps,
  on the change from the network's output at initialisation, with Adam's ``eps`` measured
  against the gradient that reaches the first layer (:func:`network_start`). It is a model
  of the embedding's part in the fit, not of the network: against posenc's default MLP it
  places the collapse within a factor of about 1.5 in bandwidth, but the network fills in
  more gradually than the model, and where the model's curve is flat the network's still
  rises, so the suggestion takes the smoothest candidate within a margin of the best
  (:data:`posenc.oracle.search.NETWORK_TOLERANCE_DB`); and the network can beat the
  cubic interpolant the held-out error is measured from, which the predicted PSNR
  cannot show (``docs/validate_oracle.py`` gives the numbers).

Each axis's operator takes Adam's preconditioner and effective time from the training grid's
mean along the other axes, normalised as the fit normalises its rows.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from posenc.data import Signal, Split
from posenc.embeddings import AxisEmbedding
from posenc.neural_fields import FitConfig
from posenc.neural_fields.pipeline import build_config_model, build_embedding
from posenc.oracle.adam import LinearFitModel, fit_operators
from posenc.oracle.features import EmbeddedRows, dense, embed_rows
from posenc.oracle.heldout import training_grid

GAIN_SAMPLES = 4096
"""Training pixels over which a network's backward gain is measured at initialisation."""
LINEAR_REACH = 0.1
"""Features whose linear-layer gradient is at least this share of the largest count as
reached by the training samples when the gain is measured."""


@dataclass(frozen=True)
class GridPrediction:
    """The predicted fit over the whole grid (``values``, ``(*grid_shape, C)``) and the stable
    rank of the embedded training matrix."""

    values: np.ndarray
    stable_rank: float


def predict_grid_fit(
    signal: Signal, split: Split, config: FitConfig, fit: LinearFitModel, start: float = 0.0
) -> GridPrediction:
    """The predicted fit over the whole grid from per-axis operators; ``start`` is the fit's
    output before training (the operators act on the change from it)."""
    assert split.train_axes is not None
    grid = training_grid(signal, split) - start
    params = {key: value for key, value in config.embedding_params.items() if key != "compose"}
    # the per-axis feature map alone, outside any model (so not tied to the separable one)
    axis_config = dataclasses.replace(
        config, model="linear", dtype="float64", embedding_params=params
    )
    embedding = build_embedding(axis_config, 1, "none")  # the per-axis feature map
    if not isinstance(embedding, AxisEmbedding):
        raise ValueError(f"embedding {config.embedding!r} is not axis-wise; no per-axis fit")
    operators, scales = [], []
    for axis, indices in enumerate(split.train_axes):
        size = signal.grid_shape[axis]
        every = np.arange(size, dtype=np.float64)[:, None] / size
        train = indices.double().numpy()[:, None] / size
        rows = embed_rows(embedding, "none", train, every)
        representative = grid.mean(axis=tuple(a for a in range(grid.ndim) if a != axis))
        scales.append(_axis_norm(embedding, config.normalization, rows))
        operators.append((rows, representative))
    constants = _axis_constants(config, scales)
    prediction, factors = grid, []
    for axis, (rows, representative) in enumerate(operators):
        constant = constants[axis]
        scaled = dataclasses.replace(rows, train=rows.train / constant, query=rows.query / constant)
        _, operator = fit_operators(scaled, representative, fit)
        prediction = np.moveaxis(np.tensordot(operator, prediction, axes=([1], [axis])), 0, axis)
        factors.append(dense(scaled.train) * np.sqrt(scaled.weights))
    counts = [len(indices) for indices in split.train_axes]
    if config.embedding_params.get("compose") == "separable":
        # SR of a Kronecker product is the product of the factors' SRs
        rank = math.prod(
            concat_stable_rank([factor], [count])
            for factor, count in zip(factors, counts, strict=True)
        )
    else:
        rank = concat_stable_rank(factors, counts)
    return GridPrediction(prediction + start, rank)


@dataclass(frozen=True)
class NetworkStart:
    """A network at initialisation, as the per-axis model needs it: its mean output over the
    training samples (``output``) and the gradient its first layer receives per unit of the
    gradient a linear layer on the same features would receive (``gain``)."""

    output: float
    gain: float


def network_start(signal: Signal, split: Split, config: FitConfig) -> NetworkStart:
    """Measure :class:`NetworkStart` with one forward and backward pass of ``config``'s
    network, initialised as ``fit`` initialises it, over (a sample of) the training pixels.

    The gain is the median, over the features that the training samples reach, of the RMS
    over hidden units of ``dL/dW_1[:, k]`` divided by ``|dL/dw_k|`` of a linear layer with
    the same residuals: how strongly the loss reaches the first layer through the network.
    """
    torch.manual_seed(config.seed)
    embedding = build_embedding(config, signal.ndim)
    coords = signal.coordinates()[split.train]
    if embedding.normalization == "train":
        embedding.fit_normalization(coords)
    model = build_config_model(config, embedding, signal)
    chosen = torch.randperm(len(coords), generator=torch.Generator().manual_seed(0))
    chosen = chosen[:GAIN_SAMPLES]
    with torch.no_grad():
        features = embedding(coords[chosen])
    targets = signal.flat_values()[split.train][chosen].to(features.dtype)
    output = model(features)
    loss = torch.mean((output - targets) ** 2)
    first = next(module for module in model.modules() if isinstance(module, nn.Linear))
    (network,) = torch.autograd.grad(loss, [first.weight])
    with torch.no_grad():
        residual = (output - targets).mean(dim=1)
        linear = (2.0 / len(residual)) * (features.T @ residual) / targets.shape[1]
        reached = linear.abs() > LINEAR_REACH * linear.abs().max()
        ratio = network.pow(2).mean(dim=0).sqrt()[reached] / linear.abs()[reached]
    return NetworkStart(float(output.detach().mean()), float(ratio.median()))


def concat_stable_rank(factors: list[np.ndarray], counts: list[int]) -> float:
    """SR of the concatenated rows ``[f(x_i), f(y_j)]`` over a product grid, from the per-axis
    training rows ``F_a`` (dense, normalised): ``X^T X`` has the blocks ``(n / n_a) F_a^T F_a``
    on its diagonal and ``(n / (n_a n_b)) (F_a^T 1)(1^T F_b)`` off it, ``n`` the grid's size."""
    total = math.prod(counts)
    sizes = [factor.shape[1] for factor in factors]
    gram = np.zeros((sum(sizes), sum(sizes)))
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    sums = [factor.sum(axis=0) for factor in factors]
    for a, factor in enumerate(factors):
        block_a = slice(offsets[a], offsets[a + 1])
        for b in range(len(factors)):
            block_b = slice(offsets[b], offsets[b + 1])
            if a == b:
                gram[block_a, block_b] = total / counts[a] * factor.T @ factor
            else:
                gram[block_a, block_b] = (
                    total / (counts[a] * counts[b]) * np.outer(sums[a], sums[b])
                )
    return float(np.trace(gram) / np.linalg.eigvalsh(gram)[-1])


def check_grid_fit(config: FitConfig, signal: Signal) -> None:
    """Raise ``ValueError`` unless per-axis operators model ``config``'s fit of ``signal``."""
    embedding = build_embedding(config, signal.ndim, "none")
    if signal.ndim < 2 or not isinstance(embedding, AxisEmbedding) or embedding.compose != "concat":
        raise ValueError(
            "the bandwidth oracle models an MLP fit of an image with a concatenated axis-wise "
            f"embedding; got {config.embedding!r} (compose={embedding.compose!r}) on a "
            f"{signal.ndim}D signal"
        )


def _axis_norm(embedding: AxisEmbedding, normalization: str, rows: EmbeddedRows) -> float:
    """Largest per-axis row norm: over the domain's reference grid or the training values."""
    if normalization == "train":
        return rows.largest_row_norm()
    if normalization == "domain":
        reference = embedding.reference_values().double().numpy()[:, None]
        return embed_rows(embedding, "none", reference, reference[:1]).largest_row_norm()
    return 1.0


def _axis_constants(config: FitConfig, scales: list[float]) -> list[float]:
    """The fit's normalisation constant of each axis's rows from the per-axis largest norms
    ``c_a``: a separable factor is normalised on its own (``c_a``), a concatenation by the
    largest norm of the whole row, ``sqrt(sum_a c_a^2)`` on every axis (the maximum of a sum
    over a product grid is the sum of the maxima)."""
    if config.normalization == "none":
        return [1.0] * len(scales)
    if config.embedding_params.get("compose") == "separable":
        return list(scales)
    return [math.sqrt(sum(scale**2 for scale in scales))] * len(scales)
