"""The papers' protocols as named presets of a fit's settings.

Each protocol sets every hyper-parameter that a paper's experiment fixes; any setting given
with it overrides one field (:func:`posenc.config.resolve_config`). P1: Zheng, Ramasinghe,
Lucey, "Rethinking Positional Encoding" (2021); P2: Zheng et al., "Trading Positional
Complexity vs. Deepness in Coordinate Networks" (ECCV 2022); P3: Tancik et al., "Fourier
Features Let Networks Learn High Frequency Functions in Low Dimensional Domains" (NeurIPS 2020).
"""

from __future__ import annotations

from typing import Any

_P1 = {"solver": "adam", "lr": 1e-3, "steps": 2000, "weight_decay": 1e-8, "last_k": 100}

P1_2D_PSNR = {0.07: 25.01, 0.003: 23.14, 0.001: 20.58}
"""P1's 2D widths and their test PSNR (dB, mean of the last 100 of 2000 steps) on its 512 x 512
house image: the widest generalises best, the narrowest memorises the training pixels."""
P1_2D_SIGMA = max(P1_2D_PSNR, key=P1_2D_PSNR.__getitem__)
"""``p1-2d``'s default width: the best of P1's three (0.07)."""

PROTOCOLS: dict[str, dict[str, Any]] = {
    # P1 1D: single linear layer on a 10000-centre Gaussian basis, even samples for training,
    # test over all 512 samples, embeddings divided by the largest training row norm.
    "p1-1d": {
        **_P1,
        "signal": "camera:row=256",
        "split": "all",
        "embedding": "gaussian",
        "embedding_params": {"sigma": 0.002, "num_centers": 10000},
        "normalization": "train",
        "model": "linear",
        "sigmoid": False,
        "eval_every": 100,
    },
    # P1 2D: 512x512 RGB image, offset split, concatenated Gaussian with 1000 features,
    # 4 hidden ReLU layers of 256 and a sigmoid output, at the best of P1's three widths.
    "p1-2d": {
        **_P1,
        "signal": "astronaut",
        "size": 512,
        "split": "offset",
        "embedding": "gaussian",
        "embedding_params": {"sigma": P1_2D_SIGMA, "num_centers": 500, "compose": "concat"},
        "normalization": "train",
        "model": "mlp",
        "depth": 4,
        "width": 256,
        "sigmoid": True,
        "eval_every": 100,
    },
    # P3 Table 1: Gaussian RFF (256 x 2, sigma 10), 3 hidden layers of 256, sigmoid, offset
    # split on the 512 grid; P3 does not normalise its embedding.
    "p3": {
        **_P1,
        "signal": "astronaut",
        "size": 512,
        "split": "offset",
        "embedding": "rff",
        "embedding_params": {"scale": 10.0, "num_frequencies": 256},
        "normalization": "none",
        "model": "mlp",
        "depth": 3,
        "width": 256,
        "sigmoid": True,
        "eval_every": 100,
    },
    # P2 "simple": K = 512 features as four directions of 128 Gaussian centres, depth 4,
    # lr 5e-3, no sigmoid, tested on every non-training pixel.
    "p2-simple": {
        **_P1,
        "signal": "astronaut",
        "size": 512,
        "split": "rest",
        "embedding": "gaussian",
        "embedding_params": {"sigma": 0.006, "num_centers": 128, "compose": "directions"},
        "normalization": "train",
        "model": "mlp",
        "depth": 4,
        "width": 256,
        "sigmoid": False,
        "lr": 5e-3,
        "eval_every": 100,
    },
    # P2 "complex": separable (Kronecker) Gaussian, K = 256 per axis, linear, lr 0.1.
    "p2-complex": {
        **_P1,
        "signal": "astronaut",
        "size": 512,
        "split": "rest",
        "embedding": "gaussian",
        "embedding_params": {"sigma": 0.004, "num_centers": 256, "compose": "separable"},
        "normalization": "train",
        "model": "separable",
        "depth": 0,
        "sigmoid": False,
        "lr": 0.1,
        "eval_every": 100,
    },
    # P2 closed form: W = pinv(Phi_x) S pinv(Phi_y)^T on a separable Gaussian, sigma 0.0025.
    "p2-closed-form": {
        "signal": "astronaut",
        "size": 512,
        "split": "rest",
        "embedding": "gaussian",
        "embedding_params": {"sigma": 0.0025, "num_centers": 256, "compose": "separable"},
        "normalization": "train",
        "model": "separable",
        "depth": 0,
        "sigmoid": False,
        "solver": "closed-form",
    },
}

P1_SCATTER_DIMENSIONS = (1000, 2000, 3000, 5000)
"""P1's embedding sizes D of the SR-vs-DP scatter."""
P1_SCATTER_SIGMA_RANGE = (0.002, 0.1)
"""Gaussian widths of the scatter, drawn log-uniformly (RFF at the matched scale)."""
