"""Stable rank of each hidden layer during training, on image rows and on noise (P1).

P1 ("Rethinking Positional Encoding", the layer notebook) feeds embedded 1D coordinates to a
ReLU MLP of 4 hidden layers of 256 units with a linear output, trains it with full-batch Adam
(MSE, betas (0.9, 0.999), weight decay 1e-8) for 2000 steps on the even samples of 512-sample
grayscale image rows, and records the stable rank ``SR(H) = ||H||_F^2 / ||H||_2^2`` of every
hidden layer's output ``H`` (one row per training point) every 20 steps. As a control the same
networks fit random-noise targets. P1's observation: fitting a natural signal, the layers lose
rank as training proceeds; fitting noise, they keep it (the network needs every direction to
memorise).

:func:`run_layer_rank` runs that protocol with posenc's public fitting API: for every
embedding of :data:`P1_EMBEDDINGS` (raw features, P1's sizes, bandwidths and learning
rates), every row of ``settings.rows`` and, as the control, one white-noise signal per row
(``powerlaw:alpha=0``: flat spectrum, random phases, scaled into [0, 1]; P1 draws N(0, 1)
noise), ``settings.repeats`` seeds each, with a :class:`~posenc.analysis.LayerStableRank`
callback. The result tabulates each layer's stable rank at the first and last record (mean and
standard deviation over rows and repeats) and draws the curves with their spread.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

from posenc.analysis.layers import LayerStableRank
from posenc.analysis.reproduction import format_mean_std, mean_and_std, settings_dict
from posenc.neural_fields import fit, load_config_signal, resolve_config
from posenc.plotting import PAGE_WIDTH, PALETTE, label_axes, new_figure, styled
from posenc.tables import Table

P1_ROWS = (158, 329, 47, 344, 257, 410, 426, 199, 295)
"""The rows P1 fits (of its 512 x 512 image; P1 lists 426 twice)."""

P1_EMBEDDINGS: dict[str, dict[str, Any]] = {
    "none": {"embedding": "none", "lr": 1e-3},
    "basic": {"embedding": "basic", "lr": 1e-3},
    "RFF": {
        "embedding": "rff",
        "embedding_params": {"scale": 5.0, "num_frequencies": 128},
        "lr": 1e-4,
    },
    "Gaussian": {
        "embedding": "gaussian",
        "embedding_params": {"sigma": 0.02, "num_centers": 256},
        "lr": 1e-4,
    },
}
"""P1's embeddings of the layer experiment: label to fit settings (raw features, P1's rates:
1e-3 for the coordinates and the basic mapping, 1e-4 for the 256-feature embeddings)."""

TARGETS = ("image row", "noise")


@dataclass(frozen=True)
class LayerRankSettings:
    """Settings of :func:`run_layer_rank`; the defaults are P1's protocol."""

    image: str = "camera"
    rows: tuple[int, ...] = P1_ROWS
    repeats: int = 10
    embeddings: tuple[str, ...] = tuple(P1_EMBEDDINGS)
    steps: int = 2000
    every: int = 20
    depth: int = 4
    width: int = 256
    device: str = "cpu"


QUICK = LayerRankSettings(rows=(158,), repeats=1, steps=20, every=10, width=32)
"""Seconds: one row, one repeat, 20 steps, width 32."""


@dataclass(frozen=True)
class LayerRankRun:
    """One fit: its embedding, target, row and seed, the layers' stable ranks at each
    recorded step, the stable rank of the embedded training matrix, and PSNRs."""

    embedding: str
    target: str
    row: int
    seed: int
    steps: list[int]
    stable_ranks: list[list[float]]
    input_stable_rank: float
    train_psnr: float
    test_psnr: float


@dataclass
class LayerRankResult:
    """Every run of :func:`run_layer_rank` and the summaries drawn from them."""

    settings: LayerRankSettings
    runs: list[LayerRankRun] = field(default_factory=list)
    name: str = "layer_rank"

    def curves(self, embedding: str, target: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``steps``, and the mean and standard deviation over runs of each layer's stable
        rank, shaped ``(records, layers)``."""
        chosen = [run for run in self.runs if run.embedding == embedding and run.target == target]
        if not chosen:
            raise ValueError(f"no runs of {embedding!r} on {target!r}")
        stack = np.array([run.stable_ranks for run in chosen], dtype=float)
        return np.array(chosen[0].steps), np.nanmean(stack, axis=0), np.nanstd(stack, axis=0)

    def summary(self) -> list[dict[str, Any]]:
        """Per embedding and target: the input SR, and each layer's SR at the first and the
        last record (mean and std over rows and repeats), with the last / first ratio."""
        rows = []
        for embedding in self.settings.embeddings:
            for target in TARGETS:
                chosen = [r for r in self.runs if r.embedding == embedding and r.target == target]
                if not chosen:
                    continue
                record: dict[str, Any] = {
                    "embedding": embedding,
                    "target": target,
                    "runs": len(chosen),
                    "input_sr": mean_and_std(r.input_stable_rank for r in chosen),
                    "test_psnr": mean_and_std(r.test_psnr for r in chosen),
                }
                for layer in range(len(chosen[0].stable_ranks[0])):
                    first = [r.stable_ranks[0][layer] for r in chosen]
                    last = [r.stable_ranks[-1][layer] for r in chosen]
                    ratio = [b / a for a, b in zip(first, last, strict=True) if a > 0]
                    record[f"layer{layer + 1}_first"] = mean_and_std(first)
                    record[f"layer{layer + 1}_last"] = mean_and_std(last)
                    record[f"layer{layer + 1}_ratio"] = mean_and_std(ratio)
                rows.append(record)
        return rows

    def records(self) -> list[dict[str, Any]]:
        """One row per run and recorded step: the stable rank of every layer."""
        rows = []
        for run in self.runs:
            for step, ranks in zip(run.steps, run.stable_ranks, strict=True):
                rows.append(
                    {
                        "embedding": run.embedding,
                        "target": run.target,
                        "row": run.row,
                        "seed": run.seed,
                        "step": step,
                        **{f"layer{i + 1}_sr": value for i, value in enumerate(ranks)},
                        "input_sr": run.input_stable_rank,
                        "test_psnr": run.test_psnr,
                    }
                )
        return rows

    def tables(self) -> list[Table]:
        """Stable rank of each layer after the first record and at the end of training."""
        summary = self.summary()
        if not summary:
            return []
        depth = sum(1 for key in summary[0] if key.endswith("_last"))
        columns = ["embedding", "target", "input SR", "test PSNR (dB)"]
        columns += [f"layer {i + 1}: SR first → last" for i in range(depth)]
        rows = []
        for record in summary:
            cells = [
                record["embedding"],
                record["target"],
                format_mean_std(record["input_sr"], 1),
                format_mean_std(record["test_psnr"], 2),
            ]
            for layer in range(1, depth + 1):
                first, last = record[f"layer{layer}_first"], record[f"layer{layer}_last"]
                cells.append(f"{first[0]:.1f} → {last[0]:.1f} ± {last[1]:.1f}")
            rows.append(tuple(cells))
        first_step = self.runs[0].steps[0]
        title = (
            f"Stable rank of the hidden layers at step {first_step} and at step "
            f"{self.settings.steps} (mean ± std over {summary[0]['runs']} runs)"
        )
        return [Table(tuple(columns), tuple(rows), title)]

    @styled
    def figure(self) -> Figure:
        """One panel per embedding: each layer's stable rank against the training step, solid
        for the image rows and dashed for noise, shaded one standard deviation."""
        embeddings = [
            e for e in self.settings.embeddings if any(r.embedding == e for r in self.runs)
        ]
        figure, axes = new_figure(
            ncols=len(embeddings), width=PAGE_WIDTH, height=PAGE_WIDTH / len(embeddings) + 0.5
        )
        panels = np.atleast_1d(axes)
        for panel, embedding in zip(panels, embeddings, strict=True):
            for target, style in zip(TARGETS, ("-", "--"), strict=True):
                steps, mean, std = self.curves(embedding, target)
                for layer in range(mean.shape[1]):
                    colour = PALETTE[layer % len(PALETTE)]
                    label = f"layer {layer + 1}, {target}"
                    panel.plot(steps, mean[:, layer], style, color=colour, label=label)
                    panel.fill_between(
                        steps,
                        mean[:, layer] - std[:, layer],
                        mean[:, layer] + std[:, layer],
                        color=colour,
                        alpha=0.15,
                        linewidth=0,
                    )
            ylabel = "stable rank of the layer's output" if panel is panels[0] else ""
            label_axes(panel, "training step", ylabel, embedding)
        handles, labels = panels[0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside lower center", ncols=4, fontsize=6)
        return figure

    def to_dict(self) -> dict[str, Any]:
        """Settings, the summary and every run."""
        return {
            "settings": settings_dict(self.settings),
            "summary": self.summary(),
            "runs": [dataclasses.asdict(run) for run in self.runs],
        }


def run_layer_rank(
    settings: LayerRankSettings = LayerRankSettings(), progress: bool = False
) -> LayerRankResult:
    """Fit every embedding to every row and to noise, ``settings.repeats`` seeds each,
    recording the hidden layers' stable ranks every ``settings.every`` steps."""
    _check(settings)
    result = LayerRankResult(settings)
    jobs = [
        (embedding, target, row, seed)
        for embedding in settings.embeddings
        for target in TARGETS
        for row in settings.rows
        for seed in range(settings.repeats)
    ]
    bar = tqdm(jobs, desc="layer rank", disable=not progress, file=sys.stderr)
    for embedding, target, row, seed in bar:
        config = layer_rank_config(settings, embedding, target, row, seed)
        tracker = LayerStableRank(every=settings.every)
        fitted = fit(load_config_signal(config), config, callbacks=[tracker])
        result.runs.append(
            LayerRankRun(
                embedding=embedding,
                target=target,
                row=row,
                seed=seed,
                steps=[step for step, _ in tracker.history],
                stable_ranks=[ranks for _, ranks in tracker.history],
                input_stable_rank=fitted.stable_rank,
                train_psnr=fitted.train_psnr_last,
                test_psnr=fitted.test_psnr_last,
            )
        )
    return result


def layer_rank_config(
    settings: LayerRankSettings, embedding: str, target: str, row: int, seed: int
) -> Any:
    """The fit config of one run: P1's embedding ``embedding`` (a key of
    :data:`P1_EMBEDDINGS`), row ``row`` of the image or (``target == "noise"``) the white noise
    of seed ``row``, train on the even samples and test on the odd ones."""
    preset: Mapping[str, Any] = P1_EMBEDDINGS[embedding]
    signal = (
        f"{settings.image}:row={row}" if target == "image row" else f"powerlaw:alpha=0.0,seed={row}"
    )
    return resolve_config(
        signal=signal,
        split="offset",
        normalization="none",
        model="mlp",
        depth=settings.depth,
        width=settings.width,
        sigmoid=False,
        steps=settings.steps,
        eval_every=max(1, settings.steps // 20),
        last_k=min(100, settings.steps),
        seed=seed,
        device=settings.device,
        **preset,
    )


def _check(settings: LayerRankSettings) -> None:
    unknown = [name for name in settings.embeddings if name not in P1_EMBEDDINGS]
    if unknown:
        raise ValueError(
            f"unknown embedding(s) {', '.join(unknown)}; choose from {', '.join(P1_EMBEDDINGS)}"
        )
    if not settings.rows or settings.repeats < 1:
        raise ValueError("give at least one row and one repeat")
    if settings.every > settings.steps:
        raise ValueError(
            f"every ({settings.every}) must not exceed steps ({settings.steps}): nothing would "
            "be recorded"
        )
