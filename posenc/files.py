"""Every file and folder posenc writes appears whole or not at all, with normal permissions.

Files are written under a temporary name in their folder and renamed into place
(:func:`atomic_path`); result folders are staged in a hidden sibling folder and renamed
when everything is written (:func:`staged_folder`). Either way an error or an interrupt never
leaves a file or folder that looks finished. Temporary files and folders are created private
(``0600`` / ``0700``); before the rename they get the permissions a plain ``open`` or
``mkdir`` would give under the process's umask, so colleagues on a shared machine can read
the results as they could any other file of the user's.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def check_output_folder(out: Path) -> None:
    """Raise ``ValueError`` if ``out`` exists and is not an empty folder."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"output folder {str(out)!r} already exists and is not empty")


def default_output_folder(kind: str, label: str = "", root: Path = Path("runs")) -> Path:
    """``runs/<kind>-<YYYYmmdd-HHMMSS>[-<label>]``, with ``-2``, ``-3`` ... if taken."""
    stem = f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}" + (f"-{label}" if label else "")
    out, suffix = root / stem, 2
    while out.exists():
        out, suffix = root / f"{stem}-{suffix}", suffix + 1
    return out


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Yield a staging folder for the contents of ``out``; they become ``out`` when the
    block succeeds.

    ``out`` must not exist or be an empty folder (checked first). The staging folder is made
    on entry, before any work, so an output location that cannot be written fails at once.
    A new ``out`` is staged beside it (in the same parent, created if needed) and renamed
    into place; an existing empty ``out`` (the working directory, say) is staged inside it
    and its files are moved up, ``metrics.json``-style summaries last (every file appears
    whole). On any exception the staging folder is removed and ``out`` is left as it was.
    """
    out = Path(out)
    check_output_folder(out)
    in_place = out.is_dir()
    try:
        if not in_place:
            out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(
            tempfile.mkdtemp(
                prefix=".partial-" if in_place else f".{out.name}.partial-",
                dir=out if in_place else out.parent,
            )
        )
    except OSError as error:
        raise OSError(
            f"output folder {str(out)!r} cannot be written: {error.strerror or error}"
        ) from None
    try:
        yield staging
        if in_place:
            for entry in sorted(staging.iterdir(), key=lambda entry: entry.suffix == ".json"):
                os.replace(entry, out / entry.name)
            staging.rmdir()
        else:
            os.chmod(staging, 0o777 & ~current_umask())
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix) to write; it replaces ``path``
    with normal permissions when the block ends without error, and is removed otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_bytes(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_text(path: Path | str, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode())


def write_json(path: Path | str, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically; arrays and tensors become lists, NaN and
    infinities ``null`` (JSON has no such numbers: an undefined metric reads as missing)."""
    return write_text(
        path, json.dumps(_finite(data), indent=2, allow_nan=False, default=_json_default) + "\n"
    )


def _finite(data: Any) -> Any:
    """``data`` with every non-finite float (in dicts, lists and tuples) replaced by ``None``."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return data


def current_umask() -> int:
    """The process's file-mode creation mask (read without changing it for long)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
