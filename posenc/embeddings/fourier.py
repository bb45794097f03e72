"""The Fourier family: identity, basic, log- and linearly spaced, P3's positional encoding, RFF.

Every member but the identity maps a scalar ``u`` to ``[sin(2 pi f u), cos(2 pi f u)]`` for a
frequency vector ``f`` of length ``K/2``; they differ only in how ``f`` is chosen. With
``trainable=True`` the frequencies are an ``nn.Parameter`` (learnable Fourier features);
since ``sin^2 + cos^2 = 1`` every row keeps the same norm, so the domain normalisation stays
exact while the frequencies move.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from posenc import validation
from posenc.embeddings.base import AXIS_COMPOSITIONS, AxisEmbedding
from posenc.embeddings.registry import register

_COMMON_HELP = {
    "in_dim": "number of coordinate axes d (>= 1)",
    "compose": "multi-D composition: concat | directions (2D) | separable",
    "normalization": "domain (largest row norm over [0,1)^d is 1) | train | none",
    "dtype": "floating-point type of the features",
}
_FREQUENCY_HELP = {
    "num_frequencies": "frequencies per axis K/2 (>= 1); 2 features each",
    "trainable": "learn the frequencies with the network (learnable Fourier features)",
}


class FourierFeatures(AxisEmbedding):
    """Per-axis ``[sin(2 pi f u), cos(2 pi f u)]`` for the frequencies set by a subclass."""

    family = "fourier"
    frequencies: Tensor

    def set_frequencies(self, values: Tensor, trainable: bool) -> None:
        """Store the frequency array, as a parameter when ``trainable``."""
        values = values.to(self.dtype)
        if trainable:
            self.frequencies = nn.Parameter(values)
        else:
            self.register_buffer("frequencies", values)

    @property
    def trainable(self) -> bool:
        """Whether the frequencies are learned."""
        return isinstance(self.frequencies, nn.Parameter)

    @property
    def factor_dim(self) -> int:
        return 2 * self.frequencies.shape[0]

    def axis_features(self, values: Tensor) -> Tensor:
        phase = (2 * math.pi) * values[:, None] * self.frequencies[None, :]
        return torch.cat([torch.sin(phase), torch.cos(phase)], dim=1)


@register
class IdentityEmbedding(AxisEmbedding):
    """No embedding: the coordinates themselves."""

    name = "none"
    family = "fourier"
    formula = "psi(x) = x"
    parameter_help: ClassVar[dict[str, str]] = dict(_COMMON_HELP)

    def __init__(
        self,
        in_dim: int = 1,
        compose: str = "concat",
        normalization: str = "domain",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(in_dim, compose, normalization, dtype)

    @property
    def factor_dim(self) -> int:
        return 1

    def axis_features(self, values: Tensor) -> Tensor:
        return values[:, None]


@register
class BasicEmbedding(FourierFeatures):
    """One frequency per axis (P3's "basic" mapping)."""

    name = "basic"
    formula = "psi(u) = [sin(2 pi u), cos(2 pi u)]"
    parameter_help: ClassVar[dict[str, str]] = {
        **_COMMON_HELP,
        "trainable": _FREQUENCY_HELP["trainable"],
    }

    def __init__(
        self,
        in_dim: int = 1,
        trainable: bool = False,
        compose: str = "concat",
        normalization: str = "domain",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(in_dim, compose, normalization, dtype)
        self.set_frequencies(torch.ones(1), trainable)


@register
class LogFourierEmbedding(FourierFeatures):
    """Log-spaced frequencies (NeRF-style positional encoding, P1/P2's LogF)."""

    name = "logf"
    formula = "psi(u) = [sin(2 pi f u), cos(2 pi f u)], f = 2^linspace(0, p, K/2)"
    bandwidth_name = "p"
    parameter_help: ClassVar[dict[str, str]] = {
        **_COMMON_HELP,
        **_FREQUENCY_HELP,
        "p": "log2 of the highest frequency (finite)",
    }

    def __init__(
        self,
        in_dim: int = 1,
        p: float = 6.0,
        num_frequencies: int = 128,
        trainable: bool = False,
        compose: str = "concat",
        normalization: str = "domain",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(in_dim, compose, normalization, dtype)
        self.p = validation.finite_float("p", p)
        count = validation.positive_int("num_frequencies", num_frequencies)
        exponents = torch.linspace(0.0, self.p, count, dtype=torch.float64)
        self.set_frequencies(2.0**exponents, trainable)


@register
class LinearFourierEmbedding(FourierFeatures):
    """Linearly spaced frequencies (P1/P2's LinF)."""

    name = "linf"
    formula = "psi(u) = [sin(2 pi f u), cos(2 pi f u)], f = linspace(1, 2^p, K/2)"
    bandwidth_name = "p"
    parameter_help: ClassVar[dict[str, str]] = {
        **_COMMON_HELP,
        **_FREQUENCY_HELP,
        "p": "log2 of the highest frequency (finite)",
    }

    def __init__(
        self,
        in_dim: int = 1,
        p: float = 5.0,
        num_frequencies: int = 128,
        trainable: bool = False,
        compose: str = "concat",
        normalization: str = "domain",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(in_dim, compose, normalization, dtype)
        self.p = validation.finite_float("p", p)
        count = validation.positive_int("num_frequencies", num_frequencies)
        self.set_frequencies(
            torch.linspace(1.0, 2.0**self.p, count, dtype=torch.float64), trainable
        )


@register
class P3PositionalEncoding(FourierFeatures):
    """P3's axis-aligned "positional encoding": log-spaced frequencies shifted down by one."""

    name = "p3_pe"
    formula = "psi(u) = [sin(2 pi f u), cos(2 pi f u)], f = 2^linspace(0, scale, K/2) - 1"
    bandwidth_name = "scale"
    parameter_help: ClassVar[dict[str, str]] = {
        **_COMMON_HELP,
        **_FREQUENCY_HELP,
        "scale": "log2 of (highest frequency + 1) (> 0); P3 uses 6 for photos, 5 for text",
    }

    def __init__(
        self,
        in_dim: int = 1,
        scale: float = 6.0,
        num_frequencies: int = 128,
        trainable: bool = False,
        compose: str = "concat",
        normalization: str = "domain",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(in_dim, compose, normalization, dtype)
        self.scale = validation.positive_float("scale", scale)
        count = validation.positive_int("num_frequencies", num_frequencies)
        exponents = torch.linspace(0.0, self.scale, count, dtype=torch.float64)
        self.set_frequencies(2.0**exponents - 1.0, trainable)


@register
class RandomFourierFeatures(FourierFeatures):
    """Gaussian random Fourier features (P3's Gaussian mapping, P1/P2's RFF).

    ``compose="isotropic"`` (default) draws a ``(K/2, d)`` matrix ``B`` with i.i.d.
    ``N(0, scale^2)`` entries and embeds ``[sin(2 pi B x), cos(2 pi B x)]``: its expected
    kernel is the Gaussian ``exp(-2 pi^2 scale^2 |x1 - x2|^2)``. The axis-wise compositions
    draw ``K/2`` scalar frequencies and use them on every axis.
    """

    name = "rff"
    formula = "psi(x) = [sin(2 pi B x), cos(2 pi B x)], B ~ N(0, scale^2), shape (K/2, d)"
    bandwidth_name = "scale"
    compositions = ("isotropic", *AXIS_COMPOSITIONS)
    parameter_help: ClassVar[dict[str, str]] = {
        **_COMMON_HELP,
        **_FREQUENCY_HELP,
        "compose": "isotropic (B is (K/2, d)) | concat | directions (2D) | separable",
        "num_frequencies": "rows of B, K/2 (>= 1); 2 features each",
        "scale": "standard deviation of the frequencies (> 0); P3 uses 10 for photos",
        "seed": "seed of the frequency draw",
    }

    def __init__(
        self,
        in_dim: int = 1,
        scale: float = 10.0,
        num_frequencies: int = 256,
        seed: int = 0,
        trainable: bool = False,
        compose: str = "isotropic",
        normalization: str = "domain",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(in_dim, compose, normalization, dtype)
        self.scale = validation.positive_float("scale", scale)
        count = validation.positive_int("num_frequencies", num_frequencies)
        self.seed = seed
        generator = torch.Generator().manual_seed(seed)
        shape = (count, in_dim) if compose == "isotropic" else (count,)
        draw = torch.randn(shape, generator=generator, dtype=torch.float64)
        self.set_frequencies(self.scale * draw, trainable)

    def raw_features(self, coords: Tensor) -> Tensor:
        if self.compose != "isotropic":
            return super().raw_features(coords)
        phase = (2 * math.pi) * coords @ self.frequencies.T
        return torch.cat([torch.sin(phase), torch.cos(phase)], dim=1)

    @property
    def out_dim(self) -> int:
        return self.factor_dim if self.compose == "isotropic" else super().out_dim

    def domain_norm(self) -> Tensor:
        if self.compose != "isotropic":
            return super().domain_norm()
        # Each (sin, cos) pair contributes exactly 1 to the squared row norm.
        count = self.frequencies.shape[0]
        return torch.tensor(math.sqrt(count), dtype=self.dtype, device=self.norm_scale.device)
