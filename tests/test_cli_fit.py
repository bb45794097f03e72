"""``posenc fit`` from the command line: the default run, 1D runs, and the error contract."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest


def test_default_fit_reaches_25_db_on_held_out_pixels(run_cli, tmp_path) -> None:
    out = tmp_path / "default"
    result = run_cli("fit", "--out", str(out), timeout=600)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_psnr"] >= 25
    assert metrics["config"]["signal"] == "camera" and metrics["split"]["kind"] == "offset"
    assert json.loads((out / "config.json").read_text()) == metrics["config"]
    for name in ("reconstruction.png", "error.png", "history.png"):
        assert iio.imread(out / name).ndim == 3
    assert "fit: 100%" in result.stderr  # the progress bar
    assert f"wrote {out}" in result.stdout


def test_1d_signal_with_flags(run_cli, tmp_path) -> None:
    out = tmp_path / "row"
    result = run_cli(
        "fit",
        "--signal",
        "camera:row=200",
        "--embedding",
        "gaussian",
        "--sigma",
        "0.002",
        "--num-centers",
        "2000",
        "--model",
        "linear",
        "--no-sigmoid",
        "--steps",
        "200",
        "--quiet",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["embedding_params"] == {"sigma": 0.002, "num_centers": 2000}
    assert metrics["signal"]["shape"] == [512, 1]
    assert metrics["embedding"]["out_dim"] == 2000
    assert iio.imread(out / "reconstruction.png").shape[1] > 500  # a plot, not a 1-pixel strip


def test_closed_form_separable_from_the_command_line(run_cli, tmp_path) -> None:
    out = tmp_path / "cf"
    result = run_cli(
        "fit",
        "coffee",
        "--embedding",
        "gaussian",
        "--compose",
        "separable",
        "--model",
        "separable",
        "--depth",
        "0",
        "--no-sigmoid",
        "--solver",
        "closed-form",
        "--sigma",
        "0.004",
        "--quiet",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "metrics.json").read_text())["test_psnr"] > 20


def _write_corrupt(path) -> str:
    path.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    return str(path)


def _write_one_pixel(path) -> str:
    iio.imwrite(path, np.zeros((1, 1), dtype=np.uint8))
    return str(path)


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda tmp: ["/no/such/photo.png"], "/no/such/photo.png"),
        (lambda tmp: [_write_corrupt(tmp / "bad.png")], "bad.png"),
        (lambda tmp: [_write_one_pixel(tmp / "dot.png")], "dot.png"),
        (lambda tmp: ["--embedding", "gausian"], "unknown embedding 'gausian'"),
        (lambda tmp: ["--sigma", "-1"], "sigma must be a finite number > 0"),
        (lambda tmp: ["--sigma", "nan"], "sigma must be a finite number > 0"),
        # Dense rows of 2 x 100000 features for a million pixels; and even the per-axis
        # lookup table of 2 x 10^6 features for 4096 + 4096 coordinates is too large.
        (
            lambda tmp: ["--size", "2048", "--num-centers", "100000", "--first-layer", "dense"],
            "GiB",
        ),
        (lambda tmp: ["--size", "4096", "--num-centers", "1000000"], "GiB"),
        (lambda tmp: ["--solver", "closed-form"], "closed-form"),
        (lambda tmp: ["--param", "oops"], "KEY=VALUE"),
        (lambda tmp: ["--stpes", "3"], "unknown option --stpes: not a flag of this command nor"),
        (lambda tmp: ["--stpes", "3"], "did you mean --steps?"),
        (lambda tmp: ["--embedding", "rff", "--sigma", "0.1"], "'rff' has no parameter 'sigma'"),
        (lambda tmp: ["--num-centers", "8", "--num-centers", "9"], "--num-centers is given twice"),
    ],
)
def test_user_errors_are_one_line_and_write_nothing(run_cli, tmp_path, make_args, message) -> None:
    out = tmp_path / "run"
    result = run_cli("fit", *make_args(tmp_path), "--quiet", "--out", str(out))
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run")]


def test_refuses_a_non_empty_output_folder(run_cli, tmp_path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = run_cli("fit", "--steps", "1", "--quiet", "--out", str(tmp_path))
    assert result.returncode == 2 and "already exists and is not empty" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
