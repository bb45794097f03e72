"""Seeded images of text, rendered locally: the "text" half of P3's Table 1 without a download.

P3 (Tancik et al. 2020) compares input mappings on 16 natural photographs and 16 images of
text: words in several fonts, sizes and colours on plain backgrounds. :func:`text_image`
renders such an image from a seed with Pillow and the DejaVu fonts that matplotlib ships, so
the set is the same on every machine:

- a plain background of one random colour;
- ``num_words`` words from :data:`WORDS`, each in one of :data:`FONT_FILES`, at a size drawn
  log-uniformly from ``font_sizes`` (a fraction of the image side), in a random colour whose
  luminance differs from the background's by at least :data:`MIN_CONTRAST`, at a random
  position that keeps the word inside the image.

Randomness comes from ``numpy.random.default_rng(seed)`` only; the :class:`Signal`'s ``source``
records every word, font, size, colour and position, enough to draw the image again.

>>> image = text_image(seed=0, size=64)
>>> image.grid_shape, image.channels
((64, 64), 3)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from posenc.data.images import LUMINANCE_WEIGHTS
from posenc.data.signal import MIN_AXIS_SAMPLES, Signal

WORDS = (
    "anchor", "basis", "bright", "canvas", "circle", "column", "copper", "corner", "dense",
    "domain", "echo", "ember", "field", "filter", "focus", "forest", "fourier", "garden",
    "glyph", "gradient", "harbor", "hidden", "island", "kernel", "ladder", "lantern", "layer",
    "linear", "margin", "marble", "meadow", "mirror", "motion", "network", "noise", "ocean",
    "orbit", "paper", "pattern", "pixel", "planet", "prism", "quartz", "radius", "random",
    "signal", "silver", "sketch", "spiral", "square", "stable", "summit", "texture", "timber",
    "vector", "velvet", "window", "winter", "yellow", "zenith",
)  # fmt: skip
"""The vocabulary words are drawn from."""

FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
)
"""Fonts drawn from: matplotlib's DejaVu files (sans, serif, mono; regular, bold, slanted)."""

DEFAULT_FONT_SIZES = (1 / 16, 1 / 5)
"""Smallest and largest font size as a fraction of the image side."""
DEFAULT_NUM_WORDS = 8
MIN_CONTRAST = 0.35
"""Least difference in luminance (BT.709, values in [0, 1]) between a word and the background."""
MAX_COLOUR_DRAWS = 1000


def font_folder() -> Path:
    """The folder of the TrueType fonts that matplotlib ships."""
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def text_image(
    seed: int,
    size: int = 512,
    num_words: int = DEFAULT_NUM_WORDS,
    font_sizes: tuple[float, float] = DEFAULT_FONT_SIZES,
) -> Signal:
    """An RGB ``size x size`` image of ``num_words`` words on a plain background (see the
    module docstring), named ``text-<seed>``; the same arguments give the same pixels.

    Raises ``ValueError`` for a seed that is not an integer >= 0, a size below 2, a word
    count below 1, or font sizes outside ``0 < small <= large <= 1``.
    """
    _check_arguments(seed, size, num_words, font_sizes)
    rng = np.random.default_rng(seed)
    background = _random_colour(rng)
    image = Image.new("RGB", (size, size), _to_bytes(background))
    draw = ImageDraw.Draw(image)
    words = [_draw_word(draw, rng, size, font_sizes, background) for _ in range(num_words)]
    values = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)
    source: dict[str, Any] = {
        "kind": "text_image",
        "seed": seed,
        "size": size,
        "background": background,
        "words": words,
    }
    return Signal(values=values.contiguous(), name=f"text-{seed}", source=source)


def text_images(
    count: int,
    size: int = 512,
    first_seed: int = 0,
    num_words: int = DEFAULT_NUM_WORDS,
    font_sizes: tuple[float, float] = DEFAULT_FONT_SIZES,
) -> list[Signal]:
    """``count`` text images with the seeds ``first_seed, first_seed + 1, ...``."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"number of text images must be an integer >= 1, got {count!r}")
    return [text_image(first_seed + index, size, num_words, font_sizes) for index in range(count)]


def _draw_word(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    size: int,
    font_sizes: tuple[float, float],
    background: list[float],
) -> dict[str, Any]:
    """Draw one random word fully inside the image; return what was drawn."""
    word = str(rng.choice(WORDS))
    font_file = str(rng.choice(FONT_FILES))
    low, high = (math.log(fraction * size) for fraction in font_sizes)
    points = max(1, round(math.exp(rng.uniform(low, high))))
    font = ImageFont.truetype(str(font_folder() / font_file), points)
    left, top, right, bottom = draw.textbbox((0, 0), word, font=font)
    while right - left > size and points > 1:  # a long word in a large font: shrink it
        points = max(1, int(points * size // (right - left + 1)))
        font = ImageFont.truetype(str(font_folder() / font_file), points)
        left, top, right, bottom = draw.textbbox((0, 0), word, font=font)
    x = int(rng.integers(0, max(1, int(size - (right - left))))) - int(left)
    y = int(rng.integers(0, max(1, int(size - (bottom - top))))) - int(top)
    colour = _contrasting_colour(rng, background)
    draw.text((x, y), word, fill=_to_bytes(colour), font=font)
    return {"word": word, "font": font_file, "points": points, "colour": colour, "xy": [x, y]}


def _random_colour(rng: np.random.Generator) -> list[float]:
    return [round(float(value), 4) for value in rng.uniform(0, 1, 3)]


def _contrasting_colour(rng: np.random.Generator, background: Sequence[float]) -> list[float]:
    """A random colour whose luminance differs from the background's by ``MIN_CONTRAST``."""
    for _ in range(MAX_COLOUR_DRAWS):
        colour = _random_colour(rng)
        if abs(_luminance(colour) - _luminance(background)) >= MIN_CONTRAST:
            return colour
    # Every background admits black or white at this contrast (MIN_CONTRAST < 1/2).
    return [0.0, 0.0, 0.0] if _luminance(background) >= 0.5 else [1.0, 1.0, 1.0]


def _luminance(colour: Sequence[float]) -> float:
    return sum(weight * value for weight, value in zip(LUMINANCE_WEIGHTS, colour, strict=True))


def _to_bytes(colour: Sequence[float]) -> tuple[int, int, int]:
    red, green, blue = (round(255 * value) for value in colour)
    return red, green, blue


def _check_arguments(seed: int, size: int, num_words: int, font_sizes: tuple[float, float]) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"text image seed must be an integer >= 0, got {seed!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_AXIS_SAMPLES:
        raise ValueError(f"text image size must be an integer >= 2, got {size!r}")
    if isinstance(num_words, bool) or not isinstance(num_words, int) or num_words < 1:
        raise ValueError(f"number of words must be an integer >= 1, got {num_words!r}")
    small, large = font_sizes
    if not (0 < small <= large <= 1):
        raise ValueError(
            f"font sizes must satisfy 0 < small <= large <= 1 (fractions of the image side), "
            f"got {small!r}, {large!r}"
        )
