"""Argument checks shared by every part of posenc (configs, embeddings, data, sequences).

Each check returns the value (converted where it says so) or raises ``ValueError`` with a
message that names the argument, the allowed range and the value received, so that the
command line can show it as one line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def positive_float(name: str, value: float) -> float:
    """Return ``value`` as a float if it is finite and > 0, else raise ``ValueError``."""
    number = _as_float(name, value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def nonnegative_float(name: str, value: float) -> float:
    """Return ``value`` as a float if it is finite and >= 0, else raise ``ValueError``."""
    number = _as_float(name, value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def open_unit_float(name: str, value: float) -> float:
    """Return ``value`` as a float if it lies in the open interval (0, 1)."""
    number = _as_float(name, value)
    if not 0 < number < 1:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return number


def finite_float(name: str, value: float) -> float:
    """Return ``value`` as a float if it is finite, else raise ``ValueError``."""
    number = _as_float(name, value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def integer(name: str, value: int, minimum: int) -> int:
    """Return ``value`` if it is an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def nonnegative_int(name: str, value: int) -> int:
    """Return ``value`` if it is an integer >= 0 (a seed, a count that may be zero)."""
    return integer(name, value, 0)


def positive_int(name: str, value: int) -> int:
    """Return ``value`` if it is an integer >= 1, else raise ``ValueError``."""
    return integer(name, value, 1)


def choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise ``ValueError``."""
    options = tuple(allowed)
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return value


def boolean(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool (not merely truthy)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def _as_float(name: str, value: float) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
