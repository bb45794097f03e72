"""Images from files or from the images scikit-image ships, as :class:`Signal` objects.

Decoding rules (``load_image``):

- integer images are divided by their dtype's maximum (255 for 8-bit, 65535 for 16-bit);
  signed integer images must not hold negative values; boolean images become 0 and 1;
  16-bit PNGs with colour or alpha, which Pillow reduces to 8 bits, are decoded by
  imagecodecs at their full depth;
- float images must already lie in ``[0, 1]`` (NaN is refused);
- channels: gray ``(H, W)`` or ``(H, W, 1)`` -> 1 channel; RGB -> 3; an alpha channel (gray +
  alpha, RGBA) is composited onto a white background, ``c * a + (1 - a)``, the convention of
  rendered objects with a transparent background; files with several frames are refused;
- ``gray=True`` converts RGB to luminance ``0.2125 R + 0.7154 G + 0.0721 B`` (ITU-R BT.709
  weights, as scikit-image's ``rgb2gray``);
- ``crop=True`` keeps the centred ``min(H, W)`` square (top/left offsets rounded down);
- ``size`` then resamples to ``size x size`` (anti-aliased bilinear); with ``crop=False`` a
  non-square image is stretched.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib.util
import logging
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
import torch
from torch import Tensor

from posenc.data.signal import MIN_AXIS_SAMPLES, Signal, SignalShape, check_grid_shape, resample

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}
"""Channels of a PNG by its colour type (gray, RGB, palette, gray + alpha, RGBA)."""

LUMINANCE_WEIGHTS = (0.2125, 0.7154, 0.0721)
"""ITU-R BT.709 weights of R, G, B in the luminance used by ``gray=True``."""

_BUILTIN_FILES = {
    "astronaut": "astronaut.png",
    "brick": "brick.png",
    "camera": "camera.png",
    "cell": "cell.png",
    "checkerboard": "chessboard_GRAY.png",
    "chelsea": "chelsea.png",
    "clock": "clock_motion.png",
    "coffee": "coffee.png",
    "coins": "coins.png",
    "colorwheel": "color.png",
    "eagle": "eagle.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "horse": "horse.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "immunohistochemistry": "ihc.png",
    "logo": "logo.png",
    "microaneurysms": "microaneurysms.png",
    "moon": "moon.png",
    "page": "page.png",
    "retina": "retina.jpg",
    "rocket": "rocket.jpg",
    "shepp_logan_phantom": "phantom.png",
    "skin": "skin.jpg",
    "text": "text.png",
}
"""scikit-image's single 2D images, by the name of their ``skimage.data`` function, and their
file in the package's data folder. Only those whose file is installed are offered."""

_GRAY_BUILTINS = frozenset({"horse", "shepp_logan_phantom"})
"""Built-ins stored as RGB with three equal channels, loaded as one channel (as scikit-image
does)."""


def _skimage_data_dir() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise OSError("scikit-image is not installed, so no built-in images are available")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@functools.cache
def builtin_images() -> list[str]:
    """Names of the built-in images, sorted: scikit-image images whose file is installed.

    Images scikit-image fetches from the internet on first use are not listed, so loading a
    listed name never touches the network.
    """
    data_dir = _skimage_data_dir()
    return sorted(name for name, file in _BUILTIN_FILES.items() if (data_dir / file).is_file())


def load_image(
    source: str | Path, *, size: int | None = None, crop: bool = True, gray: bool = False
) -> Signal:
    """Load a built-in image by name or any image file imageio reads, as a 2D :class:`Signal`.

    ``source``: a path (a ``Path``, or a string naming an existing file) or a name from
    :func:`builtin_images`. An existing file wins over a built-in of the same name. See the
    module docstring for scaling, channels, ``crop``, ``size`` and ``gray``. Raises
    ``FileNotFoundError``/``OSError`` for missing or unreadable files, ``ValueError`` for an
    unknown name, unsupported contents or bad options; every message names ``source``.
    """
    path, builtin, label = _checked_source(source, size)
    pixels = _decode(path, label)
    if builtin in _GRAY_BUILTINS:
        pixels = pixels[..., :1]
    if gray and pixels.shape[-1] == 3:
        pixels = pixels @ torch.tensor(LUMINANCE_WEIGHTS).reshape(3, 1)
    original_shape = list(pixels.shape[:-1])
    crop_box = _centre_square(*original_shape) if crop else None
    if crop_box is not None:
        top, left, side = crop_box
        pixels = pixels[top : top + side, left : left + side]
    if size is not None:
        pixels = resample(pixels, (size, size))
    record: dict[str, Any] = {
        "kind": "image",
        "builtin": builtin,
        "path": None if builtin else str(path.resolve()),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "original_shape": original_shape,
        "crop": list(crop_box) if crop_box else None,
        "size": size,
        "gray": bool(gray),
        "shape": list(pixels.shape),
    }
    name = builtin or path.name
    return Signal(values=pixels.clamp(0, 1).contiguous(), name=name, source=record)


def probe_image(
    source: str | Path, *, size: int | None = None, crop: bool = True, gray: bool = False
) -> SignalShape:
    """What :func:`load_image` with these arguments would give, from the file's header.

    Nothing is decoded: the grid shape and channels of the loaded signal, and the memory
    decoding takes (the decoded pixels, their float64 scaling and float32 copy, and the
    resampled image). Raises what :func:`load_image` raises for a missing, unreadable or
    too small image.
    """
    path, builtin, label = _checked_source(source, size)
    height, width, stored, itemsize = _header(path, label)
    check_grid_shape((height, width), label)
    colour = stored in (3, 4) and not gray and builtin not in _GRAY_BUILTINS
    channels = 3 if colour else 1
    if size is not None:
        grid = (size, size)
    elif crop:
        grid = (min(height, width),) * 2
    else:
        grid = (height, width)
    decoded = height * width * stored * (itemsize + 8 + 4)
    resampled = 2 * size * size * channels * 4 if size is not None else 0
    return SignalShape(grid, channels, decoded + resampled)


def _checked_source(source: str | Path, size: int | None) -> tuple[Path, str | None, str]:
    """The file to read, the built-in name (``None`` for a user file) and the label that
    errors name; ``size`` checked."""
    if size is not None and (
        isinstance(size, bool) or not isinstance(size, int) or size < MIN_AXIS_SAMPLES
    ):
        raise ValueError(f"image {str(source)!r}: size must be an integer >= 2, got {size!r}")
    path, builtin = _resolve(source)
    label = f"built-in image {builtin!r}" if builtin else f"image file {str(source)!r}"
    return path, builtin, label


def _header(path: Path, label: str) -> tuple[int, int, int, int]:
    """``(height, width, channels, bytes per sample)`` as stored, from the header alone."""
    png = _png_header(path)
    if png is not None:
        return png
    try:
        with _quiet_decoders():
            props = iio.improps(path)
    except Exception as error:  # decoders raise many types on corrupt or foreign files
        raise OSError(_unreadable(label, error)) from None
    shape = tuple(props.shape)
    if props.is_batch or len(shape) not in (2, 3) or (len(shape) == 3 and shape[-1] > 4):
        raise ValueError(_not_one_image(label, shape))
    channels = shape[2] if len(shape) == 3 else 1
    return shape[0], shape[1], channels, np.dtype(props.dtype).itemsize


def _png_header(path: Path) -> tuple[int, int, int, int] | None:
    """``(height, width, channels, bytes per sample)`` from a PNG's IHDR chunk, or ``None``
    if ``path`` is not a PNG (a PNG with a damaged header is left to the decoder)."""
    with path.open("rb") as handle:
        head = handle.read(29)
    if len(head) < 29 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    if colour not in PNG_CHANNELS:
        return None
    return height, width, PNG_CHANNELS[colour], 2 if depth == 16 else 1


def _is_deep_colour_png(path: Path) -> bool:
    """Whether ``path`` is a 16-bit PNG with colour or alpha (which Pillow reads at 8 bits)."""
    header = _png_header(path)
    return header is not None and header[3] == 2 and header[2] > 1


@contextmanager
def _quiet_decoders() -> Iterator[None]:
    """Silence the warnings and log records decoders emit on damaged files: the error that
    follows is reported once, in one line."""
    tiff_log = logging.getLogger("tifffile")
    level = tiff_log.level
    tiff_log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        tiff_log.setLevel(level)


def _unreadable(label: str, error: Exception) -> str:
    return f"{label} cannot be read as an image: {error}".splitlines()[0]


def _not_one_image(label: str, shape: tuple[int, ...]) -> str:
    return (
        f"{label} has array shape {shape}; expected one image (H, W) or (H, W, C) "
        "with 1 to 4 channels (multi-frame files are not supported)"
    )


def _resolve(source: str | Path) -> tuple[Path, str | None]:
    """Return the file to read and the built-in name (``None`` for a user file)."""
    path = Path(source)
    if path.is_file():
        return path, None
    builtins = builtin_images()
    if isinstance(source, str) and source in builtins:
        return _skimage_data_dir() / _BUILTIN_FILES[source], source
    if isinstance(source, str) and source in _BUILTIN_FILES:
        raise ValueError(
            f"built-in image {source!r} is not installed with this scikit-image (it is only "
            f"available by download); available: {', '.join(builtins)}"
        )
    if path.exists():
        raise IsADirectoryError(f"image file {str(source)!r} is not a regular file")
    if isinstance(source, Path) or path.suffix or len(path.parts) > 1:
        raise FileNotFoundError(f"image file {str(source)!r} does not exist")
    close = difflib.get_close_matches(source, builtins, n=3)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise ValueError(
        f"{source!r} is neither an image file nor a built-in image; {hint}"
        f"built-ins: {', '.join(builtins)}"
    )


def _decode(path: Path, label: str) -> Tensor:
    """Read ``path`` as float32 ``(H, W, 1)`` or ``(H, W, 3)`` in [0, 1] (alpha composited)."""
    try:
        with _quiet_decoders():
            array = np.asarray(_read_pixels(path))
    except Exception as error:  # decoders raise many types on corrupt or foreign files
        raise OSError(_unreadable(label, error)) from None
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(_not_one_image(label, array.shape))
    check_grid_shape(array.shape[:-1], label)
    pixels = torch.from_numpy(_unit_range(array, label))
    if pixels.shape[-1] in (2, 4):
        colour, alpha = pixels[..., :-1], pixels[..., -1:]
        pixels = colour * alpha + (1 - alpha)
    return pixels


def _read_pixels(path: Path) -> np.ndarray:
    """The stored samples: imageio's decoders, imagecodecs for 16-bit colour PNGs."""
    if _is_deep_colour_png(path):
        import imagecodecs

        return imagecodecs.png_decode(path.read_bytes())
    return iio.imread(path)


def _unit_range(array: np.ndarray, label: str) -> np.ndarray:
    """Scale ``array`` into [0, 1] as float32 by the rules of the module docstring."""
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.integer):
        if array.min() < 0:
            raise ValueError(f"{label} holds negative integer values (minimum {array.min()})")
        return (array / np.iinfo(array.dtype).max).astype(np.float32)
    if np.issubdtype(array.dtype, np.floating):
        low, high = float(array.min()), float(array.max())
        if not (low >= 0 and high <= 1):
            raise ValueError(
                f"{label} holds float values in [{low:g}, {high:g}]; float images must lie "
                "in [0, 1]"
            )
        return array.astype(np.float32)
    raise ValueError(f"{label} has unsupported pixel type {array.dtype}")


def _centre_square(height: int, width: int) -> tuple[int, int, int]:
    """``(top, left, side)`` of the centred ``min(height, width)`` square."""
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side
