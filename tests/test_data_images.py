"""Images from files and from scikit-image's installed data: scaling, channels, crop, resize,
offline built-ins and error messages."""

from __future__ import annotations

import json
import socket
import struct
import zlib
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import skimage.data
import torch

from posenc.data import LUMINANCE_WEIGHTS, builtin_images, load_image
from posenc.data import images as images_module

RNG = np.random.default_rng(1234)


def write(path: Path, array: np.ndarray, **options: object) -> Path:
    iio.imwrite(path, array, **options)
    return path


def as_numpy(values: torch.Tensor) -> np.ndarray:
    return values.numpy().astype(np.float64)


PNG_COLOUR_TYPES = {2: 4, 3: 2, 4: 6}
"""PNG colour type by channel count for 16-bit colour: gray + alpha, RGB, RGBA."""


def write_png16_rgb(path: Path, array: np.ndarray) -> Path:
    """A 16-bit PNG with colour or alpha, written by hand (Pillow cannot write one)."""
    height, width, channels = array.shape
    rows = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, PNG_COLOUR_TYPES[channels], 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


# --- decoding and scaling -------------------------------------------------------------------


def test_gray_png_8bit_is_scaled_by_255(tmp_path: Path) -> None:
    pixels = RNG.integers(0, 256, (6, 9), dtype=np.uint8)
    signal = load_image(write(tmp_path / "gray8.png", pixels), crop=False)
    assert signal.values.dtype == torch.float32
    assert signal.values.shape == (6, 9, 1)
    np.testing.assert_allclose(as_numpy(signal.values[..., 0]), pixels / 255, atol=1e-7)


def test_gray_png_16bit_is_scaled_by_65535(tmp_path: Path) -> None:
    pixels = RNG.integers(0, 65536, (7, 5), dtype=np.uint16)
    pixels[0, 0], pixels[0, 1] = 0, 65535
    signal = load_image(write(tmp_path / "gray16.png", pixels), crop=False)
    assert signal.values.shape == (7, 5, 1)
    np.testing.assert_allclose(as_numpy(signal.values[..., 0]), pixels / 65535, atol=1e-7)
    assert float(signal.values.max()) == 1.0


def test_rgb_png_keeps_three_channels(tmp_path: Path) -> None:
    pixels = RNG.integers(0, 256, (5, 8, 3), dtype=np.uint8)
    signal = load_image(write(tmp_path / "rgb.png", pixels), crop=False)
    assert signal.channels == 3
    np.testing.assert_allclose(as_numpy(signal.values), pixels / 255, atol=1e-7)


def test_rgba_png_is_composited_onto_white(tmp_path: Path) -> None:
    pixels = RNG.integers(0, 256, (4, 6, 4), dtype=np.uint8)
    pixels[0, :, 3] = 0
    pixels[1, :, 3] = 255
    signal = load_image(write(tmp_path / "rgba.png", pixels), crop=False)
    assert signal.channels == 3
    colour, alpha = pixels[..., :3] / 255, pixels[..., 3:] / 255
    np.testing.assert_allclose(as_numpy(signal.values), colour * alpha + 1 - alpha, atol=1e-6)
    assert bool((signal.values[0] == 1).all())
    np.testing.assert_allclose(as_numpy(signal.values[1]), pixels[1, :, :3] / 255, atol=1e-7)


def test_gray_alpha_png_becomes_one_channel(tmp_path: Path) -> None:
    pixels = RNG.integers(0, 256, (4, 6, 2), dtype=np.uint8)
    signal = load_image(write(tmp_path / "la.png", pixels), crop=False)
    gray, alpha = pixels[..., :1] / 255, pixels[..., 1:] / 255
    np.testing.assert_allclose(as_numpy(signal.values), gray * alpha + 1 - alpha, atol=1e-6)


def test_jpeg_values_are_close_to_the_encoded_image(tmp_path: Path) -> None:
    ramp = np.linspace(0, 255, 32)
    pixels = np.stack(np.broadcast_arrays(ramp[:, None], ramp[None, :], 128.0), -1)
    pixels = pixels.astype(np.uint8)
    signal = load_image(write(tmp_path / "photo.jpg", pixels, quality=95), crop=False)
    assert signal.values.shape == (32, 32, 3)
    assert np.abs(as_numpy(signal.values) - pixels / 255).max() < 0.05
    gray = load_image(write(tmp_path / "gray.jpeg", pixels[..., 0], quality=95), crop=False)
    assert gray.channels == 1


def test_tiff_16bit_gray_and_rgb_are_exact(tmp_path: Path) -> None:
    gray = RNG.integers(0, 65536, (6, 6), dtype=np.uint16)
    rgb = RNG.integers(0, 65536, (6, 6, 3), dtype=np.uint16)
    gray_signal = load_image(write(tmp_path / "gray16.tif", gray))
    rgb_signal = load_image(write(tmp_path / "rgb16.tiff", rgb))
    np.testing.assert_allclose(as_numpy(gray_signal.values[..., 0]), gray / 65535, atol=1e-7)
    np.testing.assert_allclose(as_numpy(rgb_signal.values), rgb / 65535, atol=1e-7)


def test_float_tiff_inside_unit_range_is_kept(tmp_path: Path) -> None:
    pixels = RNG.random((5, 5)).astype(np.float32)
    signal = load_image(write(tmp_path / "float.tif", pixels))
    np.testing.assert_array_equal(signal.values[..., 0].numpy(), pixels)


def test_rgb_png_16bit_round_trips_to_full_precision(tmp_path: Path) -> None:
    """Every one of the 65536 levels survives: values * 65535 rounds back to the file's."""
    pixels = RNG.integers(0, 65536, (64, 48, 3), dtype=np.uint16)
    pixels[0, :3] = [[0, 1, 65535], [256, 257, 65534], [32767, 32768, 255]]  # 8-bit aliases
    signal = load_image(write_png16_rgb(tmp_path / "rgb16.png", pixels), crop=False)
    assert signal.values.shape == (64, 48, 3)
    restored = np.rint(signal.values.numpy().astype(np.float64) * 65535).astype(np.uint16)
    np.testing.assert_array_equal(restored, pixels)


@pytest.mark.parametrize("channels", [2, 4])
def test_png_16bit_with_alpha_keeps_full_precision(tmp_path: Path, channels: int) -> None:
    pixels = RNG.integers(0, 65536, (6, 5, channels), dtype=np.uint16)
    signal = load_image(write_png16_rgb(tmp_path / "alpha16.png", pixels), crop=False)
    colour, alpha = pixels[..., :-1] / 65535, pixels[..., -1:] / 65535
    np.testing.assert_allclose(as_numpy(signal.values), colour * alpha + 1 - alpha, atol=1e-6)


def test_boolean_image_becomes_zero_and_one(tmp_path: Path) -> None:
    pixels = np.zeros((4, 4), dtype=bool)
    pixels[1, 2] = True
    signal = load_image(write(tmp_path / "mask.png", pixels))
    np.testing.assert_array_equal(signal.values[..., 0].numpy(), pixels.astype(np.float32))


def test_gray_option_gives_bt709_luminance(tmp_path: Path) -> None:
    pixels = RNG.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    signal = load_image(write(tmp_path / "rgb.png", pixels), gray=True)
    expected = (pixels / 255) @ np.array(LUMINANCE_WEIGHTS)
    assert signal.channels == 1
    np.testing.assert_allclose(as_numpy(signal.values[..., 0]), expected, atol=1e-6)
    assert LUMINANCE_WEIGHTS == (0.2125, 0.7154, 0.0721)


def test_rows_are_the_first_axis(tmp_path: Path) -> None:
    pixels = np.zeros((4, 6), dtype=np.uint8)
    pixels[1, 4] = 255
    signal = load_image(write(tmp_path / "dot.png", pixels), crop=False)
    assert float(signal.values[1, 4, 0]) == 1.0
    assert float(signal.values.sum()) == 1.0


# --- crop and resize ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "top", "left", "side"), [((6, 10), 0, 2, 6), ((9, 4), 2, 0, 4), ((5, 8), 0, 1, 5)]
)
def test_crop_keeps_the_centred_square(
    tmp_path: Path, shape: tuple[int, int], top: int, left: int, side: int
) -> None:
    pixels = RNG.integers(0, 256, shape, dtype=np.uint8)
    signal = load_image(write(tmp_path / "wide.png", pixels))
    assert signal.grid_shape == (side, side)
    window = pixels[top : top + side, left : left + side] / 255
    np.testing.assert_allclose(as_numpy(signal.values[..., 0]), window, atol=1e-7)
    assert signal.source["crop"] == [top, left, side]
    assert signal.source["original_shape"] == list(shape)


def test_no_crop_keeps_the_shape_and_size_stretches(tmp_path: Path) -> None:
    path = write(tmp_path / "wide.png", RNG.integers(0, 256, (6, 10, 3), dtype=np.uint8))
    assert load_image(path, crop=False).grid_shape == (6, 10)
    assert load_image(path, crop=False, size=4).values.shape == (4, 4, 3)


@pytest.mark.parametrize("size", [2, 16, 48, 100])
def test_size_resamples_after_the_crop(tmp_path: Path, size: int) -> None:
    pixels = RNG.integers(0, 256, (40, 64, 3), dtype=np.uint8)
    signal = load_image(write(tmp_path / "photo.png", pixels), size=size)
    assert signal.values.shape == (size, size, 3)
    assert float(signal.values.min()) >= 0 and float(signal.values.max()) <= 1
    cropped_mean = (pixels[:, 12:52] / 255).mean()
    assert abs(float(signal.values.mean()) - cropped_mean) < 0.02


def test_shrinking_is_anti_aliased(tmp_path: Path) -> None:
    # one bright column in every four: an aliasing resampler returns all 0 or all 1
    pixels = np.zeros((64, 64), dtype=np.uint8)
    pixels[:, ::4] = 255
    signal = load_image(write(tmp_path / "stripes.png", pixels), size=16)
    interior = signal.values[:, 1:-1]  # the filter is cut at the borders
    np.testing.assert_allclose(as_numpy(interior), 0.25, atol=0.02)


def test_resizing_a_constant_image_keeps_it_constant(tmp_path: Path) -> None:
    pixels = np.full((30, 30), 77, dtype=np.uint8)
    for size in (7, 64):
        signal = load_image(write(tmp_path / "flat.png", pixels), size=size)
        np.testing.assert_allclose(as_numpy(signal.values), 77 / 255, atol=1e-6)


def test_source_record_is_json_and_identifies_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "photo.png", RNG.integers(0, 256, (8, 8), dtype=np.uint8))
    signal = load_image(path, size=4, gray=True)
    record = json.loads(json.dumps(signal.source))
    assert signal.name == "photo.png"
    assert record["path"] == str(path.resolve())
    assert record["size"] == 4 and record["gray"] is True and record["builtin"] is None
    other = write(tmp_path / "other.png", RNG.integers(0, 256, (8, 8), dtype=np.uint8))
    assert load_image(other).source["sha256"] != record["sha256"]


# --- built-in images ------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_builtins_include_the_common_images_and_exclude_download_only_ones() -> None:
    names = builtin_images()
    assert names == sorted(names)
    assert {"camera", "astronaut", "coffee", "chelsea", "text", "brick"} <= set(names)
    assert "eagle" not in names  # fetched from the internet by scikit-image


@pytest.mark.usefixtures("no_network")
def test_every_builtin_loads_offline() -> None:
    for name in builtin_images():
        signal = load_image(name, size=32)
        assert signal.name == name
        assert signal.values.shape[:2] == (32, 32)
        assert signal.channels in (1, 3)
        assert 0 <= float(signal.values.min()) <= float(signal.values.max()) <= 1
        assert signal.source["builtin"] == name
        json.dumps(signal.source)


def test_builtins_are_scikit_image_s_images() -> None:
    camera = load_image("camera", crop=False).values[..., 0].numpy()
    np.testing.assert_allclose(camera, skimage.data.camera() / 255, atol=1e-7)
    chelsea = load_image("chelsea", crop=False).values.numpy()
    np.testing.assert_allclose(chelsea, skimage.data.chelsea() / 255, atol=1e-7)
    phantom = load_image("shepp_logan_phantom").values
    assert phantom.shape[-1] == 1
    np.testing.assert_allclose(
        phantom[..., 0].numpy(), skimage.data.shepp_logan_phantom(), atol=1e-6
    )


def test_an_existing_file_wins_over_a_builtin_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "camera", np.zeros((3, 3), dtype=np.uint8), extension=".png")
    assert load_image("camera").grid_shape == (3, 3)


def test_a_known_but_uninstalled_builtin_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images_module, "builtin_images", lambda: ["camera"])
    with pytest.raises(ValueError, match=r"'astronaut' is not installed.*download"):
        load_image("astronaut")


# --- errors ---------------------------------------------------------------------------------


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.png"
    for source in (missing, str(missing), "photos/nowhere.jpg"):
        with pytest.raises(FileNotFoundError, match="nowhere"):
            load_image(source)


def test_directory_is_not_an_image(tmp_path: Path) -> None:
    for source in (tmp_path, str(tmp_path)):
        with pytest.raises(IsADirectoryError, match=f"{tmp_path.name}.*not a regular file"):
            load_image(source)


@pytest.mark.parametrize("content", [b"", b"not an image at all" * 10, "truncated"])
def test_unreadable_file_raises_os_error_naming_it(tmp_path: Path, content: object) -> None:
    path = tmp_path / "broken.png"
    if content == "truncated":
        good = write(tmp_path / "good.png", RNG.integers(0, 256, (64, 64), dtype=np.uint8))
        content = good.read_bytes()[:200]
    path.write_bytes(content)
    with pytest.raises(OSError, match=r"broken\.png") as caught:
        load_image(path)
    assert "\n" not in str(caught.value)


def test_unknown_builtin_lists_close_matches() -> None:
    with pytest.raises(ValueError, match=r"'camra'.*did you mean camera") as caught:
        load_image("camra")
    assert "astronaut" in str(caught.value)


@pytest.mark.parametrize(("shape", "crop"), [((1, 1), True), ((1, 12), False), ((12, 1), True)])
def test_too_small_image_is_refused(tmp_path: Path, shape: tuple[int, int], crop: bool) -> None:
    path = write(tmp_path / "tiny.png", np.zeros(shape, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"tiny\.png.*at least 2"):
        load_image(path, crop=crop)


@pytest.mark.parametrize("bad", [np.float32(1.5), np.float32(-0.2), np.float32(np.nan)])
def test_float_image_outside_unit_range_is_refused(tmp_path: Path, bad: np.float32) -> None:
    pixels = np.full((4, 4), 0.5, dtype=np.float32)
    pixels[2, 2] = bad
    path = write(tmp_path / "float.tif", pixels)
    with pytest.raises(ValueError, match=r"float\.tif.*\[0, 1\]"):
        load_image(path)


def test_negative_integer_image_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "signed.tif", np.array([[-5, 3], [4, 5]], dtype=np.int16))
    with pytest.raises(ValueError, match=r"signed\.tif.*negative"):
        load_image(path)


def test_multi_frame_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "stack.tif", np.zeros((3, 8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"stack\.tif.*multi-frame"):
        load_image(path)


@pytest.mark.parametrize("size", [0, 1, 2.5, True, -3])
def test_bad_size_is_refused(size: object) -> None:
    with pytest.raises(ValueError, match=r"'camera'.*size"):
        load_image("camera", size=size)  # type: ignore[arg-type]
