"""The Fourier family: identity, basic, log- and linearly spaced, P3's positional encoding, RFF.

Every member but the identity maps a scalar ``u`` to ``[sin(2 pi f u), cos(2 pi f u)]`` for a
frequency vector ``f`` of length ``K/2``; they differ only in how ``f`` is chosen
(:meth:`FourierFeatures.frequency_values`). With ``trainable=True`` the frequencies are an
``nn.Parameter`` (learnable Fourier features); since ``sin^2 + cos^2 = 1`` every row keeps the
same norm, so the domain normalisation stays exact while the frequencies move.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from posenc import theory, validation
from posenc.embeddings.base import AXIS_COMPOSITIONS, AxisEmbedding, Param
from posenc.embeddings.registry import register


class FourierFeatures(AxisEmbedding):
    """Per-axis ``[sin(2 pi f u), cos(2 pi f u)]`` for the frequencies a subclass chooses."""

    family = "fourier"
    frequencies: Tensor

    trainable = Param[bool](
        False,
        "learn the frequencies with the network (learnable Fourier features)",
        validation.boolean,
    )

    def build(self) -> None:
        values = self.frequency_values().to(self.dtype)
        if self.trainable:
            self.frequencies = nn.Parameter(values)
        else:
            self.register_buffer("frequencies", values)

    def frequency_values(self) -> Tensor:
        """The frequencies, in float64: ``(K/2,)``, or ``(K/2, d)`` for isotropic RFF."""
        raise NotImplementedError

    @property
    def frequency_count(self) -> int:
        """``K/2``, the number of frequencies (rows of :meth:`frequency_values`)."""
        return len(self.frequency_values())

    @property
    def factor_dim(self) -> int:
        return 2 * self.frequency_count

    def largest_axis_norm(self) -> Tensor:
        """``sqrt(K/2)`` exactly: each (sin, cos) pair adds 1 to the squared norm."""
        return torch.tensor(math.sqrt(self.frequency_count), dtype=self.dtype)

    def construction_bytes(self) -> int:
        """The frequencies in float64 and in the feature type (``(K/2, d)`` at most)."""
        return self.frequency_count * self.in_dim * (8 + self.feature_dtype.itemsize)

    def axis_features(self, values: Tensor) -> Tensor:
        phase = (2 * math.pi) * values[:, None] * self.frequencies[None, :]
        return torch.cat([torch.sin(phase), torch.cos(phase)], dim=1)


class FrequencyBank(FourierFeatures):
    """Fourier features with ``num_frequencies`` frequencies per axis."""

    num_frequencies = Param[int](
        128, "frequencies per axis K/2 (>= 1); 2 features each", validation.positive_int
    )

    @property
    def frequency_count(self) -> int:
        return self.num_frequencies


@register
class IdentityEmbedding(AxisEmbedding):
    """No embedding: the coordinates themselves."""

    name = "none"
    family = "fourier"
    formula = "psi(x) = x"

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

    def frequency_values(self) -> Tensor:
        return torch.ones(1, dtype=torch.float64)


@register
class LogFourierEmbedding(FrequencyBank):
    """Log-spaced frequencies (NeRF-style positional encoding, P1/P2's LogF)."""

    name = "logf"
    formula = "psi(u) = [sin(2 pi f u), cos(2 pi f u)], f = 2^linspace(0, p, K/2)"
    bandwidth_name = "p"
    p = Param[float](6.0, "log2 of the highest frequency (finite)", validation.finite_float)

    def frequency_values(self) -> Tensor:
        return 2.0 ** torch.linspace(0.0, self.p, self.num_frequencies, dtype=torch.float64)


@register
class LinearFourierEmbedding(FrequencyBank):
    """Linearly spaced frequencies (P1/P2's LinF)."""

    name = "linf"
    formula = "psi(u) = [sin(2 pi f u), cos(2 pi f u)], f = linspace(1, 2^p, K/2)"
    bandwidth_name = "p"
    p = Param[float](5.0, "log2 of the highest frequency (finite)", validation.finite_float)

    def frequency_values(self) -> Tensor:
        return torch.linspace(1.0, 2.0**self.p, self.num_frequencies, dtype=torch.float64)


@register
class P3PositionalEncoding(FrequencyBank):
    """P3's axis-aligned "positional encoding": log-spaced frequencies shifted down by one."""

    name = "p3_pe"
    formula = "psi(u) = [sin(2 pi f u), cos(2 pi f u)], f = 2^linspace(0, scale, K/2) - 1"
    bandwidth_name = "scale"
    scale = Param[float](
        6.0,
        "log2 of (highest frequency + 1) (> 0); P3 uses 6 for photos, 5 for text",
        validation.positive_float,
    )

    def frequency_values(self) -> Tensor:
        exponents = torch.linspace(0.0, self.scale, self.num_frequencies, dtype=torch.float64)
        return 2.0**exponents - 1.0


@register
class RandomFourierFeatures(FrequencyBank):
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
    scale = Param[float](
        10.0,
        "standard deviation of the frequencies (> 0); P3 uses 10 for photos",
        validation.positive_float,
    )
    num_frequencies = Param[int](
        256, "rows of B, K/2 (>= 1); 2 features each", validation.positive_int
    )
    seed = Param[int](0, "seed of the frequency draw (>= 0)", validation.nonnegative_int)
    compose = Param[str](
        "isotropic", "isotropic (B is (K/2, d)) | concat | directions (2D) | separable"
    )

    def frequency_values(self) -> Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        shape = (
            (self.num_frequencies, self.in_dim)
            if self.compose == "isotropic"
            else (self.num_frequencies,)
        )
        return self.scale * torch.randn(shape, generator=generator, dtype=torch.float64)

    def raw_features(self, coords: Tensor) -> Tensor:
        if self.compose != "isotropic":
            return super().raw_features(coords)
        phase = (2 * math.pi) * coords @ self.frequencies.T
        return torch.cat([torch.sin(phase), torch.cos(phase)], dim=1)

    @property
    def encoding_dim(self) -> int:
        return self.factor_dim if self.compose == "isotropic" else super().encoding_dim

    def domain_norm(self) -> Tensor:
        if self.compose != "isotropic":
            return super().domain_norm()
        return self.largest_axis_norm()

    def closed_form(self) -> theory.ClosedForm:
        """The expected kernel's: the Gaussian's at the matched sigma."""
        scale = self.scale
        return theory.ClosedForm(
            "rff",
            "SR ~ min(N, sqrt(2 pi) s), D = exp(-2 pi^2 s^2 delta^2)",
            theory.rff_stable_rank(scale),
            lambda d: theory.rff_similarity(d, scale),
        )

    @classmethod
    def bandwidth_for_stable_rank(cls, stable_rank: float) -> float:
        """``s = SR / sqrt(2 pi)``: the scale matched to the Gaussian of that stable rank."""
        return stable_rank / math.sqrt(2.0 * math.pi)
