"""Bandwidth values of a sweep: the value mini-language and ``auto`` ranges from theory.

Values are a number, a list, or a string: ``"0.01,0.02"``, ``"linspace:A:B:N"`` (``N``
values from ``A`` to ``B``), ``"logspace:A:B:N"`` (from ``10^A`` to ``10^B``), or ``"auto"`` /
``"auto:N"`` (:func:`auto_bandwidths`, 12 values unless ``N`` is given), or ``"suggest"`` /
``"suggest:N"`` (:func:`bandwidths_around` the bandwidth oracle's suggestion for each signal
and model, :mod:`posenc.oracle`; one value, the suggestion, unless ``N`` is given). Parsing is
linear in the number of values.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from posenc.config import FitConfig
from posenc.data import Signal, make_split
from posenc.embeddings import embedding_class

DEFAULT_AUTO_COUNT = 12
"""Bandwidths of ``"auto"`` when no count is given."""
AUTO_STABLE_RANK_LOW = 2.0
"""Predicted stable rank at the wide (underfitting) end of an automatic range."""
AUTO_MEMORISE_FACTOR = 4.0
"""The narrow end of an automatic range predicts a stable rank of this many times ``N``."""
SUGGEST = "suggest"
"""The bandwidth value that asks the oracle (``posenc fit --sigma suggest``, ``suggest:N``)."""
SUGGEST_SPAN_DECADES = 1.0
"""Width, in decades, of the values ``suggest:N`` sweeps around the suggestion: from a
factor ``10^(1/2)`` (about 3.2) below it to as much above. The oracle places the best
bandwidth within a factor of about 1.5 (:mod:`posenc.oracle`), and a decade holds the whole
useful part of a PSNR-against-bandwidth curve near its peak (the narrow-basis cliff on one
side, the smoothing slope on the other), so the sweep shows the peak and both flanks."""


def auto_bandwidths(
    embedding: str, num_samples: int, count: int = DEFAULT_AUTO_COUNT
) -> list[float]:
    """``count`` bandwidths spanning underfit to memorise for ``num_samples`` training samples.

    Target stable ranks are log-spaced from 2 (a basis about half the domain wide: the fit
    underfits) to ``4 N`` (well past ``SR = N``, where even a linear model memorises the
    training samples and test PSNR collapses), and each is mapped to the bandwidth whose
    closed-form stable rank it is, by the embedding's
    :meth:`~posenc.embeddings.Embedding.bandwidth_for_stable_rank` (Gaussian
    ``sigma = 1 / (2 sqrt(pi) SR)``; RFF ``s = SR / sqrt(2 pi)``, the scale matched to that
    sigma; triangle ``w = 2 / (3 SR)``; sinc ``w = 1 / SR``; impulse ``r = 1 / (2 SR)``).
    For ``N = 256`` the Gaussian range is sigma 0.141 to 2.75e-4, which brackets P1's 1D
    settings (0.01, 0.002, 0.0003). Values are returned in increasing order. A shifted basis
    spans at most ``num_centers`` directions, so its narrow end memorises only when
    ``num_centers >= N``. An embedding without a closed form raises ``ValueError``.
    """
    if count < 1 or num_samples < 1:
        raise ValueError(f"'auto' needs count >= 1 and N >= 1, got count={count}, N={num_samples}")
    rule = embedding_class(embedding).bandwidth_for_stable_rank
    high = AUTO_MEMORISE_FACTOR * num_samples
    targets = np.geomspace(AUTO_STABLE_RANK_LOW, max(high, AUTO_STABLE_RANK_LOW), count)
    return sorted(float(rule(float(sr))) for sr in targets)


def training_samples_per_axis(signal: Signal, config: FitConfig) -> int:
    """Distinct training coordinates along the first axis: ``N`` of a 1D signal, the side of
    the training grid of an image (``auto`` bandwidths are set per axis)."""
    split = make_split(
        signal.grid_shape, config.split, fraction=config.split_fraction, seed=config.seed
    )
    if split.train_axes is not None:
        return len(split.train_axes[0])
    return max(1, round(len(split.train) ** (1.0 / signal.ndim)))


@dataclass(frozen=True)
class AutoBandwidths:
    """``"auto"``: :func:`auto_bandwidths` with ``count`` values, resolved per embedding."""

    count: int = DEFAULT_AUTO_COUNT


@dataclass(frozen=True)
class SuggestedBandwidths:
    """``"suggest"``: :func:`bandwidths_around` the oracle's suggestion with ``count`` values,
    resolved per embedding, signal and model."""

    count: int = 1


def bandwidths_around(
    centre: float, count: int, decades: float = SUGGEST_SPAN_DECADES
) -> list[float]:
    """``count`` values log-spaced over ``decades`` centred (geometrically) on ``centre``:
    ``centre * 10^(decades * (k / (count - 1) - 1/2))``; one value is ``centre`` itself, and
    an odd count holds it in the middle."""
    if count < 1 or not centre > 0:
        raise ValueError(f"values around {centre!r} need count >= 1, got {count}")
    if count == 1:
        return [float(centre)]
    offsets = np.linspace(-decades / 2.0, decades / 2.0, count)
    return [float(centre * 10.0**offset) for offset in offsets]


def is_suggest(value: Any) -> bool:
    """Whether a single bandwidth value is the word :data:`SUGGEST` (``--sigma suggest``)."""
    return isinstance(value, str) and value.strip() == SUGGEST


ResolvedLater = AutoBandwidths | SuggestedBandwidths
"""Bandwidths known only once the sweep's signals (and, for ``suggest``, the oracle) are."""
BandwidthValues = ResolvedLater | tuple[float, ...]


def parse_bandwidths(value: Any, where: str) -> BandwidthValues:
    """Parse a bandwidth specification (module docstring); ``where`` names it in errors.

    Lists (of numbers or strings) are concatenated; ``auto`` and ``suggest`` stand alone.
    """
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError(f"{where}: no bandwidth values given")
    parsed = [_parse_bandwidth_item(item, where) for item in items]
    later = [item for item in parsed if isinstance(item, (AutoBandwidths, SuggestedBandwidths))]
    if later:
        if len(parsed) > 1:
            word = "auto" if isinstance(later[0], AutoBandwidths) else SUGGEST
            raise ValueError(f"{where}: {word!r} cannot be combined with other values")
        return later[0]
    values = tuple(v for item in parsed if isinstance(item, tuple) for v in item)
    duplicates = sorted(value for value, count in Counter(values).items() if count > 1)
    if duplicates:
        raise ValueError(f"{where}: value {duplicates[0]!r} is given twice")
    return values


def _parse_bandwidth_item(item: Any, where: str) -> BandwidthValues:
    if isinstance(item, bool) or not isinstance(item, (int, float, str)):
        raise ValueError(
            f"{where}: expected numbers or a string such as 'logspace:-4:-1:24', got {item!r}"
        )
    if not isinstance(item, str):
        return (_finite(float(item), where, repr(item)),)
    text = item.strip()
    head, _, rest = text.partition(":")
    if head == "auto":
        return AutoBandwidths(_parse_count(rest, where, text) if rest else DEFAULT_AUTO_COUNT)
    if head == SUGGEST:
        return SuggestedBandwidths(_parse_count(rest, where, text) if rest else 1)
    if head not in ("linspace", "logspace"):
        return tuple(_parse_number(part, where, text) for part in text.split(","))
    parts = rest.split(":")
    if len(parts) != 3:
        raise ValueError(f"{where}: {text!r}: expected {head}:START:STOP:COUNT")
    start, stop = (_parse_number(part, where, text) for part in parts[:2])
    values = np.linspace(start, stop, _parse_count(parts[2], where, text))
    if head == "logspace":
        values = 10.0**values
    return tuple(_finite(float(value), where, text) for value in values)


def _parse_number(text: str, where: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: {spec!r}: {text.strip()!r} is not a number") from None
    return _finite(value, where, spec)


def _finite(value: float, where: str, spec: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{where}: {spec!r}: values must be finite numbers")
    return value


def _parse_count(text: str, where: str, spec: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"{where}: {spec!r}: the count must be an integer >= 1, got {text!r}")
    return count
