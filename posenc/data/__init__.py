"""Signals to fit: built-in and file images, 1D signals, coordinate grids, train/test splits.

>>> from posenc.data import load_source, make_split
>>> signal = load_source("camera", size=64)
>>> signal.grid_shape, signal.channels
((64, 64), 1)
>>> split = make_split(signal.grid_shape, "offset")
>>> int(split.train.numel()), int(split.test.numel())
(1024, 1024)
"""

from posenc.data.images import LUMINANCE_WEIGHTS, builtin_images, load_image, probe_image
from posenc.data.series import SERIES_SUFFIXES, load_series, probe_series
from posenc.data.signal import Signal, SignalShape, coordinate_grid, resample
from posenc.data.sources import (
    DEFAULT_LENGTH,
    is_signal_spec,
    load_signal,
    load_source,
    probe_source,
)
from posenc.data.splits import SPLIT_KINDS, Split, make_split, product_indices, split_sizes
from posenc.data.synthetic import SYNTHETIC_FAMILIES, SyntheticFamily

__all__ = [
    "DEFAULT_LENGTH",
    "LUMINANCE_WEIGHTS",
    "SERIES_SUFFIXES",
    "SPLIT_KINDS",
    "SYNTHETIC_FAMILIES",
    "Signal",
    "SignalShape",
    "Split",
    "SyntheticFamily",
    "builtin_images",
    "coordinate_grid",
    "is_signal_spec",
    "load_image",
    "load_series",
    "load_signal",
    "load_source",
    "make_split",
    "probe_image",
    "probe_series",
    "probe_source",
    "product_indices",
    "resample",
    "split_sizes",
]
