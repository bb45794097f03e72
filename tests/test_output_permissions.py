"""Output folders get the user's normal permissions: a colleague can open them.

Files are written under temporary names (created private) and renamed into place; what
arrives must carry the modes a plain ``open`` or ``mkdir`` gives under the umask.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from posenc.cli.main import main

FIT = ["--size", "16", "--steps", "12", "--eval-every", "6", "--last-k", "3", "--width", "16"]
FIT += ["--num-centers", "16", "--quiet"]


@pytest.fixture(params=[0o022, 0o027], ids=["umask-022", "umask-027"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def assert_modes(folder: Path, umask: int) -> None:
    """Every folder ``0777 & ~umask`` and every file ``0666 & ~umask`` (with 022: readable
    by group and others), and something was written."""
    entries = [folder, *sorted(folder.rglob("*"))]
    assert len(entries) > 3
    for path in entries:
        mode = stat.S_IMODE(path.stat().st_mode)
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert mode == expected, f"{path.relative_to(folder.parent)}: {oct(mode)}"
    if umask == 0o022:
        assert all(path.stat().st_mode & stat.S_IROTH for path in entries)


def test_fit_folder(tmp_path: Path, umask: int) -> None:
    out = tmp_path / "fit"
    assert main(["fit", *FIT, "--checkpoint", "--out", str(out)]) == 0
    assert_modes(out, umask)


def test_sweep_folder(tmp_path: Path, umask: int) -> None:
    out = tmp_path / "sweep"
    assert main(["sweep", "camera", *FIT, "--sigma", "0.05", "0.1", "--out", str(out)]) == 0
    assert (out / "figures").is_dir() and (out / "reconstructions").is_dir()
    assert_modes(out, umask)


def test_analyze_folder(tmp_path: Path, umask: int) -> None:
    out = tmp_path / "analyze"
    command = ["analyze", "--embedding", "gaussian", "--sigma", "0.02", "--dim", "200"]
    assert main([*command, "--samples", "1:12", "--no-progress", "--out", str(out)]) == 0
    assert_modes(out, umask)
