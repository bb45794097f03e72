"""Comparisons of fit variants: configs, the fits, tables and the reconstruction grid."""

from __future__ import annotations

import statistics

import pytest
from matplotlib.figure import Figure

from posenc.data import load_source
from posenc.fit_comparison import (
    P2_MODELS,
    comparison_configs,
    figure_reconstructions,
    fits_table,
    p3_bandwidths,
    p3_mappings,
    psnr_table,
    run_comparison,
    summary_table,
)
from posenc.neural_fields import PROTOCOLS, fit
from posenc.neural_fields.pipeline import build_embedding
from posenc.theory import rff_distance_preservation

TINY = {"size": 16, "steps": 4, "width": 8, "last_k": 2, "eval_every": 2}


def test_configs_apply_protocol_then_variant_then_common() -> None:
    configs = comparison_configs(
        {
            "a": {"protocol": "p3", "lr": 0.02, "embedding_params": {"scale": 4.0}},
            "b": {"embedding": "gaussian", "embedding_params": {"sigma": 0.05}},
        },
        steps=7,
    )
    a, b = configs["a"], configs["b"]
    assert a.protocol == "p3" and a.depth == PROTOCOLS["p3"]["depth"] and a.lr == 0.02
    assert a.embedding_params == {"scale": 4.0, "num_frequencies": 256}
    assert a.steps == b.steps == 7
    assert b.protocol is None and b.embedding_params == {"sigma": 0.05, "num_centers": 256}


def test_common_embedding_params_merge_into_each_variant() -> None:
    configs = comparison_configs(
        {"a": {"embedding_params": {"sigma": 0.05}}, "b": {}},
        embedding_params={"num_centers": 32},
    )
    assert configs["a"].embedding_params == {"sigma": 0.05, "num_centers": 32}
    assert configs["b"].embedding_params == {"sigma": 0.01, "num_centers": 32}


def test_configs_name_the_variant_that_fails() -> None:
    with pytest.raises(ValueError, match=r"variant 'bad': .*unknown embedding 'gausian'"):
        comparison_configs({"bad": {"embedding": "gausian"}})
    with pytest.raises(ValueError, match="variant 'typo': "):
        comparison_configs({"typo": {"stepz": 3}})
    with pytest.raises(ValueError, match="at least one variant"):
        comparison_configs({})


def test_p3_mappings_put_shifted_bases_at_rffs_distance_preservation() -> None:
    configs = comparison_configs(p3_mappings())
    assert list(configs) == ["none", "basic", "LogF", "RFF", "gaussian", "triangle", "sinc"]
    assert configs["none"].lr == configs["basic"].lr == 1e-2 and configs["RFF"].lr == 1e-3
    assert configs["LogF"].embedding == "p3_pe" and configs["LogF"].embedding_params["scale"] == 6.0
    target = rff_distance_preservation(10.0)
    for name in ("gaussian", "triangle", "sinc"):
        config = configs[name]
        assert config.split == "offset" and config.depth == 3 and config.width == 256
        embedding = build_embedding(config, 1)
        assert embedding.num_centers == 256
        assert embedding.closed_form().distance_preservation() == pytest.approx(target, rel=1e-6)


def test_p3_bandwidths_are_p3s_at_512_and_keep_their_frequencies_per_pixel() -> None:
    assert p3_bandwidths("natural", 512) == (6.0, 10.0)
    assert p3_bandwidths("text", 512) == (5.0, 14.0)
    pe_scale, rff_scale = p3_bandwidths("natural", 128)
    assert rff_scale == pytest.approx(2.5)
    top_frequency = 2**pe_scale - 1
    assert top_frequency == pytest.approx(63 / 4)  # below the 64 x 64 grid's Nyquist, 32
    with pytest.raises(ValueError, match="kind must be one of natural, text"):
        p3_bandwidths("photo", 512)


def test_p3_mappings_follow_the_kind_and_size_of_the_images() -> None:
    text = comparison_configs(p3_mappings(kind="text", shifted=()))
    assert text["none"].lr == text["basic"].lr == 1e-3  # P3's rate on text
    assert text["LogF"].embedding_params["scale"] == 5.0
    assert text["RFF"].embedding_params["scale"] == 14.0
    small = comparison_configs(p3_mappings(size=128, shifted=("gaussian",)))
    assert small["RFF"].embedding_params["scale"] == pytest.approx(2.5)
    sigma = small["gaussian"].embedding_params["sigma"]
    assert sigma == pytest.approx(1 / (2 * 2**0.5 * 3.141592653589793 * 2.5), rel=1e-6)
    override = comparison_configs(p3_mappings(rff_scale=7.0, size=128, shifted=()))
    assert override["RFF"].embedding_params["scale"] == 7.0


def test_p2_models_are_the_three_protocols() -> None:
    configs = comparison_configs(P2_MODELS)
    assert [c.protocol for c in configs.values()] == ["p2-simple", "p2-complex", "p2-closed-form"]
    assert [c.solver for c in configs.values()] == ["adam", "adam", "closed-form"]


def tiny_comparison(images: list[str]):
    configs = comparison_configs(
        {
            "deep": {"protocol": "p2-simple"},
            "closed": {"protocol": "p2-closed-form", "embedding_params": {"num_centers": 16}},
        },
        **TINY,
    )
    return run_comparison(images, configs)


def test_run_comparison_tables_and_figure() -> None:
    comparison = tiny_comparison(["camera", "coffee"])
    assert set(comparison.results) == {
        (image, label) for image in ("camera", "coffee") for label in ("deep", "closed")
    }
    closed = comparison.results[("coffee", "closed")]
    assert closed.config.signal == "coffee" and closed.prediction.shape == (16, 16, 3)
    assert comparison.results[("camera", "deep")].prediction.shape == (16, 16, 1)

    table = psnr_table(comparison)
    assert table.columns == ("image", "deep", "closed")
    assert [row[0] for row in table.rows] == ["camera", "coffee", "mean", "std"]
    tests = comparison.values("closed", "test_psnr")
    assert table.column("closed") == pytest.approx(
        [*tests, statistics.fmean(tests), statistics.pstdev(tests)]
    )
    assert psnr_table(comparison, "train_psnr").column("closed")[0] > 100  # interpolates

    summary = summary_table(comparison, reference="deep")
    assert summary.column("variant") == ["deep", "closed"]
    assert summary.column("speed-up")[0] == pytest.approx(1.0)
    seconds = summary.column("fit time (s)")
    assert summary.column("speed-up")[1] == pytest.approx(seconds[0] / seconds[1])
    assert summary.column("embedding")[1] == "gaussian sigma=0.0025, separable"
    assert "speed-up" not in summary_table(comparison).columns

    figure = figure_reconstructions(comparison, zoom=2)
    assert isinstance(figure, Figure) and len(figure.axes) == 2 * 3
    titles = [axes.get_title() for axes in figure.axes]
    assert titles[0] == "camera\nground truth"
    assert titles[2] == f"closed\n{comparison.results[('camera', 'closed')].test_psnr:.2f} dB"
    assert figure.axes[0].images[0].get_array().shape == (8, 8)  # the central half


def test_comparison_errors() -> None:
    comparison = tiny_comparison(["camera"])
    with pytest.raises(ValueError, match="metric must be one of"):
        psnr_table(comparison, "stable_rank")
    with pytest.raises(ValueError, match="no variant 'other'"):
        comparison.values("other", "test_psnr")
    with pytest.raises(ValueError, match="zoom must be a number >= 1"):
        figure_reconstructions(comparison, zoom=0.5)
    with pytest.raises(ValueError, match="images must be among camera"):
        figure_reconstructions(comparison, ["coffee"])
    with pytest.raises(ValueError, match="an image is listed twice"):
        run_comparison(["camera", "camera"], comparison_configs(P2_MODELS))
    with pytest.raises(ValueError, match="not an image"):
        run_comparison(["powerlaw:alpha=1.0"], comparison_configs({"a": {"size": None}}))


def test_fits_table_shows_labelled_fits_of_a_row() -> None:
    configs = comparison_configs(
        {
            "wide": {"protocol": "p1-1d", "embedding_params": {"sigma": 0.05}},
            "narrow": {"protocol": "p1-1d", "embedding_params": {"sigma": 0.005}},
        },
        signal="camera:row=200",
        steps=3,
        last_k=2,
        embedding_params={"num_centers": 64},
    )
    signal = load_source("camera:row=200")
    results = {label: fit(signal, config) for label, config in configs.items()}
    table = fits_table(results, "two widths")
    assert table.title == "two widths" and table.column("fit") == ["wide", "narrow"]
    assert table.column("embedding") == ["gaussian sigma=0.05", "gaussian sigma=0.005"]
    assert table.column("test PSNR (dB)") == [r.test_psnr for r in results.values()]
    wide, narrow = table.column("SR")
    assert narrow > wide  # the narrower basis has the higher stable rank
    assert "camera:row=200" in str(table)
