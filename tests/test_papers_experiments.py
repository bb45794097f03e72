"""The papers' experiments: their protocols (configs, splits, bandwidths, learning rates) and
each one run end to end in quick mode, with its records, tables, figure and run folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from posenc.analysis import embedding_size as size_experiment
from posenc.analysis import layer_rank, p1_bandwidths, p1_scatter, p3_table, stride
from posenc.analysis.reproduction import (
    mean_and_std,
    override_settings,
    write_result,
)
from posenc.data import load_source, make_split
from posenc.neural_fields import fit, fit_many, resolve_config
from posenc.neural_fields.pipeline import build_embedding
from posenc.theory import SR_DP_GAUSSIAN

# --- shared pieces --------------------------------------------------------------------------


def test_override_settings_converts_to_the_field_types() -> None:
    settings = override_settings(
        stride.QUICK, {"strides": "1,2,3", "sigma_range": "1e-3,1e-2", "steps": 7, "lr": 1}
    )
    assert settings.strides == (1, 2, 3) and settings.sigma_range == (1e-3, 1e-2)
    assert settings.steps == 7 and settings.lr == 1.0 and isinstance(settings.lr, float)
    assert override_settings(stride.QUICK, {"strides": 4}).strides == (4,)
    with pytest.raises(ValueError, match=r"unknown setting.*stepz.*accepted: image"):
        override_settings(stride.QUICK, {"stepz": 3})
    with pytest.raises(ValueError, match="setting steps: cannot read 'many' as int"):
        override_settings(stride.QUICK, {"steps": "many"})


def test_mean_and_std_skip_values_that_are_not_finite() -> None:
    assert mean_and_std([1.0, 3.0, math.nan]) == (2.0, 1.0)
    assert all(math.isnan(value) for value in mean_and_std([math.inf]))


def test_fit_many_batches_seeds_and_matches_fit() -> None:
    signal = load_source("camera:row=100", length=64)
    configs = [
        resolve_config(
            signal="camera:row=100",
            model="linear",
            split="offset",
            embedding="rff",
            embedding_params={"scale": 5.0, "num_frequencies": 16},
            steps=20,
            eval_every=10,
            last_k=5,
            seed=seed,
        )
        for seed in (0, 1)
    ]
    batched = fit_many(signal, configs)
    for config, result in zip(configs, batched, strict=True):
        alone = fit(signal, config)
        assert result.timings.get("batch_train") is not None  # trained in the batch
        assert result.test_psnr == pytest.approx(alone.test_psnr, abs=1e-3)
    assert batched[0].test_psnr != pytest.approx(batched[1].test_psnr, abs=1e-6)


# --- item 1: stable rank through the layers ---------------------------------------------


def test_layer_rank_configs_follow_p1() -> None:
    settings = layer_rank.LayerRankSettings()
    rff = layer_rank.layer_rank_config(settings, "RFF", "image row", 158, 3)
    assert (rff.signal, rff.seed, rff.lr, rff.normalization) == ("camera:row=158", 3, 1e-4, "none")
    assert rff.embedding_params == {"scale": 5.0, "num_frequencies": 128}
    assert build_embedding(rff, 1).seed == 3
    assert (rff.depth, rff.width, rff.sigmoid, rff.split) == (4, 256, False, "offset")
    gaussian = layer_rank.layer_rank_config(settings, "Gaussian", "noise", 47, 0)
    assert gaussian.signal == "powerlaw:alpha=0.0,seed=47"
    assert gaussian.embedding_params == {"sigma": 0.02, "num_centers": 256}
    assert layer_rank.layer_rank_config(settings, "none", "noise", 1, 0).lr == 1e-3
    with pytest.raises(ValueError, match="unknown embedding"):
        layer_rank.run_layer_rank(override_settings(settings, {"embeddings": "sinc"}))


def test_layer_rank_quick_records_every_layer_at_every_record() -> None:
    settings = override_settings(layer_rank.QUICK, {"embeddings": "none,RFF"})
    result = layer_rank.run_layer_rank(settings)
    assert len(result.runs) == 2 * 2  # embeddings x (image row, noise)
    for run in result.runs:
        assert run.steps == [10, 20] and all(len(ranks) == 4 for ranks in run.stable_ranks)
        assert all(1 <= value <= 32 + 1e-6 for ranks in run.stable_ranks for value in ranks)
    steps, mean, std = result.curves("RFF", "noise")
    assert steps.tolist() == [10, 20] and mean.shape == std.shape == (2, 4)
    (table,) = result.tables()
    assert table.column("target") == ["image row", "noise"] * 2
    assert isinstance(result.figure(), Figure)


# --- item 2: training stride -------------------------------------------------------------


@pytest.mark.parametrize("stride_d", [1, 3, 11])
def test_strided_row_reproduces_p1s_training_and_test_samples(stride_d: int) -> None:
    full = load_source("camera:row=200").values[:, 0]
    signal = stride.strided_row("camera", 200, stride_d)
    split = make_split(signal.grid_shape, "offset")
    values = signal.values[:, 0]
    assert torch.equal(values[split.train], full[:: 2 * stride_d])
    assert torch.equal(values[split.test], full[stride_d :: 2 * stride_d])


def test_p1s_gaussian_learning_rate_rule() -> None:
    assert stride.gaussian_learning_rate(0.1) == pytest.approx(5e-5)
    assert stride.gaussian_learning_rate(1e-4) == pytest.approx(5e-4)
    assert stride.StrideSettings().sigmas()[[0, -1]].tolist() == pytest.approx([0.1, 1e-4])


def test_stride_configs_are_periodic_bases_on_a_linear_layer() -> None:
    settings = override_settings(stride.QUICK, {"repeats": 2})
    configs = stride.stride_configs(settings, "camera:row=200,stride=4")
    assert len(configs) == 2 * (3 + 1 + 1 + 2 + 2)  # seeds x variants
    sigma, config = next((k[1], c) for k, c in configs.items() if k[0] == "gaussian")
    assert config.lr == pytest.approx(stride.gaussian_learning_rate(sigma))
    assert config.model == "linear" and config.normalization == "train"
    noise = next(c for k, c in configs.items() if k[0] == "noise")
    embedding = build_embedding(noise, 1)
    assert embedding.periodic and embedding.num_centers == 256 and embedding.resolution == 256
    square = next(c for k, c in configs.items() if k[0] == "square_wave" and k[1] == 20.0)
    assert square.embedding_params["frequency"] == 20.0 and square.lr == 1e-3


def test_stride_quick_fills_the_heat_maps() -> None:
    result = stride.run_stride(stride.QUICK)
    assert len(result.runs) == 2 * (3 + 1 + 1 + 2 + 2)
    bandwidths, strides, values = result.grid("gaussian", "test_psnr")
    assert strides.tolist() == [1, 4] and len(bandwidths) == 3 and np.isfinite(values).all()
    impulse = {run.stride: run.stable_rank for run in result.runs if run.generator == "impulse"}
    assert impulse == pytest.approx({1: 256.0, 4: 64.0})  # one-hot rows: SR = N
    (table,) = result.tables()
    assert set(table.column("generator")) == set(stride.GENERATORS)
    assert isinstance(result.figure(), Figure)


# --- item 3: embedding size and variance -----------------------------------------------------


def test_embedding_size_configs_follow_p1() -> None:
    settings = size_experiment.EmbeddingSizeSettings(size=128)
    gaussian = size_experiment.embedding_size_config(settings, "1d", "Gaussian", 300, 0)
    assert gaussian.embedding_params["num_centers"] == 300
    assert gaussian.embedding_params["sigma"] == 0.005 and gaussian.model == "linear"
    rff = size_experiment.embedding_size_config(settings, "1d", "RFF", 300, 4)
    assert rff.embedding_params["num_frequencies"] == 150
    assert rff.embedding_params["scale"] == pytest.approx(22.508, abs=1e-3)
    assert rff.seed == 4 and build_embedding(rff, 1).seed == 4  # fresh frequencies per seed
    two_d = size_experiment.embedding_size_config(settings, "2d", "Gaussian", 300, 0)
    assert two_d.protocol == "p1-2d" and two_d.embedding_params["num_centers"] == 150
    assert two_d.embedding_params["sigma"] == pytest.approx(0.005 * 4)  # rescaled to 128 px
    rff_2d = size_experiment.embedding_size_config(settings, "2d", "RFF", 300, 0)
    assert rff_2d.embedding_params["scale"] == pytest.approx(22.508 / 4, abs=1e-3)


def test_embedding_size_quick_gives_mean_and_spread_per_size() -> None:
    result = size_experiment.run_embedding_size(size_experiment.QUICK)
    assert len(result.runs) == 2 * 2 * 2 * 2  # dimensions x families x sizes x seeds
    rff = [r for r in result.runs if r.family == "RFF" and r.dimension == "1d" and r.size == 100]
    assert rff[0].stable_rank != rff[1].stable_rank  # each seed draws its own frequencies
    gaussian = [r for r in result.runs if r.family == "Gaussian" and r.dimension == "1d"]
    assert len({round(r.stable_rank, 9) for r in gaussian if r.size == 100}) == 1
    tables = result.tables()
    assert [t.column("D") for t in tables] == [[100, 300], [100, 300]]
    assert tables[0].column("P1 RFF") == [20.50, None]
    assert isinstance(result.figure(), Figure)


# --- item 4: P3's table ---------------------------------------------------------------------


def test_p3_table_configs_per_kind_with_the_unscaled_controls() -> None:
    settings = p3_table.P3TableSettings(size=128, shifted=("gaussian",))
    natural = p3_table.p3_table_configs(settings, "natural")
    assert list(natural) == [
        "none",
        "basic",
        "LogF",
        "RFF",
        "gaussian",
        "LogF unscaled",
        "RFF unscaled",
    ]
    assert natural["LogF unscaled"].embedding_params["scale"] == 6.0
    assert natural["RFF unscaled"].embedding_params["scale"] == 10.0
    assert natural["RFF"].embedding_params["scale"] == pytest.approx(2.5)
    assert all(c.size == 128 and c.width == 256 and c.split == "offset" for c in natural.values())
    text = p3_table.p3_table_configs(settings, "text")
    assert text["RFF unscaled"].embedding_params["scale"] == 14.0 and text["basic"].lr == 1e-3
    at_512 = p3_table.p3_table_configs(p3_table.P3TableSettings(shifted=()), "natural")
    assert list(at_512) == ["none", "basic", "LogF", "RFF"]  # nothing to compare at P3's size


def test_p3_table_quick_tabulates_both_sets_beside_p3() -> None:
    result = p3_table.run_p3_table(p3_table.QUICK)
    assert result.images("natural") == ["astronaut"] and result.images("text") == ["text-0"]
    main, detail = result.tables()
    assert main.column("P3 natural")[:4] == [
        "19.32 ± 2.48",
        "21.72 ± 2.72",
        "24.95 ± 3.72",
        "25.57 ± 4.19",
    ]
    assert main.column("P3 text")[3] == "30.47 ± 2.11"
    none_last = [
        run.test_psnr_last for run in result.runs if (run.kind, run.mapping) == ("text", "none")
    ]
    assert main.column(f"text, last {p3_table.QUICK.steps}")[0] == p3_table.format_mean_std(
        p3_table.mean_and_std(none_last)
    )
    assert any(run.test_psnr_last != pytest.approx(run.test_psnr, abs=1e-4) for run in result.runs)
    assert detail.column("image") == ["astronaut", "text-0"]
    assert set(result.examples) == {
        (kind, m) for kind in ("natural", "text") for m in result.mappings
    }
    assert isinstance(result.figure(), Figure)


# --- item 5: P1's 2D bandwidths --------------------------------------------------------------


def test_p1_2d_defaults_to_the_best_of_p1s_three_widths() -> None:
    assert p1_bandwidths.P1_2D_PSNR == {0.07: 25.01, 0.003: 23.14, 0.001: 20.58}
    assert resolve_config("p1-2d").embedding_params["sigma"] == 0.07


def test_p1_bandwidth_configs_are_p1_2d_at_each_sigma_in_pixels() -> None:
    settings = p1_bandwidths.P1BandwidthSettings(size=64, steps=10)
    config = p1_bandwidths.p1_bandwidth_config(settings, "coffee", 0.003)
    assert config.protocol == "p1-2d"
    assert config.embedding_params["sigma"] == pytest.approx(0.003 * 8)  # 512 / 64
    assert config.embedding_params["num_centers"] == 500 and config.depth == 4
    assert (config.size, config.steps, config.last_k) == (64, 10, 10)
    at_p1s = p1_bandwidths.P1BandwidthSettings(size=64, reference_size=64)
    assert p1_bandwidths.p1_bandwidth_config(at_p1s, "coffee", 0.003).embedding_params[
        "sigma"
    ] == pytest.approx(0.003)


def test_p1_bandwidths_quick_reports_the_ordering() -> None:
    result = p1_bandwidths.run_p1_bandwidths(p1_bandwidths.QUICK)
    (table,) = result.tables()
    assert table.column("image") == ["P1 (house, 512, 2000 steps)", "astronaut"]
    assert table.column("σ = 0.07")[0] == 25.01
    assert sorted(result.ordering("astronaut")) == sorted(p1_bandwidths.P1_2D_PSNR)
    assert [run.fitted_sigma for run in result.runs] == pytest.approx([1.12, 0.048, 0.016])
    assert "× 16" in table.title  # QUICK is 32 px: P1's widths stretched 512 / 32 times
    assert json.dumps(result.to_dict())


# --- item 6: P1's scatter ---------------------------------------------------------------


def test_p1_draws_span_p1s_ranges() -> None:
    assert p1_scatter.p1_bandwidths(0.0) == pytest.approx((1e-3, 1.0))
    assert p1_scatter.p1_bandwidths(1.0) == pytest.approx((0.1, 100.0))


def test_p1_scatter_puts_the_gaussian_on_the_theory_curve() -> None:
    plot = p1_scatter.p1_sr_dp_scatter((2000,), 12, seed=1)
    gaussian = [p for p in plot.metrics["points"] if p["family"] == "gaussian"]
    sigmas = [p["bandwidth"] for p in gaussian]
    assert min(sigmas) >= 1e-3 and max(sigmas) <= 0.1
    wide = [p for p in gaussian if p["bandwidth"] > 0.005]  # resolved by 2000 samples
    for point in wide:
        product = point["stable_rank"] * point["distance_preservation"]
        assert product == pytest.approx(SR_DP_GAUSSIAN, rel=0.05)


def test_sr_dp_scatter_quick_draws_both_versions(tmp_path: Path) -> None:
    result = p1_scatter.run_p1_scatter(p1_scatter.QUICK)
    assert {row["version"] for row in result.records()} == {"P1 draws", "matched"}
    assert len(result.records()) == 2 * 2 * 2 * 5
    (table,) = result.tables()
    assert table.column("draws") == ["P1 draws", "P1 draws", "matched", "matched"]
    files = write_result(result, tmp_path / "run")
    assert [path.name for path in files] == [
        "config.json",
        "results.json",
        "results.csv",
        "tables.md",
        "sr_dp_scatter_p1.png",
    ]
    assert json.loads(files[0].read_text())["settings"]["dimensions"] == [256, 512]
    assert "| draws |" in files[3].read_text()
