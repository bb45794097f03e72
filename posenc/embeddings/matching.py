"""Bandwidth matching between the Gaussian basis and Gaussian random Fourier features.

A Gaussian basis of width ``sigma`` has similarity ``exp(-d^2 / (4 sigma^2))``; RFF with
frequency scale ``s`` has expected similarity ``exp(-2 pi^2 s^2 d^2)``. Equating the two gives
``s = 1 / (2 sqrt(2) pi sigma)`` (REFERENCE section 2), under which both lie on the same
stable-rank / distance-preservation curve.
"""

from __future__ import annotations

import math

from posenc import validation

_MATCH = 2 * math.sqrt(2) * math.pi


def gaussian_sigma_to_rff_scale(sigma: float) -> float:
    """RFF scale ``s = 1 / (2 sqrt(2) pi sigma)`` matched to a Gaussian basis of ``sigma``."""
    return 1.0 / (_MATCH * validation.positive_float("sigma", sigma))


def rff_scale_to_gaussian_sigma(scale: float) -> float:
    """Gaussian ``sigma = 1 / (2 sqrt(2) pi s)`` matched to RFF of scale ``s``."""
    return 1.0 / (_MATCH * validation.positive_float("scale", scale))
