"""``posenc sweep`` and ``posenc plot`` as a user runs them, including a killed sweep."""

from __future__ import annotations

import csv
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from posenc.cli.main import main
from tests.conftest import REPO_ROOT

ROW_SWEEP = [
    "--signal",
    "camera:row=200",
    "--embedding",
    "gaussian",
    "--model",
    "linear",
    "--no-sigmoid",
    "--num-centers",
    "64",
    "--eval-every",
    "10",
    "--last-k",
    "5",
]


def posenc(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    """Run the command line in this process: exit code, stdout, stderr."""
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_keys(stdout: str) -> list[str]:
    """The keys of a ``--dry-run`` listing (second column of the numbered lines)."""
    rows = [line.split() for line in stdout.splitlines()]
    return [row[1] for row in rows if row[0].isdigit() and re.fullmatch("[0-9a-f]{16}", row[1])]


def test_dry_run_lists_the_runs_and_writes_nothing(capsys, tmp_path: Path) -> None:
    out = tmp_path / "row200"
    arguments = ["--sigma", "logspace:-4:-1:24", "--out", str(out), "--dry-run"]
    code, stdout, stderr = posenc(capsys, "sweep", *ROW_SWEEP, *arguments)
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert len(run_keys(stdout)) == 24 and len(set(run_keys(stdout))) == 24
    assert "gaussian sigma=0.0001 linear seed=0" in lines[0] and "to do" in lines[0]
    assert "sigma=0.1 " in lines[23]
    assert lines[24].startswith("24 runs, 24 to do, in 1 jobs (1 batched: 24 runs)")
    assert not out.exists()


def test_a_toml_file_means_what_the_flags_mean(capsys, tmp_path: Path) -> None:
    config = tmp_path / "sweep.toml"
    config.write_text(
        '[sweep]\nsignals = ["camera:row=200"]\nembeddings = ["gaussian", "rff"]\n'
        'models = ["linear"]\nseeds = [0, 1]\n\n'
        "[fit]\nsigmoid = false\neval_every = 10\nlast_k = 5\n\n"
        '[embeddings.gaussian]\nnum_centers = 64\nbandwidths = "logspace:-3:-1:3"\n\n'
        "[embeddings.rff]\nbandwidths = [4.0, 16.0]\n"
    )
    from_file = posenc(capsys, "sweep", "--config", str(config), "--dry-run")
    from_flags = posenc(
        capsys,
        "sweep", *ROW_SWEEP[:2], "--embedding", "gaussian", "rff", "--model", "linear",
        "--no-sigmoid", "--eval-every", "10", "--last-k", "5", "--seeds", "0", "1",
        "--bandwidths", "gaussian=logspace:-3:-1:3", "rff=4,16", "--param", "num_centers=64",
        "--dry-run",
    )  # fmt: skip
    assert from_file[0] == 0 and from_flags[0] == 0, from_flags[2]
    assert run_keys(from_file[1]) == run_keys(from_flags[1])
    assert len(run_keys(from_file[1])) == (3 + 2) * 2
    # a flag overrides the file
    fewer = posenc(capsys, "sweep", "--config", str(config), "--seeds", "0", "--dry-run")
    assert len(run_keys(fewer[1])) == 5


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--sigma", "logspace:-4:x:24"], "--sigma: 'logspace:-4:x:24': 'x' is not a number"),
        (["--embedding", "gausian"], "unknown embedding 'gausian'; did you mean 'gaussian'?"),
        (["--embedding", "rff", "--sigma", "0.01"], "--sigma: none of the swept embeddings (rff)"),
        (["--bandwidths", "sinc=auto:x"], "the count must be an integer >= 1, got 'x'"),
        (["--steps", "0"], "steps must be an integer >= 1, got 0"),
        (["--jobs", "0"], "--jobs must be an integer >= 1, got 0"),
        (
            ["--embedding", "gaussian", "--bandwidths", "sinc=0.1"],
            "--bandwidths sinc=0.1: sinc is not among the swept embeddings (gaussian)",
        ),
        (["--num-centres", "64"], "unknown option --num-centres: not a flag of this command"),
        (["--num-centers", "64", "128"], "--num-centers takes one value"),
    ],
)
def test_bad_flags_fail_in_one_line_before_anything_is_written(
    capsys, tmp_path: Path, arguments: list[str], message: str
) -> None:
    out = tmp_path / "s"
    code, _, stderr = posenc(
        capsys, "sweep", "--signal", "camera:row=200", *arguments, "--out", str(out)
    )
    assert code == 2
    assert stderr.startswith("posenc sweep: error: ") and message in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sweep]\nembeddings = [gaussian\n", "invalid TOML"),
        ("[fit]\nstepz = 3\n", "[fit] stepz: unknown key (allowed: size, "),
        ("[run]\njobs = 'two'\n", "[run] jobs: must be an integer >= 1, got 'two'"),
        ("fit = 3\n", "[fit] must be a table"),
    ],
)
def test_bad_toml_fails_in_one_line_naming_file_and_key(
    capsys, tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    code, _, stderr = posenc(capsys, "sweep", "--config", str(config), "--out", str(tmp_path / "s"))
    assert code == 2
    assert f"posenc sweep: error: {config}: " in stderr and message in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_a_user_error_exits_2_with_one_line_and_no_traceback(run_cli, tmp_path: Path) -> None:
    result = run_cli("sweep", "--embedding", "gausian", "--out", str(tmp_path / "s"))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "posenc sweep: error: [sweep] embeddings: unknown embedding 'gausian'; did you mean "
        "'gaussian'? (available: " + result.stderr.split("(available: ")[1].strip()
    ]
    assert not (tmp_path / "s").exists()


def test_sweep_then_plot_then_resume(run_cli, capsys, tmp_path: Path) -> None:
    out = tmp_path / "s"
    command = [*ROW_SWEEP, "--sigma", "0.001,0.01,0.1", "--steps", "20", "--out", str(out)]
    first = run_cli("sweep", *command, "--quiet")
    assert first.returncode == 0, first.stderr
    assert "3 runs; 0 were already finished, 3 finished now, 0 failed" in first.stdout
    assert "best gaussian sigma=" in first.stdout
    with (out / "results.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 3
    figures = sorted(path.name for path in (out / "figures").iterdir())
    assert len(figures) == 5
    for path in (out / "figures").iterdir():
        path.unlink()
    code, stdout, _ = posenc(capsys, "plot", str(out))
    assert code == 0 and len(stdout.splitlines()) == 5 + 2  # figures, CSV and JSON
    assert sorted(path.name for path in (out / "figures").iterdir()) == figures
    code, stdout, _ = posenc(capsys, "sweep", *command, "--quiet", "--no-plots")
    assert code == 0 and "3 were already finished, 0 finished now" in stdout
    code, _, stderr = posenc(capsys, "sweep", *ROW_SWEEP, "--sigma", "0.002", "--out", str(out))
    assert code == 2 and "holds a different sweep" in stderr
    code, _, stderr = posenc(capsys, "plot", str(tmp_path))
    assert code == 2 and "is not a sweep folder" in stderr


def finished_rows(store: Path) -> dict[str, tuple[float, float]]:
    if not store.exists():
        return {}
    with sqlite3.connect(store, timeout=30) as connection:
        try:
            rows = connection.execute(
                "SELECT key, test_psnr, finished_at FROM runs WHERE status = 'finished'"
            ).fetchall()
        except sqlite3.OperationalError:  # the table is not created yet
            return {}
    return {key: (psnr, finished) for key, psnr, finished in rows}


def test_a_killed_sweep_keeps_its_finished_runs_and_completes_them_once(tmp_path: Path) -> None:
    out = tmp_path / "s"
    command = [
        sys.executable, "-m", "posenc", "sweep", *ROW_SWEEP,
        "--sigma", "logspace:-3:-1:12", "--steps", "150",
        "--no-batch", "--jobs", "1", "--quiet", "--no-plots", "--out", str(out),
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), MPLBACKEND="Agg")
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)  # fmt: skip
    store = out / "results.sqlite"
    deadline = time.monotonic() + 300
    while len(finished_rows(store)) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    before = finished_rows(store)
    assert 2 <= len(before) < 12  # killed part-way

    rerun = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                           timeout=600)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(before)} were already finished, {12 - len(before)} finished now" in rerun.stdout
    after = finished_rows(store)
    assert len(after) == 12
    for key, values in before.items():
        assert after[key] == values  # kept as written before the kill, not redone
    with sqlite3.connect(store) as connection:
        total, distinct = connection.execute(
            "SELECT COUNT(*), COUNT(DISTINCT key) FROM runs"
        ).fetchone()
    assert total == distinct == 12
