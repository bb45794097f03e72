"""The shifted-basis family: one generator ``psi`` translated to ``K`` centres.

Per axis, ``f(u)_k = psi(u - t_k)`` with centres ``t_k = k / K`` (``k = 0..K-1``) on [0, 1).
With ``periodic=True`` the displacement is wrapped to [-1/2, 1/2] (``d - round(d)``), so the
basis lives on the circle: embedding the grid ``x_i = i / K`` then gives a circulant matrix,
P1's construction, whose spectrum is the DFT of the sampled generator.

Compact-support generators (triangle, box, impulse, and the Gaussian with ``truncate``) report
``support_radius``: ``psi(d) = 0`` whenever ``|d| > support_radius``, so a coordinate touches at
most ``2 K support_radius + 1`` centres, which :meth:`ShiftedBasis.active_centers` lists. The
Gaussian is exact unless ``truncate`` is given.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from posenc import validation
from posenc.embeddings.base import AxisEmbedding
from posenc.embeddings.registry import register

GeneratorSpec = Callable[[Tensor], Any] | Tensor | np.ndarray | list[float] | str | Path

_COMMON_HELP = {
    "in_dim": "number of coordinate axes d (>= 1)",
    "num_centers": "centres K per axis (or per direction), t_k = k/K (>= 1)",
    "periodic": "wrap displacements to [-1/2, 1/2] (basis on the circle)",
    "compose": "multi-D composition: concat | directions (2D) | separable",
    "normalization": "domain (largest row norm over [0,1)^d is 1) | train | none",
    "dtype": "floating-point type of the features",
}


class ShiftedBasis(AxisEmbedding):
    """Base class of shifted bases: subclasses define :meth:`generator`."""

    family = "shifted"
    centers: Tensor

    def __init__(
        self,
        in_dim: int,
        num_centers: int,
        periodic: bool,
        compose: str,
        normalization: str,
        dtype: torch.dtype,
    ) -> None:
        super().__init__(in_dim, compose, normalization, dtype)
        self.num_centers = validation.positive_int("num_centers", num_centers)
        self.periodic = bool(periodic)
        centers = torch.arange(self.num_centers, dtype=torch.float64) / self.num_centers
        self.register_buffer("centers", centers.to(dtype))

    @abc.abstractmethod
    def generator(self, displacement: Tensor) -> Tensor:
        """``psi(d)`` elementwise, for displacements ``d = u - t``."""

    @property
    def support_radius(self) -> float | None:
        """Radius beyond which ``psi`` is exactly zero, or ``None`` for global support."""
        return None

    @property
    def factor_dim(self) -> int:
        return self.num_centers

    def reference_values(self) -> Tensor:
        """The reference grid plus the centres, where peaked generators have their largest norm."""
        return torch.cat([super().reference_values(), self.centers])

    def displacements(self, values: Tensor) -> Tensor:
        """``(N, K)`` displacements ``u_n - t_k``, wrapped to [-1/2, 1/2] if periodic."""
        displacement = values[:, None] - self.centers[None, :]
        if self.periodic:
            displacement = displacement - torch.round(displacement)
        return displacement

    def axis_features(self, values: Tensor) -> Tensor:
        return self.generator(self.displacements(values))

    def negligible_radius(self, tolerance: float) -> float | None:
        """Radius beyond which ``|psi(d)| <= tolerance * max |psi|``, or ``None`` if unknown.

        Compact generators return :attr:`support_radius` (exactly zero beyond it); the
        Gaussian also answers for its untruncated form.
        """
        return self.support_radius

    def active_centers(self, values: Tensor, radius: float | None = None) -> tuple[Tensor, Tensor]:
        """A window of centres around each value: ``(indices, weights)``, both ``(N, M)``.

        ``M = ceil(2 K r) + 3`` consecutive centres (one spare each side against rounding)
        from ``floor((u - r) K) - 1`` cover every centre with ``|u - t_k| <= r``; without
        ``periodic`` the window is shifted to lie inside ``0..K-1``, with it the indices wrap
        modulo ``K``. The indices of a row are distinct (ascending without ``periodic``) and
        ``weights`` are the unnormalised ``psi(u - t_k)`` computed as :meth:`axis_features`
        computes them. Hence ``axis_features(values)`` equals the scatter of ``weights`` into
        ``indices`` wherever ``psi`` vanishes beyond ``r`` (``r`` defaults to
        :attr:`support_radius`). Raises ``ValueError`` for a generator without compact
        support and no ``radius``, or when the window would cover all ``K`` centres.
        """
        radius = self.support_radius if radius is None else radius
        if radius is None:
            raise ValueError(f"{self.name}: active_centers needs a compact support or a radius")
        count = math.ceil(2 * self.num_centers * radius) + 3
        if count >= self.num_centers:
            raise ValueError(
                f"{self.name}: radius {radius:g} touches all {self.num_centers} centres; "
                "there is nothing to gain from a sparse evaluation"
            )
        values = values.to(self.dtype)
        first = torch.floor((values - radius) * self.num_centers).long() - 1
        if not self.periodic:
            first = first.clamp(0, self.num_centers - count)
        indices = first[:, None] + torch.arange(count, device=values.device)
        if self.periodic:
            indices = torch.remainder(indices, self.num_centers)
        displacement = values[:, None] - self.centers[indices]
        if self.periodic:
            displacement = displacement - torch.round(displacement)
        return indices, self.generator(displacement)


@register
class GaussianBasis(ShiftedBasis):
    """Gaussian bumps; P2 Proposition 2: SR = min(N, 1 / (2 sqrt(pi) sigma))."""

    name = "gaussian"
    formula = "psi(d) = exp(-d^2 / (2 sigma^2)), zero for |d| > truncate * sigma if truncated"
    bandwidth_name = "sigma"
    parameter_help: ClassVar[dict[str, str]] = {
        **_COMMON_HELP,
        "sigma": "standard deviation of the bump (> 0)",
        "truncate": "cut the bump to zero beyond this many sigmas (> 0), or None for exact",
    }

    def __init__(
        self,
        in_dim: int = 1,
        sigma: float = 0.01,
        num_centers: int = 256,
        truncate: float | None = None,
        periodic: bool = False,
        compose: str = "concat",
        normalization: str = "domain",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(in_dim, num_centers, periodic, compose, normalization, dtype)
        self.sigma = validation.positive_float("sigma", sigma)
        self.truncate = (
            None if truncate is None else validation.positive_float("truncate", truncate)
        )

    @property
    def support_radius(self) -> float | None:
        return None if self.truncate is None else self.truncate * self.sigma

    def negligible_radius(self, tolerance: float) -> float | None:
        """``sigma sqrt(2 ln(1 / tolerance))``, where ``psi`` falls to ``tolerance`` of its
        peak; no more than the truncation radius."""
        radius = self.sigma * math.sqrt(2 * math.log(1 / tolerance))
        return radius if self.truncate is None else min(radius, self.truncate * self.sigma)

    def generator(self, displacement: Tensor) -> Tensor:
        values = torch.exp(-(displacement**2) / (2 * self.sigma**2))
        if self.truncate is not None:
            values = values * (displacement.abs() <= self.truncate * self.sigma)
        return values


@register
class SincBasis(ShiftedBasis):
    """Normalised sinc; its spectrum is a box of half-width 1 / (2 width)."""

    name = "sinc"
    formula = "psi(d) = sinc(d / width) = sin(pi d / width) / (pi d / width)"
    bandwidth_name = "width"
    parameter_help: ClassVar[dict[str, str]] = {
        **_COMMON_HELP,
        "width": "distance from the peak to the first zero (> 0)",
    }

    def __init__(
        self,
        in_dim: int = 1,
        width: float = 0.02,
        num_centers: int = 256,
        periodic: bool = False,
        compose: str = "concat",
        normalization: str = "domain",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(in_dim, num_centers, periodic, compose, normalization, dtype)
        self.width = validation.positive_float("width", width)

    def generator(self, displacement: Tensor) -> Tensor:
        return torch.sinc(displacement / self.width)


@register
class TriangleBasis(ShiftedBasis):
    """Hat functions (linear interpolation when width = 1/K); spectrum a squared sinc."""

    name = "triangle"
    formula = "psi(d) = max(1 - |d| / width, 0)"
    bandwidth_name = "width"
    parameter_help: ClassVar[dict[str, str]] = {
        **_COMMON_HELP,
        "width": "half-width of the hat (> 0)",
    }
    derived_defaults: ClassVar[dict[str, str]] = {"width": "1/num_centers"}

    def __init__(
        self,
        in_dim: int = 1,
        width: float | None = None,
        num_centers: int = 256,
        periodic: bool = False,
        compose: str = "concat",
        normalization: str = "domain",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(in_dim, num_centers, periodic, compose, normalization, dtype)
        self.width = validation.positive_float(
            "width", 1.0 / self.num_centers if width is None else width
        )

    @property
    def support_radius(self) -> float | None:
        return self.width

    def generator(self, displacement: Tensor) -> Tensor:
        return torch.clamp(1 - displacement.abs() / self.width, min=0)


@register
class RectBasis(ShiftedBasis):
    """Box functions: 1 on a half-open interval of the given width around each centre."""

    name = "rect"
    formula = "psi(d) = 1 if -width/2 <= d < width/2 else 0"
    bandwidth_name = "width"
    parameter_help: ClassVar[dict[str, str]] = {
        **_COMMON_HELP,
        "width": "full width of the box (> 0)",
    }

    def __init__(
        self,
        in_dim: int = 1,
        width: float = 0.02,
        num_centers: int = 256,
        periodic: bool = False,
        compose: str = "concat",
        normalization: str = "domain",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(in_dim, num_centers, periodic, compose, normalization, dtype)
        self.width = validation.positive_float("width", width)

    @property
    def support_radius(self) -> float | None:
        return self.width / 2

    def generator(self, displacement: Tensor) -> Tensor:
        return half_open_box(displacement, self.width / 2)


@register
class ImpulseBasis(ShiftedBasis):
    """Impulses: with the default radius 1/(2K), the one-hot code of the nearest centre."""

    name = "impulse"
    formula = "psi(d) = 1 if -radius <= d < radius else 0"
    bandwidth_name = "radius"
    parameter_help: ClassVar[dict[str, str]] = {
        **_COMMON_HELP,
        "radius": "half-width s of the impulse (> 0)",
    }
    derived_defaults: ClassVar[dict[str, str]] = {"radius": "1/(2 num_centers)"}

    def __init__(
        self,
        in_dim: int = 1,
        radius: float | None = None,
        num_centers: int = 256,
        periodic: bool = False,
        compose: str = "concat",
        normalization: str = "domain",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(in_dim, num_centers, periodic, compose, normalization, dtype)
        self.radius = validation.positive_float(
            "radius", 0.5 / self.num_centers if radius is None else radius
        )

    @property
    def support_radius(self) -> float | None:
        return self.radius

    def generator(self, displacement: Tensor) -> Tensor:
        return half_open_box(displacement, self.radius)


@register
class SquareWaveBasis(ShiftedBasis):
    """Shifted square waves of values +-1 (P1's low-rank example).

    ``sign(sin(2 pi f d))`` without its zeros: +1 on the first half of each period, -1 on the
    second, half-open, with edges snapped as in :func:`half_open_box`.
    """

    name = "square_wave"
    formula = "psi(d) = +1 if frac(frequency d) < 1/2 else -1"
    bandwidth_name = "frequency"
    parameter_help: ClassVar[dict[str, str]] = {
        **_COMMON_HELP,
        "frequency": "cycles per unit length (> 0); P1 uses 1 to 200",
    }

    def __init__(
        self,
        in_dim: int = 1,
        frequency: float = 1.0,
        num_centers: int = 256,
        periodic: bool = False,
        compose: str = "concat",
        normalization: str = "domain",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(in_dim, num_centers, periodic, compose, normalization, dtype)
        self.frequency = validation.positive_float("frequency", frequency)

    def generator(self, displacement: Tensor) -> Tensor:
        tolerance = boundary_tolerance(displacement.dtype)
        phase = torch.remainder(self.frequency * (displacement + tolerance), 1.0)
        return torch.where(phase < 0.5, 1.0, -1.0).to(displacement.dtype)


@register
class SineBasis(ShiftedBasis):
    """Shifted sines plus an offset (rank 2, or 3 with a non-zero offset)."""

    name = "sine"
    formula = "psi(d) = sin(2 pi frequency d) + offset"
    bandwidth_name = "frequency"
    parameter_help: ClassVar[dict[str, str]] = {
        **_COMMON_HELP,
        "frequency": "cycles per unit length (> 0)",
        "offset": "constant added to the sine (finite); P1's analysis uses 0.7",
    }

    def __init__(
        self,
        in_dim: int = 1,
        frequency: float = 1.0,
        offset: float = 0.0,
        num_centers: int = 256,
        periodic: bool = False,
        compose: str = "concat",
        normalization: str = "domain",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(in_dim, num_centers, periodic, compose, normalization, dtype)
        self.frequency = validation.positive_float("frequency", frequency)
        self.offset = validation.finite_float("offset", offset)

    def generator(self, displacement: Tensor) -> Tensor:
        return torch.sin((2 * math.pi * self.frequency) * displacement) + self.offset


@register
class NoiseBasis(ShiftedBasis):
    """A random generator: periodic white noise smoothed by a Gaussian of std ``length``.

    ``resolution`` samples ``g_m ~ N(0, 1)`` at ``m / resolution`` are filtered in the
    Fourier domain by ``exp(-2 pi^2 length^2 j^2)`` (frequency ``j`` in cycles per unit),
    scaled to unit RMS, and interpolated linearly: ``psi`` has period 1.
    """

    name = "noise"
    formula = "psi = periodic Gaussian-smoothed white noise, correlation length `length`"
    bandwidth_name = "length"
    parameter_help: ClassVar[dict[str, str]] = {
        **_COMMON_HELP,
        "length": "standard deviation of the smoothing kernel (> 0)",
        "resolution": "samples of one period of the generator (>= 2)",
        "seed": "seed of the noise draw",
    }

    def __init__(
        self,
        in_dim: int = 1,
        length: float = 0.005,
        num_centers: int = 256,
        resolution: int = 4096,
        seed: int = 0,
        periodic: bool = False,
        compose: str = "concat",
        normalization: str = "domain",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(in_dim, num_centers, periodic, compose, normalization, dtype)
        self.length = validation.positive_float("length", length)
        self.resolution = validation.positive_int("resolution", resolution)
        if self.resolution < 2:
            raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
        self.seed = seed
        self.register_buffer("samples", self._smoothed_noise().to(dtype))

    def _smoothed_noise(self) -> Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        white = torch.randn(self.resolution, generator=generator, dtype=torch.float64)
        frequencies = torch.fft.rfftfreq(self.resolution, d=1.0 / self.resolution)
        response = torch.exp(-2 * math.pi**2 * self.length**2 * frequencies**2)
        smooth = torch.fft.irfft(torch.fft.rfft(white) * response, n=self.resolution)
        return smooth / smooth.square().mean().sqrt()

    def generator(self, displacement: Tensor) -> Tensor:
        return periodic_interpolate(self.samples, displacement)


@register
class CustomBasis(ShiftedBasis):
    """A user-supplied generator: a callable ``psi(d)`` or samples of one period.

    ``generator`` is either a function taking a tensor of displacements and returning a tensor
    of the same shape, or a 1D array (or a ``.npy`` / text file of one) of ``M`` samples
    ``g_m = psi(m / M)`` of a period-1 generator, interpolated linearly; with ``M = K`` and
    ``periodic=True`` the embedded grid ``x_i = i / K`` is exactly the circulant of ``g``
    (P1's construction). Either way ``scale`` stretches it: the basis is ``psi(d / scale)``.
    """

    name = "custom"
    formula = "psi(d) = g(d / scale) for a user generator g (callable or sampled, period 1)"
    bandwidth_name = "scale"
    parameter_help: ClassVar[dict[str, str]] = {
        **_COMMON_HELP,
        "generator": "callable psi(d) on tensors, or samples of one period (array or file)",
        "scale": "stretch of the generator (> 0)",
    }
    example_parameters: ClassVar[dict[str, Any]] = {
        "generator": lambda d: torch.exp(-torch.abs(d) / 0.02),
    }

    def __init__(
        self,
        generator: GeneratorSpec,
        in_dim: int = 1,
        scale: float = 1.0,
        num_centers: int = 256,
        periodic: bool = False,
        compose: str = "concat",
        normalization: str = "domain",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(in_dim, num_centers, periodic, compose, normalization, dtype)
        self.scale = validation.positive_float("scale", scale)
        self.function: Callable[[Tensor], Any] | None = None
        if callable(generator):
            self.function = generator
            _check_generator_function(generator)
        else:
            self.register_buffer("samples", _generator_samples(generator).to(dtype))

    def generator(self, displacement: Tensor) -> Tensor:
        stretched = displacement / self.scale
        if self.function is None:
            return periodic_interpolate(self.samples, stretched)
        values = torch.as_tensor(self.function(stretched))
        return values.to(device=displacement.device, dtype=displacement.dtype)


BOUNDARY_ULPS = 8
"""Box edges are snapped by this many machine epsilons of the feature dtype (about 1e-6 in
float32, 2e-15 in float64), more than the rounding of ``d = x - t`` for ``x, t`` in [0, 1)."""


def boundary_tolerance(dtype: torch.dtype) -> float:
    """How far below a box edge a displacement still counts as on the edge."""
    return BOUNDARY_ULPS * torch.finfo(dtype).eps


def half_open_box(displacement: Tensor, radius: float) -> Tensor:
    """``1`` on ``[-radius, radius)``, else ``0``, with edges snapped by the tolerance.

    Computing ``d = x - t`` rounds, so a coordinate exactly midway between two centres can
    land just inside both boxes or neither; shifting both edges down by the tolerance assigns
    it consistently to the upper box.
    """
    shifted = displacement + boundary_tolerance(displacement.dtype)
    return ((shifted >= -radius) & (shifted < radius)).to(displacement.dtype)


def periodic_interpolate(samples: Tensor, positions: Tensor) -> Tensor:
    """Linear interpolation of period-1 samples ``samples[m] = g(m / M)`` at ``positions``."""
    count = samples.shape[0]
    scaled = torch.remainder(positions, 1.0) * count
    lower = torch.floor(scaled)
    weight = scaled - lower
    index = lower.long() % count
    return (1 - weight) * samples[index] + weight * samples[(index + 1) % count]


def _check_generator_function(function: Callable[[Tensor], Any]) -> None:
    probe = torch.linspace(-0.5, 0.5, 17, dtype=torch.float64)
    try:
        values = torch.as_tensor(function(probe))
    except Exception as error:
        raise ValueError(f"generator failed on a tensor of displacements: {error}") from None
    if values.shape != probe.shape:
        raise ValueError(
            "generator must return a tensor of the same shape as its input, "
            f"got {tuple(values.shape)} for input {tuple(probe.shape)}"
        )
    if not bool(torch.isfinite(values.double()).all()):
        raise ValueError("generator returned NaN or infinite values on [-1/2, 1/2]")


def _generator_samples(spec: GeneratorSpec) -> Tensor:
    if isinstance(spec, str | Path):
        path = Path(spec)
        if not path.is_file():
            raise ValueError(f"generator file {str(path)!r} does not exist")
        try:
            spec = np.load(path) if path.suffix == ".npy" else np.loadtxt(path)
        except (OSError, ValueError) as error:
            raise ValueError(f"generator file {str(path)!r} is not readable: {error}") from None
    samples = torch.as_tensor(np.asarray(spec, dtype=np.float64))
    if samples.ndim != 1 or samples.shape[0] < 2:
        raise ValueError(
            f"generator samples must be a 1D array of at least 2 values, got shape "
            f"{tuple(samples.shape)}"
        )
    if not bool(torch.isfinite(samples).all()):
        raise ValueError("generator samples contain NaN or infinite values")
    return samples
