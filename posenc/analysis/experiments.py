"""P1's analysis experiments as functions: each returns the numbers of one figure.

Every experiment returns a :class:`~posenc.analysis.plot_data.PlotData` (or
:class:`~posenc.analysis.plot_data.BasisData`): the exact numbers drawn, so a figure and its
JSON/CSV never disagree. :mod:`posenc.analysis.plots` draws them.

- :func:`stable_rank_vs_samples`: SR against the number of samples (P1's figure), with theory;
- :func:`similarity_vs_displacement`: ``D(delta)`` with theory, and each embedding's DP;
- :func:`stable_rank_dp_scatter`: P1's SR-vs-DP scatter of Gaussian and RFF embeddings at
  random bandwidths, with the curve ``SR * DP = sqrt(ln 10 / pi)``;
- :func:`basis_functions`: a few basis functions and the Gram matrix of one embedding;
- :func:`summarize`: SR, DP and their predictions for one embedding, as a flat record;
- :func:`bandwidth_response`: SR and DP of one embedding against its bandwidth, with theory;
- :func:`embedding_profiles`: basis functions, similarity curve and Gram matrix of each
  embedding, for a side-by-side view (:func:`default_embeddings` builds every registered one).

Embeddings are built as P1 analyses them (:mod:`posenc.analysis.construction`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from posenc.analysis.construction import analysis_embedding
from posenc.analysis.measure import (
    SimilarityCurve,
    embedding_matrix,
    embedding_stable_rank,
    sample_grid,
    similarity_curve,
    stable_rank_and_similarity,
    stable_rank_method,
)
from posenc.analysis.plot_data import BasisData, PlotData, Series
from posenc.embeddings import (
    Embedding,
    describe_embedding,
    gaussian_sigma_to_rff_scale,
)
from posenc.progress import progress_bar
from posenc.protocols import P1_SCATTER_DIMENSIONS, P1_SCATTER_SIGMA_RANGE
from posenc.theory import DEFAULT_THRESHOLD, SR_DP_GAUSSIAN


# ------------------------------------------------------------------------- experiments
def stable_rank_vs_samples(
    embeddings: Mapping[str, Embedding],
    sample_counts: Sequence[int],
    progress: bool | None = None,
) -> PlotData:
    """SR of each embedding on ``N`` samples ``k / N`` for every ``N``, beside its theory.

    P1's figure uses ``D = 10000`` periodic centres and ``N = 1..50`` (P1's figure of SR against N).
    """
    counts = np.array(sorted(set(sample_counts)), dtype=np.int64)
    series: list[Series] = []
    work = progress_bar(progress, iterable=embeddings.items(), desc="stable rank", leave=False)
    for group, (label, embedding) in enumerate(work):
        measured = [embedding_stable_rank(embedding, int(n)) for n in counts]
        series.append(Series(label, counts, np.array(measured), group, marker="o"))
        form = embedding.closed_form()
        if form is not None:
            predicted = [form.stable_rank(int(n)) for n in counts]
            series.append(Series(f"{label} theory", counts, np.array(predicted), group, True))
    return PlotData(
        "stable_rank_vs_samples",
        "Stable rank against number of samples",
        "number of samples N",
        "stable rank",
        tuple(series),
    )


def similarity_vs_displacement(
    embeddings: Mapping[str, Embedding],
    num_samples: int,
    window: float | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    curves: Mapping[str, SimilarityCurve] | None = None,
) -> PlotData:
    """``D(delta)`` of each embedding around the grid centre, beside its closed form.

    ``window`` is the largest ``|delta|`` drawn (default: 4 times the largest DP, at least 10
    grid steps, at most 1/2). ``metrics["distance_preservation"]`` holds each label's DP
    (count rule, full curve). Pass ``curves`` to reuse similarity curves already measured.
    """
    curves = dict(curves or {})
    for label, embedding in embeddings.items():
        if label not in curves:
            curves[label] = similarity_curve(embedding, num_samples)
    dps = {label: curves[label].distance_preservation(threshold) for label in embeddings}
    if window is None:
        window = min(0.5, max(4 * max(dps.values()), 10 / num_samples))
    series: list[Series] = []
    for group, (label, embedding) in enumerate(embeddings.items()):
        curve = curves[label]
        shown = np.abs(curve.displacement) <= window
        delta = curve.displacement[shown]
        series.append(Series(label, delta, curve.similarity[shown], group))
        form = embedding.closed_form()
        if form is not None:
            series.append(Series(f"{label} theory", delta, form.similarity(delta), group, True))
    return PlotData(
        "similarity_vs_displacement",
        f"Similarity to the centre sample (N = {num_samples})",
        "displacement δ (fraction of the unit domain)",
        "similarity D(δ)",
        tuple(series),
        metrics={"distance_preservation": dps, "threshold": threshold, "window": window},
        guides=((f"threshold {threshold:g}", threshold),),
    )


ScatterDraw = tuple[dict[str, Any], dict[str, Embedding]]
"""One draw of an SR-DP scatter: what identifies it (``{"sigma": ...}``, ``{"r": ...}``) and
its embeddings by family (``"gaussian"``, ``"rff"``)."""
SCATTER_FAMILIES = {"gaussian": ("Gaussian", "o"), "rff": ("RFF", "x")}
"""Label and marker of each family in an SR-DP scatter."""


def stable_rank_dp_scatter(
    dimensions: Sequence[int] = P1_SCATTER_DIMENSIONS,
    num_bandwidths: int = 100,
    sigma_range: tuple[float, float] = P1_SCATTER_SIGMA_RANGE,
    seed: int = 0,
    progress: bool | None = None,
) -> PlotData:
    """P1's scatter: SR against DP of ``D x D`` embedding matrices at random bandwidths.

    For each ``D``, ``num_bandwidths`` widths ``sigma`` are drawn log-uniformly from
    ``sigma_range``; each gives a periodic Gaussian basis (``D`` centres) and RFF with ``D/2``
    frequencies at the matched scale ``s = 1 / (2 sqrt(2) pi sigma)`` (a fresh frequency draw
    each), both embedding ``D`` samples ``k / D``. SR and DP come from the exact FFT and
    Toeplitz paths. The theory curve is ``SR = sqrt(ln 10 / pi) / DP``.
    """
    check_scatter_arguments(dimensions, num_bandwidths, sigma_range)
    rng = np.random.default_rng(seed)
    low, high = (math.log(value) for value in sigma_range)
    sigmas = {d: np.exp(rng.uniform(low, high, num_bandwidths)) for d in dimensions}
    rff_seeds = {d: rng.integers(0, 2**31, num_bandwidths).tolist() for d in dimensions}

    def draws(dimension: int) -> Iterator[ScatterDraw]:
        for sigma, rff_seed in zip(sigmas[dimension], rff_seeds[dimension], strict=True):
            yield {"sigma": float(sigma)}, _scatter_embeddings(dimension, float(sigma), rff_seed)

    return sr_dp_scatter(
        "stable_rank_dp_scatter",
        "Stable rank against distance preservation",
        dimensions,
        draws,
        num_bandwidths,
        progress,
    )


def sr_dp_scatter(
    name: str,
    title: str,
    dimensions: Sequence[int],
    draws: Callable[[int], Iterable[ScatterDraw]],
    draws_per_dimension: int,
    progress: bool | None = None,
) -> PlotData:
    """SR against DP of every draw's ``D x D`` embedding matrices (``draws(D)`` for each
    ``D``), one series per family and size, with the Gaussian theory curve
    ``SR = sqrt(ln 10 / pi) / DP``. ``metrics["points"]`` holds every point; ``sr_dp_mean``
    and ``sr_dp_std`` the product ``SR * DP`` per family."""
    series: list[Series] = []
    points: list[dict[str, Any]] = []
    bar = progress_bar(progress, total=len(dimensions) * draws_per_dimension, desc=title)
    for group, dimension in enumerate(dimensions):
        measured: dict[str, list[tuple[float, float]]] = {family: [] for family in SCATTER_FAMILIES}
        for draw, pair in draws(dimension):
            for family, embedding in pair.items():
                sr, curve = stable_rank_and_similarity(embedding, dimension)
                dp = curve.distance_preservation()
                measured[family].append((sr, dp))
                points.append(
                    {
                        "D": dimension,
                        "family": family,
                        **draw,
                        "bandwidth": embedding.bandwidth,
                        "stable_rank": sr,
                        "distance_preservation": dp,
                    }
                )
            bar.update()
        for family, (label, marker) in SCATTER_FAMILIES.items():
            sr, dp = np.array(measured[family]).T
            series.append(
                Series(f"{label}, D = {dimension}", dp, sr, group, marker=marker, line=False)
            )
    bar.close()
    all_dp = np.array([p["distance_preservation"] for p in points])
    positive = all_dp[all_dp > 0]
    curve_dp = np.geomspace(positive.min(), positive.max(), 200)
    series.append(
        Series("SR·DP = √(ln 10 / π)", curve_dp, SR_DP_GAUSSIAN / curve_dp, len(dimensions), True)
    )
    products = {
        family: np.array(
            [p["stable_rank"] * p["distance_preservation"] for p in points if p["family"] == family]
        )
        for family in SCATTER_FAMILIES
    }
    return PlotData(
        name,
        title,
        "distance preservation DP (fraction of the unit domain)",
        "stable rank",
        tuple(series),
        xscale="log",
        yscale="log",
        metrics={
            "points": points,
            "sr_dp_theory": SR_DP_GAUSSIAN,
            "sr_dp_mean": {family: float(v.mean()) for family, v in products.items()},
            "sr_dp_std": {family: float(v.std()) for family, v in products.items()},
        },
    )


def check_scatter_arguments(
    dimensions: Sequence[int], num_bandwidths: int, sigma_range: Sequence[float]
) -> None:
    """Raise ``ValueError`` unless sizes are integers >= 2, the count >= 1, and
    ``0 < low < high`` for the range of ``sigma``."""
    low, high = sigma_range
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
        raise ValueError(f"sigma range must satisfy 0 < LOW < HIGH, got {low!r} {high!r}")
    if not _is_int_at_least(num_bandwidths, 1):
        raise ValueError(f"number of bandwidths must be an integer >= 1, got {num_bandwidths!r}")
    if not dimensions or not all(_is_int_at_least(d, 2) for d in dimensions):
        raise ValueError(f"scatter sizes D must be integers >= 2, got {list(dimensions)!r}")


def _is_int_at_least(value: Any, minimum: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= minimum


def basis_functions(
    embedding: Embedding,
    label: str,
    num_points: int = 512,
    num_functions: int = 5,
    gram_points: int = 128,
) -> BasisData:
    """Basis functions and Gram matrix of a 1D embedding.

    ``num_functions`` feature columns, evenly spread over the features, evaluated on
    ``num_points`` samples of ``[0, 1)``; and the Gram matrix ``X X^T`` of the embedding of
    ``gram_points`` samples ``k / N`` (entry ``(i, j)`` is ``<psi(x_i), psi(x_j)>``).
    """
    if embedding.in_dim != 1:
        raise ValueError(
            f"basis functions are drawn for in_dim=1 embeddings, got {embedding.in_dim}"
        )
    x = sample_grid(num_points)
    with torch.no_grad():
        features = embedding.embed(x[:, None]).reshape(num_points, -1).to(torch.float64)
    width = features.shape[1]
    count = min(num_functions, width)
    chosen = np.unique(((np.arange(count) + 0.5) * width / count).astype(int))
    matrix = embedding_matrix(embedding, gram_points)
    return BasisData(
        f"basis_{label}",
        f"{label}: basis functions and Gram matrix",
        x.numpy(),
        features[:, chosen].T.numpy(),
        tuple(int(i) for i in chosen),
        sample_grid(gram_points).numpy(),
        (matrix @ matrix.T).numpy(),
    )


def summarize(
    label: str,
    embedding: Embedding,
    num_samples: int,
    threshold: float = DEFAULT_THRESHOLD,
    curve: SimilarityCurve | None = None,
) -> dict[str, Any]:
    """SR and DP of ``embedding`` on ``N`` samples, their closed forms, and how measured.

    Keys: ``label, embedding, bandwidth_name, bandwidth, num_samples, method, stable_rank,
    distance_preservation, sr_x_dp, theory_stable_rank, theory_distance_preservation,
    theory_formula`` (theory fields ``None`` without a closed form).
    """
    if curve is None:
        sr, curve = stable_rank_and_similarity(embedding, num_samples)
    else:
        sr = embedding_stable_rank(embedding, num_samples)
    dp = curve.distance_preservation(threshold)
    form = embedding.closed_form()
    return {
        "label": label,
        "embedding": embedding.name,
        "bandwidth_name": embedding.bandwidth_name,
        "bandwidth": embedding.bandwidth,
        "num_samples": num_samples,
        "method": stable_rank_method(embedding),
        "stable_rank": sr,
        "distance_preservation": dp,
        "sr_x_dp": sr * dp,
        "theory_stable_rank": None if form is None else form.stable_rank(num_samples),
        "theory_distance_preservation": None
        if form is None
        else form.distance_preservation(threshold),
        "theory_formula": None if form is None else form.formula,
    }


@dataclass(frozen=True)
class BandwidthResponse:
    """SR and DP of one embedding at several bandwidths: one record per bandwidth
    (:func:`summarize`'s keys) and the two figures, measured beside theory."""

    rows: list[dict[str, Any]]
    stable_rank: PlotData
    distance_preservation: PlotData


def bandwidth_response(
    name: str,
    bandwidths: Sequence[float],
    num_samples: int,
    threshold: float = DEFAULT_THRESHOLD,
    **params: Any,
) -> BandwidthResponse:
    """SR and DP of embedding ``name`` on ``N`` samples ``k / N`` at every bandwidth, beside
    their closed forms (P1's tables use the Gaussian with ``N = D = 10000``).

    Each embedding is :func:`analysis_embedding` with ``dim = num_samples``; ``params`` set
    its other parameters.
    """
    values = sorted({float(value) for value in bandwidths})
    if not values:
        raise ValueError("give at least one bandwidth")
    bandwidth_name = describe_embedding(name).bandwidth_name
    if bandwidth_name is None:
        raise ValueError(f"embedding {name!r} has no bandwidth parameter to vary")
    rows = [
        summarize(
            f"{name} {bandwidth_name}={value:g}",
            analysis_embedding(name, num_samples, bandwidth=value, **params),
            num_samples,
            threshold,
        )
        for value in values
    ]
    x = np.array(values)
    plots = []
    for key, ylabel in (
        ("stable_rank", "stable rank"),
        ("distance_preservation", "distance preservation DP"),
    ):
        series = [Series(name, x, np.array([row[key] for row in rows]), marker="o")]
        theory = [row[f"theory_{key}"] for row in rows]
        if all(value is not None for value in theory):
            series.append(Series(f"{name} theory", x, np.array(theory), theory=True))
        plots.append(
            PlotData(
                f"{key}_vs_{bandwidth_name}",
                f"{name}, N = {num_samples}, DP threshold {threshold:g}",
                f"{bandwidth_name} (unit domain)" if bandwidth_name != "scale" else "scale",
                ylabel,
                tuple(series),
                xscale="log",
                yscale="log",
            )
        )
    return BandwidthResponse(rows, *plots)


@dataclass(frozen=True)
class EmbeddingProfile:
    """One embedding seen three ways: basis functions and Gram matrix (``basis``), the
    similarity curve beside its theory (``similarity``), and its SR/DP record (``summary``)."""

    label: str
    formula: str
    basis: BasisData
    similarity: PlotData
    summary: dict[str, Any]


def embedding_profiles(
    embeddings: Mapping[str, Embedding],
    num_samples: int,
    window: float | None = None,
    num_functions: int = 5,
    gram_points: int = 64,
) -> list[EmbeddingProfile]:
    """A profile of every 1D embedding: ``num_functions`` basis functions, the Gram matrix of
    ``gram_points`` samples, and the similarity to the centre of ``num_samples`` samples
    within ``window`` (default: each embedding's own, see :func:`similarity_vs_displacement`).
    """
    profiles = []
    for label, embedding in embeddings.items():
        curve = similarity_curve(embedding, num_samples)
        basis = basis_functions(
            embedding, label, num_functions=num_functions, gram_points=gram_points
        )
        profiles.append(
            EmbeddingProfile(
                label,
                embedding.formula,
                basis,
                similarity_vs_displacement(
                    {label: embedding}, num_samples, window, curves={label: curve}
                ),
                summarize(label, embedding, num_samples, curve=curve),
            )
        )
    return profiles


def _scatter_embeddings(dimension: int, sigma: float, seed: int) -> dict[str, Embedding]:
    """P1's pair at one bandwidth: periodic Gaussian basis and RFF at the matched scale."""
    return {
        "gaussian": analysis_embedding("gaussian", dimension, sigma=sigma),
        "rff": analysis_embedding(
            "rff", dimension, seed=seed, scale=gaussian_sigma_to_rff_scale(sigma)
        ),
    }
