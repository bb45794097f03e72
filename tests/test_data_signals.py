"""Coordinate grids, the Signal container, image rows, synthetic 1D families and specs."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from posenc.data import (
    LUMINANCE_WEIGHTS,
    SYNTHETIC_FAMILIES,
    Signal,
    coordinate_grid,
    is_signal_spec,
    load_image,
    load_signal,
    load_source,
)

# --- coordinate grids and Signal ------------------------------------------------------------


def test_coordinate_grid_is_i_over_n_in_c_order() -> None:
    grid = coordinate_grid((2, 3))
    expected = [[0, 0], [0, 1 / 3], [0, 2 / 3], [0.5, 0], [0.5, 1 / 3], [0.5, 2 / 3]]
    assert grid.dtype == torch.float32
    torch.testing.assert_close(grid, torch.tensor(expected, dtype=torch.float32))
    assert coordinate_grid((4,), dtype=torch.float64).tolist() == [[0], [0.25], [0.5], [0.75]]


def test_coordinate_grid_in_3d_matches_numpy_unravel() -> None:
    shape = (3, 4, 5)
    grid = coordinate_grid(shape, dtype=torch.float64).numpy()
    index = np.stack(np.unravel_index(np.arange(60), shape), axis=-1)
    np.testing.assert_allclose(grid, index / np.array(shape))


@pytest.mark.parametrize("shape", [(), (0, 3), (2, -1), (2.0, 3)])
def test_coordinate_grid_refuses_bad_shapes(shape: tuple) -> None:
    with pytest.raises(ValueError, match="grid shape"):
        coordinate_grid(shape)


def test_coordinates_follow_the_flat_values_of_a_loaded_image(tmp_path: Path) -> None:
    height, width = 5, 7
    pixels = np.arange(height * width, dtype=np.uint8).reshape(height, width) * 7
    iio.imwrite(tmp_path / "ramp.png", pixels)
    signal = load_image(tmp_path / "ramp.png", crop=False)
    coordinates = signal.coordinates().numpy().astype(np.float64)
    flat = signal.flat_values()
    assert coordinates.shape == (height * width, 2) and flat.shape == (height * width, 1)
    rows = np.rint(coordinates[:, 0] * height).astype(int)
    cols = np.rint(coordinates[:, 1] * width).astype(int)
    np.testing.assert_allclose(flat[:, 0].numpy(), pixels[rows, cols] / 255, atol=1e-7)


def test_signal_properties() -> None:
    signal = Signal(torch.rand(4, 6, 3), "noise", {"kind": "test"})
    assert signal.grid_shape == (4, 6)
    assert signal.ndim == 2 and signal.channels == 3
    assert signal.flat_values().shape == (24, 3)
    assert signal.coordinates().shape == (24, 2)


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        (torch.full((4, 4, 1), 1.5), r"\[0, 1\]"),
        (torch.full((4, 4, 1), float("nan")), r"\[0, 1\]"),
        (torch.rand(4, 4, 1, dtype=torch.float64), "float32"),
        (torch.rand(1, 4, 1), "at least 2"),
        (torch.rand(4), "channels"),
    ],
)
def test_signal_refuses_bad_values(values: torch.Tensor, problem: str) -> None:
    with pytest.raises(ValueError, match=rf"'mine'.*{problem}"):
        Signal(values, "mine", {})


# --- image rows -----------------------------------------------------------------------------


def test_builtin_row_equals_the_grayscale_image_row() -> None:
    signal = load_signal("camera:row=200")
    image = load_image("camera", gray=True, crop=False)
    assert signal.grid_shape == (image.grid_shape[1],)
    assert signal.channels == 1 and signal.ndim == 1
    torch.testing.assert_close(signal.values, image.values[200])
    assert signal.name == "camera:row=200"


def test_file_row_is_the_luminance_of_that_row(tmp_path: Path) -> None:
    pixels = np.random.default_rng(5).integers(0, 256, (6, 11, 3), dtype=np.uint8)
    path = tmp_path / "wide.png"
    iio.imwrite(path, pixels)
    signal = load_signal(f"{path}:row=4")
    expected = (pixels[4] / 255) @ np.array(LUMINANCE_WEIGHTS)
    assert signal.grid_shape == (11,)  # full width: rows are never cropped
    np.testing.assert_allclose(signal.values[:, 0].numpy(), expected, atol=1e-6)
    assert signal.name == "wide.png:row=4"
    assert signal.source["row"] == 4 and signal.source["image"]["path"] == str(path.resolve())


def test_row_length_resamples() -> None:
    full = load_signal("camera:row=100")
    short = load_signal("camera:row=100", length=128)
    assert short.grid_shape == (128,)
    assert short.source["length"] == 128
    assert abs(float(short.values.mean()) - float(full.values.mean())) < 0.01
    block_means = full.values[:, 0].reshape(128, 4).mean(dim=1)
    interior = slice(1, -1)
    assert float((short.values[interior, 0] - block_means[interior]).abs().max()) < 0.1


# --- synthetic families ---------------------------------------------------------------------


@pytest.mark.parametrize("family", sorted(SYNTHETIC_FAMILIES))
def test_synthetic_signal_is_deterministic_and_fills_unit_range(family: str) -> None:
    first = load_signal(family)
    again = load_signal(f"{family}:seed=0")
    other = load_signal(f"{family}:seed=1")
    assert first.grid_shape == (512,) and first.channels == 1
    assert torch.equal(first.values, again.values)
    assert not torch.equal(first.values, other.values)
    assert float(first.values.min()) == 0.0 and float(first.values.max()) == 1.0


@pytest.mark.parametrize("family", sorted(SYNTHETIC_FAMILIES))
def test_the_name_spells_out_every_parameter_and_reloads_the_signal(family: str) -> None:
    signal = load_signal(family, length=100)
    for key in SYNTHETIC_FAMILIES[family].defaults:
        assert f"{key}=" in signal.name
    assert json.loads(json.dumps(signal.source))["length"] == 100
    assert torch.equal(load_signal(signal.name, length=100).values, signal.values)


def amplitude_spectrum(signal: Signal) -> np.ndarray:
    return np.abs(np.fft.rfft(signal.values[:, 0].numpy().astype(np.float64)))


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_powerlaw_amplitude_spectrum_has_slope_minus_alpha(alpha: float) -> None:
    signal = load_signal(f"powerlaw:alpha={alpha},seed=3")
    spectrum = amplitude_spectrum(signal)
    frequencies = np.arange(1, 256)
    slope = np.polyfit(np.log(frequencies), np.log(spectrum[1:256]), 1)[0]
    assert slope == pytest.approx(-alpha, abs=0.01)
    power_slope = np.polyfit(np.log(frequencies), np.log(spectrum[1:256] ** 2), 1)[0]
    assert power_slope == pytest.approx(-2 * alpha, abs=0.02)
    assert spectrum[256] < 1e-3 * spectrum[1]  # nothing at Nyquist


def test_powerlaw_phases_are_random_per_seed() -> None:
    a = np.fft.rfft(load_signal("powerlaw:seed=1").values[:, 0].numpy())
    b = np.fft.rfft(load_signal("powerlaw:seed=2").values[:, 0].numpy())
    phase_gap = np.abs(np.angle(a[1:20] / b[1:20]))
    assert phase_gap.mean() > 0.5


def test_sines_have_count_equal_lines_up_to_fmax() -> None:
    signal = load_signal("sines:count=5,fmax=40,seed=7")
    spectrum = amplitude_spectrum(signal)[1:]
    lines = np.flatnonzero(spectrum > 1e-3 * spectrum.max()) + 1
    assert len(lines) == 5
    assert lines.max() <= 40
    np.testing.assert_allclose(spectrum[lines - 1], spectrum[lines[0] - 1], rtol=1e-4)


def test_steps_have_count_jumps() -> None:
    values = load_signal("steps:count=6,seed=2", length=300).values[:, 0]
    assert int((values[1:] != values[:-1]).sum()) == 6
    assert values.shape == (300,)


def test_synthetic_length_option() -> None:
    assert load_signal("powerlaw", length=64).grid_shape == (64,)
    assert load_signal("sines:fmax=10", length=21).grid_shape == (21,)


# --- specs and the single entry point -------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ("powerlaw:alpha", "alpha"),
        ("powerlaw:alpha=", "alpha"),
        ("powerlaw:=3", "=3"),
        ("powerlaw:beta=1", "beta"),
        ("powerlaw:alpha=x", "alpha"),
        ("powerlaw:alpha=inf", "alpha"),
        ("powerlaw:alpha=nan", "alpha"),
        ("powerlaw:seed=1.5", "seed"),
        ("powerlaw:seed=-1", "seed"),
        ("powerlaw:alpha=1,alpha=2", "alpha"),
        ("sines:count=0", "count"),
        ("sines:count=5,fmax=3", "fmax"),
        ("sines:fmax=256", "fmax"),
        ("steps:count=512", "count"),
        ("camera:row=512", "row"),
        ("camera:row=-1", "row"),
        ("camera:row=two", "row"),
        ("camera:col=3", "col"),
        ("camera:row=3,length=9", "length"),
        ("camera", "camera"),
    ],
)
def test_malformed_spec_names_spec_and_key(spec: str, key: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_signal(spec)
    message = str(caught.value)
    assert repr(spec) in message and key in message


@pytest.mark.parametrize("length", [0, 1, 2.5, True])
def test_bad_length_is_refused(length: object) -> None:
    with pytest.raises(ValueError, match=r"'powerlaw'.*length"):
        load_signal("powerlaw", length=length)  # type: ignore[arg-type]


def test_too_short_for_the_family_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'powerlaw'.*length"):
        load_signal("powerlaw", length=2)


def test_row_of_a_missing_image_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"gone\.png"):
        load_signal(f"{tmp_path / 'gone.png'}:row=1")


@pytest.mark.parametrize(
    ("spec", "is_1d"),
    [
        ("powerlaw", True),
        ("sines:count=2", True),
        ("camera:row=3", True),
        ("photos/a.png:row=0", True),
        ("camera", False),
        ("photo.png", False),
        (r"C:\images\photo.png", False),
    ],
)
def test_signal_spec_detection(spec: str, is_1d: bool) -> None:
    assert is_signal_spec(spec) is is_1d


def test_load_source_dispatches_images_and_signals(tmp_path: Path) -> None:
    assert load_source("camera", size=16).grid_shape == (16, 16)
    assert load_source("camera:row=3").grid_shape == (512,)
    assert load_source("steps", length=40).grid_shape == (40,)
    path = tmp_path / "photo.png"
    iio.imwrite(path, np.zeros((4, 6, 3), dtype=np.uint8))
    assert load_source(path, crop=False, gray=True).values.shape == (4, 6, 1)
    assert load_source(str(path)).grid_shape == (4, 4)


def test_an_existing_file_is_an_image_even_with_a_family_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    iio.imwrite(tmp_path / "sines", np.zeros((3, 3), dtype=np.uint8), extension=".png")
    assert load_source("sines").grid_shape == (3, 3)


def test_load_source_refuses_options_of_the_other_kind() -> None:
    with pytest.raises(ValueError, match=r"'powerlaw'.*size"):
        load_source("powerlaw", size=64)
    with pytest.raises(ValueError, match=r"'camera'.*length"):
        load_source("camera", length=64)
