"""The report page of one fit: ``posenc fit`` writes ``report.html`` into its run folder.

It shows the fit's numbers (train, test and held-out PSNR, final and as the mean of the
last steps; stable rank and distance preservation of the embedded training matrix; timings
and memory), the reconstruction beside the ground truth (images side by side; a 1D signal
as both curves with the training samples), the held-out error, the PSNR history, and the
full config. A fit is one run, so its page is static: it embeds the folder's own figures
rather than Plotly's 4.8 MB of JavaScript, and stays a few hundred kilobytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from posenc.report_page.document import (
    REPORT_NAME,
    file_data_uri,
    format_value,
    grid_image,
    png_data_uri,
    section,
    settings_list,
    write_page,
)
from posenc.tables import flatten

if TYPE_CHECKING:
    from posenc.neural_fields.result import FitResult

NUMBERS = (
    ("train_psnr", "train PSNR (dB)", ".2f"),
    ("test_psnr", "test PSNR (dB)", ".2f"),
    ("heldout_psnr", "held-out PSNR (dB)", ".2f"),
    ("train_psnr_last", "train PSNR, mean of the last steps (dB)", ".2f"),
    ("test_psnr_last", "test PSNR, mean of the last steps (dB)", ".2f"),
    ("stable_rank", "stable rank of the embedded training matrix", ".2f"),
    ("distance_preservation", "distance preservation", ".4g"),
)
"""Keys of ``metrics.json`` shown in the numbers table, their labels and formats."""


def write_fit_report(result: FitResult, folder: Path) -> Path:
    """Write ``report.html`` for ``result`` into its run folder ``folder`` (which already
    holds its ``reconstruction.png``, ``error.png`` and ``history.png``); return the path."""
    folder = Path(folder)
    metrics = result.metrics()
    target = result.signal.values.float().numpy()
    prediction = result.prediction.float().numpy()
    title = f"posenc fit: {result.signal.name}, {_embedding_label(metrics['embedding'])}"
    page = fit_body(metrics, target, prediction, folder)
    return write_page(folder / REPORT_NAME, title, page, interactive=False)


def fit_body(
    metrics: Mapping[str, Any], target: np.ndarray, prediction: np.ndarray, folder: Path
) -> str:
    """The page's body from ``metrics.json``'s record, the signal ``(*grid, C)``, the
    prediction on the full grid and the run folder's figures."""
    return "".join(
        [
            section("Numbers", _numbers_table(metrics), note=_summary(metrics)),
            section("Reconstruction", _reconstruction(metrics, target, prediction, folder)),
            section("Held-out error", _figure(folder / "error.png", "held-out error", "error")),
            section(
                "PSNR during training", _figure(folder / "history.png", "PSNR history", "history")
            ),
            section("Config", settings_list(flatten(metrics["config"]))),
        ]
    )


def _figure(path: Path, caption: str, element_id: str) -> str:
    return f'<figure id="{element_id}"><img src="{file_data_uri(path)}" alt="{caption}"></figure>'


def _embedding_label(embedding: Mapping[str, Any]) -> str:
    if embedding.get("bandwidth") is None:
        return embedding["name"]
    return f"{embedding['name']} {embedding['bandwidth_name']} = {embedding['bandwidth']:.4g}"


def _summary(metrics: Mapping[str, Any]) -> str:
    config, split = metrics["config"], metrics["split"]
    return (
        f"{config['model']} model on {_embedding_label(metrics['embedding'])}, "
        f"{config['solver']} solver, {config['steps']} steps; {split['kind']} split with "
        f"{split['train']} training and {split['test']} test samples. The rows 'mean of "
        f"the last steps' are the {metrics['psnr_last_means']}."
    )


def _numbers_table(metrics: Mapping[str, Any]) -> str:
    rows = [(label, format_value(metrics[key], spec)) for key, label, spec in NUMBERS]
    rows += [
        (f"{name} time (s)", format_value(seconds, ".3g"))
        for name, seconds in metrics["timings_seconds"].items()
    ]
    peak = metrics["memory"]["peak_bytes"]
    if peak is not None:
        rows.append(("peak memory (MiB)", format_value(peak / 2**20, ".1f")))
    body = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
    return f'<table class="numbers">{body}</table>'


def _reconstruction(
    metrics: Mapping[str, Any], target: np.ndarray, prediction: np.ndarray, folder: Path
) -> str:
    if target.ndim == 2:  # a 1D signal: the folder's plot of the signal, samples and fit
        return _figure(folder / "reconstruction.png", "signal and fit", "reconstruction")
    images = [
        (png_data_uri(grid_image(target)), "ground truth"),
        (
            png_data_uri(grid_image(prediction)),
            f"reconstruction: test PSNR {metrics['test_psnr']:.2f} dB",
        ),
    ]
    figures = "".join(
        f'<figure><img src="{uri}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'
        for uri, caption in images
    )
    return f'<div class="images fit-images">{figures}</div>'
