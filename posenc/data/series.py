"""1D signals from files, as researchers keep them: NumPy arrays, text columns, WAV audio.

A file whose name ends in one of :data:`SERIES_SUFFIXES` is a 1D signal of ``N`` samples:

- ``.npy``: a numeric array of shape ``(N,)`` or ``(N, C)``, read without unpickling
  (object arrays are refused);
- ``.csv`` / ``.txt``: numbers in columns separated by commas (``.csv``, or a ``.txt`` whose
  first row has one) or whitespace; a first row that is not numeric names the columns;
  lines starting with ``#`` are comments;
- ``.wav``: PCM or float audio read by scipy; channels are columns.

Every column is a channel, unless ``column=K`` (0-based) or, for a text file with a header,
``column=NAME`` picks one: ``posenc fit data.csv:column=voltage``. The samples are rescaled
jointly onto [0, 1] (minimum 0, maximum 1, as synthetic signals are), and the signal's
``source`` records ``offset`` and ``scale`` so that ``offset + scale * value`` gives the file's
units back. Empty files, fewer than 2 samples, NaN, infinite or non-numeric values and
constant signals are refused with a ``ValueError`` naming the file.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from posenc.data.signal import Signal, SignalShape, check_grid_shape

SERIES_SUFFIXES = (".npy", ".csv", ".txt", ".wav")
"""File suffixes (any case) read as 1D signals."""
SERIES_KEYS = ("column",)
"""Keys a 1D file spec accepts: ``FILE:column=K``."""
TEXT_BYTES_FACTOR = 12
"""Peak bytes of parsing a text file, per byte of the file (float64 values and parser copies)."""


def is_series_file(path: str | Path) -> bool:
    """Whether ``path`` names a 1D signal file by its suffix."""
    return Path(path).suffix.lower() in SERIES_SUFFIXES


def load_series(path: str | Path, column: str | None = None) -> Signal:
    """Load the 1D signal in ``path`` (module docstring), all columns or ``column``."""
    path = Path(path)
    label = f"signal file {str(path)!r}"
    table, names = _read(path, label)
    table = _select(table, names, column, label)
    check_grid_shape(table.shape[:1], label)
    if not np.isfinite(table).all():
        raise ValueError(f"{label} holds NaN or infinite values")
    low, high = float(table.min()), float(table.max())
    if not high > low:
        raise ValueError(f"{label} is constant ({low:g}); there is nothing to fit")
    values = torch.from_numpy((table - low) / (high - low)).to(torch.float32)
    source: dict[str, Any] = {
        "kind": "file",
        "path": str(path.resolve()),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "column": column,
        "length": table.shape[0],
        "offset": low,
        "scale": high - low,
    }
    name = path.name if column is None else f"{path.name}:column={column}"
    return Signal(values=values.clamp(0, 1).contiguous(), name=name, source=source)


def probe_series(path: str | Path, column: str | None = None) -> SignalShape:
    """The grid, channels and loading memory of :func:`load_series`, without reading the
    samples (text files are counted line by line)."""
    path = Path(path)
    label = f"signal file {str(path)!r}"
    _check_file(path, label)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        shape, itemsize = _npy_header(path, label)
    elif suffix == ".wav":
        shape, itemsize = _wav_header(path, label)
    else:
        return _text_shape(path, column, label)
    if len(shape) not in (1, 2):
        raise ValueError(_shape_error(label, shape))
    check_grid_shape(shape[:1], label)
    length = shape[0]
    columns = 1 if len(shape) == 1 or column is not None else shape[1]
    stored = length * (1 if len(shape) == 1 else shape[1])
    return SignalShape((length,), columns, stored * (itemsize + 8 + 4))


def _read(path: Path, label: str) -> tuple[np.ndarray, list[str] | None]:
    """The file's samples as a float64 ``(N, C)`` table and its column names (or ``None``)."""
    _check_file(path, label)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return _read_text(path, label)
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as error:
            raise ValueError(f"{label} is not a readable .npy array: {error}") from None
    else:
        from scipy.io import wavfile

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, array = wavfile.read(path)
        except (OSError, ValueError, EOFError) as error:
            raise ValueError(f"{label} is not a readable WAV file: {error}") from None
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{label} holds {array.dtype} values; expected numbers")
    if array.ndim not in (1, 2):
        raise ValueError(_shape_error(label, array.shape))
    return array.reshape(array.shape[0], -1).astype(np.float64), None


def _read_text(path: Path, label: str) -> tuple[np.ndarray, list[str] | None]:
    lines = _data_lines(path, label)
    delimiter = "," if "," in lines[0] else None
    names = None
    if not _numeric(lines[0], delimiter):
        names = [name.strip() for name in lines[0].split(delimiter)]
        lines = lines[1:]
    if not lines:
        raise ValueError(f"{label} has a header but no values")
    try:
        table = np.loadtxt(lines, delimiter=delimiter, dtype=np.float64, ndmin=2)
    except ValueError as error:
        raise ValueError(f"{label}: {str(error).splitlines()[0]}") from None
    if names is not None and len(names) != table.shape[1]:
        raise ValueError(
            f"{label}: the header names {len(names)} columns but the rows have {table.shape[1]}"
        )
    return table, names


def _data_lines(path: Path, label: str) -> list[str]:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"{label} is not a text file") from None
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        raise ValueError(f"{label} is empty")
    return lines


def _numeric(line: str, delimiter: str | None) -> bool:
    try:
        [float(field) for field in line.split(delimiter)]
    except ValueError:
        return False
    return True


def _select(
    table: np.ndarray, names: list[str] | None, column: str | None, label: str
) -> np.ndarray:
    """All columns, or the one ``column`` names (an index, or a header name)."""
    if column is None:
        return table
    count = table.shape[1]
    if names is not None and column in names:
        index = names.index(column)
    else:
        try:
            index = int(column)
        except ValueError:
            known = f" (columns: {', '.join(names)})" if names else ""
            raise ValueError(f"{label} has no column {column!r}{known}") from None
        if not 0 <= index < count:
            raise ValueError(
                f"{label}: column {index} is out of range for {count} column(s) (0 .. {count - 1})"
            )
    return table[:, index : index + 1]


def _check_file(path: Path, label: str) -> None:
    if not path.exists():
        raise FileNotFoundError(f"{label} does not exist")
    if not path.is_file():
        raise IsADirectoryError(f"{label} is not a regular file")


def _shape_error(label: str, shape: tuple[int, ...]) -> str:
    return f"{label} has shape {tuple(shape)}; a 1D signal is (N,) or (N, channels)"


def _npy_header(path: Path, label: str) -> tuple[tuple[int, ...], int]:
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{label} is not a readable .npy array: {error}") from None
    if mapped.dtype.kind not in "biuf":
        raise ValueError(f"{label} holds {mapped.dtype} values; expected numbers")
    return tuple(mapped.shape), mapped.dtype.itemsize


def _wav_header(path: Path, label: str) -> tuple[tuple[int, ...], int]:
    from scipy.io import wavfile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, samples = wavfile.read(path, mmap=True)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{label} is not a readable WAV file: {error}") from None
    return tuple(samples.shape), samples.dtype.itemsize


def _text_shape(path: Path, column: str | None, label: str) -> SignalShape:
    lines = _data_lines(path, label)
    delimiter = "," if "," in lines[0] else None
    rows = len(lines) - (0 if _numeric(lines[0], delimiter) else 1)
    check_grid_shape((rows,), label)
    columns = 1 if column is not None else len(lines[0].split(delimiter))
    return SignalShape((max(rows, 0),), columns, TEXT_BYTES_FACTOR * path.stat().st_size)
