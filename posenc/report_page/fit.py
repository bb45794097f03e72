"""The report page of one fit: ``posenc fit`` writes ``report.html`` into its run folder.

It shows the fit's numbers (train, test and held-out PSNR, final and as the mean of the
last steps; stable rank and distance preservation of the embedded training matrix; timings
and memory), the reconstruction beside the ground truth (images side by side; a 1D signal
as both curves with the training samples), the PSNR history, and the full config.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

from posenc.report_page.document import (
    LAYOUT,
    REPORT_NAME,
    curve_figure,
    figure_html,
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
    """Write ``report.html`` for ``result`` into its run folder ``folder``; return the path."""
    metrics = result.metrics()
    target = result.signal.values.float().numpy()
    prediction = result.prediction.float().numpy()
    title = f"posenc fit: {result.signal.name}, {_embedding_label(metrics['embedding'])}"
    page = fit_body(metrics, target, prediction, result.split.train.numpy())
    return write_page(Path(folder) / REPORT_NAME, title, page)


def fit_body(
    metrics: Mapping[str, Any],
    target: np.ndarray,
    prediction: np.ndarray,
    train_index: np.ndarray,
) -> str:
    """The page's body from ``metrics.json``'s record, the signal ``(*grid, C)``, the
    prediction on the full grid and the flat indices of the training samples."""
    return "".join(
        [
            section("Numbers", _numbers_table(metrics), note=_summary(metrics)),
            section("Reconstruction", _reconstruction(metrics, target, prediction, train_index)),
            section("PSNR during training", figure_html(_history_figure(metrics), "history")),
            section("Config", settings_list(flatten(metrics["config"]))),
        ]
    )


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
    metrics: Mapping[str, Any],
    target: np.ndarray,
    prediction: np.ndarray,
    train_index: np.ndarray,
) -> str:
    if target.ndim == 2:
        title = f"train {metrics['train_psnr']:.2f} dB, test {metrics['test_psnr']:.2f} dB"
        figure = curve_figure(target, prediction, title, train_index)
        return figure_html(figure, "reconstruction")
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


def _history_figure(metrics: Mapping[str, Any]) -> go.Figure:
    """Train PSNR at every step and test PSNR at the evaluation steps (closed-form fits: one
    value each)."""
    history = metrics["history"]
    figure = go.Figure()
    if history["train_psnr"]:
        steps = list(range(1, len(history["train_psnr"]) + 1))
        figure.add_scatter(x=steps, y=history["train_psnr"], name="train", mode="lines")
        figure.add_scatter(
            x=history["eval_steps"], y=history["test_psnr"], name="test", mode="lines+markers"
        )
    else:
        for name in ("train", "test"):
            figure.add_hline(
                y=metrics[f"{name}_psnr"], annotation_text=f"{name} (closed form)", line_dash="dot"
            )
    figure.update_layout(
        xaxis_title="step", yaxis_title="PSNR (dB)", height=360, hovermode="x unified", **LAYOUT
    )
    return figure
