"""Calibrate the oracle's fine-to-coarse ratio on photographs that its validation does not use.

    python docs/calibrate_oracle.py

The oracle estimates the error of its reference interpolation at the held-out points from
the training samples alone: interpolating every other training sample at the ones between
gives the error at twice the training spacing, ``E(2h)``, and the error at the spacing
itself is taken as ``E(h) = r E(2h)`` (:mod:`posenc.oracle.heldout`). This script measures
``r`` where the held-out truth may be looked at: on :data:`DEVELOPMENT_IMAGES` (scikit-image
photographs outside ``docs/validate_oracle.py``'s rows and images), in the two settings the
validation checks:

- 1D: :data:`ROWS_PER_IMAGE` rows per image, evenly spread over its height, at the image's
  own width (as the validation's 512-pixel rows are), with P1's ``all`` split (training on
  the even samples, held out the odd ones);
- 2D: each image at 256 x 256 with ``posenc fit``'s default ``offset`` split.

It prints, per setting, the median ratio (the constant :data:`FINE_SCALE_RATIO` holds) and
the 10th and 90th percentiles (how far a signal's own ratio strays from it: the scatter of
the oracle's predicted PSNR, ``10 log10`` of the ratio's spread).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # calibrate this checkout's posenc, installed or not

from posenc.data import Signal, load_source, make_split, probe_image  # noqa: E402
from posenc.oracle.heldout import FINE_SCALE_RATIO, held_out_points  # noqa: E402

DEVELOPMENT_IMAGES = (
    "cell",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "microaneurysms",
    "page",
    "retina",
    "rocket",
    "text",
)
"""Built-in photographs (no synthetic drawings) that the 1D validation does not use;
``chelsea`` and ``coffee`` are among the 2D validation's images, so the 2D ratio leaves them
out."""
TWO_D_VALIDATION_IMAGES = ("chelsea", "coffee")
ROWS_PER_IMAGE = 15
IMAGE_SIZE = 256


def fine_to_coarse(signal: Signal, split_kind: str) -> float:
    """``E(h) / E(2h)`` of the reference interpolation of ``signal`` under ``split_kind``."""
    split = make_split(signal.grid_shape, split_kind)
    heldout = held_out_points(signal, split)
    truth = signal.flat_values().double().numpy()[split.heldout.numpy()]
    fine = float(np.mean((heldout.reference - truth) ** 2))
    coarse = heldout.reference_mse / FINE_SCALE_RATIO[min(signal.ndim, 2)]
    return fine / coarse


def row_ratios() -> list[float]:
    """The 1D ratio of every development row."""
    ratios = []
    for image in DEVELOPMENT_IMAGES:
        height = probe_image(image).grid_shape[0]
        fractions = (np.arange(ROWS_PER_IMAGE) + 0.5) / ROWS_PER_IMAGE
        for row in (fractions * (height - 1)).astype(int):
            signal = load_source(f"{image}:row={row}")
            ratios.append(fine_to_coarse(signal, "all"))
    return ratios


def image_ratios() -> list[float]:
    """The 2D ratio of every development image outside the 2D validation."""
    return [
        fine_to_coarse(load_source(image, size=IMAGE_SIZE), "offset")
        for image in DEVELOPMENT_IMAGES
        if image not in TWO_D_VALIDATION_IMAGES
    ]


def main() -> int:
    for label, ratios in (("1D rows", row_ratios()), ("2D images", image_ratios())):
        low, high = np.percentile(ratios, [10, 90])
        print(
            f"{label}: {len(ratios)} signals, median E(h)/E(2h) {statistics.median(ratios):.3f}"
            f" (10th to 90th percentile {low:.3f} to {high:.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
