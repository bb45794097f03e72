"""``posenc analyze``: outputs, bandwidth flags, and the error contract."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from posenc.cli.main import main

SMALL = ("--dim", "400", "--samples", "1:12", "--no-progress")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_one_embedding_several_sigmas(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli(
        "analyze", "--embedding", "gaussian", "--sigma", "0.02", "0.01", *SMALL, "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(out)
    names = {path.name for path in out.iterdir()}
    assert {
        "config.json",
        "results.json",
        "results.csv",
        "plotted.csv",
        "stable_rank_vs_samples.png",
        "similarity_vs_displacement.png",
        "basis_gaussian_sigma-0.02.png",
        "basis_gaussian_sigma-0.01.png",
    } == names
    summary = read_json(out / "results.json")["summary"]
    assert [row["bandwidth"] for row in summary] == [0.02, 0.01]
    for row in summary:
        assert row["method"] == "fft" and row["num_samples"] == 400
        assert row["stable_rank"] == pytest.approx(row["theory_stable_rank"], rel=1e-3)
    with (out / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert float(rows[1]["stable_rank"]) == pytest.approx(summary[1]["stable_rank"])
    config = read_json(out / "config.json")
    assert config["samples"] == list(range(1, 13)) and config["points"] == 400
    assert config["embeddings"][0]["params"] == {
        "num_centers": 400,
        "periodic": True,
        "sigma": 0.02,
    }
    with (out / "plotted.csv").open() as handle:
        plotted = list(csv.DictReader(handle))
    figures = read_json(out / "results.json")["figures"]
    assert len(plotted) == sum(
        len(series["x"]) for figure in figures.values() for series in figure["series"]
    )


def test_several_embeddings_with_their_defaults(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "many"
    result = run_cli(
        "analyze",
        "--embedding",
        "gaussian",
        "triangle",
        "sinc",
        "rff",
        "square_wave",
        "impulse",
        "--param",
        "width=0.02",
        *SMALL,
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    summary = {row["label"]: row for row in read_json(out / "results.json")["summary"]}
    assert list(summary) == ["gaussian", "triangle", "sinc", "rff", "square_wave", "impulse"]
    assert summary["sinc"]["bandwidth"] == summary["triangle"]["bandwidth"] == 0.02
    assert summary["rff"]["method"] == "toeplitz" and summary["rff"]["bandwidth"] == 10.0
    assert summary["impulse"]["stable_rank"] == pytest.approx(400)


def test_generic_bandwidth_and_scatter(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "scatter"
    result = run_cli(
        "analyze",
        "--embedding",
        "gaussian",
        "--bandwidth",
        "0.03",
        "--scatter",
        "--scatter-dims",
        "300",
        "500",
        "--scatter-bandwidths",
        "4",
        *SMALL,
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    figures = read_json(out / "results.json")["figures"]
    assert len(figures["stable_rank_dp_scatter"]["metrics"]["points"]) == 2 * 2 * 4
    assert (out / "stable_rank_dp_scatter.png").stat().st_size > 1000


def test_default_output_folder_is_printed(run_cli, tmp_path: Path) -> None:
    result = run_cli("analyze", "--embedding", "sine", *SMALL, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = Path(result.stdout.strip().splitlines()[-1])
    assert printed.parent == Path("runs") and printed.name.startswith("analyze-")
    assert (tmp_path / printed / "results.json").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--embedding", "gausian"], "unknown embedding 'gausian'; did you mean 'gaussian'?"),
        (["--embedding", "gaussian", "--sigma", "0"], "sigma must be a finite number > 0"),
        (["--embedding", "gaussian", "--sigma", "nan"], "sigma must be a finite number > 0"),
        (["--embedding", "sinc", "--bandwidth", "-1"], "width must be a finite number > 0"),
        (["--embedding", "gaussian", "--width", "0.1"], "--width applies to none of"),
        (["--embedding", "gaussian", "--samples", "5:2"], "ends before it starts"),
        (["--embedding", "gaussian", "--samples", "0:4"], "integers >= 1"),
        (["--embedding", "gaussian", "--samples", "a"], "'a' is not an integer"),
        (["--embedding", "gaussian", "gaussian"], "lists a name twice"),
        (["--embedding", "gaussian", "--sigma", "0.1", "0.1"], "requested twice"),
        (["--embedding", "basic", "--bandwidth", "2"], "has no bandwidth parameter"),
        (
            ["--embedding", "gaussian", "--sigma", "0.1", "--bandwidth", "0.1"],
            "not both",
        ),
        (["--embedding", "gaussian", "--param", "offset"], "expected KEY=VALUE"),
        (["--embedding", "gaussian", "--param", "offset=1"], "none of the selected"),
        (["--embedding", "gaussian", "--param", "num_centers=9"], "use --dim"),
        (["--embedding", "gaussian", "--dim", "1"], "--dim must be an integer >= 2"),
        (["--embedding", "gaussian", "--threshold", "inf"], "--threshold must be a finite number"),
        (["--scatter", "--sigma-range", "0.1", "0.01"], "0 < LOW < HIGH"),
        (["--scatter", "--scatter-dims", "1"], "scatter sizes D must be integers >= 2"),
        (["--embedding", "gaussian", "--samples", "99991"], "more than the 2 GiB limit"),
        ([], "nothing to analyse"),
        (
            ["--embedding", "gaussian", "--no-periodic", "--dim", "20000", "--points", "20000"],
            "more than the 2 GiB limit",
        ),
    ],
)
def test_user_errors_are_one_line_exit_2_and_write_nothing(
    capsys, monkeypatch, tmp_path: Path, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["analyze", *args, "--out", str(tmp_path / "out")]) == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("posenc analyze: error: ")
    assert message in stderr
    assert list(tmp_path.iterdir()) == []


def test_user_error_through_the_installed_entry_point(run_cli, tmp_path: Path) -> None:
    result = run_cli("analyze", "--embedding", "gaussian", "--sigma", "nan", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "posenc analyze: error: sigma must be a finite number > 0, got nan\n"
    assert list(tmp_path.iterdir()) == []


def test_refuses_a_non_empty_output_folder(run_cli, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = run_cli("analyze", "--embedding", "sine", *SMALL, "--out", str(tmp_path))
    assert result.returncode == 2 and "exists and is not empty" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
