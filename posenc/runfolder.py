"""Output folders that appear whole or not at all.

Every command that writes results (fit, analyze, sweeps' per-run files, seq) stages its files
in a hidden sibling folder and renames it into place when everything is written, so an error
or an interrupt never leaves a folder that looks like a finished result.
"""

from __future__ import annotations

import json
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
    """Yield a staging folder beside ``out``; rename it to ``out`` when the block succeeds.

    ``out`` must not exist or be an empty folder (checked first). On any exception the
    staging folder is removed and ``out`` is left as it was.
    """
    out = Path(out)
    check_output_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield staging
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON; arrays and tensors become lists, NaN is refused."""
    path.write_text(json.dumps(data, indent=2, allow_nan=False, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
