"""Seeded images of text, rendered locally: the "text" half of P3's Table 1 without a download.

P3 (Tancik et al. 2020) compares input mappings on 16 natural photographs and 16 images of
text: words in several fonts, sizes and colours on plain backgrounds. :func:`text_image`
renders such an image from a seed with Pillow and the DejaVu fonts that matplotlib ships, so
the set is the same on every machine:

- a plain background of one random colour;
- ``num_words`` words from :data:`WORDS`, each in one of :data:`FONT_FILES`, at a size drawn
  log-uniformly from ``font_sizes`` (a fraction of the image side), in a random colour whose
  luminance differs from the background's by at least :data:`MIN_CONTRAST`, at a random
  position that keeps the word inside the image and clear of the words already drawn (their
  ink boxes do not meet, as in P3's text images, where words never cover one another): a
  word that finds no free position in :data:`PLACEMENT_DRAWS` draws is tried again at
  :data:`SHRINK` times its size, so a crowded image gets smaller words rather than
  overlapping ones.

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
PLACEMENT_DRAWS = 200
"""Random positions tried for a word before its font is made smaller."""
SHRINK = 0.8
"""Factor applied to a word's font size when it finds no free position."""

Box = tuple[int, int, int, int]
"""An ink box ``(left, top, right, bottom)`` in pixels, right and bottom exclusive."""


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
    taken: list[Box] = []
    words = []
    for index in range(num_words):
        word = _draw_word(draw, rng, size, font_sizes, background, taken)
        if word is None:
            raise ValueError(
                f"text image {seed}: no room for word {index + 1} of {num_words} on "
                f"{size} x {size} pixels without covering another; use fewer words or "
                "smaller fonts"
            )
        words.append(word)
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
    taken: list[Box],
) -> dict[str, Any] | None:
    """Draw one random word fully inside the image, clear of the ink boxes in ``taken`` (to
    which its own is added); return what was drawn, or ``None`` (nothing drawn) when not even
    a one-point font finds room."""
    word = str(rng.choice(WORDS))
    font_file = str(rng.choice(FONT_FILES))
    low, high = (math.log(fraction * size) for fraction in font_sizes)
    points = max(1, round(math.exp(rng.uniform(low, high))))
    while True:
        font, points = _fitting_font(draw, word, font_file, points, size)
        placed = _free_position(draw, rng, word, font, size, taken)
        if placed is not None:
            break
        if points == 1:
            return None
        points = max(1, int(points * SHRINK))
    xy, box = placed
    taken.append(box)
    colour = _contrasting_colour(rng, background)
    draw.text(xy, word, fill=_to_bytes(colour), font=font)
    return {"word": word, "font": font_file, "points": points, "colour": colour, "xy": list(xy)}


def _fitting_font(
    draw: ImageDraw.ImageDraw, word: str, font_file: str, points: int, size: int
) -> tuple[ImageFont.FreeTypeFont, int]:
    """The font at ``points``, made smaller until ``word`` is no wider than the image."""
    font = ImageFont.truetype(str(font_folder() / font_file), points)
    left, _, right, _ = draw.textbbox((0, 0), word, font=font)
    while right - left > size and points > 1:  # a long word in a large font: shrink it
        points = max(1, int(points * size // (right - left + 1)))
        font = ImageFont.truetype(str(font_folder() / font_file), points)
        left, _, right, _ = draw.textbbox((0, 0), word, font=font)
    return font, points


def _free_position(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    word: str,
    font: ImageFont.FreeTypeFont,
    size: int,
    taken: list[Box],
) -> tuple[tuple[int, int], Box] | None:
    """A random drawing position of ``word`` that keeps its ink box inside the image and
    apart from every box in ``taken``, with that box; ``None`` after
    :data:`PLACEMENT_DRAWS` draws found none."""
    left, top, right, bottom = (int(value) for value in draw.textbbox((0, 0), word, font=font))
    width, height = right - left, bottom - top
    for _ in range(PLACEMENT_DRAWS):
        x0 = int(rng.integers(0, max(1, size - width + 1)))
        y0 = int(rng.integers(0, max(1, size - height + 1)))
        box = (x0, y0, x0 + width, y0 + height)
        if not any(_overlap(box, other) for other in taken):
            return (x0 - left, y0 - top), box
    return None


def _overlap(first: Box, second: Box) -> bool:
    """Whether two ink boxes share a pixel."""
    return (
        first[0] < second[2]
        and second[0] < first[2]
        and first[1] < second[3]
        and second[1] < first[3]
    )


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
