"""``posenc experiment``: the run folder, settings on the command line, the error contract."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from posenc.cli.experiment import EXPERIMENTS
from tests.conftest import run_python

SMALL_SCATTER = ("--set", "dimensions=300", "--set", "num_draws=3", "--quiet")


def test_a_quick_run_writes_its_folder_and_prints_its_tables(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "scatter"
    result = run_cli("experiment", "sr-dp-scatter", *SMALL_SCATTER, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(out)
    assert "SR·DP against the Gaussian theory" in result.stdout
    assert sorted(path.name for path in out.iterdir()) == [
        "config.json",
        "results.csv",
        "results.json",
        "sr_dp_scatter_p1.png",
        "tables.md",
    ]
    config = json.loads((out / "config.json").read_text())
    assert config["experiment"] == "sr_dp_scatter_p1" and config["mode"] == "quick"
    assert config["settings"]["dimensions"] == [300] and config["settings"]["num_draws"] == 3
    assert config["overrides"] == ["dimensions=300", "num_draws=3"]
    with (out / "results.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 2 * 2 * 3  # versions x families x draws


def test_help_settings_lists_the_full_settings(run_cli) -> None:
    result = run_cli("experiment", "stride", "--full", "--help-settings")
    assert result.returncode == 0, result.stderr
    assert "strides = (1, 2, 3, 4, 6, 8, 11, 16)" in result.stdout
    assert "num_sigmas = 50" in result.stdout and "dim = 10000" in result.stdout


def test_user_mistakes_are_one_line_and_write_nothing(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "never"
    cases = [
        (("--set", "stepz=3"), "unknown setting(s) stepz"),
        (("--set", "num_draws"), "--set 'num_draws': expected KEY=VALUE"),
        (("--device", "cuda"), "runs no fits; --device does not apply"),
    ]
    for extra, message in cases:
        result = run_cli("experiment", "sr-dp-scatter", *extra, "--out", str(out))
        (line,) = result.stderr.strip().splitlines()
        assert result.returncode == 2 and line.startswith("posenc experiment: error: ")
        assert message in line and not out.exists()
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    result = run_cli("experiment", "sr-dp-scatter", *SMALL_SCATTER, "--out", str(taken))
    assert result.returncode == 2 and "already exists and is not empty" in result.stderr
    assert [path.name for path in taken.iterdir()] == ["keep.txt"]


def test_every_entry_loads_and_its_module_keeps_torch_out_of_help() -> None:
    for entry in EXPERIMENTS.values():
        settings_class, quick, runner = entry.load()
        assert isinstance(quick, settings_class) and callable(runner)
    probe = "import sys, posenc.cli.experiment; print('torch' in sys.modules)"
    result = run_python(probe)
    assert result.stdout.strip() == "False", result.stderr
