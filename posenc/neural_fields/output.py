"""Write a fit's run folder: figures, ``metrics.json``, ``config.json``, optional checkpoint."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from posenc.files import staged_folder, write_json
from posenc.neural_fields.result import FitResult
from posenc.plotting import COLUMN_WIDTH, PAGE_WIDTH, new_figure, save_figure, styled
from posenc.report_page.document import grid_image
from posenc.report_page.fit import write_fit_report


def save_fit(result: FitResult, out_dir: Path, *, checkpoint: bool = False) -> Path:
    """Write the run folder for ``result`` into ``out_dir`` (created) and return it.

    Contents: ``metrics.json`` (config, PSNRs, SR/DP, timings, history), ``config.json``,
    ``reconstruction.png`` (the ground truth beside the reconstruction on the full grid; for
    1D signals the signal, training samples and fit), ``error.png`` (held-out error),
    ``history.png`` (PSNR against step), ``report.html`` and, if asked, ``checkpoint.pt``.
    The folder appears whole or not at all.
    """
    with staged_folder(Path(out_dir)) as staging:
        write_fit_files(result, staging, checkpoint)
    return Path(out_dir)


def write_fit_files(
    result: FitResult,
    folder: Path,
    checkpoint: bool = False,
    extra_metrics: Mapping[str, Any] | None = None,
) -> None:
    """The files of :func:`save_fit`, written into the existing ``folder``; ``extra_metrics``
    are added to ``metrics.json`` (e.g. the bandwidth oracle's answer)."""
    write_json(folder / "metrics.json", {**result.metrics(), **(extra_metrics or {})})
    write_json(folder / "config.json", result.config.to_dict())
    if result.signal.ndim == 1:
        save_figure(figure_fit_1d(result), folder / "reconstruction.png")
    else:
        save_figure(figure_reconstruction(result), folder / "reconstruction.png")
    save_figure(figure_heldout_error(result), folder / "error.png")
    save_figure(figure_history(result), folder / "history.png")
    if checkpoint:
        result.save_checkpoint(folder / "checkpoint.pt")
    write_fit_report(result, folder)


def fitted(result: FitResult) -> str:
    """What was fitted: signal, embedding and bandwidth, model."""
    embedding = result.embedding
    band = ""
    if embedding.bandwidth is not None:
        band = f" {embedding.bandwidth_name}={embedding.bandwidth:.4g}"
    return f"{result.signal.name}, {embedding.name}{band}, {result.config.model}"


def fit_title(result: FitResult) -> str:
    """:func:`fitted` and the test PSNR, in one line."""
    return f"{fitted(result)}: test PSNR {result.test_psnr:.2f} dB"


@styled
def figure_reconstruction(result: FitResult) -> Figure:
    """An image fit: the ground truth beside the reconstruction (values clipped to [0, 1];
    a volume's middle slice), titled with :func:`fit_title`."""
    fig, axes = new_figure(ncols=2, width=PAGE_WIDTH, height=0.5 * PAGE_WIDTH * 0.9)
    target = result.signal.values.float().numpy()
    panels = (("ground truth", target), ("reconstruction", result.prediction.numpy()))
    for ax, (label, values) in zip(axes, panels, strict=True):
        image = np.clip(grid_image(values), 0, 1)
        gray = image.shape[-1] == 1
        ax.imshow(image[..., 0] if gray else image, cmap="gray" if gray else None, vmin=0, vmax=1)
        ax.set_title(label)
        ax.set_axis_off()
    fig.suptitle(fit_title(result))
    return fig


def _heldout_error(result: FitResult) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample absolute error (mean over channels) and a mask of held-out samples."""
    target = result.signal.values.float().numpy()
    error = np.abs(result.prediction.numpy() - target).mean(axis=-1)
    mask = np.zeros(error.size, dtype=bool)
    mask[result.split.heldout.numpy()] = True
    return error, mask.reshape(error.shape)


@styled
def figure_heldout_error(result: FitResult) -> Figure:
    """Absolute error on the held-out samples: a map for images (the held-out sub-grid when
    it is one, else the full grid with training pixels blank), a scatter for 1D signals."""
    if result.signal.ndim == 1:
        return _figure_error_1d(result)
    error, mask = _heldout_error(result)
    axes = result.split.test_axes
    if axes is not None and result.split.heldout.numel() == result.split.test.numel():
        # A held-out product grid (the offset split): show it as one contiguous image.
        shown = error[np.ix_(*[axis.numpy() for axis in axes])]
    else:
        shown = np.where(mask, error, np.nan)
    if shown.ndim > 2:  # 3D volumes: the middle slice
        shown = shown[shown.shape[0] // 2]
    fig, ax = new_figure(width=COLUMN_WIDTH, height=2.9)
    image = ax.imshow(shown, cmap="magma", vmin=0)
    ax.set_title(f"held-out |error|, test PSNR {result.test_psnr:.2f} dB")
    ax.set_axis_off()
    fig.colorbar(image, ax=ax, label="absolute error (intensity in [0, 1])")
    return fig


@styled
def figure_fit_1d(result: FitResult) -> Figure:
    """A 1D fit: the signal, the training samples and the fitted curve over the grid."""
    target = result.signal.values[:, 0].float().numpy()
    coords = np.arange(target.size) / target.size
    train = result.split.train.numpy()
    fig, ax = new_figure(width=PAGE_WIDTH, height=2.6)
    ax.plot(coords, target, color="0.6", lw=1.5, label="signal")
    ax.plot(coords, result.prediction[:, 0].numpy(), color="C0", lw=1, label="fit")
    ax.plot(coords[train], target[train], "k.", ms=2.5, label="training samples")
    ax.set_xlabel("coordinate x")
    ax.set_ylabel("value")
    ax.set_title(f"{fit_title(result)} (train {result.train_psnr:.2f} dB)")
    ax.legend(loc="best", frameon=False)
    return fig


@styled
def _figure_error_1d(result: FitResult) -> Figure:
    error, mask = _heldout_error(result)
    coords = np.arange(error.size) / error.size
    fig, ax = new_figure(width=PAGE_WIDTH, height=2.2)
    ax.plot(coords[mask], error[mask], "C3.", ms=3)
    ax.set_xlabel("coordinate x")
    ax.set_ylabel("held-out |error|")
    ax.set_title(f"held-out error, test PSNR {result.test_psnr:.2f} dB")
    return fig


@styled
def figure_history(result: FitResult) -> Figure:
    """Train PSNR at every step; test PSNR at an even cadence (every ``eval_every`` steps and
    the last, or every step when every step was evaluated); the window the ``*_last`` means
    cover, shaded, with the test mean drawn across it. Titled with what was fitted. (The
    test PSNR is also evaluated at every step of that window, for its mean, but drawn only
    at the even cadence.)"""
    history, config = result.history, result.config
    fig, ax = new_figure(width=COLUMN_WIDTH, height=2.8)
    steps = len(history.train_psnr)
    if steps:
        ax.plot(range(1, steps + 1), history.train_psnr, color="C0", lw=1, label="train")
        every = 1 if len(history.eval_steps) == steps else config.eval_every
        even = [
            (step, value)
            for step, value in zip(history.eval_steps, history.test_psnr, strict=True)
            if step % every == 0 or step == steps
        ]
        cadence = "every step" if every == 1 else f"every {every} steps"
        ax.plot(*zip(*even, strict=True), "C1.-", lw=1, ms=3, label=f"test, {cadence}")
        first = steps - min(steps, config.last_k) + 1
        ax.axvspan(first, steps, color="0.92", lw=0)
        ax.hlines(
            result.test_psnr_last,
            first,
            steps,
            colors="C1",
            linestyles=":",
            label=f"test, {result.last_steps_text}: {result.test_psnr_last:.2f} dB",
        )
        ax.set_title(f"{fitted(result)}\nPSNR during {steps} Adam steps")
    else:
        ax.axhline(result.train_psnr, color="C0", label="train (closed form)")
        ax.axhline(result.test_psnr, color="C1", label="test (closed form)")
        ax.set_title(f"{fitted(result)}\nclosed-form solution, no training steps")
    ax.set_xlabel("step")
    ax.set_ylabel("PSNR (dB)")
    ax.legend(frameon=False, fontsize="small")
    return fig
