"""Sweep specifications: value syntax, ``auto`` bandwidths from theory, resolution, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posenc.embeddings import gaussian_sigma_to_rff_scale, make_embedding
from posenc.sweeps.bandwidths import AutoBandwidths, auto_bandwidths, parse_bandwidths
from posenc.sweeps.keys import run_key
from posenc.sweeps.spec import resolve_sweep
from posenc.sweeps.sweep_file import load_sweep_file, to_toml
from posenc.theory import (
    gaussian_stable_rank,
    rff_stable_rank,
    sinc_stable_rank,
    triangle_stable_rank,
)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def small(**tables) -> dict:
    """A fast 1D sweep mapping, tables overridden by ``tables``."""
    mapping = {
        "sweep": {"signals": ["powerlaw"], "embeddings": ["gaussian"], "models": ["linear"]},
        "fit": {"steps": 5, "sigmoid": False},
        "embedding_params": {"num_centers": 64},
    }
    for table, values in tables.items():
        mapping[table] = {**mapping.get(table, {}), **values}
    return mapping


# --------------------------------------------------------------------- value syntax
def test_value_forms() -> None:
    assert parse_bandwidths("logspace:-4:-1:4", "x") == pytest.approx((1e-4, 1e-3, 1e-2, 1e-1))
    assert parse_bandwidths("linspace:1:2:3", "x") == (1.0, 1.5, 2.0)
    assert parse_bandwidths("0.5, 0.25", "x") == (0.5, 0.25)
    assert parse_bandwidths([0.1, "0.2,0.3", 4], "x") == (0.1, 0.2, 0.3, 4.0)
    assert parse_bandwidths(0.01, "x") == (0.01,)
    assert parse_bandwidths("auto", "x") == AutoBandwidths()
    assert parse_bandwidths(["auto:5"], "x") == AutoBandwidths(5)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("logspace:-4:x:24", "--sigma: 'logspace:-4:x:24': 'x' is not a number"),
        ("logspace:-4:-1", "expected logspace:START:STOP:COUNT"),
        ("linspace:0:1:0", "the count must be an integer >= 1, got '0'"),
        ("auto:many", "the count must be an integer >= 1"),
        ("0.1,nan", "values must be finite numbers"),
        ([0.1, 0.1], "value 0.1 is given twice"),
        (["auto", 0.1], "'auto' cannot be combined"),
        ([], "no bandwidth values given"),
        (True, "expected numbers or a string"),
    ],
)
def test_bad_values_name_the_place_and_the_problem(value, message) -> None:
    with pytest.raises(ValueError, match=r"^--sigma") as error:
        parse_bandwidths(value, "--sigma")
    assert message in str(error.value)


# ------------------------------------------------------------------ auto bandwidths
THEORY = {
    "gaussian": gaussian_stable_rank,
    "rff": rff_stable_rank,
    "triangle": triangle_stable_rank,
    "sinc": sinc_stable_rank,
    "impulse": lambda r: (
        make_embedding("impulse", radius=r, normalization="none").closed_form().stable_rank_limit
    ),
}


@pytest.mark.parametrize("name", sorted(THEORY))
def test_auto_spans_stable_rank_2_to_4n_by_the_closed_forms(name) -> None:
    values = auto_bandwidths(name, num_samples=256, count=7)
    assert values == sorted(values) and len(set(values)) == 7
    ranks = sorted(THEORY[name](value) for value in values)
    assert ranks == pytest.approx(np.geomspace(2, 4 * 256, 7).tolist(), rel=1e-9)


def test_auto_gaussian_range_brackets_p1_and_rff_is_matched() -> None:
    sigmas = auto_bandwidths("gaussian", 256)
    assert sigmas[0] == pytest.approx(1 / (2 * math.sqrt(math.pi) * 1024))  # 2.75e-4
    assert sigmas[-1] == pytest.approx(1 / (4 * math.sqrt(math.pi)))  # 0.141
    assert sigmas[0] < 0.0003 < 0.002 < 0.01 < sigmas[-1]
    scales = auto_bandwidths("rff", 256)
    assert sorted(scales) == pytest.approx(sorted(gaussian_sigma_to_rff_scale(s) for s in sigmas))


def test_auto_without_theory_is_refused() -> None:
    with pytest.raises(ValueError, match="'logf' has no closed-form stable rank"):
        auto_bandwidths("logf", 256)


# ---------------------------------------------------------------------- resolution
def test_runs_are_the_product_in_order_with_stable_keys() -> None:
    mapping = small(
        sweep={
            "embeddings": ["gaussian", "rff"],
            "models": ["linear", "mlp"],
            "seeds": [0, 3],
            "bandwidths": "auto:3",
        },
        embeddings={"rff": {"bandwidths": [2.0, 8.0], "num_frequencies": 16}},
    )
    spec = resolve_sweep(mapping)
    runs = spec.runs()
    assert len(runs) == 2 * (3 + 2) * 2  # models x (gaussian + rff bandwidths) x seeds
    first = runs[0].config
    assert (first.model, first.embedding, first.seed) == ("linear", "gaussian", 0)
    assert runs[1].config.seed == 3 and runs[1].bandwidth == runs[0].bandwidth
    assert all(run.config.steps == 5 for run in runs)
    gaussian = [run.config for run in runs if run.config.embedding == "gaussian"]
    assert all(c.embedding_params["num_centers"] == 64 for c in gaussian)
    rff = [run.config for run in runs if run.config.embedding == "rff"]
    assert {c.embedding_params["scale"] for c in rff} == {2.0, 8.0}
    assert all("num_centers" not in c.embedding_params for c in rff)
    assert all(c.embedding_params["num_frequencies"] == 16 for c in rff)
    # auto for N = 256 training samples (even samples of 512)
    sigmas = sorted({c.embedding_params["sigma"] for c in gaussian})
    assert sigmas == pytest.approx(auto_bandwidths("gaussian", 256, 3))
    keys = [run.key for run in runs]
    assert len(set(keys)) == len(keys)
    assert keys == [run.key for run in resolve_sweep(mapping).runs()]


def test_a_run_key_changes_with_any_setting() -> None:
    (run,) = resolve_sweep(small(sweep={"bandwidths": 0.01})).runs()
    assert run.key == run_key(run.config)
    (other,) = resolve_sweep(small(sweep={"bandwidths": 0.01}, fit={"steps": 6})).runs()
    assert other.key != run.key


def test_resolved_mapping_round_trips_through_toml() -> None:
    spec = resolve_sweep(
        small(
            sweep={"embeddings": ["gaussian", "none"], "bandwidths": "logspace:-3:-1:5"},
            fit={"size": 0, "betas": [0.9, 0.99]},
        )
    )
    text = to_toml(spec.to_mapping())
    again = resolve_sweep(tomllib.loads(text))
    assert [run.key for run in again.runs()] == [run.key for run in spec.runs()]
    written = tomllib.loads(text)["embeddings"]
    assert written["gaussian"]["bandwidths"] == pytest.approx(np.logspace(-3, -1, 5).tolist())
    assert "bandwidths" not in written["none"]  # an embedding without a bandwidth


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"sweeps": {}}, "unknown table [sweeps]"),
        ({"fit": {"stepz": 3}}, "[fit] stepz: unknown key"),
        ({"sweep": {"embedings": ["gaussian"]}}, "[sweep] embedings: unknown key"),
        ({"sweep": {"embeddings": ["gausian"]}}, "did you mean 'gaussian'"),
        ({"sweep": {"models": ["lineer"]}}, "model must be one of"),
        ({"sweep": {"seeds": [0, -1]}}, "[sweep] seeds: expected distinct integers >= 0"),
        ({"sweep": {"protocol": "p9"}}, "[sweep] protocol: unknown protocol 'p9'"),
        ({"sweep": {"bandwidths": "logspace:-4:x:24"}}, "[sweep] bandwidths: 'logspace:-4:x:24'"),
        ({"sweep": {"bandwidths": [-0.1]}}, "sigma must be"),
        ({"sweep": {"signals": ["no-such-image.png"]}}, "[sweep] signals:"),
        ({"fit": {"steps": 0}}, "steps must be an integer >= 1"),
        ({"embeddings": {"rff": {}}}, "'rff' is not among the swept embeddings"),
        ({"embeddings": {"gaussian": {"sigma": 0.1}}}, "set the swept values with 'bandwidths'"),
        ({"embeddings": {"gaussian": {"scale": 2}}}, "[embeddings.gaussian] scale: gaussian has"),
        ({"embedding_params": {"num_frequencies": 8}}, "none of the swept embeddings"),
    ],
)
def test_errors_name_table_key_and_problem(tables, message) -> None:
    with pytest.raises(ValueError, match=r"^sweep\.toml: ") as error:
        resolve_sweep(small(**tables), source="sweep.toml")
    assert message in str(error.value)


def test_auto_for_an_embedding_without_theory_names_it() -> None:
    mapping = {"sweep": {"signals": ["powerlaw"], "embeddings": ["gaussian", "logf"]}}
    with pytest.raises(
        ValueError, match=r"\[embeddings.logf\] bandwidths: 'logf' has no closed-form"
    ):
        resolve_sweep(mapping)


def test_malformed_toml_names_the_file(tmp_path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text("[sweep]\nembeddings = [gaussian\n")
    with pytest.raises(ValueError, match=r"sweep.toml: invalid TOML: .*line 2"):
        load_sweep_file(path)
