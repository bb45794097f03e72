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


def ink_boxes(image) -> list[tuple[int, int, int, int]]:
    """Each drawn word's ink box, measured again from the image's ``source``."""
    size = image.grid_shape[0]
    canvas = ImageDraw.Draw(Image.new("RGB", (size, size)))
    boxes = []
    for word in image.source["words"]:
        font = ImageFont.truetype(str(font_folder() / word["font"]), word["points"])
        boxes.append(canvas.textbbox(tuple(word["xy"]), word["word"], font=font))
    return boxes


def meet(first: tuple[int, ...], second: tuple[int, ...]) -> bool:
    return (
        first[0] < second[2]
        and second[0] < first[2]
        and first[1] < second[3]
        and second[1] < first[3]
    )


@pytest.mark.parametrize(
    ("size", "num_words", "font_sizes"),
    [(128, 3, (0.25, 0.8)), (512, 8, (1 / 16, 1 / 5)), (96, 10, (0.1, 0.3))],
)
def test_no_word_covers_another(size: int, num_words: int, font_sizes: tuple[float, float]) -> None:
    for seed in range(6):
        boxes = ink_boxes(text_image(seed, size, num_words=num_words, font_sizes=font_sizes))
        assert len(boxes) == num_words
        for index, box in enumerate(boxes):
            assert not any(meet(box, other) for other in boxes[index + 1 :]), (seed, index)


def test_a_crowded_image_gets_smaller_words_not_overlapping_ones() -> None:
    image = text_image(2, 64, num_words=12, font_sizes=(0.3, 0.6))
    smallest_drawn = 0.3 * 64
    assert min(word["points"] for word in image.source["words"]) < smallest_drawn
    boxes = ink_boxes(image)
    assert not any(meet(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_an_image_too_small_for_its_words_is_refused() -> None:
    with pytest.raises(ValueError, match=r"text image 0: no room for word \d+ of 40 on 8 x 8"):
        text_image(0, 8, num_words=40, font_sizes=(1.0, 1.0))


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
