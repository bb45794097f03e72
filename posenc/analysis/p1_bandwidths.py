"""P1's 2D protocol at its three Gaussian widths, on several images.

P1's 2D notebook fits a 512 x 512 RGB image (the house) with a concatenated Gaussian embedding
of 1000 features (500 centres per axis), a ReLU MLP of 4 hidden layers of 256 with a sigmoid
output, Adam at lr 1e-3 for 2000 steps, trained on ``[::2, ::2]`` and tested on
``[1::2, 1::2]``; the test PSNR is the mean over the last 100 steps. It reports
(:data:`P1_2D_PSNR`) sigma 0.07 -> 25.01 dB, 0.003 -> 23.14 dB, 0.001 -> 20.58 dB: the widest
of the three generalises best, the narrowest memorises; ``p1-2d`` defaults to 0.07.

:func:`run_p1_bandwidths` runs ``posenc fit --protocol p1-2d`` at each width on each image
(at ``size`` x ``size``, with ``steps`` steps) and tabulates the three PSNRs per image beside
P1's, with the ordering each image shows. At a ``size`` other than ``reference_size`` (P1's
512) each width is rescaled to span the same number of pixels as P1's,
``sigma * reference_size / size``: the memorising width stays below a pixel and the
generalising one stays 36 pixels wide (set ``reference_size`` to ``size`` to keep P1's
values in units of the image side).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from matplotlib.figure import Figure
from tqdm import tqdm

from posenc.analysis.reproduction import format_mean_std, mean_and_std, settings_dict
from posenc.data import load_source
from posenc.neural_fields import FitConfig, fit, resolve_config
from posenc.plotting import COLUMN_WIDTH, PALETTE, label_axes, new_figure, styled
from posenc.protocols import P1_2D_PSNR
from posenc.tables import Table


@dataclass(frozen=True)
class P1BandwidthSettings:
    """Settings of :func:`run_p1_bandwidths`; the defaults are P1's protocol on two images.

    ``sigmas`` are P1's widths at ``reference_size``; a fit at ``size`` uses
    ``sigma * reference_size / size``.
    """

    images: tuple[str, ...] = ("astronaut", "coffee")
    sigmas: tuple[float, ...] = tuple(P1_2D_PSNR)
    size: int = 512
    reference_size: int = 512
    steps: int = 2000
    device: str = "cpu"


QUICK = P1BandwidthSettings(images=("astronaut",), size=32, steps=4)
"""Seconds: one 32 x 32 image, four steps."""


@dataclass(frozen=True)
class P1BandwidthRun:
    """One fit: image, P1's width ``sigma`` and the width fitted at the run's size
    (``fitted_sigma``), train and test PSNR (means of the last 100 steps), SR."""

    image: str
    sigma: float
    fitted_sigma: float
    train_psnr: float
    test_psnr: float
    stable_rank: float


@dataclass
class P1BandwidthResult:
    """Every fit of :func:`run_p1_bandwidths`."""

    settings: P1BandwidthSettings
    runs: list[P1BandwidthRun] = field(default_factory=list)
    name: str = "p1_2d_bandwidths"

    def psnr(self, image: str, sigma: float) -> float:
        """Test PSNR of ``image`` at ``sigma``."""
        return next(r.test_psnr for r in self.runs if r.image == image and r.sigma == sigma)

    def ordering(self, image: str) -> list[float]:
        """The widths of ``image``'s fits, best test PSNR first."""
        chosen = [r for r in self.runs if r.image == image]
        return [r.sigma for r in sorted(chosen, key=lambda r: -r.test_psnr)]

    def records(self) -> list[dict[str, Any]]:
        """One row per fit."""
        return [run.__dict__.copy() for run in self.runs]

    def tables(self) -> list[Table]:
        """Test PSNR per image and width beside P1's, the ordering, and the mean over images."""
        sigmas = list(self.settings.sigmas)
        images = list(dict.fromkeys(run.image for run in self.runs))
        rows: list[tuple[Any, ...]] = [
            ("P1 (house, 512, 2000 steps)", *(P1_2D_PSNR.get(s) for s in sigmas), _order(sigmas))
        ]
        for image in images:
            rows.append(
                (image, *(self.psnr(image, s) for s in sigmas), _order(self.ordering(image)))
            )
        if len(images) > 1:
            rows.append(
                (
                    "mean ± std",
                    *(
                        format_mean_std(mean_and_std(self.psnr(i, s) for i in images))
                        for s in sigmas
                    ),
                    "",
                )
            )
        size, steps = self.settings.size, self.settings.steps
        title = f"Test PSNR (dB) of p1-2d at {size} x {size}, {steps} steps (mean of the last 100)"
        if size != self.settings.reference_size:
            title += f"; σ of {self.settings.reference_size} px, × {_stretch(self.settings):g}"
        columns = ("image", *(f"σ = {s:g}" for s in sigmas), "best → worst")
        return [Table(columns, tuple(rows), title, ".2f")]

    @styled
    def figure(self) -> Figure:
        """Test PSNR against sigma for every image, P1's values as crosses."""
        figure, axes = new_figure(width=COLUMN_WIDTH)
        images = list(dict.fromkeys(run.image for run in self.runs))
        for colour, image in zip(PALETTE, images, strict=False):
            chosen = sorted((r for r in self.runs if r.image == image), key=lambda r: r.sigma)
            axes.plot(
                [r.sigma for r in chosen],
                [r.test_psnr for r in chosen],
                "o-",
                color=colour,
                label=image,
            )
        axes.plot(
            list(P1_2D_PSNR), list(P1_2D_PSNR.values()), "x", color="0.2", label="P1 (house, 512)"
        )
        axes.set_xscale("log")
        label_axes(
            axes,
            f"Gaussian σ (P1's, at {self.settings.reference_size} px)",
            "test PSNR (dB)",
            f"p1-2d at {self.settings.size} x {self.settings.size}",
        )
        axes.legend()
        return figure

    def to_dict(self) -> dict[str, Any]:
        """Settings, P1's values, the ordering per image, and every fit."""
        images = list(dict.fromkeys(run.image for run in self.runs))
        return {
            "settings": settings_dict(self.settings),
            "p1": {str(s): v for s, v in P1_2D_PSNR.items()},
            "ordering": {image: self.ordering(image) for image in images},
            "runs": self.records(),
        }


def run_p1_bandwidths(
    settings: P1BandwidthSettings = P1BandwidthSettings(), progress: bool = False
) -> P1BandwidthResult:
    """Fit every image of ``settings`` under ``p1-2d`` at every width."""
    if not settings.images or not settings.sigmas:
        raise ValueError("give at least one image and one sigma")
    result = P1BandwidthResult(settings)
    work = [(image, sigma) for image in settings.images for sigma in settings.sigmas]
    signals = {image: load_source(image, size=settings.size) for image in settings.images}
    for image, sigma in tqdm(work, desc="p1-2d", disable=not progress, file=sys.stderr):
        config = p1_bandwidth_config(settings, image, sigma)
        fitted = fit(signals[image], config)
        result.runs.append(
            P1BandwidthRun(
                image=image,
                sigma=sigma,
                fitted_sigma=config.embedding_params["sigma"],
                train_psnr=fitted.train_psnr_last,
                test_psnr=fitted.test_psnr_last,
                stable_rank=fitted.stable_rank,
            )
        )
    return result


def p1_bandwidth_config(settings: P1BandwidthSettings, image: str, sigma: float) -> FitConfig:
    """``p1-2d`` on ``image`` at P1's width ``sigma`` rescaled to ``settings.size`` (see the
    module docstring), with ``settings.steps`` steps."""
    return resolve_config(
        "p1-2d",
        signal=image,
        size=settings.size,
        steps=settings.steps,
        last_k=min(100, settings.steps),
        eval_every=max(1, min(100, settings.steps)),
        embedding_params={"sigma": sigma * _stretch(settings)},
        device=settings.device,
    )


def _stretch(settings: P1BandwidthSettings) -> float:
    return settings.reference_size / settings.size


def _order(sigmas: list[float]) -> str:
    return " > ".join(f"{s:g}" for s in sigmas)
