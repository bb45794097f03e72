"""Write a fit's run folder: figures, ``metrics.json``, ``config.json``, optional checkpoint.

The folder appears whole or not at all: files are written into a hidden sibling folder that
is renamed into place at the end, so an interrupted or failed save leaves nothing that looks
like a finished run.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.image import imsave

from posenc.neural_fields.fitting import FitResult

FIGURE_DPI = 150


def check_output_folder(out_dir: Path) -> None:
    """Raise ``ValueError`` if ``out_dir`` exists and is not an empty folder."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ValueError(f"output folder {str(out_dir)!r} already exists and is not empty")


def save_fit(result: FitResult, out_dir: Path, *, checkpoint: bool = False) -> Path:
    """Write the run folder for ``result`` into ``out_dir`` (created) and return it.

    Contents: ``metrics.json`` (config, PSNRs, SR/DP, timings, history), ``config.json``,
    ``reconstruction.png`` (full grid; for 1D signals the signal, training samples and fit),
    ``error.png`` (held-out error), ``history.png`` (PSNR against step) and, if asked,
    ``checkpoint.pt``.
    """
    out_dir = Path(out_dir)
    check_output_folder(out_dir)
    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    staging.mkdir(parents=True)
    try:
        _write_files(result, staging, checkpoint)
        if out_dir.exists():
            out_dir.rmdir()
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _write_files(result: FitResult, folder: Path, checkpoint: bool) -> None:
    (folder / "metrics.json").write_text(json.dumps(result.metrics(), indent=2) + "\n")
    (folder / "config.json").write_text(json.dumps(result.config.to_dict(), indent=2) + "\n")
    if result.signal.ndim == 1:
        figure_fit_1d(result).savefig(folder / "reconstruction.png", dpi=FIGURE_DPI)
    else:
        _save_image(result.prediction.numpy(), folder / "reconstruction.png")
    figure_heldout_error(result).savefig(folder / "error.png", dpi=FIGURE_DPI)
    figure_history(result).savefig(folder / "history.png", dpi=FIGURE_DPI)
    if checkpoint:
        result.save_checkpoint(folder / "checkpoint.pt")


def _save_image(values: np.ndarray, path: Path) -> None:
    image = np.clip(values, 0, 1)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    imsave(path, image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)


def _heldout_error(result: FitResult) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample absolute error (mean over channels) and a mask of held-out samples."""
    target = result.signal.values.float().numpy()
    error = np.abs(result.prediction.numpy() - target).mean(axis=-1)
    mask = np.zeros(error.size, dtype=bool)
    mask[result.split.heldout.numpy()] = True
    return error, mask.reshape(error.shape)


def figure_heldout_error(result: FitResult) -> Figure:
    """Absolute error on the held-out samples: a map for images, a scatter for 1D signals."""
    if result.signal.ndim == 1:
        return _figure_error_1d(result)
    error, mask = _heldout_error(result)
    shown = np.where(mask, error, np.nan)
    if shown.ndim > 2:  # 3D volumes: the middle slice
        shown = shown[shown.shape[0] // 2]
    fig = Figure(figsize=(5, 4.3), constrained_layout=True)
    ax = fig.add_subplot()
    image = ax.imshow(shown, cmap="magma", vmin=0)
    ax.set_title(f"held-out |error|, test PSNR {result.test_psnr:.2f} dB")
    ax.set_axis_off()
    fig.colorbar(image, ax=ax, label="absolute error (intensity in [0, 1])")
    return fig


def figure_fit_1d(result: FitResult) -> Figure:
    """A 1D fit: the signal, the training samples and the fitted curve over the grid."""
    target = result.signal.values[:, 0].float().numpy()
    coords = np.arange(target.size) / target.size
    train = result.split.train.numpy()
    fig = Figure(figsize=(7, 3.5), constrained_layout=True)
    ax = fig.add_subplot()
    ax.plot(coords, target, color="0.6", lw=1.5, label="signal")
    ax.plot(coords, result.prediction[:, 0].numpy(), color="C0", lw=1, label="fit")
    ax.plot(coords[train], target[train], "k.", ms=2.5, label="training samples")
    ax.set_xlabel("coordinate x")
    ax.set_ylabel("value")
    ax.set_title(
        f"{result.signal.name}: train {result.train_psnr:.1f} dB, test {result.test_psnr:.1f} dB"
    )
    ax.legend(loc="best", frameon=False)
    return fig


def _figure_error_1d(result: FitResult) -> Figure:
    error, mask = _heldout_error(result)
    coords = np.arange(error.size) / error.size
    fig = Figure(figsize=(7, 3), constrained_layout=True)
    ax = fig.add_subplot()
    ax.plot(coords[mask], error[mask], "C3.", ms=3)
    ax.set_xlabel("coordinate x")
    ax.set_ylabel("held-out |error|")
    ax.set_title(f"held-out error, test PSNR {result.test_psnr:.2f} dB")
    return fig


def figure_history(result: FitResult) -> Figure:
    """Train PSNR at every step and test PSNR at the evaluation steps."""
    history = result.history
    fig = Figure(figsize=(6, 3.5), constrained_layout=True)
    ax = fig.add_subplot()
    if history.train_psnr:
        ax.plot(range(1, len(history.train_psnr) + 1), history.train_psnr, label="train")
        ax.plot(history.eval_steps, history.test_psnr, label="test")
    else:
        ax.axhline(result.train_psnr, color="C0", label="train (closed form)")
        ax.axhline(result.test_psnr, color="C1", label="test (closed form)")
    ax.set_xlabel("step")
    ax.set_ylabel("PSNR (dB)")
    ax.legend(frameon=False)
    return fig
