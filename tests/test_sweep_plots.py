"""Sweep figures are drawn from the store and the reconstruction files alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from posenc.sweeps import (
    best_points,
    best_table,
    draw_figures,
    figure_psnr_vs_stable_rank,
    figure_reconstructions,
    figure_sr_vs_dp,
    figure_stable_rank_vs_bandwidth,
    load_points,
    make_executor,
    resolve_sweep,
    run_sweep,
)
from posenc.sweeps.executors import SequentialExecutor
from tests.conftest import SMALL_IMAGE_SWEEP

FIGURES = {
    "psnr_vs_bandwidth.png",
    "psnr_vs_stable_rank.png",
    "psnr_vs_dp.png",
    "sr_vs_dp.png",
    "reconstructions.png",
}


@pytest.fixture(scope="module")
def image_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2D sweep: two embeddings with different bandwidth parameters, and one
    embedding without a bandwidth."""
    spec = resolve_sweep(SMALL_IMAGE_SWEEP)
    folder = tmp_path_factory.mktemp("plots") / "sweep"
    run_sweep(spec, folder, make_executor(), progress=False)
    return folder


@pytest.fixture(scope="module")
def row_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = resolve_sweep(
        {
            "sweep": {
                "signals": ["camera:row=200"],
                "embeddings": ["gaussian"],
                "bandwidths": "logspace:-3:-1:10",
                "models": ["linear"],
            },
            "fit": {"steps": 10, "sigmoid": False, "eval_every": 5, "last_k": 2},
            "embedding_params": {"num_centers": 64},
        }
    )
    folder = tmp_path_factory.mktemp("plots") / "row"
    run_sweep(spec, folder, SequentialExecutor(), progress=False)
    return folder


def test_every_figure_is_written_from_the_store(image_sweep: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(image_sweep, copy)  # a fresh process would see exactly these files
    paths = draw_figures(copy)
    assert {path.name for path in paths} == FIGURES
    for path in paths:
        image = imread(path)
        assert image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0.01


def test_points_and_colours_of_mixed_bandwidth_parameters(image_sweep: Path) -> None:
    points = load_points(image_sweep)
    assert len(points) == 3 + 3 + 1
    assert {(p.embedding, p.bandwidth_name) for p in points} == {
        ("gaussian", "sigma"),
        ("rff", "scale"),
        ("basic", None),
    }
    assert all(p.reconstruction.suffix == ".png" and p.reconstruction.is_file() for p in points)
    figure = figure_psnr_vs_stable_rank(points)
    assert figure.axes[-1].get_ylabel() == "position in the sweep: 0 widest, 1 narrowest basis"
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend == ["gaussian", "rff", "basic"]
    # colours run from the widest basis (0) to the narrowest (1): small sigma, large scale
    gaussian, rff, basic = figure.axes[0].collections
    sigmas = [p.bandwidth for p in points if p.embedding == "gaussian"]
    scales = [p.bandwidth for p in points if p.embedding == "rff"]
    assert [gaussian.get_array()[i] for i in np.argsort(sigmas)] == pytest.approx([1, 0.5, 0])
    assert [rff.get_array()[i] for i in np.argsort(scales)] == pytest.approx([0, 0.5, 1])
    assert np.ma.is_masked(basic.get_array()[0])  # no bandwidth: the "bad" grey


def test_sr_dp_figure_draws_the_gaussian_theory(row_sweep: Path) -> None:
    points = load_points(row_sweep)
    figure = figure_sr_vs_dp(points)
    axes = figure.axes[0]
    (theory,) = [line for line in axes.get_lines() if line.get_linestyle() == "--"]
    dp, sr = theory.get_data()
    assert np.max(sr) == pytest.approx(256)  # capped at N training samples
    wide = dp > 0.01
    assert np.allclose(sr[wide] * dp[wide], np.sqrt(np.log(10) / np.pi))
    assert figure.axes[-1].get_ylabel() == "log10 sigma"


def test_stable_rank_against_bandwidth_marks_the_sample_count(row_sweep: Path) -> None:
    points = load_points(row_sweep)
    (axes,) = [ax for ax in figure_stable_rank_vs_bandwidth(points).axes if ax.get_visible()]
    measured, samples = axes.get_lines()
    sigma, rank = measured.get_data()
    assert list(sigma) == sorted(p.bandwidth for p in points)
    assert list(rank) == [p.stable_rank for p in sorted(points, key=lambda p: p.bandwidth)]
    assert rank[0] > rank[-1]  # narrow bases have the higher stable rank
    assert samples.get_ydata()[0] == 256 and axes.get_title() == "gaussian"
    assert axes.get_xscale() == "log" and axes.get_yscale() == "log"


def test_best_table_has_the_highest_test_psnr_of_each_embedding(image_sweep: Path) -> None:
    points = load_points(image_sweep)
    best = best_points(points)
    assert [p.embedding for p in best] == ["gaussian", "rff", "basic"]
    for point in best:
        same = [p.test_psnr for p in points if p.embedding == point.embedding]
        assert point.test_psnr == max(same)
    table = best_table(points)
    assert table.column("embedding") == ["gaussian", "rff", "basic"]
    assert table.column("test PSNR (dB)") == [p.test_psnr for p in best]
    assert table.column("runs") == [3, 3, 1]
    assert table.column("parameter") == ["sigma", "scale", None]


def test_reconstruction_grid_spreads_bandwidths_and_survives_a_missing_file(
    row_sweep: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(row_sweep, copy)
    points = load_points(copy)
    figure = figure_reconstructions(points)
    cells = [ax for ax in figure.axes if ax.get_title()]
    assert len(cells) == 8  # 10 bandwidths, at most 8 columns
    titles = [ax.get_title() for ax in cells]
    assert titles[0].startswith("sigma=0.001\n") and titles[-1].startswith("sigma=0.1\n")
    assert all(len(ax.get_lines()) == 2 for ax in cells)  # the signal and the fit
    first = min(points, key=lambda point: point.bandwidth)
    first.reconstruction.unlink()
    cells = [ax for ax in figure_reconstructions(load_points(copy)).axes if ax.get_title()]
    assert [text.get_text() for text in cells[0].texts] == ["no file"]


def test_plotting_needs_a_store_with_finished_runs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a sweep folder"):
        draw_figures(tmp_path)
