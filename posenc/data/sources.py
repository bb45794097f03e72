"""Text specs for 1D signals, and the one entry point that loads any signal.

A 1D spec is ``HEAD`` or ``HEAD:key=value,key=value``:

- ``IMAGE:row=R`` is row ``R`` (0-based, from the top) of the grayscale version of ``IMAGE``
  (a built-in name or an image file, loaded uncropped at its own resolution); its length is
  the image width unless ``length=`` resamples it (anti-aliased linear).
- ``FAMILY[:key=value,...]`` is a synthetic family of :data:`SYNTHETIC_FAMILIES`
  (``powerlaw``, ``sines``, ``steps``); unspecified parameters take their defaults and the
  length is ``DEFAULT_LENGTH`` unless ``length=`` says otherwise.
- ``FILE[:column=K]`` is a 1D signal file (``.npy``, ``.csv``, ``.txt``, ``.wav``; see
  :mod:`posenc.data.series`), all its columns or column ``K``.

The signal's ``name`` spells every parameter out (``powerlaw:alpha=1.0,seed=0``) and its
``source`` records them, so the same spec always gives the same samples.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from posenc.data.images import load_image, probe_image
from posenc.data.series import SERIES_KEYS, is_series_file, load_series, probe_series
from posenc.data.signal import MIN_AXIS_SAMPLES, Signal, SignalShape, resample
from posenc.data.synthetic import SYNTHETIC_FAMILIES, generate

DEFAULT_LENGTH = 512
"""Samples of a synthetic 1D signal when no ``length`` is given (P1's 1D protocol)."""

ROW_KEYS = ("row",)


def load_signal(spec: str, *, length: int | None = None) -> Signal:
    """Load the 1D signal described by ``spec`` (see the module docstring) as a :class:`Signal`
    of grid shape ``(length,)`` and one channel, values rescaled or scaled into ``[0, 1]``.

    Raises ``ValueError`` naming ``spec`` and the offending key for malformed specs, unknown
    keys, bad values or a row out of range; image errors come from :func:`load_image`.
    """
    if length is not None and (
        isinstance(length, bool) or not isinstance(length, int) or length < MIN_AXIS_SAMPLES
    ):
        raise ValueError(f"signal spec {spec!r}: length must be an integer >= 2, got {length!r}")
    head, parameters = parse_spec(spec)
    if head in SYNTHETIC_FAMILIES:
        return _synthetic_signal(spec, head, parameters, length or DEFAULT_LENGTH)
    if is_series_file(head):
        _check_keys(spec, parameters, SERIES_KEYS)
        signal = load_series(head, parameters.get("column"))
        if length is None:
            return signal
        values = resample(signal.values, (length,)).clamp(0, 1)
        return Signal(values, signal.name, {**signal.source, "length": length})
    if parameters:
        return _image_row(spec, head, parameters, length)
    families = ", ".join(SYNTHETIC_FAMILIES)
    raise ValueError(
        f"signal spec {spec!r} is neither a synthetic family ({families}) nor IMAGE:row=R"
    )


def load_source(
    spec: str | Path,
    *,
    size: int | None = None,
    crop: bool = True,
    gray: bool = False,
    length: int | None = None,
) -> Signal:
    """Load an image or a 1D signal from one string.

    ``spec`` is a 1D spec (:func:`load_signal`) if it names a synthetic family or ends in
    ``:key=value`` parameters, unless it is a ``Path`` or names an existing file; otherwise it
    is an image (:func:`load_image`). ``size``, ``crop`` and ``gray`` apply to images,
    ``length`` to 1D signals (1D signals are already gray and never cropped); giving ``size``
    for a 1D signal or ``length`` for an image raises ``ValueError``.
    """
    if not _is_one_dimensional(spec):
        if length is not None:
            raise ValueError(f"{str(spec)!r} is an image; length applies to 1D signals only")
        return load_image(spec, size=size, crop=crop, gray=gray)
    if size is not None:
        raise ValueError(f"{str(spec)!r} is a 1D signal; size applies to images only (use length)")
    return load_signal(str(spec), length=length)


def probe_source(
    spec: str | Path, *, size: int | None = None, crop: bool = True, gray: bool = False
) -> SignalShape:
    """What :func:`load_source` with these arguments would give, from headers and specs
    alone: the grid, channels and loading memory, nothing decoded (synthetic signals, which
    are small, are generated). Raises what :func:`load_source` raises for a missing or
    unreadable file."""
    if not _is_one_dimensional(spec):
        return probe_image(spec, size=size, crop=crop, gray=gray)
    if size is not None:
        raise ValueError(f"{str(spec)!r} is a 1D signal; size applies to images only (use length)")
    head, parameters = parse_spec(str(spec))
    if is_series_file(head):
        _check_keys(str(spec), parameters, SERIES_KEYS)
        return probe_series(head, parameters.get("column"))
    if head in SYNTHETIC_FAMILIES or not parameters:
        signal = load_signal(str(spec))
        return SignalShape(signal.grid_shape, signal.channels)
    image = probe_image(head, crop=False, gray=True)
    return SignalShape(image.grid_shape[1:], 1, image.load_bytes)


def is_signal_spec(spec: str) -> bool:
    """Whether ``spec`` reads as a 1D source: a family name, a 1D signal file (by suffix), or
    ``HEAD:`` then ``key=value``."""
    head, colon, tail = spec.rpartition(":")
    return (
        spec in SYNTHETIC_FAMILIES
        or is_series_file(spec)
        or bool(colon and (head in SYNTHETIC_FAMILIES or "=" in tail))
    )


def _is_one_dimensional(spec: str | Path) -> bool:
    """A ``Path`` or an existing file is 1D by its suffix, anything else by its spelling."""
    if isinstance(spec, Path) or Path(spec).is_file():
        return is_series_file(spec)
    return is_signal_spec(spec)


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``HEAD:key=value,...`` into ``HEAD`` and the raw parameter strings.

    The last ``:`` separates the head, so heads may be paths containing ``:``. Raises
    ``ValueError`` for an item without ``=``, an empty key or value, or a repeated key.
    """
    head, colon, tail = spec.rpartition(":")
    if not colon:
        return spec, {}
    parameters: dict[str, str] = {}
    for item in tail.split(","):
        key, equals, value = (part.strip() for part in item.partition("="))
        if not equals or not key:
            raise ValueError(f"signal spec {spec!r}: expected key=value, got {item!r}")
        if not value:
            raise ValueError(f"signal spec {spec!r}: key {key!r} has no value")
        if key in parameters:
            raise ValueError(f"signal spec {spec!r}: key {key!r} is given twice")
        parameters[key] = value
    return head, parameters


def _synthetic_signal(spec: str, family: str, raw: dict[str, str], length: int) -> Signal:
    defaults = SYNTHETIC_FAMILIES[family].defaults
    _check_keys(spec, raw, tuple(defaults))
    parameters = {
        key: _parse_number(spec, key, raw[key], type(default)) if key in raw else default
        for key, default in defaults.items()
    }
    try:
        samples = generate(family, length, parameters)
    except ValueError as error:
        raise ValueError(f"signal spec {spec!r}: {error}") from None
    name = family + ":" + ",".join(f"{key}={value!r}" for key, value in parameters.items())
    values = torch.from_numpy(samples).to(torch.float32).reshape(length, 1)
    source = {"kind": "synthetic", "family": family, "length": length, **parameters}
    return Signal(values=values, name=name, source=source)


def _image_row(spec: str, image_source: str, raw: dict[str, str], length: int | None) -> Signal:
    _check_keys(spec, raw, ROW_KEYS)
    if "row" not in raw:
        raise ValueError(f"signal spec {spec!r}: missing key 'row' (IMAGE:row=R)")
    row = _parse_number(spec, "row", raw["row"], int)
    image = load_image(image_source, crop=False, gray=True)
    height = image.grid_shape[0]
    if not 0 <= row < height:
        raise ValueError(
            f"signal spec {spec!r}: row {row} is out of range for an image with {height} rows "
            f"(0 .. {height - 1})"
        )
    values = image.values[row].clone()
    if length is not None:
        values = resample(values, (length,)).clamp(0, 1)
    source: dict[str, Any] = {
        "kind": "image_row",
        "image": image.source,
        "row": row,
        "length": values.shape[0],
    }
    return Signal(values=values, name=f"{image.name}:row={row}", source=source)


def _check_keys(spec: str, raw: dict[str, str], allowed: tuple[str, ...]) -> None:
    unknown = [key for key in raw if key not in allowed]
    if unknown:
        raise ValueError(
            f"signal spec {spec!r}: unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}"
        )


def _parse_number(spec: str, key: str, text: str, kind: type) -> Any:
    try:
        value = kind(text)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise ValueError(f"signal spec {spec!r}: {key} must be {noun}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise ValueError(f"signal spec {spec!r}: {key} must be a finite number, got {text!r}")
    return value
