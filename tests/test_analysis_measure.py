"""One call per quantity on an embedding: grids, method choice, 2D axes, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posenc.analysis import (
    embedding_distance_preservation,
    embedding_matrix,
    embedding_stable_rank,
    grid_distance_preservation,
    similarity_curve,
    stable_rank,
)
from posenc.analysis.measure import stable_rank_method, working_matrix_shape
from posenc.embeddings import make_embedding


def test_method_choice() -> None:
    assert stable_rank_method(make_embedding("gaussian", periodic=True)) == "fft"
    assert stable_rank_method(make_embedding("gaussian")) == "gram"
    assert stable_rank_method(make_embedding("rff")) == "toeplitz"
    assert stable_rank_method(make_embedding("rff", in_dim=2)) == "gram"
    assert stable_rank_method(make_embedding("none")) == "gram"


def test_fft_and_direct_similarity_agree() -> None:
    emb = make_embedding("triangle", width=0.02, num_centers=400, periodic=True)
    fast, direct = similarity_curve(emb, 1000), similarity_curve(emb, 1000, method="direct")
    assert (fast.method, direct.method) == ("fft", "direct")
    assert np.allclose(fast.similarity, direct.similarity, atol=1e-6)
    assert np.array_equal(fast.displacement, direct.displacement)
    assert fast.displacement[500] == 0.0 and fast.similarity[500] == pytest.approx(1.0)


def test_dp_of_a_matrix_and_of_the_embedding_agree() -> None:
    emb = make_embedding("gaussian", sigma=0.02, num_centers=300)
    matrix = embedding_matrix(emb, 256)
    assert embedding_distance_preservation(emb, 256) == grid_distance_preservation(matrix, (256,))
    assert embedding_stable_rank(emb, 256) == pytest.approx(stable_rank(matrix, "svd"), rel=1e-9)


def test_2d_separable_along_each_axis_is_the_1d_dp() -> None:
    line = make_embedding("gaussian", sigma=0.02, num_centers=128)
    expected = embedding_distance_preservation(line, 200)
    for compose in ("separable", "concat"):
        emb = make_embedding("gaussian", in_dim=2, sigma=0.02, num_centers=128, compose=compose)
        for axis in (0, 1):
            dp = embedding_distance_preservation(emb, 200, axis=axis)
            # Concatenation keeps the other axis's half of the row: similarity >= 1/2.
            assert dp == (expected if compose == "separable" else 0.5)


def test_2d_matrix_and_stable_rank() -> None:
    params = {"sigma": 0.05, "num_centers": 16, "dtype": torch.float64}
    emb = make_embedding("gaussian", in_dim=2, compose="separable", **params)
    matrix = embedding_matrix(emb, 12)
    assert matrix.shape == (144, 256)
    per_axis = embedding_stable_rank(make_embedding("gaussian", **params), 12)
    # SR of a Kronecker product is the product of the factors' SRs.
    assert embedding_stable_rank(emb, 12) == pytest.approx(per_axis**2, rel=1e-9)


def test_working_matrix_shape_per_path() -> None:
    periodic = make_embedding("gaussian", num_centers=1000, periodic=True)
    assert working_matrix_shape(periodic, 1000) == (1, 1000)  # one generator row
    assert working_matrix_shape(periodic, 30) == (3, 1000)  # gcd 10
    assert working_matrix_shape(make_embedding("rff", num_frequencies=5000), 700) == (700, 1024)
    assert working_matrix_shape(make_embedding("gaussian", num_centers=64), 50) == (50, 64)
    plane = make_embedding("gaussian", in_dim=2, num_centers=8, compose="separable")
    assert working_matrix_shape(plane, 5) == (25, 64)


def test_oversized_requests_fail_before_allocating() -> None:
    emb = make_embedding("gaussian", in_dim=2, num_centers=4096)
    with pytest.raises(ValueError, match=r"needs a 100000000 x 8192 float64 matrix"):
        embedding_stable_rank(emb, 10_000)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: embedding_stable_rank(e, 10, method="qr"), "method must be one of auto"),
        (lambda e: similarity_curve(e, 10, method="svd"), "method must be one of auto"),
        (lambda e: similarity_curve(e, 10, axis=1), "axis 1 is out of range"),
        (lambda e: embedding_stable_rank(e, 0), "integer >= 1"),
        (lambda e: similarity_curve(e, 10, method="fft"), "needs periodic=True"),
    ],
)
def test_errors(call: object, message: str) -> None:
    emb = make_embedding("gaussian", num_centers=16)
    with pytest.raises(ValueError, match=message):
        call(emb)  # type: ignore[operator]


def test_similarity_is_float64_and_exact_for_float64_embeddings() -> None:
    emb = make_embedding("sinc", width=0.05, num_centers=64, periodic=True, dtype=torch.float64)
    curve = similarity_curve(emb, 64)
    assert curve.similarity.dtype == np.float64
    assert curve.similarity[32] == pytest.approx(1.0, abs=1e-15)
