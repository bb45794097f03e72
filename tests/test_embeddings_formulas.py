"""Each embedding's formula against an independent NumPy evaluation at random points."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from posenc.embeddings import (
    EMBEDDINGS,
    Embedding,
    gaussian_sigma_to_rff_scale,
    kronecker_rows,
    make_embedding,
    rff_scale_to_gaussian_sigma,
)

RNG = np.random.default_rng(1234)
POINTS = RNG.random(200)


def _fourier(frequencies: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    def features(u: np.ndarray) -> np.ndarray:
        phase = 2 * np.pi * np.outer(u, frequencies)
        return np.concatenate([np.sin(phase), np.cos(phase)], axis=1)

    return features


def _shifted(psi: Callable[[np.ndarray], np.ndarray], num: int, periodic: bool):
    def features(u: np.ndarray) -> np.ndarray:
        d = u[:, None] - np.arange(num)[None, :] / num
        if periodic:
            d = d - np.round(d)
        return psi(d)

    return features


def _periodic_samples(samples: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    grid = np.arange(samples.size) / samples.size
    return lambda d: np.interp(np.mod(d, 1.0), grid, samples, period=1.0)


def reference(emb: Embedding) -> Callable[[np.ndarray], np.ndarray]:
    """Per-axis raw features of ``emb`` computed with NumPy from the documented formula."""
    name = emb.name
    if name == "none":
        return lambda u: u[:, None]
    if name == "basic":
        return _fourier(np.array([1.0]))
    if name == "logf":
        return _fourier(2.0 ** np.linspace(0, emb.p, 128))
    if name == "linf":
        return _fourier(np.linspace(1, 2.0**emb.p, 128))
    if name == "p3_pe":
        return _fourier(2.0 ** np.linspace(0, emb.scale, 128) - 1)
    if name == "rff":  # the random draw itself is checked statistically below
        return _fourier(emb.frequencies.double().numpy().reshape(-1))
    psi = {
        "gaussian": lambda d: np.exp(-(d**2) / (2 * emb.sigma**2)),
        "sinc": lambda d: np.sinc(d / emb.width),
        "triangle": lambda d: np.maximum(1 - np.abs(d) / emb.width, 0),
        "rect": lambda d: ((d >= -emb.width / 2) & (d < emb.width / 2)).astype(float),
        "impulse": lambda d: ((d >= -emb.radius) & (d < emb.radius)).astype(float),
        "square_wave": lambda d: np.where(np.mod(emb.frequency * d, 1) < 0.5, 1.0, -1.0),
        "sine": lambda d: np.sin(2 * np.pi * emb.frequency * d) + emb.offset,
        "custom": lambda d: np.exp(-np.abs(d / emb.scale) / 0.02),
    }.get(name)
    if name == "noise":
        psi = _periodic_samples(emb.samples.double().numpy())
    if psi is None:
        raise KeyError(f"no NumPy reference for embedding {name!r}: add one to this test")
    return _shifted(psi, emb.num_centers, emb.periodic)


def build(name: str, **params) -> Embedding:
    example = getattr(EMBEDDINGS[name], "example_parameters", {})
    return make_embedding(name, normalization="none", dtype=torch.float64, **example, **params)


def test_every_registered_embedding_has_a_reference() -> None:
    for name in EMBEDDINGS:
        reference(build(name))


@pytest.mark.parametrize("name", list(EMBEDDINGS))
@pytest.mark.parametrize("periodic", [False, True])
def test_formula_matches_numpy(name: str, periodic: bool) -> None:
    params = {"periodic": periodic} if EMBEDDINGS[name].family == "shifted" else {}
    if EMBEDDINGS[name].bandwidth_name and name not in ("square_wave", "sine"):
        params["bandwidth"] = 0.0123 if EMBEDDINGS[name].family == "shifted" else 4.5
    emb = build(name, **params)
    expected = reference(emb)(POINTS)
    actual = emb(torch.from_numpy(POINTS)).numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["gaussian", "logf", "triangle"])
def test_compositions_match_numpy(name: str) -> None:
    coords = RNG.random((50, 2))
    x, y = coords[:, 0], coords[:, 1]
    concat = build(name, in_dim=2)
    f = reference(concat)
    np.testing.assert_allclose(
        concat(torch.from_numpy(coords)).numpy(), np.concatenate([f(x), f(y)], axis=1)
    )
    directions = build(name, in_dim=2, compose="directions")
    expected = np.concatenate([f(x), f(y), f((x + y) / 2), f((x - y + 1) / 2)], axis=1)
    np.testing.assert_allclose(directions(torch.from_numpy(coords)).numpy(), expected)
    separable = build(name, in_dim=2, compose="separable")
    factors = separable(torch.from_numpy(coords))
    np.testing.assert_allclose(factors.numpy(), np.stack([f(x), f(y)], axis=1))
    kron = np.stack([np.kron(f(x)[n], f(y)[n]) for n in range(50)])
    np.testing.assert_allclose(kronecker_rows(factors).numpy(), kron)


def test_rff_isotropic_matrix_and_draw() -> None:
    emb = build("rff", in_dim=2, scale=7.0, num_frequencies=4000)
    b = emb.frequencies.numpy()
    assert b.shape == (4000, 2)
    assert abs(b.mean()) < 0.3 and b.std() == pytest.approx(7.0, rel=0.03)
    coords = RNG.random((30, 2))
    phase = 2 * np.pi * coords @ b.T
    expected = np.concatenate([np.sin(phase), np.cos(phase)], axis=1)
    np.testing.assert_allclose(emb(torch.from_numpy(coords)).numpy(), expected, atol=1e-9)
    other_seed = build("rff", in_dim=2, scale=7.0, num_frequencies=4000, seed=1)
    assert not np.allclose(other_seed.frequencies.numpy(), b)


def test_gaussian_truncation_zeroes_beyond_the_radius() -> None:
    emb = build("gaussian", sigma=0.01, truncate=3.0, num_centers=100)
    assert emb.support_radius == pytest.approx(0.03)
    features = emb(torch.from_numpy(POINTS)).numpy()
    d = np.abs(POINTS[:, None] - np.arange(100)[None, :] / 100)
    assert np.all(features[d > 0.03] == 0)
    np.testing.assert_allclose(features[d <= 0.03], np.exp(-(d[d <= 0.03] ** 2) / 2e-4))


def test_impulse_default_is_the_nearest_centre_one_hot() -> None:
    emb = build("impulse", num_centers=64, periodic=True)
    features = emb(torch.from_numpy(POINTS)).numpy()
    assert np.all(features.sum(axis=1) == 1)
    nearest = np.round(POINTS * 64).astype(int) % 64
    assert np.all(features.argmax(axis=1) == nearest)


@pytest.mark.parametrize("name", ["impulse", "rect"])
def test_points_midway_between_centres_fall_in_exactly_one_box(name: str) -> None:
    """x = k/32 with 10000 centres lands exactly midway between two centres for odd k."""
    width = {"rect": {"width": 1e-4}, "impulse": {}}[name]
    for dtype in (torch.float32, torch.float64):
        emb = make_embedding(
            name, num_centers=10000, periodic=True, normalization="none", dtype=dtype, **width
        )
        features = emb(torch.arange(32, dtype=dtype) / 32)
        assert torch.equal(features.sum(dim=1), torch.ones(32, dtype=dtype))


def test_square_wave_has_no_zeros_and_half_periods_of_each_sign() -> None:
    emb = make_embedding("square_wave", frequency=4.0, num_centers=64, normalization="none")
    grid = torch.arange(256, dtype=torch.float64) / 256
    features = emb.embed(grid)  # float64 grid values rounded to the embedding's float32
    assert set(features.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(features.sum(dim=0), torch.zeros(64))


def test_sampled_custom_generator_is_the_circulant() -> None:
    """P1's construction: the embedded grid x_i = i/D is the circulant whose first column is g."""
    size = 64
    samples = RNG.standard_normal(size)
    emb = make_embedding(
        "custom", generator=samples, num_centers=size, periodic=True, normalization="none"
    )
    grid = torch.arange(size, dtype=torch.float32) / size
    index = np.arange(size)
    circulant = samples[(index[:, None] - index[None, :]) % size]
    np.testing.assert_allclose(emb(grid).numpy(), circulant, rtol=1e-5, atol=1e-5)


def test_custom_generator_from_a_file(tmp_path) -> None:
    samples = RNG.standard_normal(32)
    np.save(tmp_path / "psi.npy", samples)
    from_file = make_embedding("custom", generator=tmp_path / "psi.npy", num_centers=8)
    from_array = make_embedding("custom", generator=samples, num_centers=8)
    coords = torch.rand(10)
    torch.testing.assert_close(from_file(coords), from_array(coords))


@pytest.mark.parametrize(
    ("generator", "message"),
    [
        (lambda d: d[:3], "same shape"),
        (lambda d: d / 0, "NaN or infinite"),
        ([1.0], "at least 2 values"),
        ([[1.0, 2.0]], "1D array"),
        ("/no/such/psi.npy", "does not exist"),
    ],
)
def test_bad_custom_generators(generator, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_embedding("custom", generator=generator)


def test_gaussian_stable_rank_on_a_periodic_grid() -> None:
    """P2 Proposition 2: SR = 1 / (2 sqrt(pi) sigma) for a Gaussian basis on a periodic grid."""
    size = 1000
    grid = torch.arange(size, dtype=torch.float64) / size
    for sigma in (0.1, 0.05, 0.01):
        emb = make_embedding(
            "gaussian", sigma=sigma, num_centers=size, periodic=True, dtype=torch.float64
        )
        singular = torch.linalg.svdvals(emb(grid))
        stable_rank = float((singular**2).sum() / singular[0] ** 2)
        assert stable_rank == pytest.approx(1 / (2 * np.sqrt(np.pi) * sigma), rel=0.01)


def test_sigma_to_rff_scale_matching() -> None:
    assert gaussian_sigma_to_rff_scale(0.005) == pytest.approx(22.508, abs=5e-4)
    assert rff_scale_to_gaussian_sigma(gaussian_sigma_to_rff_scale(0.02)) == pytest.approx(0.02)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_sigma_to_rff_scale(0)


def test_trainable_frequencies_receive_gradients() -> None:
    emb = make_embedding("logf", trainable=True)
    assert [name for name, _ in emb.named_parameters()] == ["frequencies"]
    emb(torch.rand(16)).sum().backward()
    assert emb.frequencies.grad is not None and torch.isfinite(emb.frequencies.grad).all()
    assert list(make_embedding("logf").parameters()) == []
