"""Seeded synthetic 1D signals, one registry of families.

Every family maps ``(length, **parameters)`` to ``length`` samples ``x[t]``, ``t = 0 ..
length - 1`` at coordinates ``t / length``; :func:`generate` then rescales them affinely onto
``[0, 1]`` (minimum 0, maximum 1). All frequencies are integers (cycles per unit domain) below
the Nyquist frequency ``length / 2``, so every signal is periodic on ``[0, 1)``. Randomness
comes from ``numpy.random.default_rng(seed)`` only.

A new family is one entry in :data:`SYNTHETIC_FAMILIES`: a function returning the raw samples
and the defaults of its parameters (whose types, int or float, say how spec values parse).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SyntheticFamily:
    """A family of synthetic 1D signals: ``make(length, **parameters) -> raw samples``."""

    name: str
    formula: str
    defaults: dict[str, int | float]
    help: dict[str, str]
    make: Callable[..., np.ndarray]


def powerlaw(length: int, alpha: float, seed: int) -> np.ndarray:
    """``x[t] = sum_{f=1}^{F} f^(-alpha) cos(2 pi f t / length + phi_f)``, ``F = (length-1)//2``.

    Deterministic amplitudes ``f^(-alpha)`` (so the amplitude spectrum of every draw is
    exactly ``|X(f)| ~ f^(-alpha)`` and the power spectrum ``~ f^(-2 alpha)``), random phases
    ``phi_f ~ U[0, 2 pi)``, no constant term and no Nyquist term.
    """
    _require(math.isfinite(alpha), f"alpha must be a finite number, got {alpha!r}")
    top = (length - 1) // 2
    _require(top >= 1, f"length must be >= 3 to hold a frequency, got {length}")
    phases = _rng(seed).uniform(0, 2 * np.pi, top)
    frequencies = np.arange(1, top + 1)
    return cosine_sum(length, frequencies, frequencies.astype(np.float64) ** -alpha, phases)


def sines(length: int, count: int, fmax: int, seed: int) -> np.ndarray:
    """``x[t] = sum_{k=1}^{count} cos(2 pi f_k t / length + phi_k)``, unit amplitudes.

    The ``count`` frequencies ``f_k`` are distinct integers drawn uniformly from
    ``1 .. fmax`` (``fmax < length / 2``), the phases ``phi_k ~ U[0, 2 pi)``.
    """
    _require(count >= 1, f"count must be >= 1, got {count}")
    _require(fmax >= count, f"fmax must be >= count = {count}, got {fmax}")
    _require(2 * fmax < length, f"fmax must be below length / 2 = {length / 2:g}, got {fmax}")
    rng = _rng(seed)
    frequencies = rng.choice(np.arange(1, fmax + 1), size=count, replace=False)
    phases = rng.uniform(0, 2 * np.pi, count)
    return cosine_sum(length, frequencies, np.ones(count), phases)


def cosine_sum(
    length: int, frequencies: np.ndarray, amplitudes: np.ndarray, phases: np.ndarray
) -> np.ndarray:
    """``x[t] = sum_k a_k cos(2 pi f_k t / length + phi_k)`` for distinct integer
    ``0 < f_k < length / 2``, by one inverse real FFT (O(length log length) memory-light)."""
    spectrum = np.zeros(length // 2 + 1, dtype=np.complex128)
    spectrum[frequencies] = amplitudes * np.exp(1j * phases) * (length / 2)
    return np.fft.irfft(spectrum, n=length)


def steps(length: int, count: int, seed: int) -> np.ndarray:
    """Piecewise constant: ``count`` jumps at distinct random positions in ``1 .. length-1``,
    the ``count + 1`` levels drawn from ``U[0, 1)``."""
    _require(1 <= count < length, f"count must be in 1 .. length - 1 = {length - 1}, got {count}")
    rng = _rng(seed)
    jumps = np.sort(rng.choice(np.arange(1, length), size=count, replace=False))
    levels = rng.uniform(0, 1, count + 1)
    return levels[np.searchsorted(jumps, np.arange(length), side="right")]


SYNTHETIC_FAMILIES: dict[str, SyntheticFamily] = {
    family.name: family
    for family in (
        SyntheticFamily(
            name="powerlaw",
            formula="sum_f f^-alpha cos(2 pi f x + phi_f), f = 1 .. below Nyquist, random phi_f",
            defaults={"alpha": 1.0, "seed": 0},
            help={
                "alpha": "amplitude-spectrum exponent: |X(f)| ~ f^-alpha, power ~ f^(-2 alpha)",
                "seed": "seed of the random phases",
            },
            make=powerlaw,
        ),
        SyntheticFamily(
            name="sines",
            formula="sum_k cos(2 pi f_k x + phi_k), count distinct integer f_k in 1..fmax",
            defaults={"count": 4, "fmax": 32, "seed": 0},
            help={
                "count": "number of sinusoids",
                "fmax": "largest frequency (cycles per unit), below length / 2",
                "seed": "seed of the frequencies and phases",
            },
            make=sines,
        ),
        SyntheticFamily(
            name="steps",
            formula="piecewise constant, count jumps at random positions, U[0,1) levels",
            defaults={"count": 8, "seed": 0},
            help={"count": "number of jumps", "seed": "seed of positions and levels"},
            make=steps,
        ),
    )
}
"""Every synthetic 1D family, by name."""


def generate(family: str, length: int, parameters: dict[str, int | float]) -> np.ndarray:
    """Samples of ``family`` (a key of :data:`SYNTHETIC_FAMILIES`) rescaled onto ``[0, 1]``.

    Raises ``ValueError`` (naming the parameter) for out-of-range parameters or a constant
    result.
    """
    samples = SYNTHETIC_FAMILIES[family].make(length, **parameters)
    low, high = samples.min(), samples.max()
    _require(high > low, f"the signal is constant at length {length}; nothing to rescale")
    return (samples - low) / (high - low)


def _rng(seed: int) -> np.random.Generator:
    _require(seed >= 0, f"seed must be >= 0, got {seed}")
    return np.random.default_rng(seed)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
