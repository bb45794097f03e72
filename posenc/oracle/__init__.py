"""The bandwidth oracle: the best bandwidth of an embedding for a signal, without a sweep.

>>> from posenc.data import load_source
>>> from posenc.neural_fields import resolve_config
>>> from posenc.oracle import suggest_bandwidth
>>> config = resolve_config("p1-1d", signal="camera:row=200")
>>> suggestion = suggest_bandwidth(load_source(config.signal), config)  # doctest: +SKIP
>>> suggestion.bandwidth, suggestion.predicted_psnr  # doctest: +SKIP
(0.00061, 30.3)

A sweep answers "which bandwidth?" by fitting every candidate. The oracle predicts each
candidate's test PSNR from the training samples alone, in closed form, and returns the best
with the curve it came from (:class:`Suggestion`). Two models make that possible:

- **the fit** (:mod:`posenc.oracle.adam`, :mod:`posenc.oracle.mlp`): what the configured
  training does with the embedded training samples, predicted without training; for a
  linear model trained by Adam a closed form of Adam's per-weight normalisation, its
  preconditioned descent and its renormalisation late in training; for the minimum-norm
  closed form, the exact solution;
- **the signal between the samples** (:mod:`posenc.oracle.heldout`): the fit's error at
  held-out points as its distance from the cubic interpolant of the training grid
  plus that interpolant's error, estimated at half the sampling rate.

Rows of an embedding are formed in a compact exact form (:mod:`posenc.oracle.features`), so
a candidate costs about one ``N x N`` eigendecomposition whatever the number of centres.
The candidates are log-spaced over a range, by default the one ``auto`` sweeps use (from a
stable rank of 2, where every fit underfits, to ``4 N``, past memorisation).
"""

from posenc.oracle.search import (
    DEFAULT_POINTS,
    BandwidthCurve,
    Suggestion,
    default_range,
    suggest_bandwidth,
)

__all__ = [
    "DEFAULT_POINTS",
    "BandwidthCurve",
    "Suggestion",
    "default_range",
    "suggest_bandwidth",
]
