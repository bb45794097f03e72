"""Training stride: test PSNR against the sample spacing and the embedding's bandwidth (P1).

P1's stride notebooks fit 512-sample grayscale image rows with a single linear layer on a
shifted basis of ``D = 10000`` periodic centres (the rows of the circulant of a unit-norm
generator, divided by the largest training row norm), trained with full-batch Adam for 4000
steps, on the samples ``[::2d]`` and tested on the midpoints ``[d::2d]`` for strides
``d in {1, 2, 3, 4, 6, 8, 11, 16}``. Generators: the Gaussian at 50 widths
``sigma = 10^linspace(-1, -4, 50)`` (learning rate ``1e-4 / 10^((log10 sigma + 1) / 3) / 2``,
P1's rule), the impulse (one-hot nearest centre), a white-noise generator, and square waves
and sines of frequencies 1 to 200 (learning rate 1e-3). Test PSNR is the mean over the last 100
steps. The point: the best bandwidth moves with the stride, because distance preservation has
to bridge the gap between training samples, and the stable rank of the embedded training
matrix (shown beside) says how much the linear layer can memorise.

:func:`run_stride` runs it with posenc's public fitting API. The samples of stride ``d`` are
taken as a signal of their own, ``row[::d]``, fitted with the ``offset`` split (train on its
even samples, test on its odd ones: P1's sets). That signal covers ``[0, 1)`` with
``ceil(512 / d)`` samples, so for strides that do not divide 512 (3, 6, 11) its coordinates are
those of P1 stretched by ``d ceil(512 / d) / 512`` (at most 1.0 %, for ``d = 11``), far below
the 15 % between neighbouring bandwidths of the sweep.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from tqdm import tqdm

from posenc.analysis.layer_rank import P1_ROWS
from posenc.analysis.reproduction import (
    format_mean_std,
    mean_and_std,
    settings_dict,
)
from posenc.data import Signal, load_source
from posenc.neural_fields import FitConfig, fit_many, resolve_config
from posenc.plotting import PAGE_WIDTH, PALETTE, label_axes, new_figure, styled
from posenc.tables import Table

P1_STRIDES = (1, 2, 3, 4, 6, 8, 11, 16)
P1_FREQUENCIES = (1.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0)
GENERATORS = ("gaussian", "impulse", "noise", "square_wave", "sine")
FREQUENCY_GENERATORS = ("square_wave", "sine")
WHITE_NOISE_LENGTH = 1e-7
"""Smoothing length of the noise generator: far below the centre spacing, so it is white."""


@dataclass(frozen=True)
class StrideSettings:
    """Settings of :func:`run_stride`; the defaults are P1's axes (10 rows of P1 are 9
    distinct rows here, of scikit-image's ``camera``)."""

    image: str = "camera"
    rows: tuple[int, ...] = P1_ROWS
    repeats: int = 2
    strides: tuple[int, ...] = P1_STRIDES
    num_sigmas: int = 50
    sigma_range: tuple[float, float] = (1e-4, 1e-1)
    frequencies: tuple[float, ...] = P1_FREQUENCIES
    generators: tuple[str, ...] = GENERATORS
    dim: int = 10_000
    steps: int = 4000
    lr: float = 1e-3
    gaussian_lr: float = 1e-4
    device: str = "cpu"

    def sigmas(self) -> np.ndarray:
        """The Gaussian widths, log-spaced from the largest to the smallest (P1's order)."""
        low, high = self.sigma_range
        return np.logspace(math.log10(high), math.log10(low), self.num_sigmas)


QUICK = StrideSettings(
    rows=(200,),
    repeats=1,
    strides=(1, 4),
    num_sigmas=3,
    sigma_range=(1e-3, 1e-1),
    frequencies=(1.0, 20.0),
    dim=256,
    steps=30,
)
"""Seconds: one row, strides 1 and 4, three widths, two frequencies, 256 centres, 30 steps."""


def gaussian_learning_rate(sigma: float, base: float = 1e-4) -> float:
    """P1's learning rate for the Gaussian of width ``sigma``:
    ``base / 10^((log10 sigma + 1) / 3) / 2`` (``base / 2`` at ``sigma = 0.1``, ``5 base`` at
    ``sigma = 1e-4``)."""
    return base / 10 ** ((math.log10(sigma) + 1) / 3) / 2


@dataclass(frozen=True)
class StrideRun:
    """One fit: generator, bandwidth, stride, row, seed, and what it measured."""

    generator: str
    bandwidth: float | None
    stride: int
    row: int
    seed: int
    train_psnr: float
    test_psnr: float
    stable_rank: float
    distance_preservation: float


@dataclass
class StrideResult:
    """Every run of :func:`run_stride` and its summaries."""

    settings: StrideSettings
    runs: list[StrideRun] = field(default_factory=list)
    name: str = "stride"

    def grid(self, generator: str, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(bandwidths, strides, values)``: the mean over rows and repeats of ``key`` (a
        :class:`StrideRun` field) for every bandwidth (columns) and stride (rows)."""
        chosen = [run for run in self.runs if run.generator == generator]
        bandwidths = sorted({run.bandwidth for run in chosen if run.bandwidth is not None})
        if not bandwidths:
            bandwidths = [math.nan]
        strides = sorted({run.stride for run in chosen})
        values = np.full((len(strides), len(bandwidths)), math.nan)
        for i, stride in enumerate(strides):
            for j, bandwidth in enumerate(bandwidths):
                cell = [
                    getattr(run, key)
                    for run in chosen
                    if run.stride == stride
                    and (run.bandwidth == bandwidth or math.isnan(bandwidth))
                ]
                values[i, j] = mean_and_std(cell)[0]
        return np.array(bandwidths), np.array(strides), values

    def summary(self) -> list[dict[str, Any]]:
        """Per stride and generator: the best test PSNR over the bandwidths (mean ± std over
        rows and repeats at the best bandwidth), that bandwidth, and its stable rank."""
        rows = []
        for generator in self.settings.generators:
            bandwidths, strides, psnrs = self.grid(generator, "test_psnr")
            if not len(strides):
                continue
            for i, stride in enumerate(strides):
                best = int(np.nanargmax(psnrs[i]))
                bandwidth = bandwidths[best]
                cell = [
                    run
                    for run in self.runs
                    if run.generator == generator
                    and run.stride == stride
                    and (run.bandwidth == bandwidth or math.isnan(bandwidth))
                ]
                rows.append(
                    {
                        "generator": generator,
                        "stride": int(stride),
                        "bandwidth": None if math.isnan(bandwidth) else float(bandwidth),
                        "test_psnr": mean_and_std(run.test_psnr for run in cell),
                        "train_psnr": mean_and_std(run.train_psnr for run in cell),
                        "stable_rank": mean_and_std(run.stable_rank for run in cell),
                    }
                )
        return rows

    def records(self) -> list[dict[str, Any]]:
        """One row per fit."""
        return [run.__dict__.copy() for run in self.runs]

    def tables(self) -> list[Table]:
        """The best bandwidth of each generator at each stride, with its test PSNR and SR."""
        summary = self.summary()
        rows = tuple(
            (
                record["generator"],
                record["stride"],
                record["bandwidth"],
                format_mean_std(record["test_psnr"]),
                format_mean_std(record["train_psnr"]),
                record["stable_rank"][0],
            )
            for record in summary
        )
        title = (
            "Best test PSNR over the bandwidths at each training stride "
            "(mean ± std over rows and repeats at the best bandwidth)"
        )
        columns = ("generator", "stride d", "best bandwidth", "test PSNR (dB)", "train PSNR (dB)")
        return [
            Table((*columns, "SR"), rows, title, formats={"best bandwidth": ".4g", "SR": ".1f"})
        ]

    @styled
    def figure(self) -> Figure:
        """Test PSNR heat maps (stride against bandwidth) for the Gaussian, square wave and
        sine, the Gaussian's stable rank beside, and the impulse and noise against stride."""
        figure, axes = new_figure(ncols=3, nrows=2, width=PAGE_WIDTH, height=PAGE_WIDTH * 0.62)
        panels = list(np.asarray(axes).flat)
        heat_maps = [
            ("gaussian", "test_psnr", "Gaussian: test PSNR (dB)", "σ"),
            ("gaussian", "stable_rank", "Gaussian: SR of the training matrix", "σ"),
            ("square_wave", "test_psnr", "square wave: test PSNR (dB)", "frequency"),
            ("sine", "test_psnr", "sine: test PSNR (dB)", "frequency"),
        ]
        for panel, (generator, key, title, xlabel) in zip(panels, heat_maps, strict=False):
            if not any(run.generator == generator for run in self.runs):
                panel.set_axis_off()
                continue
            self._heat_map(figure, panel, generator, key, title, xlabel)
        self._against_stride(panels[4], "test_psnr", "test PSNR (dB)")
        self._against_stride(panels[5], "stable_rank", "SR of the training matrix")
        return figure

    def _heat_map(
        self, figure: Figure, panel: Any, generator: str, key: str, title: str, xlabel: str
    ) -> None:
        bandwidths, strides, values = self.grid(generator, key)
        norm = LogNorm() if key == "stable_rank" else None
        mesh = panel.pcolormesh(
            _edges(bandwidths), np.arange(len(strides) + 1), values, norm=norm, shading="flat"
        )
        panel.set_xscale("log")
        panel.set_yticks(np.arange(len(strides)) + 0.5, [str(int(s)) for s in strides])
        panel.grid(False)
        label_axes(panel, xlabel, "training stride d", title)
        figure.colorbar(mesh, ax=panel, shrink=0.9)

    def _against_stride(self, panel: Any, key: str, ylabel: str) -> None:
        series = [("impulse", "impulse"), ("noise", "white noise")]
        series += [("gaussian", "Gaussian, best σ"), ("square_wave", "square, best f")]
        series += [("sine", "sine, best f")]
        summary = {(r["generator"], r["stride"]): r for r in self.summary()}
        for colour, (generator, label) in zip(PALETTE, series, strict=False):
            strides = sorted(s for g, s in summary if g == generator)
            if not strides:
                continue
            values = [summary[(generator, s)][key][0] for s in strides]
            panel.plot(strides, values, "o-", color=colour, label=label)
        if key == "stable_rank":
            panel.set_yscale("log")
        label_axes(panel, "training stride d", ylabel, f"{ylabel.split(' (')[0]} against stride")
        panel.legend(fontsize=5)

    def to_dict(self) -> dict[str, Any]:
        """Settings, the summary and every run."""
        return {
            "settings": settings_dict(self.settings),
            "summary": self.summary(),
            "runs": self.records(),
        }


def run_stride(settings: StrideSettings = StrideSettings(), progress: bool = False) -> StrideResult:
    """Fit every generator, bandwidth, stride, row and seed of ``settings`` (see the module
    docstring); fits that differ only in bandwidth and seed are trained as one batch."""
    _check(settings)
    result = StrideResult(settings)
    work = [(row, stride) for row in settings.rows for stride in settings.strides]
    bar = tqdm(work, desc="stride", disable=not progress, file=sys.stderr)
    for row, stride in bar:
        signal = strided_row(settings.image, row, stride)
        configs = stride_configs(settings, signal.name)
        for (generator, bandwidth, seed), fitted in zip(
            configs, fit_many(signal, list(configs.values())), strict=True
        ):
            result.runs.append(
                StrideRun(
                    generator=generator,
                    bandwidth=bandwidth,
                    stride=stride,
                    row=row,
                    seed=seed,
                    train_psnr=fitted.train_psnr_last,
                    test_psnr=fitted.test_psnr_last,
                    stable_rank=fitted.stable_rank,
                    distance_preservation=fitted.distance_preservation,
                )
            )
    return result


def strided_row(image: str, row: int, stride: int) -> Signal:
    """Every ``stride``-th sample of row ``row`` of the grayscale ``image``, as a 1D signal
    named ``IMAGE:row=R,stride=D``."""
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be an integer >= 1, got {stride!r}")
    full = load_source(f"{image}:row={row}")
    values = full.values[::stride].clone()
    if values.shape[0] < 4:
        raise ValueError(
            f"stride {stride} leaves {values.shape[0]} samples of {full.name}; at least 4 are "
            "needed for two training and two test samples"
        )
    source = {**full.source, "stride": stride, "length": values.shape[0]}
    return Signal(values=values, name=f"{full.name},stride={stride}", source=source)


def stride_configs(
    settings: StrideSettings, signal_name: str
) -> dict[tuple[str, float | None, int], FitConfig]:
    """One fit config per ``(generator, bandwidth, seed)``: a linear layer on ``settings.dim``
    periodic centres, P1's learning rates, the ``offset`` split."""
    configs: dict[tuple[str, float | None, int], FitConfig] = {}
    for generator in settings.generators:
        for bandwidth, params, lr in _generator_variants(settings, generator):
            for seed in range(settings.repeats):
                configs[(generator, bandwidth, seed)] = resolve_config(
                    signal=signal_name,
                    split="offset",
                    embedding=generator,
                    embedding_params={"num_centers": settings.dim, "periodic": True, **params},
                    normalization="train",
                    model="linear",
                    sigmoid=False,
                    lr=lr,
                    steps=settings.steps,
                    eval_every=max(1, settings.steps // 10),
                    last_k=min(100, settings.steps),
                    seed=seed,
                    device=settings.device,
                )
    return configs


def _generator_variants(
    settings: StrideSettings, generator: str
) -> list[tuple[float | None, dict[str, Any], float]]:
    """``(bandwidth, embedding parameters, learning rate)`` of each variant of a generator."""
    if generator == "gaussian":
        return [
            (float(s), {"sigma": float(s)}, gaussian_learning_rate(s, settings.gaussian_lr))
            for s in settings.sigmas()
        ]
    if generator in FREQUENCY_GENERATORS:
        return [(f, {"frequency": f}, settings.lr) for f in settings.frequencies]
    if generator == "noise":
        return [(None, {"length": WHITE_NOISE_LENGTH, "resolution": settings.dim}, settings.lr)]
    return [(None, {}, settings.lr)]


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges of log-spaced centres (geometric midpoints, extended at both ends)."""
    if len(centres) == 1 or not np.all(np.isfinite(centres)):
        value = centres[0] if np.isfinite(centres[0]) else 1.0
        return np.array([value / 1.5, value * 1.5])
    ordered = np.sort(centres)
    logs = np.log(ordered)
    middle = (logs[:-1] + logs[1:]) / 2
    first, last = 2 * logs[0] - middle[0], 2 * logs[-1] - middle[-1]
    return np.exp(np.concatenate([[first], middle, [last]]))


def _check(settings: StrideSettings) -> None:
    unknown = [name for name in settings.generators if name not in GENERATORS]
    if unknown:
        raise ValueError(f"unknown generator(s) {', '.join(unknown)}; choose from {GENERATORS}")
    if not settings.rows or not settings.strides or settings.repeats < 1:
        raise ValueError("give at least one row, one stride and one repeat")
    low, high = settings.sigma_range
    if not 0 < low <= high:
        raise ValueError(f"sigma range must satisfy 0 < low <= high, got {low!r}, {high!r}")
