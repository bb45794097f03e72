"""Stable rank and distance preservation of plain matrices."""

from __future__ import annotations

import math

import pytest
import torch

from posenc.analysis import (
    distance_preservation,
    grid_distance_preservation,
    row_similarity,
    stable_rank,
)
from posenc.analysis.metrics import require_matrix_fits
from posenc.embeddings import kronecker_rows, make_embedding


def random_matrix(rows: int, cols: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("shape", [(7, 40), (40, 7), (25, 25), (1, 9), (9, 1)])
def test_gram_and_svd_agree(shape: tuple[int, int]) -> None:
    matrix = random_matrix(*shape)
    assert stable_rank(matrix, "gram") == pytest.approx(stable_rank(matrix, "svd"), rel=1e-12)


def test_known_values() -> None:
    assert stable_rank(torch.eye(6)) == pytest.approx(6.0)
    assert stable_rank(torch.outer(torch.arange(1.0, 5.0), torch.ones(3))) == pytest.approx(1.0)
    # Orthogonal columns of norms 3, 2, 1: SR = (9 + 4 + 1) / 9.
    assert stable_rank(torch.diag(torch.tensor([3.0, 2.0, 1.0]))) == pytest.approx(14 / 9)


def test_scale_invariant_and_float64() -> None:
    matrix = random_matrix(30, 12).to(torch.float32)
    assert stable_rank(1e-3 * matrix) == pytest.approx(stable_rank(matrix), rel=1e-6)


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (torch.zeros(3, 4), "all-zero"),
        (torch.tensor([[1.0, math.nan], [0.0, 1.0]]), "NaN or infinite"),
        (torch.tensor([[1.0, math.inf], [0.0, 1.0]]), "NaN or infinite"),
        (torch.zeros(0, 4), "non-empty 2D"),
        (torch.ones(5), "non-empty 2D"),
    ],
)
def test_degenerate_matrices_raise(matrix: torch.Tensor, message: str) -> None:
    for method in ("gram", "svd"):
        with pytest.raises(ValueError, match=message):
            stable_rank(matrix, method)


def test_unknown_method() -> None:
    with pytest.raises(ValueError, match="method must be one of gram, svd"):
        stable_rank(torch.eye(3), "qr")


def test_distance_preservation_counts_strictly_above() -> None:
    similarity = torch.tensor([0.1, 0.2, 1.0, 0.1001, -0.5, 0.0999])
    assert distance_preservation(similarity) == pytest.approx(3 / 6 / 2)
    assert distance_preservation(similarity, threshold=0.5) == pytest.approx(1 / 6 / 2)
    with pytest.raises(ValueError, match="non-empty 1D"):
        distance_preservation(torch.ones(2, 2))


def test_row_similarity_of_separable_factors_equals_kronecker_rows() -> None:
    factors = random_matrix(11, 2 * 5).reshape(11, 2, 5)
    expected = row_similarity(kronecker_rows(factors), reference=4)
    assert torch.allclose(row_similarity(factors, reference=4), expected, atol=1e-12)


def test_row_similarity_zero_rows() -> None:
    features = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    similarity = row_similarity(features, reference=0)
    assert similarity.tolist() == pytest.approx([1.0, 0.0, 1 / math.sqrt(2)])
    with pytest.raises(ValueError, match="reference row 1 is all zero"):
        row_similarity(features, reference=1)


def test_grid_distance_preservation_along_each_axis() -> None:
    emb = make_embedding("gaussian", in_dim=2, sigma=0.03, num_centers=64, compose="separable")
    axis = torch.arange(40) / 40
    grid = torch.stack(torch.meshgrid(axis, axis[:30], indexing="ij"), dim=-1).reshape(-1, 2)
    features = emb(grid)
    line = make_embedding("gaussian", sigma=0.03, num_centers=64)
    along_x = grid_distance_preservation(features, (40, 30), axis=0)
    along_y = grid_distance_preservation(features, (40, 30), axis=1)
    assert along_x == pytest.approx(grid_distance_preservation(line(axis), (40,)))
    assert along_y == pytest.approx(grid_distance_preservation(line(axis[:30]), (30,)))
    assert along_x == pytest.approx(
        grid_distance_preservation(kronecker_rows(features), (40, 30), axis=0)
    )


def test_grid_distance_preservation_checks_its_input() -> None:
    with pytest.raises(ValueError, match="12 rows but grid_shape"):
        grid_distance_preservation(torch.ones(12, 3), (5, 2))
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        grid_distance_preservation(torch.ones(10, 3), (5, 2), axis=2)


def test_memory_guard() -> None:
    require_matrix_fits(1000, 1000, "a test")
    with pytest.raises(ValueError, match=r"a test needs a 100000 x 100000 float64 matrix"):
        require_matrix_fits(100_000, 100_000, "a test")
