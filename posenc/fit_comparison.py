"""Fit several variants (embeddings, models, solvers) on several images and compare them.

A *variant* is a dict of :func:`~posenc.neural_fields.resolve_config` arguments, with an
optional ``"protocol"`` key naming the preset it starts from. :func:`comparison_configs` turns
labelled variants into configs (applying settings common to all, such as a smaller image for
a quick look); :func:`run_comparison` fits every config on every image; :func:`psnr_table`,
:func:`summary_table` and :func:`figure_reconstructions` show the results. :func:`fits_table`
shows labelled fits of any signal (1D rows included) made with :func:`~posenc.neural_fields.fit`.

>>> configs = comparison_configs(p3_mappings(), size=64, steps=100, width=64)
>>> comparison = run_comparison(["astronaut"], configs)  # doctest: +SKIP
>>> print(psnr_table(comparison))  # doctest: +SKIP

Presets: :func:`p3_mappings` (P3's Table 1 mappings plus Gaussian, triangle and sinc bases at
the same distance preservation as P3's RFF) and :data:`P2_MODELS` (P2's separable embedding
with a linear model, trained and closed form, against a simple embedding and a deep MLP).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from posenc.analysis import matched_bandwidth
from posenc.config import FitConfig, resolve_config
from posenc.data import Signal
from posenc.neural_fields import FitResult, fit, load_config_signal
from posenc.plotting import PAGE_WIDTH, new_figure, styled
from posenc.progress import progress_bar
from posenc.tables import Table
from posenc.theory import rff_distance_preservation

P3_RFF_SCALE = 10.0
"""P3's Gaussian RFF scale on natural images."""
P3_SHIFTED_BASES = ("gaussian", "triangle", "sinc")
"""Shifted bases added to P3's comparison."""
P3_IMAGE_SIZE = 512
"""P3's image side: its bandwidths are tuned for 512 x 512 images trained on the 256 x 256
grid."""
P3_BANDWIDTHS: dict[str, tuple[float, float]] = {"natural": (6.0, 10.0), "text": (5.0, 14.0)}
"""P3's positional-encoding scale and Gaussian RFF scale for each kind of image."""
P3_NONE_BASIC_LR: dict[str, float] = {"natural": 1e-2, "text": 1e-3}
"""P3's learning rate of no mapping and the basic mapping for each kind of image."""


def p3_bandwidths(kind: str = "natural", size: int = P3_IMAGE_SIZE) -> tuple[float, float]:
    """P3's ``(positional-encoding scale, RFF scale)`` for ``kind`` images of side ``size``.

    At P3's 512 x 512 these are P3's values. At another size the frequencies scale with
    ``size / 512``, so that they stand to the training grid (``size / 2`` samples per axis,
    Nyquist frequency ``size / 4`` cycles per unit) as P3's stand to theirs: RFF's scale
    becomes ``s size / 512``, and the top positional-encoding frequency ``2^p - 1`` becomes
    ``(2^p - 1) size / 512``, i.e. ``p' = log2(1 + (2^p - 1) size / 512)``. Without this, P3's
    top frequency 63 lies above the training grid's Nyquist frequency for images under
    252 x 252 pixels (32 at 128 x 128): those features alias on the training samples and the
    network memorises them.
    """
    if kind not in P3_BANDWIDTHS:
        raise ValueError(f"kind must be one of {', '.join(P3_BANDWIDTHS)}; got {kind!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
        raise ValueError(f"image size must be an integer >= 2, got {size!r}")
    pe_scale, rff_scale = P3_BANDWIDTHS[kind]
    ratio = size / P3_IMAGE_SIZE
    return math.log2(1 + (2**pe_scale - 1) * ratio), rff_scale * ratio


def p3_mappings(
    rff_scale: float | None = None,
    shifted: Sequence[str] = P3_SHIFTED_BASES,
    num_centers: int = 256,
    *,
    kind: str = "natural",
    size: int = P3_IMAGE_SIZE,
) -> dict[str, dict[str, Any]]:
    """P3's Table 1 mappings (``offset`` split; 3 x 256 ReLU MLP, sigmoid, Adam, 2000 steps on
    512 x 512 images), then shifted bases at equal distance preservation.

    ``none`` and ``basic`` train at P3's rate for ``kind`` (1e-2 on natural images, 1e-3 on
    text); ``LogF`` is P3's positional encoding ``2^linspace(0, p, 128) - 1`` per axis and
    ``RFF`` has 256 frequencies of scale ``s``, with ``(p, s)`` from :func:`p3_bandwidths` for
    ``kind`` images of side ``size`` (P3's ``(6, 10)`` for natural 512 x 512 images;
    ``rff_scale`` overrides ``s``). Each basis of ``shifted`` has ``num_centers`` centres per
    axis (512 features, as RFF) at the bandwidth whose closed-form DP equals RFF's
    (:func:`~posenc.analysis.matched_bandwidth`; the Gaussian's is
    ``sigma = 1 / (2 sqrt(2) pi s)``).
    """
    pe_scale, scaled_rff = p3_bandwidths(kind, size)
    rff_scale = scaled_rff if rff_scale is None else rff_scale
    target = rff_distance_preservation(rff_scale)
    lr = P3_NONE_BASIC_LR[kind]
    variants: dict[str, dict[str, Any]] = {
        "none": {"protocol": "p3", "embedding": "none", "lr": lr},
        "basic": {"protocol": "p3", "embedding": "basic", "lr": lr},
        "LogF": {
            "protocol": "p3",
            "embedding": "p3_pe",
            "embedding_params": {"scale": pe_scale, "num_frequencies": 128},
        },
        "RFF": {"protocol": "p3", "embedding_params": {"scale": rff_scale}},
    }
    for name in shifted:
        bandwidth = matched_bandwidth(name, target, num_centers)
        variants[name] = {
            "protocol": "p3",
            "embedding": name,
            "embedding_params": {"bandwidth": bandwidth, "num_centers": num_centers},
        }
    return variants


P2_MODELS: dict[str, dict[str, Any]] = {
    "simple + 4-layer MLP": {"protocol": "p2-simple"},
    "separable + linear, Adam": {"protocol": "p2-complex"},
    "separable + linear, closed form": {"protocol": "p2-closed-form"},
}
"""P2's comparison (``rest`` split, 512 x 512): a Gaussian embedding along four directions
with a 4 x 256 MLP, against a separable (Kronecker) Gaussian embedding with a linear model,
trained with Adam or solved in closed form."""

METRICS = ("train_psnr", "test_psnr", "heldout_psnr", "train_psnr_last", "test_psnr_last")
"""PSNR fields of a :class:`~posenc.neural_fields.FitResult` a table can show."""


@dataclass(frozen=True)
class Comparison:
    """The fits of every labelled config on every image: ``results[(image, label)]``."""

    signals: tuple[str, ...]
    labels: tuple[str, ...]
    results: Mapping[tuple[str, str], FitResult]

    def values(self, label: str, metric: str) -> list[float]:
        """``metric`` of ``label``'s fit on every image: a PSNR field (:data:`METRICS`),
        ``stable_rank``, or ``fit_seconds`` (embedding plus training wall time)."""
        if label not in self.labels:
            raise ValueError(f"no variant {label!r} (variants: {', '.join(self.labels)})")
        return [_metric(self.results[(signal, label)], metric) for signal in self.signals]


def comparison_configs(
    variants: Mapping[str, Mapping[str, Any]], **common: Any
) -> dict[str, FitConfig]:
    """One validated config per labelled variant: its protocol, then its own settings, then
    ``common`` (``embedding_params`` merge key by key). A bad setting raises ``ValueError``
    naming the variant."""
    if not variants:
        raise ValueError("give at least one variant to compare")
    common_params = dict(common.pop("embedding_params", None) or {})
    configs = {}
    for label, variant in variants.items():
        settings = dict(variant)
        protocol = settings.pop("protocol", None)
        params = {**settings.pop("embedding_params", {}), **common_params}
        overrides = {**settings, **common}
        if params:
            overrides["embedding_params"] = params
        try:
            configs[label] = resolve_config(protocol, **overrides)
        except (TypeError, ValueError) as error:
            raise ValueError(f"variant {label!r}: {error}") from None
    return configs


def run_comparison(
    signals: Sequence[str], configs: Mapping[str, FitConfig], progress: bool | None = None
) -> Comparison:
    """Fit every config on every image (each config's ``signal`` replaced by the image);
    ``progress``: a bar over the fits (``None``: in a terminal or a notebook)."""
    if not signals or not configs:
        raise ValueError("give at least one image and one config to compare")
    if len(set(signals)) != len(signals):
        raise ValueError(f"an image is listed twice: {', '.join(signals)}")
    loaded: dict[tuple[str, int | None, bool], Signal] = {}
    results = {}
    bar = progress_bar(progress, total=len(signals) * len(configs), desc="compare")
    for name in signals:
        for label, config in configs.items():
            config = dataclasses.replace(config, signal=name)
            key = (name, config.size, config.gray)
            if key not in loaded:
                loaded[key] = load_config_signal(config)
            if loaded[key].ndim != 2:
                raise ValueError(f"{name!r} is not an image; the comparison fits 2D images")
            bar.set_postfix_str(f"{name}, {label}")
            results[(name, label)] = fit(loaded[key], config, progress=False)
            bar.update()
    bar.close()
    return Comparison(tuple(signals), tuple(configs), results)


def psnr_table(comparison: Comparison, metric: str = "test_psnr") -> Table:
    """``metric`` (a PSNR field, :data:`METRICS`) of every variant on every image, then its
    mean over the images and, for several images, the standard deviation (P3 Table 1 style).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    columns = {label: comparison.values(label, metric) for label in comparison.labels}
    rows = [
        (signal, *(columns[label][index] for label in comparison.labels))
        for index, signal in enumerate(comparison.signals)
    ]
    rows.append(("mean", *(statistics.fmean(values) for values in columns.values())))
    if len(comparison.signals) > 1:
        rows.append(("std", *(statistics.pstdev(values) for values in columns.values())))
    title = f"{metric.replace('_', ' ').replace('psnr', 'PSNR')} (dB)"
    return Table(("image", *comparison.labels), tuple(rows), title, ".2f")


def summary_table(comparison: Comparison, reference: str | None = None) -> Table:
    """One row per variant, means over the images: train and test PSNR, the stable rank of
    the embedded training matrix, and the fit's wall time; with ``reference``, how many times
    faster each variant fits than the reference variant."""
    columns = [
        "variant",
        "embedding",
        "train PSNR (dB)",
        "test PSNR (dB)",
        "stable rank",
        "fit time (s)",
    ]
    title = "mean over the images"
    if reference is not None:
        reference_time = statistics.fmean(comparison.values(reference, "fit_seconds"))
        columns.append("speed-up")
        title += f"; speed-up = fit time of {reference!r} / fit time"
    rows = []
    for label in comparison.labels:
        seconds = statistics.fmean(comparison.values(label, "fit_seconds"))
        row: list[Any] = [
            label,
            _describe_embedding(comparison.results[(comparison.signals[0], label)]),
            statistics.fmean(comparison.values(label, "train_psnr")),
            statistics.fmean(comparison.values(label, "test_psnr")),
            statistics.fmean(comparison.values(label, "stable_rank")),
            seconds,
        ]
        if reference is not None:
            row.append(reference_time / seconds if seconds > 0 else math.inf)
        rows.append(tuple(row))
    formats = {"train PSNR (dB)": ".2f", "test PSNR (dB)": ".2f", "stable rank": ".1f"}
    if reference is not None:
        formats["speed-up"] = ".1f"
    return Table(tuple(columns), tuple(rows), title, ".3g", formats)


@styled
def figure_reconstructions(
    comparison: Comparison, signals: Sequence[str] | None = None, zoom: float = 1.0
) -> Figure:
    """A grid of images: one row per image (``signals``, default all), the ground truth and
    every variant's prediction over the full grid, each titled with its test PSNR. ``zoom``
    > 1 shows the central ``1 / zoom`` of each axis, where the differences are visible."""
    shown = list(comparison.signals if signals is None else signals)
    unknown = [name for name in shown if name not in comparison.signals]
    if unknown or not shown:
        raise ValueError(f"images must be among {', '.join(comparison.signals)}; got {shown}")
    if not math.isfinite(zoom) or zoom < 1:
        raise ValueError(f"zoom must be a number >= 1, got {zoom!r}")
    ncols = len(comparison.labels) + 1
    cell = PAGE_WIDTH / ncols
    figure, axes = new_figure(
        ncols=ncols,
        nrows=len(shown),
        width=PAGE_WIDTH,
        height=len(shown) * (cell + 0.25) + 0.1,
    )
    axes = np.asarray(axes).reshape(len(shown), ncols)
    for row, name in zip(axes, shown, strict=True):
        results = [comparison.results[(name, label)] for label in comparison.labels]
        _show(row[0], results[0].signal.values.numpy(), zoom)
        row[0].set_title(f"{name}\nground truth", fontsize=7)
        for panel, label, result in zip(row[1:], comparison.labels, results, strict=True):
            _show(panel, result.prediction.numpy(), zoom)
            panel.set_title(f"{label}\n{result.test_psnr:.2f} dB", fontsize=7)
    return figure


def _show(axes: Any, values: np.ndarray, zoom: float) -> None:
    height, width = values.shape[:2]
    keep_h, keep_w = max(1, round(height / zoom)), max(1, round(width / zoom))
    top, left = (height - keep_h) // 2, (width - keep_w) // 2
    image = np.clip(values[top : top + keep_h, left : left + keep_w], 0, 1)
    if image.shape[-1] == 1:
        axes.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        axes.imshow(image, interpolation="nearest")
    axes.set_axis_off()


def fits_table(results: Mapping[str, FitResult], title: str = "") -> Table:
    """One row per labelled fit, in order: its signal, embedding and bandwidth, train and
    test PSNR, the stable rank and distance preservation of its embedded training matrix,
    and the fit's wall time."""
    columns = (
        "fit",
        "signal",
        "embedding",
        "train PSNR (dB)",
        "test PSNR (dB)",
        "SR",
        "DP",
        "fit time (s)",
    )
    rows = tuple(
        (
            label,
            result.signal.name,
            _describe_embedding(result),
            result.train_psnr,
            result.test_psnr,
            result.stable_rank,
            result.distance_preservation,
            _metric(result, "fit_seconds"),
        )
        for label, result in results.items()
    )
    formats = {
        "train PSNR (dB)": ".2f",
        "test PSNR (dB)": ".2f",
        "SR": ".1f",
        "fit time (s)": ".2f",
    }
    return Table(columns, rows, title, formats=formats)


def _describe_embedding(result: FitResult) -> str:
    embedding = result.embedding
    text = f"{embedding.name}"
    if embedding.bandwidth_name is not None:
        text += f" {embedding.bandwidth_name}={embedding.bandwidth:.4g}"
    if embedding.separable:
        text += ", separable"
    return text


def _metric(result: FitResult, metric: str) -> float:
    if metric in METRICS or metric == "stable_rank":
        return float(getattr(result, metric))
    if metric == "fit_seconds":
        return float(result.timings["fit"])
    raise ValueError(
        f"metric must be one of {', '.join((*METRICS, 'stable_rank', 'fit_seconds'))}; "
        f"got {metric!r}"
    )
