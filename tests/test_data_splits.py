"""Train/test splits: coverage and disjointness per kind, product-grid axes, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from posenc.data import SPLIT_KINDS, Signal, make_split

SHAPES = [(9,), (8,), (6, 7), (5, 4), (4, 5, 3)]


def multi_indices(flat: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray:
    """``(len(flat), ndim)`` multi-indices of flat C-order indices (numpy's own unravel)."""
    return np.stack(np.unravel_index(flat.numpy(), shape), axis=-1)


def product_of(axes: tuple[torch.Tensor, ...], shape: tuple[int, ...]) -> np.ndarray:
    """Flat indices of the product grid of ``axes`` (numpy's own ravel)."""
    mesh = np.meshgrid(*(axis.numpy() for axis in axes), indexing="ij")
    return np.sort(np.ravel_multi_index(tuple(m.ravel() for m in mesh), shape))


def assert_sorted_int64(indices: torch.Tensor) -> None:
    assert indices.dtype == torch.int64
    assert bool((indices[1:] > indices[:-1]).all())


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", SPLIT_KINDS)
def test_indices_are_sorted_unique_int64_and_axes_match(shape: tuple[int, ...], kind: str) -> None:
    split = make_split(shape, kind)
    assert split.kind == kind
    for indices, axes in ((split.train, split.train_axes), (split.test, split.test_axes)):
        assert_sorted_int64(indices)
        assert int(indices.min()) >= 0 and int(indices.max()) < math.prod(shape)
        if axes is not None:
            assert len(axes) == len(shape)
            np.testing.assert_array_equal(indices.numpy(), product_of(axes, shape))


@pytest.mark.parametrize("shape", SHAPES)
def test_offset_trains_on_even_and_tests_on_odd_points(shape: tuple[int, ...]) -> None:
    split = make_split(shape, "offset")
    assert bool((multi_indices(split.train, shape) % 2 == 0).all())
    assert bool((multi_indices(split.test, shape) % 2 == 1).all())
    expected_train = math.prod((n + 1) // 2 for n in shape)
    expected_test = math.prod(n // 2 for n in shape)
    assert split.train.numel() == expected_train and split.test.numel() == expected_test
    assert torch.equal(split.heldout, split.test)


@pytest.mark.parametrize("shape", SHAPES)
def test_rest_tests_on_every_point_not_trained_on(shape: tuple[int, ...]) -> None:
    split = make_split(shape, "rest")
    assert bool((multi_indices(split.train, shape) % 2 == 0).all())
    union = torch.cat([split.train, split.test]).sort().values
    assert torch.equal(union, torch.arange(math.prod(shape)))
    assert torch.equal(split.heldout, split.test)


@pytest.mark.parametrize("shape", SHAPES)
def test_all_tests_on_every_point(shape: tuple[int, ...]) -> None:
    split = make_split(shape, "all")
    assert torch.equal(split.test, torch.arange(math.prod(shape)))
    assert torch.equal(split.train, make_split(shape, "offset").train)
    assert torch.equal(split.heldout, make_split(shape, "rest").test)


def test_in_1d_rest_and_offset_agree() -> None:
    offset, rest = make_split((11,), "offset"), make_split((11,), "rest")
    assert torch.equal(offset.test, rest.test)
    assert rest.test_axes is not None and torch.equal(rest.test_axes[0], torch.arange(1, 11, 2))


def test_axes_are_none_where_the_set_is_no_product_grid() -> None:
    assert make_split((6, 6), "rest").test_axes is None
    random = make_split((6, 6), "random")
    assert random.train_axes is None and random.test_axes is None


def test_offset_indices_select_the_strided_image_slices() -> None:
    values = torch.rand(6, 8, 3)
    signal = Signal(values, "noise", {})
    split = make_split(signal.grid_shape, "offset")
    flat = signal.flat_values()
    torch.testing.assert_close(flat[split.train], values[::2, ::2].reshape(-1, 3))
    torch.testing.assert_close(flat[split.test], values[1::2, 1::2].reshape(-1, 3))
    coordinates = signal.coordinates()[split.train]
    torch.testing.assert_close(coordinates[1], torch.tensor([0.0, 2 / 8]))


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.9])
def test_random_split_partitions_the_grid(fraction: float) -> None:
    shape = (10, 13)
    split = make_split(shape, "random", fraction=fraction, seed=4)
    assert split.train.numel() == round(fraction * 130)
    assert not bool(torch.isin(split.train, split.test).any())
    union = torch.cat([split.train, split.test]).sort().values
    assert torch.equal(union, torch.arange(130))
    assert torch.equal(split.heldout, split.test)


def test_random_split_is_deterministic_per_seed() -> None:
    first = make_split((20, 20), "random", seed=3)
    again = make_split((20, 20), "random", seed=3)
    other = make_split((20, 20), "random", seed=4)
    assert torch.equal(first.train, again.train) and torch.equal(first.test, again.test)
    assert not torch.equal(first.train, other.train)


@pytest.mark.parametrize("kind", ["odd", "", "Offset", "even"])
def test_unknown_kind_is_refused(kind: str) -> None:
    with pytest.raises(ValueError, match=rf"kind.*{kind!r}"):
        make_split((4, 4), kind)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, float("nan"), "0.5", True])
def test_bad_fraction_is_refused(fraction: object) -> None:
    with pytest.raises(ValueError, match="fraction"):
        make_split((4, 4), "random", fraction=fraction)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_bad_seed_is_refused(seed: object) -> None:
    with pytest.raises(ValueError, match="seed"):
        make_split((4, 4), "random", seed=seed)  # type: ignore[arg-type]


def test_random_split_with_an_empty_side_is_refused() -> None:
    with pytest.raises(ValueError, match=r"fraction 0\.1 of 4 points"):
        make_split((2, 2), "random", fraction=0.1)
    with pytest.raises(ValueError, match=r"fraction 0\.9 of 4 points"):
        make_split((2, 2), "random", fraction=0.9)


@pytest.mark.parametrize("shape", [(), (1, 5), (5, 0), (1,), (3, 2.0)])
def test_grids_with_a_short_axis_are_refused(shape: tuple) -> None:
    with pytest.raises(ValueError, match="at least 2"):
        make_split(shape)
