"""The shifted-basis family: one generator ``psi`` translated to ``K`` centres.

Per axis, ``f(u)_k = psi(u - t_k)`` with centres ``t_k = k / K`` (``k = 0..K-1``) on [0, 1).
With ``periodic=True`` the displacement is wrapped to [-1/2, 1/2] (``d - round(d)``), so the
basis lives on the circle: embedding the grid ``x_i = i / K`` then gives a circulant matrix,
P1's construction, whose spectrum is the DFT of the sampled generator.

Compact-support generators (triangle, box, impulse, and the Gaussian with ``truncate``) report
``support_radius``: ``psi(d) = 0`` whenever ``|d| > support_radius``, so a coordinate touches at
most ``2 K support_radius + 1`` centres, which :meth:`ShiftedBasis.active_centers` lists. The
Gaussian is exact unless ``truncate`` is given.

A new basis is one class: subclass :class:`ShiftedBasis`, give it a ``name``, ``formula`` and
``bandwidth_name``, declare its own parameters as :class:`~posenc.embeddings.base.Param`
attributes, define :meth:`~ShiftedBasis.generator`, and decorate it with
:func:`~posenc.embeddings.registry.register`; :meth:`~posenc.embeddings.Embedding.closed_form`
and :meth:`~posenc.embeddings.Embedding.bandwidth_for_stable_rank` are optional.
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

from posenc import theory, validation
from posenc.embeddings.base import REFERENCE_GRID_POINTS, REQUIRED, AxisEmbedding, Param
from posenc.embeddings.registry import register

GeneratorSpec = Callable[[Tensor], Any] | Tensor | np.ndarray | list[float] | str | Path


NORM_POINTS_PER_SPACING = 8
"""Points per centre spacing at which a shifted basis's domain norm is evaluated."""


def _optional_positive(name: str, value: Any) -> float | None:
    return None if value is None else validation.positive_float(name, value)


def _resolution(name: str, value: Any) -> int:
    return validation.integer(name, value, 2)


class ShiftedBasis(AxisEmbedding):
    """Base class of shifted bases: subclasses define :meth:`generator`."""

    family = "shifted"
    centers: Tensor

    num_centers = Param[int](
        256, "centres K per axis (or per direction), t_k = k/K (>= 1)", validation.positive_int
    )
    periodic = Param[bool](
        False, "wrap displacements to [-1/2, 1/2] (basis on the circle)", validation.boolean
    )

    def build(self) -> None:
        centers = torch.arange(self.num_centers, dtype=torch.float64) / self.num_centers
        self.register_buffer("centers", centers.to(self.dtype))

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

    @property
    def resolved(self) -> bool:
        """Whether the bandwidth spans :data:`~posenc.theory.MIN_RESOLVED_SPACINGS` centre
        spacings, so that the generator rather than the centres sets SR and DP."""
        return (self.bandwidth or 0.0) * self.num_centers >= theory.MIN_RESOLVED_SPACINGS

    def largest_axis_norm(self) -> Tensor:
        """``max_u ||f(u)||`` at every centre, at ``M`` evenly spaced points between each
        centre and the next, and at ``u = 1``: ``O(M K)`` work for ``K`` centres.

        At ``u = (j + m / M) / K`` the squared norm is a window sum of one sequence: with
        ``g_i = psi((i + m / M) / K)^2``, ``||f(u)||^2 = sum_{i = j - K + 1}^{j} g_i``, a
        difference of two prefix sums of the ``2K - 1`` values of ``g``; on the circle
        (``periodic``) the displacements wrap, and every ``j`` has the same sum
        ``sum_{r=0}^{K-1} g_r``. ``M = max(NORM_POINTS_PER_SPACING, ceil(2048 / K))``, so the
        points are at least as dense as the reference grid, and they include the centres,
        where peaked generators reach their largest norm.
        """
        count = self.num_centers
        per_spacing = max(NORM_POINTS_PER_SPACING, math.ceil(REFERENCE_GRID_POINTS / count))
        device = self.norm_scale.device
        first = 0 if self.periodic else 1 - count
        offsets = torch.arange(first, count, dtype=torch.float64, device=device)
        largest = torch.zeros((), dtype=torch.float64, device=device)
        for step in range(per_spacing):
            displacement = ((offsets + step / per_spacing) / count).to(self.dtype)
            if self.periodic:
                displacement = displacement - torch.round(displacement)
            squares = self.generator(displacement).to(torch.float64).square()
            if self.periodic:
                largest = torch.maximum(largest, squares.sum())
                continue
            prefix = torch.cat([squares.new_zeros(1), torch.cumsum(squares, 0)])
            largest = torch.maximum(largest, (prefix[count:] - prefix[:count]).max())
        end = self.axis_features(torch.ones(1, dtype=self.dtype, device=device))
        largest = torch.maximum(largest, end.to(torch.float64).square().sum())
        return largest.sqrt().to(self.dtype)

    def construction_bytes(self) -> int:
        """The centres, and the ``2K`` displacements, generator values and prefix sums of one
        step of :meth:`largest_axis_norm` (float64, with the generator's temporaries)."""
        return self.num_centers * (self.feature_dtype.itemsize + 2 * 64)

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
    sigma = Param[float](0.01, "standard deviation of the bump (> 0)", validation.positive_float)
    truncate = Param[float | None](
        None,
        "cut the bump to zero beyond this many sigmas (> 0), or None for exact",
        _optional_positive,
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

    def closed_form(self) -> theory.ClosedForm | None:
        """P2 Proposition 2 (``truncate`` ignored); ``None`` below the resolved spacing."""
        if not self.resolved:
            return None
        sigma = self.sigma
        return theory.ClosedForm(
            "gaussian",
            "SR ~ min(N, 1/(2 sqrt(pi) sigma)), D = exp(-delta^2/(4 sigma^2))",
            theory.gaussian_stable_rank(sigma),
            lambda d: theory.gaussian_similarity(d, sigma),
            lambda nu: np.exp(-4.0 * math.pi**2 * sigma**2 * nu**2),
        )

    @classmethod
    def bandwidth_for_stable_rank(cls, stable_rank: float) -> float:
        """``sigma = 1 / (2 sqrt(pi) SR)``."""
        return 1.0 / (2.0 * math.sqrt(math.pi) * stable_rank)


@register
class SincBasis(ShiftedBasis):
    """Normalised sinc; its spectrum is a box of half-width 1 / (2 width)."""

    name = "sinc"
    formula = "psi(d) = sinc(d / width) = sin(pi d / width) / (pi d / width)"
    bandwidth_name = "width"
    width = Param[float](
        0.02, "distance from the peak to the first zero (> 0)", validation.positive_float
    )

    def generator(self, displacement: Tensor) -> Tensor:
        return torch.sinc(displacement / self.width)

    def closed_form(self) -> theory.ClosedForm | None:
        """The box spectrum cut to the circle; ``None`` below the resolved spacing."""
        if not self.resolved:
            return None
        width = self.width
        return theory.ClosedForm(
            "sinc",
            "SR = box spectrum cut to the circle (~0.84/w to 1/w), D = sinc(delta/w)",
            theory.sinc_circle_stable_rank(width),
            lambda d: theory.sinc_similarity(d, width),
            lambda nu: theory.sinc_circle_power(nu, width),
        )

    @classmethod
    def bandwidth_for_stable_rank(cls, stable_rank: float) -> float:
        """``w = 1 / SR`` (the infinite line's box spectrum)."""
        return 1.0 / stable_rank


@register
class TriangleBasis(ShiftedBasis):
    """Hat functions (linear interpolation when width = 1/K); spectrum a squared sinc."""

    name = "triangle"
    formula = "psi(d) = max(1 - |d| / width, 0)"
    bandwidth_name = "width"
    width = Param[float](
        None,
        "half-width of the hat (> 0)",
        validation.positive_float,
        derive=lambda emb: 1.0 / emb.num_centers,
        shown_default="1/num_centers",
    )

    @property
    def support_radius(self) -> float | None:
        return self.width

    def generator(self, displacement: Tensor) -> Tensor:
        return torch.clamp(1 - displacement.abs() / self.width, min=0)

    def closed_form(self) -> theory.ClosedForm | None:
        """Spectrum ``sinc^4(w nu)``; ``None`` below the resolved spacing."""
        if not self.resolved:
            return None
        width = self.width
        return theory.ClosedForm(
            "triangle",
            "SR ~ min(N, 2/(3 w)), D = cubic B-spline of delta/w",
            theory.triangle_stable_rank(width),
            lambda d: theory.triangle_similarity(d, width),
            lambda nu: np.sinc(width * nu) ** 4,
        )

    @classmethod
    def bandwidth_for_stable_rank(cls, stable_rank: float) -> float:
        """``w = 2 / (3 SR)``."""
        return 2.0 / (3.0 * stable_rank)


@register
class RectBasis(ShiftedBasis):
    """Box functions: 1 on a half-open interval of the given width around each centre."""

    name = "rect"
    formula = "psi(d) = 1 if -width/2 <= d < width/2 else 0"
    bandwidth_name = "width"
    width = Param[float](0.02, "full width of the box (> 0)", validation.positive_float)

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
    radius = Param[float](
        None,
        "half-width s of the impulse (> 0)",
        validation.positive_float,
        derive=lambda emb: 0.5 / emb.num_centers,
        shown_default="1/(2 num_centers)",
    )

    @property
    def support_radius(self) -> float | None:
        return self.radius

    def generator(self, displacement: Tensor) -> Tensor:
        return half_open_box(displacement, self.radius)

    def closed_form(self) -> theory.ClosedForm | None:
        """A box of width ``2 radius``: with the default radius the one-hot code,
        ``SR = min(N, K)``."""
        box = 2.0 * self.radius
        return theory.ClosedForm(
            "impulse",
            "SR = min(N, 1/(2 r)), D = max(0, 1 - |delta|/(2 r))",
            1.0 / box,
            lambda d: np.clip(1.0 - np.abs(np.asarray(d)) / box, 0.0, None),
        )

    @classmethod
    def bandwidth_for_stable_rank(cls, stable_rank: float) -> float:
        """``r = 1 / (2 SR)``."""
        return 1.0 / (2.0 * stable_rank)


@register
class SquareWaveBasis(ShiftedBasis):
    """Shifted square waves of values +-1 (P1's low-rank example).

    ``sign(sin(2 pi f d))`` without its zeros: +1 on the first half of each period, -1 on the
    second, half-open, with edges snapped as in :func:`half_open_box`.
    """

    name = "square_wave"
    formula = "psi(d) = +1 if frac(frequency d) < 1/2 else -1"
    bandwidth_name = "frequency"
    frequency = Param[float](
        1.0, "cycles per unit length (> 0); P1 uses 1 to 200", validation.positive_float
    )

    def generator(self, displacement: Tensor) -> Tensor:
        tolerance = boundary_tolerance(displacement.dtype)
        phase = torch.remainder(self.frequency * (displacement + tolerance), 1.0)
        return torch.where(phase < 0.5, 1.0, -1.0).to(displacement.dtype)

    def closed_form(self) -> theory.ClosedForm | None:
        """Odd harmonics of power ``1/j^2``, for an integer frequency (else ``None``)."""
        frequency = self.frequency
        if frequency != round(frequency):
            return None

        def power(nu: np.ndarray) -> np.ndarray:
            harmonic = nu / frequency
            odd = (np.abs(harmonic) % 2 == 1) & (harmonic == np.round(harmonic))
            return np.where(odd, 1.0 / np.where(odd, harmonic, 1.0) ** 2, 0.0)

        return theory.ClosedForm(
            "square_wave",
            "P = 1/j^2 at odd harmonics j f: SR -> pi^2/4, D = triangle wave",
            math.pi**2 / 4.0,
            lambda d: theory.triangle_wave(frequency * np.asarray(d)),
            power,
        )


@register
class SineBasis(ShiftedBasis):
    """Shifted sines plus an offset (rank 2, or 3 with a non-zero offset)."""

    name = "sine"
    formula = "psi(d) = sin(2 pi frequency d) + offset"
    bandwidth_name = "frequency"
    frequency = Param[float](1.0, "cycles per unit length (> 0)", validation.positive_float)
    offset = Param[float](
        0.0, "constant added to the sine (finite); P1's analysis uses 0.7", validation.finite_float
    )

    def generator(self, displacement: Tensor) -> Tensor:
        return torch.sin((2 * math.pi * self.frequency) * displacement) + self.offset

    def closed_form(self) -> theory.ClosedForm | None:
        """Power ``offset^2`` at 0 and ``1/4`` at ``+-f``, for an integer frequency."""
        frequency, offset = self.frequency, self.offset
        if frequency != round(frequency):
            return None
        energy = offset**2 + 0.5
        return theory.ClosedForm(
            "sine",
            "P = offset^2 at 0, 1/4 at +-f: SR -> (offset^2 + 1/2) / max(offset^2, 1/4)",
            energy / max(offset**2, 0.25),
            lambda d: (
                (offset**2 + 0.5 * np.cos(2.0 * math.pi * frequency * np.asarray(d))) / energy
            ),
            lambda nu: np.where(nu == 0, offset**2, np.where(np.abs(nu) == frequency, 0.25, 0.0)),
        )


@register
class NoiseBasis(ShiftedBasis):
    """A random generator: periodic white noise smoothed by a Gaussian of std ``length``.

    ``resolution`` samples ``g_m ~ N(0, 1)`` at ``m / resolution`` are filtered in the
    Fourier domain by ``exp(-2 pi^2 length^2 j^2)`` (frequency ``j`` in cycles per unit),
    scaled to unit RMS, and interpolated linearly: ``psi`` has period 1.
    """

    name = "noise"
    samples: Tensor
    formula = "psi = periodic Gaussian-smoothed white noise, correlation length `length`"
    bandwidth_name = "length"
    length = Param[float](
        0.005, "standard deviation of the smoothing kernel (> 0)", validation.positive_float
    )
    resolution = Param[int](4096, "samples of one period of the generator (>= 2)", _resolution)
    seed = Param[int](0, "seed of the noise draw (>= 0)", validation.nonnegative_int)

    def build(self) -> None:
        super().build()
        self.register_buffer("samples", self._smoothed_noise().to(self.dtype))

    def construction_bytes(self) -> int:
        """The base's, plus the noise draw and its smoothing (about six float64 copies)."""
        return super().construction_bytes() + 48 * self.resolution

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
    samples: Tensor
    formula = "psi(d) = g(d / scale) for a user generator g (callable or sampled, period 1)"
    bandwidth_name = "scale"
    generator_spec = Param[GeneratorSpec](
        REQUIRED,
        "callable psi(d) on tensors, or samples of one period (array or file)",
        lambda name, value: _checked_generator(value),
        key="generator",
    )
    scale = Param[float](1.0, "stretch of the generator (> 0)", validation.positive_float)
    example_parameters: ClassVar[dict[str, Any]] = {
        "generator": lambda d: torch.exp(-torch.abs(d) / 0.02),
    }

    def build(self) -> None:
        super().build()
        spec = self.generator_spec  # checked: a callable, or float64 samples
        self.function: Callable[[Tensor], Any] | None = spec if callable(spec) else None
        if self.function is None:
            self.register_buffer("samples", torch.as_tensor(spec).to(self.dtype))

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


def _checked_generator(spec: GeneratorSpec) -> Callable[[Tensor], Any] | Tensor:
    """A generator function that works on a tensor of displacements, or the float64
    samples of one period (from an array or a ``.npy`` / text file)."""
    if callable(spec):
        _check_generator_function(spec)
        return spec
    return _generator_samples(spec)


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
