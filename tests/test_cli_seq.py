"""``posenc seq``: the files a user gets, and one-line errors that write nothing."""

from __future__ import annotations

import csv
import json
import re

import pytest
import torch

from posenc.cli.main import main
from posenc.sequence import experiments
from posenc.sequence.training import RunConfig, resolve_config, train

TINY = [
    "--steps", "6", "--eval-every", "3", "--test-size", "12",
    "--layers", "1", "--width", "16", "--heads", "2", "--batch-size", "8",
]  # fmt: skip
FLIPFLOP = [
    "--task",
    "flipflop",
    "--task-param",
    "num_instructions=6",
    "--task-param",
    "ood_instructions=6",
]


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _main_error(capsys, arguments: list[str]) -> str:
    """Run the command line in this process; return stderr after checking exit code 2."""
    try:
        code = main(arguments)
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert "Traceback" not in captured.err
    return captured.err


def test_train_writes_a_complete_run_folder(run_cli, tmp_path):
    out = tmp_path / "ff"
    result = run_cli("seq", "train", *FLIPFLOP, "--pe", "cope", *TINY, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"-> {out}" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json", "cope_maps.png", "learning_curves.png", "metrics.json", "model.pt"
    ]  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert config["task_params"]["num_instructions"] == 6
    assert config["model"]["width"] == 16
    assert config["model"]["max_position"] == config["model"]["context"] == 11
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["splits"]) == {"id", "sparse", "dense"}
    assert len(metrics["train_loss"]) == 6
    saved = torch.load(out / "model.pt", weights_only=True)
    assert saved["config"] == config
    assert not list(tmp_path.glob(".*"))  # no staging leftovers


def test_train_refuses_an_existing_run_folder(capsys, tmp_path):
    out = tmp_path / "ff"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    message = _main_error(capsys, ["seq", "train", *FLIPFLOP, "--pe", "rope", "--out", str(out)])
    assert "already exists" in message
    assert (out / "metrics.json").read_text() == "{}"


def test_default_output_folders_are_fresh_and_printed(run_cli, tmp_path):
    train = ["seq", "train", *FLIPFLOP, "--pe", "rope", *TINY]
    folders = []
    for _ in range(2):  # the same command twice gets two folders
        result = run_cli(*train, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        folders.append(result.stdout.strip().rsplit("-> ", 1)[1])
    assert folders[0] != folders[1]
    for folder in folders:
        assert folder.startswith("runs/seq-train-") and "-flipflop-rope-seed0" in folder
        assert (tmp_path / folder / "metrics.json").is_file()
    result = run_cli("seq", "analyze", "--pe", "sinusoidal", "--length", "16", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = result.stdout.strip().rsplit("-> ", 1)[1]
    assert folder.startswith("runs/seq-analyze-")
    assert sorted(p.name for p in (tmp_path / folder).iterdir()) == [
        "analysis.json", "similarity.png", "sr_dp.png"
    ]  # fmt: skip


def test_analyze_refuses_a_folder_that_holds_files(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    command = ["seq", "analyze", "--pe", "sinusoidal", "--length", "16", "--out", str(tmp_path)]
    assert "already exists and is not empty" in _main_error(capsys, command)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_train_error_in_a_real_process_is_one_line(run_cli, tmp_path):
    out = tmp_path / "never"
    result = run_cli("seq", "train", "--task", "flipflip", "--pe", "cope", "--out", str(out))
    assert result.returncode == 2
    assert result.stderr == (
        "posenc seq: error: unknown task 'flipflip'; did you mean 'flipflop'? "
        "(available: flipflop, selective_copy, counting, lm)\n"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--task", "counting", "--pe", "alibi"], "unknown position encoding 'alibi'"),
        (["--task", "counting", "--pe", "cope", "--steps", "-5"], "steps must be"),
        (["--task", "counting", "--pe", "cope", "--lr", "nan"], "lr must be a finite"),
        (["--task", "counting", "--pe", "cope", "--steps", "ten"], "invalid int value"),
        (["--task", "counting", "--pe", "cope", "--task-param", "x"], "expected KEY=VALUE"),
        (["--task", "counting", "--pe", "cope", "--task-param", "y=1"], "no parameter 'y'"),
        (["--task", "counting", "--pe", "cope", "--device", "cuda:7x"], "device"),
        (["--task", "counting", "--pe", "cope", "--preset", "big"], "preset must be"),
    ],
)
def test_train_errors_are_one_line_and_write_nothing(capsys, tmp_path, arguments, message):
    out = tmp_path / "never"
    assert message in _main_error(capsys, ["seq", "train", *arguments, "--out", str(out)])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--pe", "cope", "--seeds", "0"], "--seeds must be >= 1"),
        (["--pe", "cope", "cope"], "lists an encoding twice"),
        (["--pe", "cope", "--jobs", "0"], "--jobs must be >= 1"),
    ],
)
def test_compare_errors_are_one_line_and_write_nothing(capsys, tmp_path, arguments, message):
    out = tmp_path / "never"
    command = ["seq", "compare", "--task", "counting", *arguments, "--out", str(out)]
    assert message in _main_error(capsys, command)
    assert list(tmp_path.iterdir()) == []


def test_compare_writes_tables_and_plots_and_resumes(run_cli, capsys, tmp_path):
    out = tmp_path / "cmp"
    arguments = ["seq", "compare", *FLIPFLOP, "--pe", "absolute", "cope", "--seeds", "2", *TINY]
    result = run_cli(*arguments, "--out", str(out))
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "absolute-seed0", "absolute-seed1", "cope-seed0", "cope-seed1", "errors.png",
        "learning_curves.png", "report.html", "runs.csv", "summary.csv", "summary.md",
    ]  # fmt: skip
    with (out / "runs.csv").open() as file:
        runs = list(csv.DictReader(file))
    assert [(row["pe"], row["seed"]) for row in runs] == [
        ("absolute", "0"), ("absolute", "1"), ("cope", "0"), ("cope", "1")
    ]  # fmt: skip
    metrics = json.loads((out / "cope-seed1" / "metrics.json").read_text())
    assert float(runs[3]["sparse_error"]) == pytest.approx(metrics["splits"]["sparse"]["error"])
    summary = (out / "summary.md").read_text()
    assert "| cope | 2 |" in summary
    assert "test_size=12, eval_every=3" in summary and "; seeds 0, 1." in summary
    assert "| 4.9 |" in summary  # the paper's Flip-Flop OOD error of CoPE, beside ours
    assert summary in result.stdout

    stamp = (out / "cope-seed0" / "metrics.json").stat().st_mtime_ns
    (out / "summary.md").unlink()
    assert main([*arguments, "--out", str(out)]) == 0
    assert (out / "cope-seed0" / "metrics.json").stat().st_mtime_ns == stamp
    assert (out / "summary.md").read_text() == summary
    capsys.readouterr()
    changed = _main_error(capsys, [*arguments, "--lr", "0.01", "--out", str(out)])
    assert "different configuration" in changed


def test_compare_in_two_processes_matches_training_here(run_cli, tmp_path):
    arguments = ["seq", "compare", *FLIPFLOP, "--pe", "relative", "rope", "--seeds", "1", *TINY]
    result = run_cli(*arguments, "--jobs", "2", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "rope-seed0" / "config.json").read_text())
    here = train(RunConfig.from_dict(config), progress=False).metrics
    saved = json.loads((tmp_path / "rope-seed0" / "metrics.json").read_text())
    assert saved["splits"] == here["splits"]


def test_analyze_sinusoidal_and_a_trained_table(run_cli, tmp_path):
    run = tmp_path / "run"
    config = resolve_config(
        "flipflop",
        "absolute",
        task_params={"num_instructions": 6, "ood_instructions": 6},
        model={"layers": 1, "width": 16, "heads": 2},
        train={"steps": 2, "test_size": 4},
    )
    experiments.run_and_save(config, run, progress=False)
    out = tmp_path / "analysis"
    result = run_cli(
        "seq", "analyze", "--pe", "sinusoidal", "rope", "--length", "128", "--run", str(run),
        "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["analysis.json", "similarity.png", "sr_dp.png"]
    measures = json.loads((out / "analysis.json").read_text())
    assert [(m["pe"], m["rows"], m["columns"]) for m in measures] == [
        ("sinusoidal", 128, 64), ("rope", 128, 16), ("absolute", 11, 16)
    ]  # fmt: skip
    assert measures[0]["source"] == "fixed"
    assert measures[2]["source"] == f"trained: {run}"
    assert f"{measures[0]['stable_rank']:9.3f}" in result.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--pe", "cope"], "fresh cope table is all zeros"),
        (["--pe", "sinusoidal", "--width", "63", "--heads", "1"], "even dim"),
        (["--pe", "absolute", "--length", "1"], "--length must be >= 2"),
        (["--pe", "rope", "--run", "nowhere"], "no such file"),
        (["--pe", "absolute", "--layer", "x"], "invalid int value"),
        ([], "give --pe"),
    ],
)
def test_analyze_errors_are_one_line_and_write_nothing(capsys, tmp_path, arguments, message):
    out = tmp_path / "analysis"
    assert message in _main_error(capsys, ["seq", "analyze", *arguments, "--out", str(out)])
    assert not out.exists()


# ------------------------------------------------------------------- language modelling
def _prose_file(path, size: int = 12_000):
    words = ("the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "slept")
    text = " ".join(words[(index * 7 + index // 3) % len(words)] for index in range(size // 4))
    path.write_text(text[:size])
    return path


def test_lm_train_on_a_corpus_file_reports_bits_per_byte(tmp_path, capsys):
    corpus = _prose_file(tmp_path / "prose.txt")
    out = tmp_path / "lm"
    command = ["seq", "train", "--task", "lm", "--corpus", str(corpus), "--pe", "cope+relative"]
    assert main([*command, *TINY, "--task-param", "context=8", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("lm/cope+relative seed 0: bits per byte at T=8 ")
    metrics = json.loads((out / "metrics.json").read_text())
    assert f", 4T=32 {metrics['splits']['4T']['bits_per_byte']:.3f} -> " in printed
    assert metrics["data"]["corpus"] == str(corpus.resolve())
    config = json.loads((out / "config.json").read_text())
    assert config["task_params"]["context"] == 8
    assert config["model"]["context"] == 32 and config["model"]["max_position"] == 7
    assert (out / "cope_maps.png").is_file()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty (0 bytes of text)"),
        (b"GIF89a\0\1\2", "is binary, not text: a NUL byte at offset 6"),
        (b"too short", "holds 9 bytes, fewer than one context of 65 (T + 1)"),
    ],
)
def test_lm_refuses_a_bad_corpus_in_one_line(capsys, tmp_path, content, message):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(content)
    out = tmp_path / "never"
    command = ["seq", "train", "--task", "lm", "--corpus", str(corpus), "--pe", "rope"]
    assert message in _main_error(capsys, [*command, "--out", str(out)])
    assert not out.exists()


def test_lm_compare_refuses_an_empty_corpus_folder(capsys, tmp_path):
    (tmp_path / "texts").mkdir()
    command = ["seq", "compare", "--task", "lm", "--corpus", str(tmp_path / "texts")]
    out = tmp_path / "never"
    error = _main_error(capsys, [*command, "--pe", "cope", "--out", str(out)])
    assert "no file in the folder matches '*'" in error
    assert not out.exists()


def test_cope_variant_flags_reach_the_model_config(tmp_path):
    out = tmp_path / "variant"
    flags = ["--cope-gate-key", "--cope-no-scale", "--cope-every", "2", "--cope-shared-table"]
    command = ["seq", "train", *FLIPFLOP, "--pe", "cope", *TINY, "--layers", "2", *flags]
    assert main([*command, "--out", str(out)]) == 0
    model = json.loads((out / "config.json").read_text())["model"]
    assert (model["cope_gates"], model["cope_scaled"]) == ("separate_key", False)
    assert (model["cope_every"], model["cope_shared_table"]) == (2, True)
    saved = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    assert "blocks.1.attention.gate_key.weight" in saved
    assert "blocks.0.attention.position.table" not in saved  # layer 0 has no CoPE


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--pe", "rope", "--cope-every", "2"], "cope_every apply to the cope encodings only"),
        (["--pe", "cope", "--cope-gate-key", "--cope-value-gates"], "not allowed with"),
        (["--pe", "cope", "--cope-every", "0"], "cope_every must be an integer >= 1"),
        (["--pe", "cope", "--corpus", "stdlib-docs"], "--corpus applies to --task lm"),
    ],
)
def test_cope_flag_errors_are_one_line(capsys, tmp_path, arguments, message):
    out = tmp_path / "never"
    assert message in _main_error(
        capsys, ["seq", "train", *FLIPFLOP, *arguments, "--out", str(out)]
    )
    assert not out.exists()


def test_compare_gives_cope_flags_to_cope_encodings_only(tmp_path):
    out = tmp_path / "cmp"
    command = ["seq", "compare", *FLIPFLOP, "--pe", "absolute", "cope", "--seeds", "1", *TINY]
    assert main([*command, "--layers", "2", "--cope-every", "2", "--out", str(out)]) == 0
    absolute = json.loads((out / "absolute-seed0" / "config.json").read_text())["model"]
    cope = json.loads((out / "cope-seed0" / "config.json").read_text())["model"]
    assert (absolute["cope_every"], cope["cope_every"]) == (1, 2)


def test_compare_table_runs_every_variant_beside_the_paper(tmp_path, capsys):
    out = tmp_path / "table"
    command = ["seq", "compare", "--table", "counting", "--pe", "absolute", "cope", "--seeds", "1"]
    assert main([*command, *TINY, "--task-param", "max_statements=4", "--out", str(out)]) == 0
    variants = ["1-variable", "3-variables", "5-variables"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*variants, "runs.csv", "summary.csv", "summary.md"]
    )
    for variant in variants:
        assert (out / variant / "cope-seed0" / "metrics.json").is_file()
        assert (out / variant / "summary.md").is_file()
    with (out / "runs.csv").open() as file:
        runs = list(csv.DictReader(file))
    assert [(row["variant"], row["pe"]) for row in runs] == [
        (variant, pe) for variant in variants for pe in ("absolute", "cope")
    ]
    summary = (out / "summary.md").read_text()
    assert summary in capsys.readouterr().out
    setting, _, header, _, absolute, cope = summary.splitlines()[2:8]
    # what every run shares is stated; what differs (encoding, seed) is not
    assert setting.startswith("Setting: preset small; model: layers=1, width=16, heads=2")
    assert "training: steps=6, batch_size=8," in setting and setting.endswith("; seed 0.")
    assert "pe=" not in setting and "seed=" not in setting
    assert header.count("paper (%)") == 3
    assert absolute.startswith("| absolute | 1 |") and cope.startswith("| cope | 1 |")
    assert [cell.strip() for cell in absolute.split("|")[4::3]] == ["5.3", "67.6", "71.5"]
    assert [cell.strip() for cell in cope.split("|")[4::3]] == ["0", "1.2", "7.4"]
    metrics = json.loads((out / "5-variables" / "cope-seed0" / "metrics.json").read_text())
    error = f"{100 * metrics['splits']['id']['error']:.2f}"
    assert cope.split("|")[3].strip().startswith(error)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--table", "counting", "--task", "counting"], "not allowed with argument"),
        (["--table", "counting", "--task-param", "num_variables=2"], "sets num_variables itself"),
        (["--table", "lm", "--corpus", "stdlib-code"], "sets corpus itself"),
        (["--table", "tiny"], "invalid choice: 'tiny'"),
        (["--task", "counting"], "give the encodings to compare"),
        (["--pe", "cope"], "one of the arguments --task --table is required"),
        (["--table", "flipflop", "--pe", "rope", "--cope-every", "2"], "need a cope encoding"),
    ],
)
def test_compare_table_errors_are_one_line(capsys, tmp_path, arguments, message):
    out = tmp_path / "never"
    assert message in _main_error(capsys, ["seq", "compare", *arguments, "--out", str(out)])
    assert not out.exists()


def test_compare_table_checks_every_variant_folder_before_training(capsys, tmp_path):
    out = tmp_path / "table"
    stale = out / "5-variables" / "cope-seed0"
    stale.mkdir(parents=True)
    (stale / "config.json").write_text("{}")
    (stale / "metrics.json").write_text("{}")
    command = ["seq", "compare", "--table", "counting", "--pe", "cope", "--seeds", "1", *TINY]
    error = _main_error(capsys, [*command, "--out", str(out)])
    assert "holds a run with a different configuration" in error
    assert sorted(p.name for p in out.iterdir()) == ["5-variables"]


def test_seq_overview_names_every_action_that_the_full_parser_has(capsys):
    """``posenc seq --help`` is drawn without the full parser (so without torch): it must
    list the full parser's actions, and ``posenc seq`` alone prints it as a usage error."""
    import argparse

    from posenc.cli.seq_actions import build_parser

    subparsers = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    assert main(["seq", "--help"]) == 0
    overview = capsys.readouterr().out
    listed = re.findall(r"^    (\w+) ", overview, flags=re.MULTILINE)
    assert listed == list(subparsers.choices)
    assert main(["seq"]) == 2
    assert capsys.readouterr().err == overview
