"""The analysis helpers behind the notebooks: P1's construction, profiles, bandwidth responses,
matched bandwidths, and the figures that draw them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from posenc.analysis import (
    analysis_embedding,
    bandwidth_response,
    default_embeddings,
    embedding_distance_preservation,
    embedding_profiles,
    embedding_stable_rank,
    matched_bandwidth,
    matched_embeddings,
    reference_embedders,
    render_gallery,
    render_panels,
)
from posenc.analysis.construction import analysis_parameters
from posenc.embeddings import EMBEDDINGS, gaussian_sigma_to_rff_scale
from posenc.theory import (
    SR_DP_GAUSSIAN,
    gaussian_distance_preservation,
    rff_distance_preservation,
    triangle_distance_preservation,
)


def test_analysis_parameters_follow_p1_construction() -> None:
    assert analysis_parameters("gaussian", 500) == {"num_centers": 500, "periodic": True}
    assert analysis_parameters("rff", 501, seed=3) == {"num_frequencies": 250, "seed": 3}
    assert analysis_parameters("noise", 8, periodic=False) == {
        "num_centers": 8,
        "periodic": False,
        "seed": 0,
    }
    assert analysis_parameters("basic", 100) == {}
    assert analysis_parameters("logf", 1) == {"num_frequencies": 1}


def test_analysis_embedding_is_raw_float64_of_the_given_size() -> None:
    embedding = analysis_embedding("sinc", 300, bandwidth=0.05)
    assert embedding.out_dim == 300 and embedding.width == 0.05
    assert embedding.normalization == "none" and embedding.dtype.is_floating_point
    assert str(embedding.dtype) == "torch.float64"
    assert analysis_embedding("rff", 300, scale=3.0).out_dim == 300


def test_default_embeddings_cover_the_registry_but_custom() -> None:
    embeddings = default_embeddings(64)
    assert list(embeddings) == [name for name in EMBEDDINGS if name != "custom"]
    assert embeddings["gaussian"].sigma == 0.01 and embeddings["gaussian"].num_centers == 64
    assert list(default_embeddings(32, ["triangle"])) == ["triangle"]


def test_reference_embedders_reproduce_the_reference_table() -> None:
    embedders = reference_embedders(10_000)
    assert len(embedders) == 5
    gaussian = embedders["Gaussian, σ = 0.01"]
    assert embedding_stable_rank(gaussian, 20) == pytest.approx(19.92, abs=0.005)
    assert embedding_stable_rank(gaussian, 30) == pytest.approx(26.68, abs=0.005)
    assert embedding_stable_rank(embedders["square wave, f = 1"], 5) == pytest.approx(
        2.39, abs=0.005
    )
    assert embedding_stable_rank(embedders["impulse"], 40) == pytest.approx(40)


def test_bandwidth_response_matches_the_gaussian_closed_form() -> None:
    response = bandwidth_response("gaussian", [0.05, 0.01, 0.05], 2000)
    assert [row["bandwidth"] for row in response.rows] == [0.01, 0.05]
    for row in response.rows:
        assert row["stable_rank"] == pytest.approx(1 / (2 * math.sqrt(math.pi) * row["bandwidth"]))
        assert (
            abs(row["distance_preservation"] - gaussian_distance_preservation(row["bandwidth"]))
            <= 1 / 4000
        )
    measured, theory = response.stable_rank.series
    assert measured.x.tolist() == [0.01, 0.05] and theory.theory
    assert measured.y.tolist() == [row["stable_rank"] for row in response.rows]
    assert response.distance_preservation.xscale == "log"
    assert len(bandwidth_response("rect", [0.02, 0.05], 400).stable_rank.series) == 1  # no theory


def test_bandwidth_response_refuses_what_it_cannot_vary() -> None:
    with pytest.raises(ValueError, match="no bandwidth parameter"):
        bandwidth_response("basic", [1.0], 100)
    with pytest.raises(ValueError, match="at least one bandwidth"):
        bandwidth_response("gaussian", [], 100)


def test_profiles_hold_basis_similarity_and_summary() -> None:
    embeddings = default_embeddings(512, ["gaussian", "rect"])
    profiles = embedding_profiles(embeddings, 512, gram_points=16, num_functions=3)
    gaussian, rect = profiles
    assert gaussian.formula == embeddings["gaussian"].formula
    assert gaussian.basis.gram.shape == (16, 16) and gaussian.basis.functions.shape[0] == 3
    assert gaussian.summary["distance_preservation"] == embedding_distance_preservation(
        embeddings["gaussian"], 512
    )
    assert [s.theory for s in gaussian.similarity.series] == [False, True]
    assert [s.theory for s in rect.similarity.series] == [False]


def test_matched_bandwidths_agree_with_the_closed_forms() -> None:
    target = gaussian_distance_preservation(0.01)
    assert matched_bandwidth("gaussian", target, 1000) == pytest.approx(0.01, rel=1e-9)
    assert matched_bandwidth("rff", target, 1000) == pytest.approx(
        gaussian_sigma_to_rff_scale(0.01), rel=1e-9
    )
    width = matched_bandwidth("triangle", rff_distance_preservation(10.0), 256)
    assert triangle_distance_preservation(width) == pytest.approx(
        rff_distance_preservation(10.0), rel=1e-9
    )


def test_matched_bandwidth_errors() -> None:
    with pytest.raises(ValueError, match="no closed-form DP"):
        matched_bandwidth("logf", 0.03, 256)
    with pytest.raises(ValueError, match="too narrow for 256 centres"):
        matched_bandwidth("gaussian", 0.001, 256)
    with pytest.raises(ValueError, match=r"target DP must be in \(0, 1/2\)"):
        matched_bandwidth("gaussian", 0.7)


def test_matched_embeddings_share_dp_and_differ_in_sr() -> None:
    target = gaussian_distance_preservation(0.02)
    embeddings = matched_embeddings(["gaussian", "triangle"], target, 2000)
    width = target / triangle_distance_preservation(1.0)  # the triangle's DP is linear in w
    assert list(embeddings) == ["gaussian sigma=0.02", f"triangle width={width:.4g}"]
    dps = [embedding_distance_preservation(e, 2000) for e in embeddings.values()]
    assert dps[0] == pytest.approx(dps[1], abs=1 / 2000)
    gaussian_sr = embedding_stable_rank(embeddings["gaussian sigma=0.02"], 2000)
    assert gaussian_sr * dps[0] == pytest.approx(SR_DP_GAUSSIAN, rel=0.01)


def test_panels_share_one_legend_and_gallery_has_a_row_per_embedding() -> None:
    response = bandwidth_response("gaussian", [0.01, 0.05], 1000)
    figure = render_panels([response.stable_rank, response.distance_preservation])
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    (legend,) = figure.legends
    assert [text.get_text() for text in legend.get_texts()] == ["gaussian", "theory"]
    with pytest.raises(ValueError, match="at least one figure"):
        render_panels([])
    profiles = embedding_profiles(
        default_embeddings(64, ["gaussian", "sine", "rff"]), 64, gram_points=8
    )
    gallery = render_gallery(profiles)
    assert [sub.get_suptitle().split(":")[0] for sub in gallery.subfigs] == [
        "gaussian",
        "sine",
        "rff",
    ]
    assert len(gallery.axes) == 3 * 3 + 3  # three panels and a colour bar per row
    assert np.isfinite(profiles[0].basis.gram).all()
