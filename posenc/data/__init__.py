"""Signals to fit: built-in and file images, 1D signals, coordinate grids, train/test splits.

>>> from posenc.data import load_source, make_split
>>> signal = load_source("camera", size=64)
>>> signal.grid_shape, signal.channels
((64, 64), 1)
>>> split = make_split(signal.grid_shape, "offset")
>>> int(split.train.numel()), int(split.test.numel())
(1024, 1024)
"""

from posenc.data.images import LUMINANCE_WEIGHTS, builtin_images, load_image
from posenc.data.signal import Signal, coordinate_grid, resample
from posenc.data.sources import DEFAULT_LENGTH, is_signal_spec, load_signal, load_source
from posenc.data.splits import SPLIT_KINDS, Split, make_split, product_indices
from posenc.data.synthetic import SYNTHETIC_FAMILIES, SyntheticFamily

__all__ = [
    "DEFAULT_LENGTH",
    "LUMINANCE_WEIGHTS",
    "SPLIT_KINDS",
    "SYNTHETIC_FAMILIES",
    "Signal",
    "Split",
    "SyntheticFamily",
    "builtin_images",
    "coordinate_grid",
    "is_signal_spec",
    "load_image",
    "load_signal",
    "load_source",
    "make_split",
    "product_indices",
    "resample",
]
