"""Closed forms against their derivations and against measurements (FFT path, D = 10000)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.signal
import torch

from posenc import theory
from posenc.analysis import embedding_distance_preservation, embedding_stable_rank, similarity_curve
from posenc.embeddings import gaussian_sigma_to_rff_scale, make_embedding
from posenc.theory import SR_DP_GAUSSIAN

D = 10_000
SAMPLES = (1, 2, 3, 5, 10, 20, 30, 40, 50, 64, 100)


def p1_basis(name: str, **params: Any) -> Any:
    return make_embedding(
        name, num_centers=D, periodic=True, normalization="none", dtype=torch.float64, **params
    )


def test_gaussian_closed_forms() -> None:
    sigma = 0.004
    assert theory.gaussian_stable_rank(sigma) == pytest.approx(1 / (2 * math.sqrt(math.pi) * sigma))
    assert theory.gaussian_stable_rank(sigma, 20) == 20.0
    dp = theory.gaussian_distance_preservation(sigma)
    assert dp == pytest.approx(2 * sigma * math.sqrt(math.log(10)))
    assert theory.gaussian_similarity(dp / 1.0, sigma) == pytest.approx(0.1)
    assert theory.gaussian_stable_rank(sigma) * dp == pytest.approx(SR_DP_GAUSSIAN)


def test_rff_matches_the_gaussian_at_the_matched_scale() -> None:
    sigma = 0.005
    scale = gaussian_sigma_to_rff_scale(sigma)
    assert scale == pytest.approx(22.508, abs=5e-4)
    assert theory.rff_stable_rank(scale) == pytest.approx(math.sqrt(2 * math.pi) * scale)
    assert theory.rff_stable_rank(scale) == pytest.approx(theory.gaussian_stable_rank(sigma))
    assert theory.rff_distance_preservation(scale) == pytest.approx(
        theory.gaussian_distance_preservation(sigma)
    )
    deltas = np.linspace(-0.05, 0.05, 101)
    assert theory.rff_similarity(deltas, scale) == pytest.approx(
        theory.gaussian_similarity(deltas, sigma)
    )


@pytest.mark.parametrize(
    ("explicit", "similarity"),
    [
        (
            theory.gaussian_distance_preservation(0.01),
            lambda d: theory.gaussian_similarity(d, 0.01),
        ),
        (theory.rff_distance_preservation(7.0), lambda d: theory.rff_similarity(d, 7.0)),
        (
            theory.triangle_distance_preservation(0.02),
            lambda d: theory.triangle_similarity(d, 0.02),
        ),
    ],
)
def test_explicit_dp_equals_the_count_rule_on_the_continuum(
    explicit: float, similarity: Any
) -> None:
    assert theory.half_width_above(similarity) == pytest.approx(explicit, rel=1e-9)


def test_sinc_dp_counts_the_second_lobe() -> None:
    width = 0.01
    dp = theory.sinc_distance_preservation(width)
    assert dp == pytest.approx(1.33925 * width, rel=1e-5)
    first_crossing = 0.90793 * width
    assert theory.sinc_similarity(first_crossing, width) == pytest.approx(0.1, abs=1e-5)
    assert theory.sinc_similarity(2.46 * width, width) > 0.1  # the lobe the count rule includes


def test_triangle_similarity_is_the_normalised_autocorrelation() -> None:
    width, step = 0.05, 1e-5
    grid = np.arange(-2 * width, 2 * width + step / 2, step)
    hat = np.clip(1 - np.abs(grid) / width, 0, None)
    autocorrelation = scipy.signal.fftconvolve(hat, hat[::-1], mode="same")
    lags = (np.arange(grid.size) - grid.size // 2) * step
    expected = autocorrelation / autocorrelation.max()
    assert theory.triangle_similarity(lags, width) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("name", "params", "limit"),
    [
        ("gaussian", {"sigma": 0.003}, 1 / (2 * math.sqrt(math.pi) * 0.003)),
        ("triangle", {"width": 0.01}, 2 / (3 * 0.01)),
        ("sinc", {"width": 0.01}, 1 / (1.0895**2 * 0.01)),  # B = 50: Gibbs overshoot
        ("sinc", {"width": 0.0123}, None),  # B = 40.65: between 0.842/w and 1/w
        ("square_wave", {"frequency": 1.0}, math.pi**2 / 4),
        ("sine", {"frequency": 2.0, "offset": 0.7}, 0.99 / 0.49),
    ],
)
def test_closed_form_stable_rank_matches_the_measurement(
    name: str, params: dict[str, Any], limit: float | None
) -> None:
    emb = p1_basis(name, **params)
    form = emb.closed_form()
    assert form is not None
    measured_full = embedding_stable_rank(emb, D)
    assert form.stable_rank(None) == pytest.approx(measured_full, rel=2e-3)
    if limit is not None:
        assert form.stable_rank_limit == pytest.approx(limit, rel=5e-3)
    else:
        assert 0.842 / emb.width < form.stable_rank_limit < 1 / emb.width
    for samples in SAMPLES:
        assert form.stable_rank(samples) == pytest.approx(
            embedding_stable_rank(emb, samples), rel=2e-3
        ), samples


def test_sinc_on_the_line_is_one_over_width() -> None:
    assert theory.sinc_stable_rank(0.01) == pytest.approx(100.0)
    assert theory.sinc_stable_rank(0.01, 30) == 30.0


@pytest.mark.parametrize(
    ("name", "params", "bandwidth"),
    [
        ("gaussian", {"sigma": 0.004}, 0.004),
        ("triangle", {"width": 0.01}, 0.01),
        ("sinc", {"width": 0.01}, 0.01),
        ("square_wave", {"frequency": 3.0}, None),
        ("sine", {"frequency": 1.0, "offset": 0.7}, None),
    ],
)
def test_closed_form_similarity_and_dp_match_the_measurement(
    name: str, params: dict[str, Any], bandwidth: float | None
) -> None:
    emb = p1_basis(name, **params)
    form = emb.closed_form()
    assert form is not None
    curve = similarity_curve(emb, D)
    predicted = form.similarity(curve.displacement)
    # The sinc is cut to one period on the circle, which perturbs its tails by ~0.03.
    tolerance = 0.03 if name == "sinc" else 1e-3
    assert np.abs(curve.similarity - predicted).max() < tolerance
    # On a grid of D samples the count rule adds up to 1 / (2 D) to the continuum DP.
    grid_error = 1.0 / D
    assert embedding_distance_preservation(emb, D) == pytest.approx(
        form.distance_preservation(), abs=grid_error
    )


def test_rff_similarity_within_monte_carlo_error() -> None:
    emb = make_embedding("rff", scale=10.0, num_frequencies=4000, dtype=torch.float64)
    curve = similarity_curve(emb, 2000)
    predicted = emb.closed_form().similarity(curve.displacement)
    # Mean of 4000 cosines: standard deviation at most 1 / sqrt(2 * 4000) = 0.011.
    assert np.abs(curve.similarity - predicted).max() < 5 * 0.0112


def test_no_closed_form() -> None:
    assert make_embedding("logf").closed_form() is None
    assert make_embedding("square_wave", frequency=1.5).closed_form() is None
    impulse = make_embedding("impulse", num_centers=100).closed_form()
    assert impulse.stable_rank(40) == 40.0
    assert impulse.stable_rank(None) == pytest.approx(100.0)


def test_aliased_stable_rank_limits() -> None:
    flat = theory.aliased_stable_rank(lambda nu: ((nu >= -512) & (nu < 512)).astype(float), 64)
    assert flat == pytest.approx(64.0)  # 1024 frequencies fold evenly onto 64 samples
    uneven = theory.aliased_stable_rank(lambda nu: (np.abs(nu) <= 500).astype(float), 64)
    assert uneven == pytest.approx(1001 / 16)  # the fullest of 64 bins holds 16
    single = theory.aliased_stable_rank(lambda nu: (nu == 0).astype(float), None)
    assert single == 1.0


@pytest.mark.parametrize("spacings", [2, 3, 5, 10])
def test_triangle_on_discrete_centres_keeps_the_documented_excess(spacings: int) -> None:
    """A hat of w = m/K sampled at K centres: sum = m, sum of squares = (2m^2 + 1)/(3m)."""
    centres = 1000
    emb = make_embedding(
        "triangle",
        width=spacings / centres,
        num_centers=centres,
        periodic=True,
        dtype=torch.float64,
    )
    excess = embedding_stable_rank(emb, centres) / emb.closed_form().stable_rank(centres) - 1
    assert excess == pytest.approx(1 / (2 * spacings**2), rel=1e-6)


def test_unresolved_generators_have_no_closed_form() -> None:
    assert make_embedding("triangle", num_centers=500).closed_form() is None  # width 1/K
    assert make_embedding("gaussian", sigma=0.001, num_centers=500).closed_form() is None
    assert make_embedding("gaussian", sigma=0.004, num_centers=500).closed_form() is not None
