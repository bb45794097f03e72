"""Files a person can open: run folders, comparison tables and plots, written atomically.

A run folder holds ``config.json`` (the fully resolved configuration), ``metrics.json``
(see :func:`posenc.sequence.training.train`), ``model.pt`` (configuration and weights, loadable
with ``weights_only=True``), ``learning_curves.png`` and, for CoPE, ``cope_maps.png``. It is
written with :func:`posenc.files.staged_folder`, so an interrupted run never leaves a
folder that looks finished. The comparison files beside the run folders are each replaced
atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from posenc.files import staged_folder, write_json
from posenc.sequence.model import CausalTransformer
from posenc.sequence.tasks import IN_DISTRIBUTION, Example, SequenceTask, task_class
from posenc.sequence.training import RunResult

PAPER_ERRORS: dict[str, dict[str, dict[str, float]]] = {
    "flipflop": {
        "absolute": {"id": 6.8, "sparse": 21.7},
        "rope": {"id": 1.8, "sparse": 20.3},
        "cope": {"id": 0.0, "sparse": 4.9},
    },
    "selective_copy": {
        "absolute": {"id": 16.9, "dense": 25.6, "sparse": 85.2},
        "rope": {"id": 40.1, "dense": 100.0, "sparse": 100.0},
        "cope": {"id": 0.0, "dense": 0.0, "sparse": 0.0},
    },
}
"""Test error (%) published in the CoPE paper (Golovneva et al. 2024), by task, encoding and
split. The paper's single Flip-Flop OOD number is listed under ``sparse`` (FFL(0.98), the
flip-flop paper's main OOD test)."""

PAPER_COUNTING_ERRORS: dict[int, dict[str, float]] = {
    1: {"absolute": 5.3, "relative": 1.1, "cope": 0.0},
    3: {"absolute": 67.6, "relative": 17.8, "cope": 1.2},
    5: {"absolute": 71.5, "relative": 22.4, "cope": 7.4},
}
"""Counting test error (%) of the CoPE paper, by number of variables and encoding."""


PAPER_LM_PERPLEXITY: dict[str, float] = {
    "absolute": 24.87,
    "relative": 23.81,
    "cope": 23.46,
    "cope+relative": 23.23,
}
"""Wikitext-103 test perplexity (word level) of the CoPE paper, by encoding: a different corpus
and unit than posenc's bits per byte, quoted for the order of the encodings only."""


def paper_numbers(task: str, task_params: dict[str, Any], pe: str) -> dict[str, float]:
    """The paper's numbers for this task and encoding, by split (empty if none): test error
    (%), or for ``lm`` the Wikitext-103 perplexity, listed under the in-distribution split."""
    if task == "counting":
        published = PAPER_COUNTING_ERRORS.get(task_params.get("num_variables", -1), {})
        return {IN_DISTRIBUTION: published[pe]} if pe in published else {}
    if task == "lm":
        return {IN_DISTRIBUTION: PAPER_LM_PERPLEXITY[pe]} if pe in PAPER_LM_PERPLEXITY else {}
    return dict(PAPER_ERRORS.get(task, {}).get(pe, {}))


@dataclass(frozen=True)
class Measure:
    """What a comparison reports for a task: the split result's key, its label, the factor to
    the shown unit, the digits shown, and the label of the paper's numbers."""

    key: str
    label: str
    scale: float
    digits: int
    paper_label: str
    paper_note: str = ""
    from_zero: bool = True
    """Whether plots show the measure as bars from zero (errors) rather than as points with
    error bars on a range around the values (bits per byte, whose differences are small
    against their size)."""

    def of(self, result: dict[str, Any]) -> float:
        """The measure of one split result (a ``metrics.json`` split or curve entry)."""
        return self.scale * result[self.key]


MEASURES = {
    "error": Measure("error", "answer error (%)", 100.0, 2, "paper (%)"),
    "bits_per_byte": Measure(
        "bits_per_byte",
        "bits per byte",
        1.0,
        3,
        "paper Wikitext-103 PPL",
        "The paper's column is its word-level test perplexity on Wikitext-103, another corpus "
        "and unit: compare the order of the encodings, not the values.",
        from_zero=False,
    ),
}
"""The measure of each kind of task (:attr:`SequenceTask.measure`)."""


# ------------------------------------------------------------------------------ files
def save_run(result: RunResult, out: Path) -> None:
    """Write a finished run's folder: config, metrics, model and plots."""
    with staged_folder(out) as stage:
        write_json(stage / "config.json", result.config.as_dict())
        write_json(stage / "metrics.json", result.metrics)
        torch.save(
            {
                "config": result.config.as_dict(),
                "state_dict": {
                    name: tensor.detach().cpu()
                    for name, tensor in result.model.state_dict().items()
                },
            },
            stage / "model.pt",
        )
        plot_learning_curves(result.metrics, stage / "learning_curves.png")
        if result.model.cope_layers():
            example = result.task.sample(
                IN_DISTRIBUTION, np.random.default_rng(result.config.train.seed), 1
            )[0]
            plot_cope_maps(result.model, result.task, example, stage / "cope_maps.png")


def load_run_metrics(folder: Path) -> dict[str, Any]:
    """``metrics.json`` of a finished run folder."""
    return json.loads((folder / "metrics.json").read_text())


# ------------------------------------------------------------------------------ plots
def _moving_average(values: Sequence[float] | np.ndarray, window: int) -> np.ndarray:
    return np.convolve(values, np.ones(window) / window, mode="valid")


def plot_learning_curves(metrics: dict[str, Any], path: Path) -> None:
    """Training loss per step and each validation split's loss and error at every evaluation
    (for ``lm`` the losses in bits per byte and the error of the greedy next byte)."""
    bits = task_class(metrics["task"]).measure == "bits_per_byte"
    scale = 1 / math.log(2) if bits else 1.0
    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_axes, error_axes = figure.subplots(1, 2)
    losses = scale * np.asarray(metrics["train_loss"])
    smooth = _moving_average(losses, max(1, min(50, len(losses) // 10)))
    loss_axes.plot(np.arange(1, len(losses) + 1), losses, color="0.8", lw=0.5)
    loss_axes.plot(np.arange(len(losses) - len(smooth) + 1, len(losses) + 1), smooth, label="train")
    steps = [point["step"] for point in metrics["curve"]]
    for index, split in enumerate(metrics["splits"]):
        style = {"color": f"C{index + 1}", "marker": "o", "ms": 3, "label": split}
        loss_axes.plot(steps, [scale * p[split]["loss"] for p in metrics["curve"]], **style)
        error_axes.plot(steps, [100 * p[split]["error"] for p in metrics["curve"]], **style)
    loss_label = "bits per byte" if bits else "answer loss"
    loss_axes.set(xlabel="step", ylabel=loss_label, yscale="log", title="loss")
    error_label = "next-byte error (%)" if bits else "answer error (%)"
    error_axes.set(xlabel="step", ylabel=error_label, title="error")
    for axes in (loss_axes, error_axes):
        axes.legend()
    figure.suptitle(f"{metrics['task']} / {metrics['pe']} / seed {metrics['seed']}")
    figure.savefig(path, dpi=110)


def plot_cope_maps(
    model: CausalTransformer,
    task: SequenceTask,
    example: Example,
    path: Path,
    window: int = 40,
) -> None:
    """CoPE gates and positions of every CoPE layer and head on the last ``window`` tokens of
    one sequence: row ``i`` of a gate map shows which earlier tokens query ``i`` counts, and the
    position map their counted distance from ``i``."""
    device = next(model.parameters()).device
    inputs = torch.as_tensor(example.tokens[:-1], device=device)[None]
    maps = model.contextual_maps(inputs)
    start = max(0, inputs.shape[1] - window)
    labels = task.decode(example.tokens[start:-1])
    heads = model.config.heads
    figure = Figure(figsize=(3.2 * heads, 3.2 * 2 * len(maps)), layout="constrained")
    axes = np.asarray(figure.subplots(2 * len(maps), heads, squeeze=False))
    for order, (layer, (gates, positions)) in enumerate(maps.items()):
        for head in range(heads):
            for row, (values, name) in enumerate(((gates, "gates"), (positions, "positions"))):
                panel = axes[2 * order + row, head]
                shown = values[0, head, start:, start:].cpu().numpy()
                image = panel.imshow(shown, cmap="viridis", vmin=0)
                panel.set_title(f"layer {layer} head {head}: {name}", fontsize=8)
                ticks = np.arange(len(labels))
                panel.set_xticks(ticks, labels, fontsize=5, rotation=90)
                panel.set_yticks(ticks, labels, fontsize=5)
                figure.colorbar(image, ax=panel, shrink=0.7)
    figure.suptitle(f"CoPE on a {task.name} sequence (rows: queries, columns: keys)")
    figure.savefig(path, dpi=110)


# ------------------------------------------------------------------------- comparison
def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    mean = float(np.mean(values))
    return mean, float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def summary_rows(
    runs: Sequence[dict[str, Any]], task_params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Per encoding (in first-seen order): seeds and, per split, the mean and standard
    deviation (over seeds) of the task's measure (answer error in %, or bits per byte for
    ``lm``), beside the paper's number (``nan`` where it has none)."""
    task = runs[0]["task"]
    measure = MEASURES[task_class(task).measure]
    rows = []
    for pe in dict.fromkeys(run["pe"] for run in runs):
        mine = [run for run in runs if run["pe"] == pe]
        paper = paper_numbers(task, task_params, pe)
        row: dict[str, Any] = {"pe": pe, "seeds": len(mine)}
        for split in mine[0]["splits"]:
            mean, std = _mean_std([measure.of(run["splits"][split]) for run in mine])
            row[f"{split}_{measure.key}_mean"], row[f"{split}_{measure.key}_std"] = mean, std
            row[f"{split}_paper"] = paper.get(split, math.nan)
        rows.append(row)
    return rows


def runs_csv(runs: Sequence[dict[str, Any]], variants: Sequence[str] | None = None) -> str:
    """One CSV row per run: encoding, seed, and each split's results (error, sequence error,
    loss; for ``lm`` also bits per byte and perplexity); ``variants`` labels each run's
    variant of a paper table in a first column."""
    splits = list(runs[0]["splits"])
    kinds = [kind for kind in runs[0]["splits"][splits[0]] if kind not in ("sequences", "answers")]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        (["variant"] if variants is not None else [])
        + ["task", "pe", "seed"]
        + [f"{split}_{kind}" for split in splits for kind in kinds]
        + ["training_seconds", "cpu_seconds"]
    )
    for index, run in enumerate(runs):
        writer.writerow(
            ([variants[index]] if variants is not None else [])
            + [run["task"], run["pe"], run["seed"]]
            + [f"{run['splits'][split][kind]:.6g}" for split in splits for kind in kinds]
            + [f"{run['training_seconds']:.1f}", f"{run['cpu_seconds']:.1f}"]
        )
    return buffer.getvalue()


def summary_markdown(
    groups: Mapping[str, Sequence[dict[str, Any]]],
    task: SequenceTask,
    title: str,
    setting: str = "",
) -> str:
    """Markdown table of summary rows, mean ± std over seeds, with a paper column beside every
    split where the paper has a number, under ``title`` and the ``setting`` the runs share.
    ``groups`` maps a variant label (``""`` for a plain comparison) to its rows; a table with
    several variants puts them side by side, matched by encoding, and shows a paper column
    that repeats an earlier one only once."""
    measure = MEASURES[task.measure]
    columns = []  # (label, group, split, paper?)
    shown_papers = set()
    for group, rows in groups.items():
        prefix = f"{group} " if group else ""
        for split in task.splits:
            columns.append((f"{prefix}{task.split_label(split)} {measure.label}", group, split, 0))
            papers = tuple(
                (row["pe"], row[f"{split}_paper"])
                for row in rows
                if not math.isnan(row[f"{split}_paper"])
            )
            if papers and papers not in shown_papers:
                shown_papers.add(papers)
                columns.append((f"{prefix}{measure.paper_label}", group, split, 1))
    encodings = list(dict.fromkeys(row["pe"] for rows in groups.values() for row in rows))
    by_key = {(group, row["pe"]): row for group, rows in groups.items() for row in rows}
    lines = [f"### {title}", ""] + ([f"Setting: {setting}.", ""] if setting else [])
    lines.append("| encoding | seeds | " + " | ".join(c[0] for c in columns) + " |")
    lines.append("|" + "---|" * (2 + len(columns)))
    for pe in encodings:
        seeds = sorted({by_key[key]["seeds"] for key in by_key if key[1] == pe})
        cells = [pe, "/".join(map(str, seeds))]
        for _, group, split, is_paper in columns:
            row = by_key.get((group, pe))
            if row is None:
                cells.append("–")
            elif is_paper:
                paper = row[f"{split}_paper"]
                cells.append("–" if math.isnan(paper) else f"{paper:g}")
            else:
                cells.append(_mean_and_spread(row, split, measure))
        lines.append("| " + " | ".join(cells) + " |")
    note = [
        "",
        f"Mean ± standard deviation over seeds of the test {measure.label} (the mean alone "
        f"where an encoding has one seed). {measure.paper_note}",
    ]
    return "\n".join(lines + note).rstrip() + "\n"


def _mean_and_spread(row: dict[str, Any], split: str, measure: Measure) -> str:
    """``mean ± std`` of a summary row's split, or the mean alone for a single seed (whose
    spread is unknown, not zero)."""
    mean = f"{row[f'{split}_{measure.key}_mean']:.{measure.digits}f}"
    if row["seeds"] < 2:
        return mean
    return f"{mean} ± {row[f'{split}_{measure.key}_std']:.{measure.digits}f}"


def summary_csv(rows: Sequence[dict[str, Any]], variants: Sequence[str] | None = None) -> str:
    """The summary rows as CSV (``nan`` where the paper has no number); ``variants`` labels
    each row's variant of a paper table in a first column."""
    if variants is not None:
        rows = [{"variant": variant, **row} for variant, row in zip(variants, rows, strict=True)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def plot_comparison(
    rows: Sequence[dict[str, Any]], task: SequenceTask, title: str, path: Path
) -> None:
    """The measure per split and encoding (± std over seeds where there are several): grouped
    bars from zero for errors, with the paper's numbers as crosses where they are in the same
    unit; points with error bars for bits per byte. The legend sits right of the axes and the
    title wraps to the figure's width."""
    measure = MEASURES[task.measure]
    splits = task.splits
    figure = Figure(figsize=(3.2 + 1.6 * len(splits) * max(1, len(rows)) / 3, 4.2))
    figure.set_layout_engine("constrained")
    axes = figure.subplots()
    width = 0.8 / len(rows)
    centres = np.arange(len(splits))
    for index, row in enumerate(rows):
        offsets = centres - 0.4 + width * (index + 0.5)
        means = np.array([row[f"{split}_{measure.key}_mean"] for split in splits])
        spreads = np.array([row[f"{split}_{measure.key}_std"] for split in splits])
        stds = spreads if row["seeds"] > 1 else None
        if measure.from_zero:
            below = None if stds is None else np.minimum(means, stds)  # measures are >= 0
            spread = None if stds is None else [below, stds]
            axes.bar(offsets, means, width, yerr=spread, capsize=3, label=row["pe"])
            if not measure.paper_note:
                papers = [row[f"{split}_paper"] for split in splits]
                axes.plot(offsets, papers, "kx", ms=7, label="paper" if index == 0 else None)
        else:
            axes.errorbar(offsets, means, yerr=stds, fmt="o", ms=5, capsize=3, label=row["pe"])
    axes.set_xticks(centres, [task.split_label(split) for split in splits])
    if not measure.from_zero:
        axes.grid(axis="y", alpha=0.3)
    axes.set_ylabel(measure.label)
    axes.set_title(_wrapped(title, figure), fontsize=10)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.savefig(path, dpi=110)


def _wrapped(text: str, figure: Figure, points: float = 10.0) -> str:
    """``text`` broken into lines that fit the width of ``figure`` at ``points`` size (about
    0.6 em per character)."""
    characters = int(figure.get_figwidth() * 72 / (0.6 * points))
    return "\n".join(textwrap.wrap(text, max(20, characters), break_on_hyphens=False))


def plot_comparison_curves(
    runs: Sequence[dict[str, Any]], task: SequenceTask, title: str, path: Path
) -> None:
    """Mean (over seeds) validation measure against step, one panel per split, one line per
    encoding; one legend right of the panels, where it hides no curve."""
    measure = MEASURES[task.measure]
    splits = task.splits
    figure = Figure(figsize=(4.2 * len(splits) + 1.4, 3.6), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(splits)))
    for pe in dict.fromkeys(run["pe"] for run in runs):
        mine = [run for run in runs if run["pe"] == pe]
        steps = [point["step"] for point in mine[0]["curve"]]
        for panel, split in zip(axes, splits, strict=True):
            values = [[measure.of(point[split]) for point in run["curve"]] for run in mine]
            panel.plot(steps, np.mean(values, axis=0), "o-", ms=3, label=pe)
    for panel, split in zip(axes, splits, strict=True):
        panel.set(
            xlabel="step", ylabel=f"validation {measure.label}", title=task.split_label(split)
        )
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    figure.suptitle(_wrapped(title, figure, 12.0))
    figure.savefig(path, dpi=110)


def comparison_plot_name(task: SequenceTask) -> str:
    """File name of a comparison's bar chart: ``errors.png`` or ``bits_per_byte.png``."""
    return "errors.png" if task.measure == "error" else f"{task.measure}.png"
