"""The error of a fit at points it never sees, predicted from the training samples alone.

A fit's test error has two parts: at test points that are training points (the ``all``
split tests on every sample) it is the fit's training error, which a model of the fit
predicts; at held-out points it compares the fit with values nobody may look at. There the
oracle writes the fit's error as its distance from a **reference interpolant** ``mu`` (the
cubic interpolation of the training grid, :func:`cubic`) plus the reference's own error:

    E[(f - y)^2] = (f - mu)^2 + E[(mu - y)^2] + 2 E[(f - mu)(mu - y)],

dropping the cross term (zero on average when ``mu`` is the best guess of ``y`` the
training samples allow). The reference must be a good guess for that: against the linear
interpolant, fits that follow a signal's curvature between samples (wide bases on smooth or
textured rows) differ from the reference where they are right, and the oracle preferred too
narrow a basis; a cubic follows curvature (on the 60 validation cases of P1's 1D protocol,
choosing among the sweep's own bandwidths, the worst gap fell from 3.2 to 1.2 dB and the rows
above 0.5 dB from 16 to 7). The first term is computed; the second is estimated from the
training samples by interpolating at half the sampling rate: every other training sample
(per axis) predicts the training samples that sit, relative to that coarser grid, where the
held-out points sit relative to the training grid. The coarse error is ``E(2h)``; the fine
error ``E(h)`` is taken as :data:`FINE_SCALE_RATIO` times it. That ratio is a property of
the signal between the training samples, which the training samples cannot show: natural
photographs are smoother at the pixel scale than a self-similar (power-law) spectrum says.
No statistic of the training samples predicted a row's ratio better than a constant (for
the linear reference we tried the same ratio one scale up, the kurtosis and sparsity of the
samples' differences and their curvature, under leave-one-image-out cross-validation; for
the cubic one, the ratio one scale up correlates at -0.12 with it over the development
rows, and least-squares fits of its logarithm on the logarithms of the ratios one and two
scales up and of the coarse error itself, left out one development photograph at a time,
miss it by 0.63 to 0.71 in root mean square, the constant by 0.63). The constants are
medians over scikit-image photographs that the validation does not use
(``docs/calibrate_oracle.py``: 210 rows of 14 photographs, 0.32, the middle 80% of rows
from 0.16 to 0.85; 12 images at 256 x 256, 0.26, from 0.11 to 0.33). A signal's predicted
PSNR therefore carries about 2 dB of scatter either side; the choice of bandwidth does not
depend on that constant, since the reference error shifts every bandwidth's held-out error
alike.

The choice rests on the reference interpolant instead, and the cubic is as good a guess of
the held-out values as the training samples were found to give: the least-squares midpoint
filter of the development rows (eight taps) errs 0.9 % less in mean square, the linear
interpolant 1.1 % more, edge-adaptive stencils (ENO, WENO) 2 to 16 % more. What the cubic
misses between the samples, no interpolant of them predicts; the other references and
corrections tried against the validation's sweeps are listed with its results in the README
("The gaps are the held-out estimate's").

Only grid splits (``offset``, ``rest``, ``all``) have held-out points at fixed positions
between training samples; ``random`` splits are refused.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

import numpy as np

from posenc.data import Signal, Split

FINE_SCALE_RATIO = {1: 0.32, 2: 0.26}
"""``E(h) / E(2h)`` by grid dimension: the reference interpolation's error at the training
spacing over its error at twice that spacing (medians over photographs that the validation
does not use, ``docs/calibrate_oracle.py``; module docstring)."""
STENCIL = 4
"""Samples per axis of the reference interpolation (cubic)."""


@dataclass(frozen=True)
class HeldOut:
    """What the oracle knows about a split's held-out points: their grid indices, the
    reference interpolant there (``reference``, ``M x C``), its estimated mean squared error
    (``reference_mse``), and which test points are training points."""

    coords: np.ndarray
    reference: np.ndarray
    reference_mse: float
    num_test: int
    test_train_positions: np.ndarray
    """Positions, in the training set, of the test points that are training points."""


def held_out_points(signal: Signal, split: Split) -> HeldOut:
    """Reference interpolant and its estimated error at the held-out points of ``split``."""
    if split.train_axes is None:
        raise ValueError(
            f"the bandwidth oracle needs a grid split (offset, rest or all); got {split.kind!r}"
        )
    shape = signal.grid_shape
    grid = training_grid(signal, split)
    heldout = np.unravel_index(split.heldout.numpy(), shape)
    positions = [index / 2.0 for index in heldout]  # in training-grid units
    reference = cubic(grid, positions)
    coarse = coarse_error(grid, [index % 2 for index in heldout])
    coords = np.stack([index / n for index, n in zip(heldout, shape, strict=True)], axis=1)
    in_train = np.isin(split.test.numpy(), split.train.numpy())
    positions_in_train = np.searchsorted(split.train.numpy(), split.test.numpy()[in_train])
    return HeldOut(
        coords=coords.astype(np.float64),
        reference=reference,
        reference_mse=FINE_SCALE_RATIO[min(len(shape), 2)] * coarse,
        num_test=len(split.test),
        test_train_positions=positions_in_train,
    )


def true_held_out(signal: Signal, split: Split) -> HeldOut:
    """The held-out points with their true values as the reference and no reference error:
    for validation only (it reads the held-out values, which a suggestion never may). The
    oracle run with it in place of :func:`held_out_points` chooses as it would if its
    estimate of the held-out error were exact, which separates that estimate's share of a
    gap from the fit model's."""
    truth = signal.flat_values().double().numpy()[split.heldout.numpy()]
    return dataclasses.replace(held_out_points(signal, split), reference=truth, reference_mse=0.0)


def training_grid(signal: Signal, split: Split) -> np.ndarray:
    """The training samples as their own grid, ``(*n_train_per_axis, C)``, float64."""
    assert split.train_axes is not None
    values = signal.values.double().numpy()
    return values[np.ix_(*[axis.numpy() for axis in split.train_axes])]


def cubic(grid: np.ndarray, positions: list[np.ndarray]) -> np.ndarray:
    """Cubic interpolation of ``grid`` (``(*n, C)``) at fractional grid positions (one array
    per axis): per axis, the Lagrange polynomial through the four samples around a position
    (``(-1, 9, 9, -1) / 16`` halfway between two samples), its stencil kept inside the grid
    at the ends, so cubics are reproduced everywhere; an axis of fewer samples uses them
    all. The tensor product over axes."""
    result = np.zeros((len(positions[0]), grid.shape[-1]))
    stencils = [
        _lagrange_stencil(position, size)
        for position, size in zip(positions, grid.shape[:-1], strict=True)
    ]
    for taps in itertools.product(*[range(indices.shape[1]) for indices, _ in stencils]):
        index = tuple(indices[:, tap] for (indices, _), tap in zip(stencils, taps, strict=True))
        factor = np.prod(
            [weights[:, tap] for (_, weights), tap in zip(stencils, taps, strict=True)], axis=0
        )
        result += factor[:, None] * grid[index]
    return result


def _lagrange_stencil(position: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample indices (``M x k``) and Lagrange weights (``M x k``) of the ``k = min(4, size)``
    samples around each position, the stencil shifted to stay within ``0 .. size - 1``."""
    taps = min(STENCIL, size)
    first = np.clip(np.floor(position).astype(np.int64) - (taps - 1) // 2, 0, size - taps)
    nodes = first[:, None] + np.arange(taps)
    weights = np.ones(nodes.shape)
    for j in range(taps):
        for m in range(taps):
            if m != j:
                weights[:, j] *= (position - nodes[:, m]) / (j - m)
    return nodes, weights


def coarse_error(grid: np.ndarray, parities: list[np.ndarray]) -> float:
    """MSE of interpolating from every other training sample (per axis) at the training
    samples placed as the held-out points are placed (``parities``: per held-out point and
    axis, 1 between training samples, 0 on a training line), weighted as the held-out
    points are."""
    patterns, counts = np.unique(np.stack(parities, axis=1), axis=0, return_counts=True)
    coarse = grid[tuple(slice(0, None, 2) for _ in range(grid.ndim - 1))]
    total = 0.0
    for pattern, count in zip(patterns, counts, strict=True):
        targets = grid[tuple(slice(p, None, 2) for p in pattern)]
        axes = np.meshgrid(
            *[np.arange(n) + p / 2.0 for n, p in zip(targets.shape[:-1], pattern, strict=True)],
            indexing="ij",
        )
        predicted = cubic(coarse, [a.ravel() for a in axes])
        total += count * float(np.mean((predicted - targets.reshape(-1, grid.shape[-1])) ** 2))
    return total / counts.sum()


def predicted_test_mse(
    heldout: HeldOut, train_error: np.ndarray, heldout_fit: np.ndarray
) -> tuple[float, float]:
    """Predicted test and held-out MSE of a fit from its predicted training residuals
    (``N x C``) and its predicted values at the held-out points (``M x C``)."""
    heldout_mse = float(np.mean((heldout_fit - heldout.reference) ** 2)) + heldout.reference_mse
    trained = heldout.test_train_positions
    train_part = float(np.sum(np.mean(train_error[trained] ** 2, axis=1)))
    count_heldout = heldout.num_test - len(trained)
    return (train_part + count_heldout * heldout_mse) / heldout.num_test, heldout_mse
