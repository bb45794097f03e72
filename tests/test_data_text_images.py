"""Rendered text images: seeded, plain backgrounds, readable words, validated arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from posenc.data import LUMINANCE_WEIGHTS
from posenc.data.text_images import (
    FONT_FILES,
    MIN_CONTRAST,
    WORDS,
    font_folder,
    text_image,
    text_images,
)


def luminance(colour: list[float]) -> float:
    return float(np.dot(LUMINANCE_WEIGHTS, colour))


def test_the_same_seed_draws_the_same_pixels_and_another_seed_others() -> None:
    first, again, other = text_image(3, 96), text_image(3, 96), text_image(4, 96)
    assert torch.equal(first.values, again.values)
    assert first.source == again.source
    assert not torch.equal(first.values, other.values)
    assert first.name == "text-3" and first.grid_shape == (96, 96) and first.channels == 3


def test_background_is_plain_and_words_contrast_with_it() -> None:
    image = text_image(7, 128, num_words=5)
    background = np.array(image.source["background"])
    pixels = image.values.numpy().reshape(-1, 3)
    plain = np.all(np.abs(pixels - background) < 1 / 255 + 1e-6, axis=1)
    assert 0.3 < plain.mean() < 1.0  # mostly background, but words were drawn
    for word in image.source["words"]:
        assert word["word"] in WORDS and word["font"] in FONT_FILES
        assert abs(luminance(word["colour"]) - luminance(background)) >= MIN_CONTRAST


def test_every_word_lies_inside_the_image() -> None:
    image = text_image(11, 64, num_words=12, font_sizes=(0.3, 0.6))
    canvas = ImageDraw.Draw(Image.new("RGB", (64, 64)))
    for word in image.source["words"]:
        font = ImageFont.truetype(str(font_folder() / word["font"]), word["points"])
        left, top, right, bottom = canvas.textbbox(tuple(word["xy"]), word["word"], font=font)
        assert left >= 0 and top >= 0 and right <= 64 + 1 and bottom <= 64 + 1


def test_text_images_take_consecutive_seeds() -> None:
    images = text_images(3, 32, first_seed=5)
    assert [image.name for image in images] == ["text-5", "text-6", "text-7"]
    assert all(
        float(image.values.min()) >= 0 and float(image.values.max()) <= 1 for image in images
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"seed": 0, "size": 1}, "size must be an integer >= 2"),
        ({"seed": 0, "num_words": 0}, "number of words"),
        ({"seed": 0, "font_sizes": (0.5, 0.1)}, "font sizes must satisfy"),
    ],
)
def test_bad_arguments_are_refused(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        text_image(**arguments)
    with pytest.raises(ValueError, match="number of text images"):
        text_images(0)
