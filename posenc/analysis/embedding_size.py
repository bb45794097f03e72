"""Embedding size and variance: a deterministic Gaussian basis against random Fourier features.

P1 ("Rethinking Positional Encoding", the variance notebooks) compares, for embedding sizes
``D = 100, 200, ..., 1000``, a Gaussian basis of width ``sigma = 0.005`` with centres ``i / D``
against RFF at the matched scale ``s = 1 / (2 sqrt(2) pi sigma) = 22.508`` with ``D / 2``
frequencies drawn afresh for every trial, both divided by the largest training row norm:

- 1D: one 512-sample grayscale image row, a single linear layer, Adam at lr 1e-3 for 2000
  steps, trained on the even samples and tested on the odd ones, 10 trials per size; P1
  reports RFF's test PSNR rising from 20.50 dB (D = 100) to 28.27 dB (D = 1000), with a far
  larger spread over trials than the deterministic Gaussian's;
- 2D: a 512 x 512 image under P1's 2D protocol (concatenated Gaussian, ``D / 2`` centres per
  axis, against isotropic RFF with ``D / 2`` frequencies; 4 x 256 ReLU MLP with sigmoid, lr
  1e-3, 2000 steps, ``offset`` split); P1 reports RFF rising from 25.77 to 29.16 dB.

:func:`run_embedding_size` runs both with posenc's public fitting API; the seeds of a size are
trained as one batch. At an image ``size`` other than ``reference_size`` (P1's 512) the 2D
bandwidths are rescaled so that they span the same number of pixels as P1's:
``sigma = 0.005 * 512 / size`` and ``s = 22.508 * size / 512``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

from posenc.analysis.reproduction import (
    format_mean_std,
    mean_and_std,
    settings_dict,
)
from posenc.data import load_source
from posenc.embeddings import gaussian_sigma_to_rff_scale
from posenc.neural_fields import FitConfig, fit_many, resolve_config
from posenc.plotting import PAGE_WIDTH, PALETTE, label_axes, new_figure, styled
from posenc.tables import Table

P1_SIGMA = 0.005
P1_SIZES = tuple(range(100, 1001, 100))
FAMILIES = ("Gaussian", "RFF")
P1_RFF_1D = {100: 20.50, 1000: 28.27}
"""P1's mean test PSNR of RFF in 1D at the smallest and largest size (dB)."""
P1_RFF_2D = {100: 25.77, 1000: 29.16}
"""P1's mean test PSNR of RFF in 2D at the smallest and largest size (dB)."""


@dataclass(frozen=True)
class EmbeddingSizeSettings:
    """Settings of :func:`run_embedding_size`; the defaults are P1's protocols.

    ``row`` is the image row of the 1D experiment (of ``image``, 512 samples); ``image_2d``
    the image of the 2D one, resized to ``size`` (bandwidths rescaled from
    ``reference_size``). ``dimensions`` lists the experiments to run (``1d``, ``2d``).
    """

    image: str = "camera"
    row: int = 200
    image_2d: str = "astronaut"
    size: int = 512
    reference_size: int = 512
    sizes: tuple[int, ...] = P1_SIZES
    seeds: int = 10
    sigma: float = P1_SIGMA
    steps_1d: int = 2000
    steps_2d: int = 2000
    lr: float = 1e-3
    dimensions: tuple[str, ...] = ("1d", "2d")
    device: str = "cpu"


QUICK = EmbeddingSizeSettings(size=32, sizes=(100, 300), seeds=2, steps_1d=20, steps_2d=5)
"""Seconds: two sizes, two seeds, a 32 x 32 image, a few steps."""


@dataclass(frozen=True)
class EmbeddingSizeRun:
    """One fit: experiment (``1d`` or ``2d``), family, embedding size ``D``, seed, PSNRs and
    the stable rank of the embedded training matrix."""

    dimension: str
    family: str
    size: int
    seed: int
    train_psnr: float
    test_psnr: float
    stable_rank: float


@dataclass
class EmbeddingSizeResult:
    """Every run of :func:`run_embedding_size` and the mean ± std per size."""

    settings: EmbeddingSizeSettings
    runs: list[EmbeddingSizeRun] = field(default_factory=list)
    name: str = "embedding_size"

    def summary(self) -> list[dict[str, Any]]:
        """Per experiment, family and size: test PSNR and stable rank, mean and std over
        seeds."""
        rows = []
        for dimension in self.settings.dimensions:
            for family in FAMILIES:
                for size in self.settings.sizes:
                    chosen = [
                        run
                        for run in self.runs
                        if (run.dimension, run.family, run.size) == (dimension, family, size)
                    ]
                    if chosen:
                        rows.append(
                            {
                                "dimension": dimension,
                                "family": family,
                                "size": size,
                                "seeds": len(chosen),
                                "test_psnr": mean_and_std(run.test_psnr for run in chosen),
                                "train_psnr": mean_and_std(run.train_psnr for run in chosen),
                                "stable_rank": mean_and_std(run.stable_rank for run in chosen),
                            }
                        )
        return rows

    def records(self) -> list[dict[str, Any]]:
        """One row per fit."""
        return [run.__dict__.copy() for run in self.runs]

    def tables(self) -> list[Table]:
        """Test PSNR (mean ± std over seeds) of each family against ``D``, one table per
        experiment, with P1's numbers where P1 quotes them."""
        tables = []
        summary = self.summary()
        for dimension in self.settings.dimensions:
            quoted = P1_RFF_1D if dimension == "1d" else P1_RFF_2D
            rows = []
            for size in self.settings.sizes:
                cells: list[Any] = [size]
                for family in FAMILIES:
                    record = _find(summary, dimension, family, size)
                    cells.append(format_mean_std(record["test_psnr"]) if record else "-")
                    cells.append(record["stable_rank"][0] if record else None)
                cells.append(quoted.get(size))
                rows.append(tuple(cells))
            seeds = self.settings.seeds
            title = f"{dimension.upper()}: test PSNR (dB), mean ± std over {seeds} seeds"
            columns = ("D", "Gaussian", "Gaussian SR", "RFF", "RFF SR", "P1 RFF")
            formats = {"Gaussian SR": ".1f", "RFF SR": ".1f", "P1 RFF": ".2f"}
            tables.append(Table(columns, tuple(rows), title, formats=formats))
        return tables

    @styled
    def figure(self) -> Figure:
        """Test PSNR against ``D`` per experiment: mean and one standard deviation over seeds,
        every seed as a faint dot, P1's quoted RFF values as crosses."""
        dimensions = list(self.settings.dimensions)
        figure, axes = new_figure(
            ncols=len(dimensions), width=PAGE_WIDTH if len(dimensions) > 1 else PAGE_WIDTH / 2
        )
        panels = np.atleast_1d(axes)
        summary = self.summary()
        for panel, dimension in zip(panels, dimensions, strict=True):
            for colour, family in zip(PALETTE, FAMILIES, strict=False):
                records = [
                    r for r in summary if r["dimension"] == dimension and r["family"] == family
                ]
                if not records:
                    continue
                sizes = np.array([r["size"] for r in records])
                mean = np.array([r["test_psnr"][0] for r in records])
                std = np.array([r["test_psnr"][1] for r in records])
                panel.plot(sizes, mean, "o-", color=colour, label=family)
                panel.fill_between(sizes, mean - std, mean + std, color=colour, alpha=0.2, lw=0)
                dots = [r for r in self.runs if r.dimension == dimension and r.family == family]
                panel.plot(
                    [r.size for r in dots],
                    [r.test_psnr for r in dots],
                    ".",
                    color=colour,
                    alpha=0.35,
                    markersize=2,
                )
            quoted = P1_RFF_1D if dimension == "1d" else P1_RFF_2D
            panel.plot(list(quoted), list(quoted.values()), "x", color="0.2", label="P1, RFF")
            label_axes(panel, "embedding size D", "test PSNR (dB)", dimension.upper())
            panel.legend()
        return figure

    def to_dict(self) -> dict[str, Any]:
        """Settings, the summary and every run."""
        return {
            "settings": settings_dict(self.settings),
            "summary": self.summary(),
            "runs": self.records(),
        }


def run_embedding_size(
    settings: EmbeddingSizeSettings = EmbeddingSizeSettings(), progress: bool = False
) -> EmbeddingSizeResult:
    """Fit the Gaussian and RFF at every size and seed of ``settings``, in 1D and/or 2D."""
    unknown = [d for d in settings.dimensions if d not in ("1d", "2d")]
    if unknown:
        raise ValueError(f"dimensions must be among 1d, 2d; got {', '.join(unknown)}")
    if settings.seeds < 1 or not settings.sizes or min(settings.sizes) < 2:
        raise ValueError("give at least one seed and embedding sizes >= 2")
    result = EmbeddingSizeResult(settings)
    work = [
        (d, family, size)
        for d in settings.dimensions
        for family in FAMILIES
        for size in settings.sizes
    ]
    signals = {
        "1d": lambda: load_source(f"{settings.image}:row={settings.row}"),
        "2d": lambda: load_source(settings.image_2d, size=settings.size),
    }
    loaded = {dimension: signals[dimension]() for dimension in settings.dimensions}
    for dimension, family, size in tqdm(
        work, desc="embedding size", disable=not progress, file=sys.stderr
    ):
        configs = [
            embedding_size_config(settings, dimension, family, size, seed)
            for seed in range(settings.seeds)
        ]
        for seed, fitted in enumerate(fit_many(loaded[dimension], configs)):
            result.runs.append(
                EmbeddingSizeRun(
                    dimension=dimension,
                    family=family,
                    size=size,
                    seed=seed,
                    train_psnr=fitted.train_psnr_last,
                    test_psnr=fitted.test_psnr_last,
                    stable_rank=fitted.stable_rank,
                )
            )
    return result


def embedding_size_config(
    settings: EmbeddingSizeSettings, dimension: str, family: str, size: int, seed: int
) -> FitConfig:
    """The config of one fit: ``D = size`` features of ``family`` (see the module docstring);
    the seed draws RFF's frequencies and the model's initial weights."""
    stretch = settings.reference_size / settings.size if dimension == "2d" else 1.0
    sigma = settings.sigma * stretch
    if family == "Gaussian":
        per_axis = size if dimension == "1d" else size // 2
        embedding: dict[str, Any] = {
            "embedding": "gaussian",
            "embedding_params": {"sigma": sigma, "num_centers": per_axis, "compose": "concat"},
        }
    else:
        embedding = {
            "embedding": "rff",
            "embedding_params": {
                "scale": gaussian_sigma_to_rff_scale(sigma),
                "num_frequencies": size // 2,
            },
        }
    common: dict[str, Any] = {
        "normalization": "train",
        "lr": settings.lr,
        "seed": seed,
        "device": settings.device,
    }
    if dimension == "1d":
        steps = settings.steps_1d
        return resolve_config(
            signal=f"{settings.image}:row={settings.row}",
            split="offset",
            model="linear",
            sigmoid=False,
            steps=steps,
            eval_every=max(1, steps // 10),
            last_k=min(100, steps),
            **embedding,
            **common,
        )
    steps = settings.steps_2d
    return resolve_config(
        "p1-2d",
        signal=settings.image_2d,
        size=settings.size,
        steps=steps,
        eval_every=max(1, steps // 10),
        last_k=min(100, steps),
        **embedding,
        **common,
    )


def _find(
    summary: list[dict[str, Any]], dimension: str, family: str, size: int
) -> dict[str, Any] | None:
    for record in summary:
        if (record["dimension"], record["family"], record["size"]) == (dimension, family, size):
            return record
    return None
