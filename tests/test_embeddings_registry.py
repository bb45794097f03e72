"""Properties every registered embedding must have; new embeddings are covered automatically."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from posenc.embeddings import EMBEDDINGS, Embedding, embedding_class, make_embedding

CASES = [
    (name, in_dim, compose)
    for name, cls in EMBEDDINGS.items()
    for in_dim in (1, 2, 3)
    for compose in cls.compositions
    if compose != "directions" or in_dim == 2
]


def build(name: str, in_dim: int = 1, **params: Any) -> Embedding:
    """The registered embedding with its example parameters (for those without defaults)."""
    example = getattr(embedding_class(name), "example_parameters", {})
    return make_embedding(name, in_dim=in_dim, **{**example, **params})


def random_coords(num: int, in_dim: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(num, in_dim, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("name", "in_dim", "compose"), CASES)
def test_shape_dtype_and_finiteness(name: str, in_dim: int, compose: str) -> None:
    emb = build(name, in_dim, compose=compose)
    features = emb(random_coords(37, in_dim))
    assert features.shape == emb.feature_shape(37)
    assert features.dtype == torch.float32
    assert torch.isfinite(features).all()
    if emb.separable:
        assert features.shape == (37, in_dim, emb.factor_dim)
        assert emb.out_dim == emb.factor_dim**in_dim
    else:
        assert features.shape == (37, emb.out_dim)


@pytest.mark.parametrize(("name", "in_dim", "compose"), CASES)
def test_deterministic_for_a_fixed_seed(name: str, in_dim: int, compose: str) -> None:
    coords = random_coords(20, in_dim)
    first, second = build(name, in_dim, compose=compose), build(name, in_dim, compose=compose)
    assert torch.equal(first(coords), second(coords))
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key


@pytest.mark.parametrize(("name", "in_dim", "compose"), CASES)
def test_batch_equals_rows_one_by_one(name: str, in_dim: int, compose: str) -> None:
    """Also shows that normalisation does not depend on the batch it sees."""
    emb = build(name, in_dim, compose=compose)
    coords = random_coords(12, in_dim)
    batch = emb(coords)
    rows = torch.cat([emb(coords[i : i + 1]) for i in range(coords.shape[0])])
    torch.testing.assert_close(batch, rows, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(emb(coords[:3]), batch[:3], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("name", "in_dim", "compose"), CASES)
def test_domain_normalisation_bounds_row_norms(name: str, in_dim: int, compose: str) -> None:
    emb = build(name, in_dim, compose=compose)
    features = emb(random_coords(400, in_dim, seed=3))
    norms = torch.linalg.vector_norm(features, dim=-1)
    assert float(norms.max()) <= 1 + 1e-4


@pytest.mark.parametrize("name", list(EMBEDDINGS))
def test_float64_features(name: str) -> None:
    emb = build(name, 2, dtype=torch.float64)
    assert emb(random_coords(5, 2).double()).dtype == torch.float64


@pytest.mark.parametrize("compose", ["concat", "separable"])
@pytest.mark.parametrize("name", list(EMBEDDINGS))
def test_train_normalisation_is_frozen_by_the_training_set(name: str, compose: str) -> None:
    emb = build(name, 2, normalization="train", compose=compose)
    raw = build(name, 2, normalization="none", compose=compose)
    train, test = random_coords(64, 2, seed=1), random_coords(16, 2, seed=2)
    with pytest.raises(ValueError, match="fit_normalization"):
        emb(train)
    emb.fit_normalization(train)
    # P1/P2: divide by the largest training row norm (per axis factor when separable).
    largest = torch.linalg.vector_norm(raw(train), dim=-1).amax(dim=0)
    expected = raw(test) / (largest[None, :, None] if emb.separable else largest)
    torch.testing.assert_close(emb(test), expected)


@pytest.mark.parametrize("name", [n for n, c in EMBEDDINGS.items() if c.bandwidth_name])
@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_bad_bandwidth_names_the_parameter(name: str, bad: float) -> None:
    cls = embedding_class(name)
    if name in ("logf", "linf") and bad <= 0:
        # Their bandwidth p is an exponent: any finite value is allowed.
        build(name, bandwidth=bad)
        return
    with pytest.raises(ValueError, match=cls.bandwidth_name):
        build(name, bandwidth=bad)


@pytest.mark.parametrize("name", [n for n, c in EMBEDDINGS.items() if c.bandwidth_name])
def test_bandwidth_is_exposed_uniformly(name: str) -> None:
    cls = embedding_class(name)
    emb = build(name, bandwidth=0.125)
    assert emb.bandwidth == pytest.approx(0.125)
    assert getattr(emb, cls.bandwidth_name) == pytest.approx(0.125)


@pytest.mark.parametrize("name", list(EMBEDDINGS))
def test_wrong_coordinates_are_rejected(name: str) -> None:
    emb = build(name, 2)
    with pytest.raises(ValueError, match=r"shape \(\*batch, 2\)"):
        emb(torch.rand(5, 3))
    bad = torch.rand(5, 2)
    bad[2, 1] = math.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        emb.embed(bad)
    bad[2, 1] = math.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        emb.embed(bad)
