"""The oracle inside fits and sweeps: ``--sigma suggest``, ``--bandwidth suggest`` and
``suggest:N`` bandwidth values."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from posenc.data import load_source
from posenc.neural_fields import resolve_config
from posenc.oracle import suggest_bandwidth
from posenc.sweeps import resolve_sweep
from posenc.sweeps.bandwidths import (
    SUGGEST_SPAN_DECADES,
    SuggestedBandwidths,
    bandwidths_around,
    parse_bandwidths,
)

ROWS = ("camera:row=200", "moon:row=160")
SMALL_FIT = ["--protocol", "p1-1d", "--num-centers", "2000", "--steps", "60", "--quiet"]


def small_config(signal: str, **overrides):
    """P1's 1D protocol, smaller and shorter (the oracle models whatever the fit is)."""
    config = resolve_config("p1-1d", signal=signal, steps=60, **overrides)
    params = {**config.embedding_params, "num_centers": 2000}
    return resolve_config("p1-1d", signal=signal, steps=60, embedding_params=params, **overrides)


# ------------------------------------------------------------------ the values


def test_suggest_parses_alone_with_an_optional_count() -> None:
    assert parse_bandwidths("suggest", "x") == SuggestedBandwidths(1)
    assert parse_bandwidths(["suggest:7"], "x") == SuggestedBandwidths(7)
    with pytest.raises(ValueError, match="'suggest' cannot be combined with other values"):
        parse_bandwidths(["suggest:3", 0.1], "x")
    with pytest.raises(ValueError, match="the count must be an integer >= 1, got '0'"):
        parse_bandwidths("suggest:0", "x")


def test_values_around_a_suggestion_span_one_decade_centred_on_it() -> None:
    values = bandwidths_around(2e-3, 5)
    assert values[2] == pytest.approx(2e-3)
    assert values[-1] / values[0] == pytest.approx(10**SUGGEST_SPAN_DECADES)
    assert math.sqrt(values[0] * values[-1]) == pytest.approx(2e-3)
    ratios = [b / a for a, b in itertools.pairwise(values)]
    assert ratios == pytest.approx([ratios[0]] * 4)
    assert bandwidths_around(2e-3, 1) == [2e-3]


# ------------------------------------------------------------------ sweeps


def test_a_suggest_sweep_centres_each_signals_values_on_its_own_suggestion() -> None:
    mapping = {
        "sweep": {
            "signals": list(ROWS),
            "embeddings": ["gaussian"],
            "bandwidths": "suggest:3",
            "protocol": "p1-1d",
        },
        "fit": {"steps": 60},
        "embedding_params": {"num_centers": 2000},
    }
    spec = resolve_sweep(mapping)
    runs = spec.runs()
    assert spec.run_count == len(runs) == 6
    for signal in ROWS:
        suggested = suggest_bandwidth(load_source(signal), small_config(signal)).bandwidth
        values = [run.bandwidth for run in runs if run.config.signal == signal]
        assert values == pytest.approx(bandwidths_around(suggested, 3))
    assert all(run.config.embedding_params["sigma"] == run.bandwidth for run in runs)
    centres = {run.config.signal: run.bandwidth for run in runs[1::3]}
    assert centres[ROWS[0]] != centres[ROWS[1]]
    again = resolve_sweep(spec.to_mapping())
    assert [run.key for run in again.runs()] == [run.key for run in runs]


def test_a_suggest_sweep_the_oracle_cannot_model_names_the_table() -> None:
    mapping = {
        "sweep": {"signals": [ROWS[0]], "embeddings": ["gaussian"], "models": ["siren"]},
        "embeddings": {"gaussian": {"bandwidths": "suggest:3"}},
        "fit": {"steps": 5, "sigmoid": False},
    }
    with pytest.raises(ValueError, match=r"^\[embeddings.gaussian\] bandwidths: suggest: .*siren"):
        resolve_sweep(mapping)


def test_sweep_cli_sigma_suggest_runs_the_values_around_the_suggestion(run_cli, tmp_path) -> None:
    out = tmp_path / "sweep"
    result = run_cli(
        "sweep", ROWS[0], *SMALL_FIT, "--embedding", "gaussian", "--sigma", "suggest:3",
        "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads((out / "results.json").read_text())
    rows = rows["runs"] if isinstance(rows, dict) else rows
    values = sorted(row["bandwidth"] for row in rows)
    suggested = suggest_bandwidth(load_source(ROWS[0]), small_config(ROWS[0])).bandwidth
    assert values == pytest.approx(bandwidths_around(suggested, 3))
    assert 'bandwidths = "suggest:3"' in (out / "sweep.toml").read_text()


# ------------------------------------------------------------------ fits


@pytest.mark.parametrize("flag", ["--sigma", "--bandwidth"])
def test_fit_at_the_suggestion_records_the_oracles_answer(run_cli, tmp_path, flag) -> None:
    out = tmp_path / "run"
    result = run_cli("fit", ROWS[0], *SMALL_FIT, flag, "suggest", "--out", str(out))
    assert result.returncode == 0, result.stderr
    suggested = suggest_bandwidth(load_source(ROWS[0]), small_config(ROWS[0]))
    metrics = json.loads((out / "metrics.json").read_text())
    oracle = metrics["oracle"]
    assert oracle["bandwidth"] == pytest.approx(suggested.bandwidth)
    assert oracle["bandwidth_name"] == "sigma"
    assert oracle["predicted_psnr"] == pytest.approx(suggested.predicted_psnr)
    assert oracle["method"] == suggested.method and oracle["timings_seconds"]["total"] > 0
    config = json.loads((out / "config.json").read_text())
    assert config["embedding_params"]["sigma"] == pytest.approx(suggested.bandwidth)
    assert result.stdout.startswith(f"gaussian: sigma = {suggested.bandwidth:.4g}, predicted")


def test_fit_suggests_each_embeddings_own_bandwidth(run_cli, tmp_path) -> None:
    out = tmp_path / "run"
    args = ["--embedding", "triangle", "--param", "width=suggest", "--out", str(out)]
    result = run_cli("fit", ROWS[0], *SMALL_FIT, *args)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert metrics["oracle"]["bandwidth_name"] == "width"
    assert config["embedding_params"]["width"] == pytest.approx(metrics["oracle"]["bandwidth"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--embedding", "none", "--bandwidth", "suggest"], "'none' has no bandwidth to suggest"),
        (["--num-centers", "suggest"], "--num-centers suggest: only the bandwidth (sigma)"),
        (["--embedding", "rff", "--sigma", "suggest"], "only the bandwidth (scale) of 'rff'"),
        (["--sigma", "suggest", "--bandwidth", "suggest"], "either --bandwidth or --sigma"),
        (["--bandwidth", "suggest:3"], "expected a number or 'suggest'"),
        (["--sigma", "suggest:3"], "--sigma suggest:3: a fit takes one bandwidth"),
        (["--model", "siren", "--no-sigmoid", "--sigma", "suggest"], "got model 'siren'"),
        (["--split", "random", "--sigma", "suggest"], "needs a grid split"),
    ],
)
def test_fit_suggest_errors_are_one_line_and_write_nothing(
    run_cli, tmp_path, args, message
) -> None:
    out = tmp_path / "run"
    result = run_cli("fit", ROWS[0], "--protocol", "p1-1d", "--quiet", *args, "--out", str(out))
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert not out.exists()
