"""The exact structured paths (block-circulant FFT, Toeplitz Gram) against dense linear algebra."""

from __future__ import annotations

from typing import Any

import pytest
import scipy.linalg
import torch

from posenc.analysis import embedding_matrix, embedding_stable_rank, row_similarity, stable_rank
from posenc.analysis.spectral import (
    BlockCirculant,
    circulant_similarity,
    circulant_stable_rank,
    fourier_features_stable_rank,
    shifted_basis_similarity,
    shifted_basis_stable_rank,
)
from posenc.embeddings import make_embedding

CONTINUOUS = [
    ("gaussian", {"sigma": 0.03}),
    ("sinc", {"width": 0.05}),
    ("triangle", {"width": 0.1}),
    ("noise", {"length": 0.02}),
    ("sine", {"frequency": 3.0, "offset": 0.7}),
]
# (centres K, samples N): N = K, N | K, K | N, neither, and coprime.
GRIDS = [(12, 12), (12, 4), (12, 36), (12, 30), (20, 50), (60, 45), (12, 7)]


def periodic(name: str, num_centers: int, **params: Any) -> Any:
    return make_embedding(
        name, num_centers=num_centers, periodic=True, dtype=torch.float64, **params
    )


@pytest.mark.parametrize(("name", "params"), CONTINUOUS)
@pytest.mark.parametrize(("centers", "samples"), GRIDS)
def test_block_circulant_is_the_embedding_matrix(
    name: str, params: dict[str, Any], centers: int, samples: int
) -> None:
    emb = periodic(name, centers, **params)
    blocks = BlockCirculant.from_embedding(emb, samples)
    matrix = embedding_matrix(emb, samples)
    assert blocks.shape == (samples, centers)
    assert torch.allclose(blocks.matrix(), matrix, atol=1e-12)
    assert blocks.stable_rank() == pytest.approx(stable_rank(matrix, "svd"), rel=1e-10)
    reference = samples // 2
    assert torch.allclose(
        blocks.similarity(reference), row_similarity(matrix, reference), atol=1e-12
    )


def test_circulant_of_a_generator_row() -> None:
    row = torch.randn(64, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    # scipy's circulant has the row as its first column; its transpose is row-wise shifts.
    matrix = torch.from_numpy(scipy.linalg.circulant(row.numpy()).T.copy())
    assert circulant_stable_rank(row) == pytest.approx(stable_rank(matrix, "svd"), rel=1e-12)
    assert torch.allclose(circulant_similarity(row), row_similarity(matrix, 0), atol=1e-12)


def test_full_circulant_spectrum_formula() -> None:
    """SR of a circulant = sum |DFT|^2 / max |DFT|^2."""
    row = torch.rand(101, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    power = torch.fft.fft(row).abs().square()
    assert circulant_stable_rank(row) == pytest.approx(float(power.sum() / power.max()))


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("gaussian", {"sigma": 0.004}),
        ("sinc", {"width": 0.01}),
        ("triangle", {"width": 0.006}),
        ("noise", {"length": 0.003}),
    ],
)
def test_fft_gram_and_svd_agree_on_a_shifted_basis(name: str, params: dict[str, Any]) -> None:
    """The issue's check: all three paths agree to 1e-6 where an SVD is affordable."""
    emb = periodic(name, 600, **params)
    by_svd = embedding_stable_rank(emb, 600, "svd")
    assert embedding_stable_rank(emb, 600, "fft") == pytest.approx(by_svd, rel=1e-6)
    assert embedding_stable_rank(emb, 600, "gram") == pytest.approx(by_svd, rel=1e-6)
    assert embedding_stable_rank(emb, 600) == embedding_stable_rank(emb, 600, "fft")


def test_float32_embedding_on_the_fft_path() -> None:
    emb = make_embedding("gaussian", sigma=0.01, num_centers=500, periodic=True)
    assert emb.dtype == torch.float32
    by_svd = stable_rank(embedding_matrix(emb, 500), "svd")
    assert shifted_basis_stable_rank(emb, 500) == pytest.approx(by_svd, rel=1e-6)
    curve = shifted_basis_similarity(emb, 500)
    assert torch.allclose(curve, row_similarity(embedding_matrix(emb, 500), 250), atol=1e-6)


@pytest.mark.parametrize(
    ("name", "params", "samples"),
    [
        ("rff", {"scale": 8.0, "num_frequencies": 300}, 700),  # Lanczos
        ("rff", {"scale": 8.0, "num_frequencies": 300, "compose": "concat"}, 200),  # dense
        ("logf", {"p": 6.0}, 900),
        ("linf", {"p": 5.0}, 1000),  # many near-equal top eigenvalues
        ("p3_pe", {}, 640),
        ("basic", {}, 64),
    ],
)
def test_toeplitz_path_agrees_with_svd(name: str, params: dict[str, Any], samples: int) -> None:
    emb = make_embedding(name, dtype=torch.float64, **params)
    by_svd = stable_rank(embedding_matrix(emb, samples), "svd")
    assert fourier_features_stable_rank(emb, samples) == pytest.approx(by_svd, rel=1e-9)
    assert embedding_stable_rank(emb, samples) == fourier_features_stable_rank(emb, samples)


@pytest.mark.parametrize(
    ("embedding", "message"),
    [
        (make_embedding("gaussian", num_centers=16), "needs periodic=True"),
        (make_embedding("rff"), "needs a shifted basis"),
        (make_embedding("gaussian", in_dim=2, num_centers=16, periodic=True), "in_dim=1"),
    ],
)
def test_fft_path_refuses_unstructured_embeddings(embedding: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shifted_basis_stable_rank(embedding, 16)
    with pytest.raises(ValueError, match=message):
        embedding_stable_rank(embedding, 16, method="fft")


def test_toeplitz_path_refuses_other_embeddings() -> None:
    with pytest.raises(ValueError, match="needs a Fourier-feature embedding"):
        fourier_features_stable_rank(make_embedding("gaussian"), 10)
    with pytest.raises(ValueError, match="in_dim=1"):
        fourier_features_stable_rank(make_embedding("logf", in_dim=2), 10)


@pytest.mark.parametrize("samples", [0, -3, 2.5, True])
def test_bad_sample_counts(samples: Any) -> None:
    emb = make_embedding("gaussian", num_centers=16, periodic=True)
    with pytest.raises(ValueError, match="number of samples must be an integer >= 1"):
        shifted_basis_stable_rank(emb, samples)


def test_degenerate_generators_raise() -> None:
    with pytest.raises(ValueError, match="all-zero"):
        circulant_stable_rank(torch.zeros(8))
    with pytest.raises(ValueError, match="NaN or infinite"):
        circulant_stable_rank(torch.tensor([1.0, float("nan"), 0.0]))
