r"""Closed-form stable rank and distance preservation (P2's appendix, and derived here).

The math below is the theory's; each embedding class states its own closed form from it
(:meth:`posenc.embeddings.Embedding.closed_form`) and inverts its stable rank
(:meth:`~posenc.embeddings.Embedding.bandwidth_for_stable_rank`).

Setting. A shifted basis ``psi(x - t)`` with a continuum of centres on the unit circle (P1's
circulant with ``K -> infinity``) has the Gram kernel ``<psi(x1 - .), psi(x2 - .)> = k(x1 - x2)``,
the autocorrelation of ``psi``. Two facts give everything below:

* Similarity (Wiener-Khinchin): ``D(delta) = k(delta) / k(0)``, and the power spectrum of
  ``k`` is ``P(nu) = |c_nu|^2``, the squared Fourier coefficients of the periodic generator.
* Stable rank of ``N`` samples ``x_k = k / N``: their Gram matrix is circulant with
  eigenvalues ``lambda_w = N sum_{nu = w mod N} P(nu)`` (Poisson summation), so

  ``SR(N) = sum_nu P(nu) / max_w sum_{nu = w mod N} P(nu)``   (:func:`aliased_stable_rank`)

  which tends to ``SR = sum P / max P`` as ``N -> infinity`` and is ``N`` for a flat spectrum.
  When ``P`` peaks at ``nu = 0`` and is smooth, ``sum P / max P`` is the integral of
  ``P / P(0)``: the effective bandwidth. P2's form ``min(N, SR_infinity)`` joins the limits.

* DP (count rule, threshold ``t``) of a continuous similarity is the measure of
  ``{delta in [-1/2, 1/2): D(delta) > t}`` over 2 (:func:`half_width_above`). Counting on a
  grid of ``N`` samples rounds each edge of a region above ``t`` to the grid: one lobe gives
  ``(2 floor(N m) + 1) / (2N)`` for a half-width ``m``, within ``1 / (2N)`` of it.

Families (bandwidth ``s`` or ``w``; ``u = |delta| / w``):

* Gaussian ``exp(-d^2 / (2 s^2))``: ``P = exp(-4 pi^2 s^2 nu^2)``, ``D = exp(-delta^2 / (4 s^2))``,
  ``SR = 1 / (2 sqrt(pi) s)``, ``DP = 2 s sqrt(ln 10)`` (P2, Proposition 2).
* RFF of scale ``s``: expected ``D = exp(-2 pi^2 s^2 delta^2)``, ``SR ~ sqrt(2 pi) s``,
  ``DP = sqrt(ln 10 / 2) / (pi s)``; the Gaussian's at ``s = 1 / (2 sqrt(2) pi sigma)``.
* Triangle ``max(1 - |d| / w, 0)``: ``P = sinc^4(w nu)``, ``SR = 2 / (3 w)``,
  ``D = 1 - 3u^2/2 + 3u^3/4`` (``u <= 1``), ``(2 - u)^3 / 4`` (``1 <= u <= 2``),
  ``DP = (2 - 0.4^(1/3)) w = 1.26319 w``.
* Sinc ``sinc(d / w)``: ``P`` a box of ``1/w`` frequencies on the line, ``SR = 1 / w``,
  ``D = sinc(delta / w)``, ``DP = 1.33925 w``; on the circle ``SR`` is 0.842/w to ~1/w.

Gaussian and RFF: ``SR * DP = sqrt(ln 10 / pi) = 0.85612`` for every bandwidth. For ``N``
Gaussian samples the aliased sum is, by Poisson summation,
``SR(N) = N / sum_{q in Z} exp(-q^2 / (4 sigma^2 N^2))``: 19.92 and 26.68 at ``N = 20, 30``
for ``sigma = 0.01`` (P1's SR-against-N table), where the ``min`` form says 20 and 28.21.

Triangle: the hat is a box of width ``w`` convolved with itself, over ``w``, so its transform
is ``w sinc^2(w nu)``, ``P = w^2 sinc^4(w nu)`` and ``SR = int sinc^4 / w = 2 / (3 w)``. Its
autocorrelation is the cubic B-spline above; ``D(w) = 1/4 > 0.1``, so the 0.1 crossing is on
the outer piece, ``(2 - u)^3 = 0.4``, and ``SR * DP = 0.84213``.

Sinc: on the infinite line the transform is the box ``w`` for ``|nu| < 1/(2w)``, so
``SR = min(N, 1/w)`` and, the box being its own square, ``D(delta) = sinc(delta / w)``. That
similarity oscillates: the count rule takes the main lobe up to ``u1 = 0.90793`` *and* the
second positive lobe, above 0.1 on ``(2.24987, 2.68119)`` (peak 0.1284), so
``DP = (u1 + 2.68119 - 2.24987) w = 1.33925 w``, not the first crossing ``0.90793 w``, and
``SR * DP = 1.339``. On the unit circle the generator is cut to one period, which blurs the
box with ``sinc(nu)``: ``c_nu = w (Si(pi (nu + B)) - Si(pi (nu - B))) / pi``, ``B = 1/(2w)``,
with a Gibbs overshoot of up to ``1/2 + Si(pi)/pi = 1.0895`` at the band edge. The circle's
SR is ``sum c^2 / max c^2``: ``1 / (1.0895^2 w) = 0.842 / w`` when ``B`` is an integer, up
to about ``1 / w`` otherwise (:func:`sinc_circle_stable_rank`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from posenc import validation

DEFAULT_THRESHOLD = 0.1
"""Similarity above which two coordinates count as close (P1's DP threshold)."""

SR_DP_GAUSSIAN = math.sqrt(math.log(10) / math.pi)
"""``SR * DP = sqrt(ln 10 / pi) = 0.85612`` of the Gaussian basis and matched RFF (P1, P2)."""

DEFAULT_BANDLIMIT = 1 << 17
"""Frequencies ``|nu| <= 2^17`` summed by :func:`aliased_stable_rank`: enough for spectra
decaying like ``1 / nu^2`` or faster with a small constant (all the families below: relative
error under 1e-5); a flat spectrum up to ``K`` would need ``bandlimit >> K``."""

MIN_RESOLVED_SPACINGS = 2.0
"""A generator (Gaussian sigma, triangle or sinc width) must span this many centre spacings
``1 / K`` for the continuum closed forms to apply.

The forms are for the periodic construction (a non-periodic basis deviates within about one
bandwidth of the edges) and a continuum of centres. With ``K`` centres the Gaussian and sinc
agree with the circulant to 0.1% once the bandwidth spans 1.5 centre spacings; the triangle,
whose kink the centres sample, keeps a relative excess of ``1 / (2 (w K)^2)`` in SR for
integer ``w K`` (12.5% at ``w K = 2``, 0.5% at 10). Below this many spacings the centres, not
the generator, set SR and DP (the default triangle of width ``1/K`` is the one-hot code), and
those embeddings state no closed form."""

_FINE_POINTS = 1 << 16

Spectrum = Callable[[np.ndarray], np.ndarray]
Similarity = Callable[[np.ndarray], np.ndarray]


# ----------------------------------------------------------------------- generic relations
def aliased_stable_rank(
    power: Spectrum, num_samples: int | None, bandlimit: int = DEFAULT_BANDLIMIT
) -> float:
    """``SR(N) = sum_nu P(nu) / max_w sum_{nu = w mod N} P(nu)`` over ``|nu| <= bandlimit``.

    Exact for ``N`` samples ``k / N`` of a shifted basis with a continuum of centres on the
    circle whose generator has Fourier power spectrum ``power`` (integer frequencies);
    ``num_samples=None`` gives the limit ``sum P / max P``.
    """
    frequencies = np.arange(-bandlimit, bandlimit + 1)
    spectrum = np.asarray(power(frequencies.astype(np.float64)), dtype=np.float64)
    total = spectrum.sum()
    if num_samples is None:
        return float(total / spectrum.max())
    folded = np.bincount(frequencies % num_samples, weights=spectrum, minlength=num_samples)
    return float(total / folded.max())


def half_width_above(
    similarity: Similarity, threshold: float = DEFAULT_THRESHOLD, extent: float = 0.5
) -> float:
    """``|{delta in (0, extent]: D(delta) > threshold}|`` for an even ``D``: the continuum DP.

    Crossings are bracketed on a grid of 65536 points and refined by Brent's method, so
    lobes wider than ``extent / 65536`` are measured to machine precision.
    """
    from scipy.optimize import brentq  # scipy loads when a crossing is refined

    grid = np.linspace(0.0, extent, _FINE_POINTS + 1)
    above = np.asarray(similarity(grid)) > threshold
    edges = [0.0] if above[0] else []
    for index in np.flatnonzero(above[1:] != above[:-1]):
        edges.append(brentq(_offset(similarity, threshold), grid[index], grid[index + 1]))
    if above[-1]:
        edges.append(extent)
    return float(sum(end - start for start, end in zip(edges[::2], edges[1::2], strict=True)))


def _offset(similarity: Similarity, threshold: float) -> Callable[[float], float]:
    return lambda delta: float(similarity(np.array([delta]))[0]) - threshold


# ------------------------------------------------------------------------- matching
_MATCH = 2 * math.sqrt(2) * math.pi


def gaussian_sigma_to_rff_scale(sigma: float) -> float:
    """RFF scale ``s = 1 / (2 sqrt(2) pi sigma)`` matched to a Gaussian basis of ``sigma``.

    A Gaussian basis of width ``sigma`` has similarity ``exp(-d^2 / (4 sigma^2))``, RFF of
    scale ``s`` the expected similarity ``exp(-2 pi^2 s^2 d^2)``: equal for this ``s``, under
    which both lie on the same stable-rank / distance-preservation curve.
    """
    return 1.0 / (_MATCH * validation.positive_float("sigma", sigma))


def rff_scale_to_gaussian_sigma(scale: float) -> float:
    """Gaussian ``sigma = 1 / (2 sqrt(2) pi s)`` matched to RFF of scale ``s``."""
    return 1.0 / (_MATCH * validation.positive_float("scale", scale))


# ------------------------------------------------------------------------ closed forms
def gaussian_stable_rank(sigma: float, num_samples: int | None = None) -> float:
    """P2, Proposition 2: ``SR = min(N, 1 / (2 sqrt(pi) sigma))``."""
    limit = 1.0 / (2.0 * math.sqrt(math.pi) * sigma)
    return limit if num_samples is None else min(float(num_samples), limit)


def gaussian_similarity(delta: np.ndarray, sigma: float) -> np.ndarray:
    """``D(delta) = exp(-delta^2 / (4 sigma^2))``."""
    return np.exp(-(np.asarray(delta) ** 2) / (4.0 * sigma**2))


def gaussian_distance_preservation(sigma: float, threshold: float = DEFAULT_THRESHOLD) -> float:
    """``DP = 2 sigma sqrt(ln(1 / t))`` (``2 sigma sqrt(ln 10)`` at t = 0.1)."""
    return 2.0 * sigma * math.sqrt(math.log(1.0 / threshold))


def rff_stable_rank(scale: float, num_samples: int | None = None) -> float:
    """``SR ~ min(N, sqrt(2 pi) s)``: the Gaussian's at the matched ``sigma``."""
    return gaussian_stable_rank(rff_scale_to_gaussian_sigma(scale), num_samples)


def rff_similarity(delta: np.ndarray, scale: float) -> np.ndarray:
    """Expected similarity ``exp(-2 pi^2 s^2 delta^2)`` of Gaussian random Fourier features."""
    return np.exp(-2.0 * math.pi**2 * scale**2 * np.asarray(delta) ** 2)


def rff_distance_preservation(scale: float, threshold: float = DEFAULT_THRESHOLD) -> float:
    """``DP = sqrt(ln(1 / t) / 2) / (pi s)``."""
    return math.sqrt(math.log(1.0 / threshold) / 2.0) / (math.pi * scale)


def triangle_stable_rank(width: float, num_samples: int | None = None) -> float:
    """``SR = min(N, 2 / (3 w))`` (spectrum ``sinc^4(w nu)``, ``int sinc^4 = 2/3``)."""
    limit = 2.0 / (3.0 * width)
    return limit if num_samples is None else min(float(num_samples), limit)


def triangle_similarity(delta: np.ndarray, width: float) -> np.ndarray:
    """The normalised cubic B-spline ``D(u)``, ``u = |delta| / w`` (module table)."""
    u = np.abs(np.asarray(delta)) / width
    inner = 1.0 - 1.5 * u**2 + 0.75 * u**3
    outer = np.clip(2.0 - u, 0.0, None) ** 3 / 4.0
    return np.where(u <= 1.0, inner, outer)


def triangle_distance_preservation(width: float, threshold: float = DEFAULT_THRESHOLD) -> float:
    """``DP = (2 - (4 t)^(1/3)) w`` for ``t <= 1/4`` (1.26319 w at t = 0.1)."""
    if threshold <= 0.25:
        return (2.0 - (4.0 * threshold) ** (1.0 / 3.0)) * width
    return half_width_above(lambda d: triangle_similarity(d, width), threshold, 2 * width)


def sinc_stable_rank(width: float, num_samples: int | None = None) -> float:
    """Infinite line: the spectrum is a box of ``1/w`` frequencies, ``SR = min(N, 1/w)``."""
    return 1.0 / width if num_samples is None else min(float(num_samples), 1.0 / width)


def sinc_circle_power(frequencies: np.ndarray, width: float) -> np.ndarray:
    """``|c_nu|^2 / w^2`` of ``sinc(d / w)`` cut to one period: the box blurred by ``sinc(nu)``."""
    from scipy.special import sici

    band = 0.5 / width
    upper, lower = sici(math.pi * (frequencies + band))[0], sici(math.pi * (frequencies - band))[0]
    return ((upper - lower) / math.pi) ** 2


def sinc_circle_stable_rank(width: float, num_samples: int | None = None) -> float:
    """Exact SR of the sinc basis on the circle (module docstring): ``0.842/w`` to ``~1/w``."""
    return aliased_stable_rank(lambda nu: sinc_circle_power(nu, width), num_samples)


def sinc_similarity(delta: np.ndarray, width: float) -> np.ndarray:
    """``D(delta) = sinc(delta / w)`` (normalised sinc; the box is its own square)."""
    return np.sinc(np.asarray(delta) / width)


def sinc_distance_preservation(width: float, threshold: float = DEFAULT_THRESHOLD) -> float:
    """Count-rule DP of ``sinc(delta / w)``: every lobe above ``t`` (1.33925 w at t = 0.1)."""
    return half_width_above(lambda d: sinc_similarity(d, width), threshold)


# ------------------------------------------------------------------ per-embedding view
@dataclass(frozen=True)
class ClosedForm:
    """The theory of one embedding at its bandwidth: what the plots draw beside measurements.

    ``stable_rank(N)`` is exact on the circle (:func:`aliased_stable_rank`) where the
    generator's spectrum ``power`` is known, else P2's ``min(N, stable_rank_limit)``.
    ``similarity`` is ``D(delta)``; :meth:`distance_preservation` applies the count rule
    to it on the continuum.
    """

    family: str
    formula: str
    stable_rank_limit: float
    similarity: Similarity
    power: Spectrum | None = None

    def stable_rank(self, num_samples: int | None = None) -> float:
        """Predicted SR of ``N`` samples (``None``: the limit ``N -> infinity``)."""
        if self.power is not None:
            return aliased_stable_rank(self.power, num_samples)
        if num_samples is None:
            return self.stable_rank_limit
        return min(float(num_samples), self.stable_rank_limit)

    def distance_preservation(self, threshold: float = DEFAULT_THRESHOLD) -> float:
        """Predicted DP on the continuum (a grid of ``N`` adds up to ``1 / (2N)``)."""
        return half_width_above(self.similarity, threshold)


def triangle_wave(phase: np.ndarray) -> np.ndarray:
    """Autocorrelation of a +-1 square wave: 1 at whole periods, -1 at half periods."""
    return 1.0 - 4.0 * np.abs(phase - np.round(phase))
