"""``docs/make_figures.py`` draws every README figure (checked with its tiny settings)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "docs" / "make_figures.py"


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env={**env, "OMP_NUM_THREADS": "1"},
        timeout=600,
    )


def test_quick_run_writes_every_figure(tmp_path: Path) -> None:
    result = run_script("--quick", "--out", str(tmp_path), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    names = [
        "sr_dp_scatter.png",
        "stable_rank_vs_samples.png",
        "comparison_2d.png",
        "sweep_sr_vs_psnr.png",
        "layer_rank.png",
        "stride.png",
        "embedding_size_1d.png",
        "embedding_size_2d.png",
        "p3_table.png",
        "p1_2d_bandwidths.png",
        "sr_dp_scatter_p1.png",
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(names)
    for name in names:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"wrote {tmp_path / name}" in result.stdout
    assert "best test PSNR of each embedding" in result.stdout  # the sweep's table


def test_only_selects_figures_and_rejects_unknown_names(tmp_path: Path) -> None:
    result = run_script("--quick", "--out", str(tmp_path), "--only", "stable_rank_vs_samples")
    assert result.returncode == 0, result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["stable_rank_vs_samples.png"]
    wrong = run_script("--only", "psnr_vs_rank", "--out", str(tmp_path))
    assert wrong.returncode == 2 and "invalid choice: 'psnr_vs_rank'" in wrong.stderr
