"""P3's Table 1 on natural and text images: none, basic, positional encoding, Gaussian RFF, and
shifted bases at RFF's distance preservation.

P3 (Tancik et al. 2020, Table 1) fits 16 natural and 16 text images of 512 x 512 with a ReLU
MLP of 3 hidden layers of 256 and a sigmoid output, trained with Adam for 2000 full-batch
steps on the 256 x 256 grid ``[::2, ::2]`` and tested on the offset grid ``[1::2, 1::2]``, and
reports the mean test PSNR (standard deviation) over the images of each set (:data:`P3_TABLE`).

:func:`run_p3_table` runs the same comparison with posenc's public API on the natural
photographs that scikit-image ships and on text images posenc renders
(:func:`posenc.data.text_images.text_image`), with the mappings of
:func:`posenc.fit_comparison.p3_mappings` for each kind of image: P3's positional-encoding and RFF
bandwidths (6 and 10 on photographs, 5 and 14 on text) carried to the image size by
:func:`posenc.fit_comparison.p3_bandwidths`, P3's learning rates, and Gaussian, triangle and sinc
bases at RFF's distance preservation. At a size other than 512, ``compare_unscaled`` adds
LogF and RFF at P3's unscaled bandwidths, which shows what the size does to them: P3's top
positional-encoding frequency, 63 cycles, exceeds the Nyquist frequency ``size / 4`` of the
training grid below 252 pixels and aliases there. The table gives each mean at the last step,
as P3 does, and averaged over the last :data:`LAST_STEPS` steps, which one of Adam's loss
spikes at the end of a short fit does not move.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

from posenc.analysis.reproduction import format_mean_std, mean_and_std, settings_dict
from posenc.data import Signal, load_source
from posenc.data.text_images import DEFAULT_FONT_SIZES, DEFAULT_NUM_WORDS, text_images
from posenc.fit_comparison import (
    P3_BANDWIDTHS,
    P3_IMAGE_SIZE,
    P3_SHIFTED_BASES,
    comparison_configs,
    p3_mappings,
)
from posenc.neural_fields import FitConfig, fit
from posenc.plotting import PAGE_WIDTH, PALETTE, blank_figure, label_axes, styled
from posenc.tables import Table

P3_TABLE: dict[str, dict[str, tuple[float, float]]] = {
    "natural": {
        "none": (19.32, 2.48),
        "basic": (21.72, 2.72),
        "LogF": (24.95, 3.72),
        "RFF": (25.57, 4.19),
    },
    "text": {
        "none": (18.40, 2.34),
        "basic": (20.48, 1.96),
        "LogF": (27.57, 3.07),
        "RFF": (30.47, 2.11),
    },
}
"""P3's Table 1: mean test PSNR (standard deviation) in dB of each mapping on each set."""

NATURAL_IMAGES = ("astronaut", "camera", "chelsea", "coffee", "rocket", "coins", "moon", "brick")
"""scikit-image's photographs (no synthetic images, no micrographs)."""
KINDS = ("natural", "text")
PANELS_PER_ROW = 5
"""Reconstructions side by side in the figure (the target first, then each mapping)."""
UNSCALED = {"LogF": "LogF unscaled", "RFF": "RFF unscaled"}
"""Labels of the mappings at P3's unscaled bandwidths (added at other sizes)."""
LAST_STEPS = 100
"""Steps at the end of each fit whose test PSNR is also averaged (P1's convention): a fit's
last step alone, which P3 reports, can fall in one of Adam's loss spikes."""


@dataclass(frozen=True)
class P3TableSettings:
    """Settings of :func:`run_p3_table`; the defaults are P3's protocol on 8 + 8 images.

    Text images have ``text_words`` words with font sizes between the two fractions of the
    image side of ``text_font_sizes``. At 512 x 512 the defaults give fonts of 32 to 102
    pixels; at a smaller size they give smaller fonts (8 to 26 pixels at 128 x 128), whose
    one-pixel strokes the half-resolution training grid cannot resolve. To keep P3's stroke
    widths in pixels at size ``n``, multiply the fractions by ``512 / n`` (and use fewer
    words): the image then looks like an ``n``-pixel window of a 512-pixel text image.
    """

    natural_images: tuple[str, ...] = NATURAL_IMAGES
    text_images: int = 8
    text_words: int = DEFAULT_NUM_WORDS
    text_font_sizes: tuple[float, float] = DEFAULT_FONT_SIZES
    size: int = P3_IMAGE_SIZE
    steps: int = 2000
    width: int = 256
    shifted: tuple[str, ...] = P3_SHIFTED_BASES
    compare_unscaled: bool = True
    device: str = "cpu"


QUICK = P3TableSettings(
    natural_images=("astronaut",), text_images=1, size=64, steps=4, width=16, shifted=("gaussian",)
)
"""Seconds: one image of each kind at 64 x 64, an MLP of width 16, four steps."""


@dataclass(frozen=True)
class P3TableRun:
    """One fit: the kind and name of the image, the mapping, its PSNRs (test at the last step,
    as P3 reports, and averaged over the last :data:`LAST_STEPS` steps) and SR."""

    kind: str
    image: str
    mapping: str
    train_psnr: float
    test_psnr: float
    test_psnr_last: float
    stable_rank: float


@dataclass
class P3TableResult:
    """Every fit of :func:`run_p3_table`, the table beside P3's, and example reconstructions."""

    settings: P3TableSettings
    runs: list[P3TableRun] = field(default_factory=list)
    examples: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = "p3_table"

    @property
    def mappings(self) -> list[str]:
        """The mappings fitted, in order."""
        return list(dict.fromkeys(run.mapping for run in self.runs))

    def values(self, kind: str, mapping: str, key: str = "test_psnr") -> list[float]:
        """``key`` of ``mapping``'s fit on every image of ``kind``."""
        return [
            getattr(run, key) for run in self.runs if run.kind == kind and run.mapping == mapping
        ]

    def summary(self) -> list[dict[str, Any]]:
        """Per mapping and kind: test PSNR (last step and last steps' mean), train PSNR and
        SR (mean, std over images), and P3's value where P3 reports one."""
        rows = []
        for mapping in self.mappings:
            for kind in KINDS:
                tests = self.values(kind, mapping)
                if tests:
                    rows.append(
                        {
                            "mapping": mapping,
                            "kind": kind,
                            "images": len(tests),
                            "test_psnr": mean_and_std(tests),
                            "test_psnr_last": mean_and_std(
                                self.values(kind, mapping, "test_psnr_last")
                            ),
                            "train_psnr": mean_and_std(self.values(kind, mapping, "train_psnr")),
                            "stable_rank": mean_and_std(self.values(kind, mapping, "stable_rank")),
                            "p3": P3_TABLE[kind].get(mapping),
                        }
                    )
        return rows

    def records(self) -> list[dict[str, Any]]:
        """One row per fit."""
        return [run.__dict__.copy() for run in self.runs]

    def tables(self) -> list[Table]:
        """The table beside P3's (mean ± std over images, at the last step and over the last
        steps), then the test PSNR of every image."""
        summary = {(r["mapping"], r["kind"]): r for r in self.summary()}
        rows = []
        for mapping in self.mappings:
            cells: list[Any] = [mapping]
            for kind in KINDS:
                record = summary.get((mapping, kind))
                cells.append(format_mean_std(record["test_psnr"]) if record else "-")
                quoted = P3_TABLE[kind].get(mapping)
                cells.append(f"{quoted[0]:.2f} ± {quoted[1]:.2f}" if quoted else "-")
            for kind in KINDS:
                record = summary.get((mapping, kind))
                cells.append(format_mean_std(record["test_psnr_last"]) if record else "-")
            rows.append(tuple(cells))
        counts = {kind: len(self.images(kind)) for kind in KINDS}
        last = min(LAST_STEPS, self.settings.steps)
        title = (
            f"Test PSNR (dB), mean ± std over {counts['natural']} natural and {counts['text']} "
            f"text images at {self.settings.size} x {self.settings.size}, "
            f"{self.settings.steps} steps, at the last step (P3's convention) and averaged over "
            f"the last {last} steps; P3: 16 + 16 images at 512 x 512, 2000 steps, last step"
        )
        columns = (
            "mapping",
            "natural",
            "P3 natural",
            "text",
            "P3 text",
            f"natural, last {last}",
            f"text, last {last}",
        )
        main = Table(columns, tuple(rows), title)
        per_image = []
        for kind in KINDS:
            for image in self.images(kind):
                values = {
                    run.mapping: run.test_psnr
                    for run in self.runs
                    if run.kind == kind and run.image == image
                }
                per_image.append((kind, image, *(values.get(m) for m in self.mappings)))
        detail = Table(
            ("kind", "image", *self.mappings),
            tuple(per_image),
            "Test PSNR (dB) of every image",
            ".2f",
        )
        return [main, detail]

    def images(self, kind: str) -> list[str]:
        """The images of ``kind``, in order."""
        return list(dict.fromkeys(run.image for run in self.runs if run.kind == kind))

    @styled
    def figure(self) -> Figure:
        """Left: mean test PSNR of each mapping (bars, one standard deviation over images)
        beside P3's (diamonds), natural and text. Right: one image of each kind, the target
        and every mapping's reconstruction."""
        figure = blank_figure(PAGE_WIDTH, PAGE_WIDTH * 0.62)
        left, right = cast(Any, figure.subfigures(1, 2, width_ratios=(1, 1.7)))
        self._bars(left)
        self._reconstructions(right)
        return figure

    def _bars(self, subfigure: Any) -> None:
        axes = subfigure.subplots(len(KINDS), 1, sharex=True)
        mappings = self.mappings
        x = np.arange(len(mappings))
        for panel, kind in zip(np.atleast_1d(axes), KINDS, strict=True):
            means, stds = zip(*(mean_and_std(self.values(kind, m)) for m in mappings), strict=True)
            panel.bar(x, means, yerr=stds, color=PALETTE[0], alpha=0.8, capsize=2, label="posenc")
            quoted = [
                (i, P3_TABLE[kind][m][0]) for i, m in enumerate(mappings) if m in P3_TABLE[kind]
            ]
            if quoted:
                panel.plot(*zip(*quoted, strict=True), "D", color=PALETTE[1], label="P3")
            label_axes(panel, "", "test PSNR (dB)", kind)
            finite = [value for value in means if np.isfinite(value)]
            if finite:
                panel.set_ylim(min(finite) - 4, max(finite + [q for _, q in quoted]) + 3)
            panel.legend(fontsize=6)
        np.atleast_1d(axes)[-1].set_xticks(x, mappings, rotation=60, ha="right", fontsize=6)

    def _reconstructions(self, subfigure: Any) -> None:
        """Per kind, the target and each mapping's reconstruction in rows of
        :data:`PANELS_PER_ROW`, each titled with its name (split at spaces) and test PSNR."""
        shown = [kind for kind in KINDS if kind in self.targets]
        if not shown:
            return
        mappings = self.mappings
        rows_per_kind = -(-(len(mappings) + 1) // PANELS_PER_ROW)
        axes = np.asarray(subfigure.subplots(len(shown) * rows_per_kind, PANELS_PER_ROW)).reshape(
            len(shown), rows_per_kind * PANELS_PER_ROW
        )
        for panels, kind in zip(axes, shown, strict=True):
            for panel in panels:
                panel.set_axis_off()
            _show(panels[0], self.targets[kind])
            panels[0].set_title(f"{kind}:\n{self.images(kind)[0]}", fontsize=6)
            for panel, mapping in zip(panels[1:], mappings, strict=False):
                image = self.examples.get((kind, mapping))
                if image is not None:
                    _show(panel, image)
                psnr = self.values(kind, mapping)[0]
                name = mapping.replace(" ", "\n")
                panel.set_title(f"{name}\n{psnr:.1f} dB", fontsize=5)

    def to_dict(self) -> dict[str, Any]:
        """Settings, the summary beside P3's, and every fit."""
        return {
            "settings": settings_dict(self.settings),
            "p3": {
                kind: {m: list(v) for m, v in table.items()} for kind, table in P3_TABLE.items()
            },
            "summary": self.summary(),
            "runs": self.records(),
        }


def run_p3_table(
    settings: P3TableSettings = P3TableSettings(), progress: bool = False
) -> P3TableResult:
    """Fit every mapping of :func:`p3_table_configs` on every image of ``settings``."""
    if not settings.natural_images and settings.text_images < 1:
        raise ValueError("give at least one natural image or one text image")
    images = load_p3_images(settings)
    result = P3TableResult(settings)
    configs = {kind: p3_table_configs(settings, kind) for kind in KINDS}
    total = sum(len(configs[kind]) for kind, _ in images)
    bar = tqdm(total=total, desc="P3 table", disable=not progress, file=sys.stderr)
    for kind, signal in images:
        first = kind not in result.targets
        if first:
            result.targets[kind] = signal.values.numpy()
        for mapping, config in configs[kind].items():
            bar.set_postfix_str(f"{signal.name}, {mapping}")
            fitted = fit(signal, config)
            result.runs.append(
                P3TableRun(
                    kind=kind,
                    image=signal.name,
                    mapping=mapping,
                    train_psnr=fitted.train_psnr,
                    test_psnr=fitted.test_psnr,
                    test_psnr_last=fitted.test_psnr_last,
                    stable_rank=fitted.stable_rank,
                )
            )
            if first:
                result.examples[(kind, mapping)] = fitted.prediction.numpy()
            bar.update()
    bar.close()
    return result


def load_p3_images(settings: P3TableSettings) -> list[tuple[str, Signal]]:
    """``(kind, signal)`` of every image: the natural ones resized to ``size`` (RGB), then
    the text images rendered at ``size`` with the seeds ``0 .. text_images - 1``."""
    natural = [
        ("natural", load_source(name, size=settings.size)) for name in settings.natural_images
    ]
    rendered = (
        text_images(
            settings.text_images,
            settings.size,
            num_words=settings.text_words,
            font_sizes=settings.text_font_sizes,
        )
        if settings.text_images
        else []
    )
    text = [("text", image) for image in rendered]
    return natural + text


def p3_table_configs(settings: P3TableSettings, kind: str) -> dict[str, FitConfig]:
    """The validated config of every mapping for ``kind`` images (see the module docstring)."""
    variants: dict[str, Mapping[str, Any]] = dict(
        p3_mappings(shifted=settings.shifted, kind=kind, size=settings.size)
    )
    if settings.compare_unscaled and settings.size != P3_IMAGE_SIZE:
        pe_scale, rff_scale = P3_BANDWIDTHS[kind]
        variants[UNSCALED["LogF"]] = {
            **variants["LogF"],
            "embedding_params": {"scale": pe_scale, "num_frequencies": 128},
        }
        variants[UNSCALED["RFF"]] = {**variants["RFF"], "embedding_params": {"scale": rff_scale}}
    common = {"size": settings.size, "steps": settings.steps, "device": settings.device}
    common["width"] = settings.width
    common["eval_every"] = max(1, settings.steps // 10)
    common["last_k"] = min(LAST_STEPS, settings.steps)
    return comparison_configs(variants, **common)


def _show(axes: Any, values: np.ndarray) -> None:
    image = np.clip(values, 0, 1)
    if image.shape[-1] == 1:
        axes.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        axes.imshow(image, interpolation="nearest")
    axes.set_axis_off()
