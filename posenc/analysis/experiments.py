"""P1's analysis experiments as functions: each returns the numbers of one figure.

Every experiment returns a :class:`PlotData` (or :class:`BasisData`): the exact numbers
drawn, so a figure and its JSON/CSV never disagree. :mod:`posenc.analysis.plots` draws them.

- :func:`stable_rank_vs_samples`: SR against the number of samples (P1's figure), with theory;
- :func:`similarity_vs_displacement`: ``D(delta)`` with theory, and each embedding's DP;
- :func:`stable_rank_dp_scatter`: P1's SR-vs-DP scatter of Gaussian and RFF embeddings at
  random bandwidths, with the curve ``SR * DP = sqrt(ln 10 / pi)``;
- :func:`basis_functions`: a few basis functions and the Gram matrix of one embedding;
- :func:`summarize`: SR, DP and their predictions for one embedding, as a flat record;
- :func:`bandwidth_response`: SR and DP of one embedding against its bandwidth, with theory;
- :func:`embedding_profiles`: basis functions, similarity curve and Gram matrix of each
  embedding, for a side-by-side view (:func:`default_embeddings` builds every registered one).

:func:`reference_embedders` builds P1's SR-against-N set; :func:`matched_embeddings` several
embeddings at equal distance preservation (:func:`matched_bandwidth`, from the closed forms).

Embeddings are built as P1 analyses them by :func:`analysis_embedding`: ``D`` periodic centres
or ``D / 2`` frequencies, raw features (SR and DP do not depend on a constant scale), float64.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.optimize import brentq
from tqdm import tqdm

from posenc.analysis.measure import (
    SimilarityCurve,
    embedding_matrix,
    embedding_stable_rank,
    sample_grid,
    similarity_curve,
    stable_rank_and_similarity,
    stable_rank_method,
)
from posenc.analysis.metrics import DEFAULT_THRESHOLD
from posenc.analysis.theory import SR_DP_GAUSSIAN, closed_form
from posenc.embeddings import (
    Embedding,
    describe_embedding,
    embedding_names,
    gaussian_sigma_to_rff_scale,
    make_embedding,
)

SCATTER_DIMENSIONS = (1000, 2000, 3000, 5000)
"""P1's embedding sizes D of the SR-vs-DP scatter."""
SCATTER_SIGMA_RANGE = (0.002, 0.1)
"""Gaussian widths of the scatter, drawn log-uniformly (RFF at the matched scale)."""


@dataclass(frozen=True)
class Series:
    """One curve or point cloud: ``y`` against ``x``.

    ``group`` picks the colour (series of one embedding share it); ``theory`` series are
    drawn dashed; ``marker`` (a matplotlib marker) marks the points, and ``line=False``
    leaves them unconnected (a scatter).
    """

    label: str
    x: np.ndarray
    y: np.ndarray
    group: int = 0
    theory: bool = False
    marker: str | None = None
    line: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "label": self.label,
            "theory": self.theory,
            "x": [float(v) for v in self.x],
            "y": [float(v) for v in self.y],
        }


@dataclass(frozen=True)
class PlotData:
    """Everything one x-y figure shows: axes, scales, series, and its scalar results.

    ``guides`` are labelled horizontal reference lines ``(label, y)``, such as a threshold.
    """

    name: str
    title: str
    xlabel: str
    ylabel: str
    series: tuple[Series, ...]
    xscale: str = "linear"
    yscale: str = "linear"
    metrics: dict[str, Any] = field(default_factory=dict)
    guides: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: labels, scales, every series' points, the metrics."""
        return {
            "title": self.title,
            "xlabel": self.xlabel,
            "ylabel": self.ylabel,
            "xscale": self.xscale,
            "yscale": self.yscale,
            "metrics": self.metrics,
            "guides": [{"label": label, "y": y} for label, y in self.guides],
            "series": [series.to_dict() for series in self.series],
        }

    def rows(self) -> list[dict[str, Any]]:
        """Long-format rows ``figure, series, theory, x, y``: one per plotted point."""
        return [
            {"figure": self.name, "series": s.label, "theory": s.theory, "x": x, "y": y}
            for s in self.series
            for x, y in zip(s.x.tolist(), s.y.tolist(), strict=True)
        ]


@dataclass(frozen=True)
class BasisData:
    """Basis functions of one embedding on ``[0, 1)`` and the Gram matrix of its grid."""

    name: str
    title: str
    x: np.ndarray
    functions: np.ndarray
    feature_indices: tuple[int, ...]
    gram_points: np.ndarray
    gram: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the plotted functions (one list per feature) and the Gram matrix."""
        return {
            "title": self.title,
            "x": self.x.tolist(),
            "features": list(self.feature_indices),
            "functions": self.functions.tolist(),
            "gram_points": self.gram_points.tolist(),
            "gram": self.gram.tolist(),
        }


# ---------------------------------------------------------------------- construction
def analysis_parameters(
    name: str, dim: int, periodic: bool = True, seed: int = 0
) -> dict[str, Any]:
    """The size parameters of P1's analysis construction of embedding ``name``.

    Shifted bases get ``num_centers=dim`` and ``periodic``; Fourier features ``dim // 2``
    frequencies (at least 1); embeddings that draw at random get ``seed``. Embeddings with a
    fixed size (``none``, ``basic``) get nothing.
    """
    accepted = {parameter.name for parameter in describe_embedding(name).parameters}
    params: dict[str, Any] = {}
    if "num_centers" in accepted:
        params.update(num_centers=dim, periodic=periodic)
    if "num_frequencies" in accepted:
        params["num_frequencies"] = max(1, dim // 2)
    if "seed" in accepted:
        params["seed"] = seed
    return params


def analysis_embedding(
    name: str, dim: int, *, periodic: bool = True, seed: int = 0, **params: Any
) -> Embedding:
    """Embedding ``name`` as P1 analyses it: :func:`analysis_parameters`, then ``params``
    (``bandwidth=`` or the embedding's own bandwidth name, and any other parameter), raw
    features in float64."""
    return make_embedding(
        name,
        normalization="none",
        dtype=torch.float64,
        **{**analysis_parameters(name, dim, periodic, seed), **params},
    )


def default_embeddings(dim: int = 256, names: Sequence[str] | None = None) -> dict[str, Embedding]:
    """Every registered embedding (or ``names``) at its documented defaults, built by
    :func:`analysis_embedding` with size ``dim``. Embeddings with a required parameter (the
    user-defined ``custom`` basis needs a generator) are left out unless named."""
    chosen = (
        names
        if names is not None
        else [
            name
            for name in embedding_names()
            if not any(parameter.required for parameter in describe_embedding(name).parameters)
        ]
    )
    return {name: analysis_embedding(name, dim) for name in chosen}


REFERENCE_SAMPLE_EMBEDDERS: dict[str, tuple[str, dict[str, Any]]] = {
    "impulse": ("impulse", {}),
    "square wave, f = 1": ("square_wave", {"frequency": 1.0}),
    "sine, f = 1, offset 0.7": ("sine", {"frequency": 1.0, "offset": 0.7}),
    "Gaussian, σ = 0.01": ("gaussian", {"sigma": 0.01}),
    "RFF, s = 5": ("rff", {"scale": 5.0}),
}
"""P1's SR-against-N embedders (REFERENCE section 2's table): label to (name, parameters)."""
MATCH_SEARCH_RANGE = (1e-6, 1e3)
"""Bandwidths searched by :func:`matched_bandwidth` (a log grid, then Brent's method)."""
MATCH_SEARCH_SIZE = 1 << 16
"""Size at which :func:`matched_bandwidth` evaluates closed forms (DP does not depend on it;
a large size keeps narrow bandwidths resolved)."""


def reference_embedders(dim: int = 10_000) -> dict[str, Embedding]:
    """:data:`REFERENCE_SAMPLE_EMBEDDERS` built by :func:`analysis_embedding` with size ``dim``
    (P1 uses ``D = 10000``: 10000 centres, 5000 RFF frequencies)."""
    return {
        label: analysis_embedding(name, dim, **params)
        for label, (name, params) in REFERENCE_SAMPLE_EMBEDDERS.items()
    }


def matched_bandwidth(
    name: str,
    distance_preservation: float,
    dim: int = 10_000,
    threshold: float = DEFAULT_THRESHOLD,
    **params: Any,
) -> float:
    """The bandwidth at which embedding ``name`` has the closed-form DP
    ``distance_preservation``, so that embeddings can be compared at equal DP.

    The root of ``DP(b) - target`` is bracketed on a log grid of 16 bandwidths spanning
    :data:`MATCH_SEARCH_RANGE` and refined by Brent's method (``params`` set the embedding's
    other parameters). ``ValueError`` if ``name`` has no closed form, if no bandwidth in the
    range reaches the target, or if the bandwidth found spans fewer than two centre spacings
    at size ``dim`` (where the centres, not the generator, set DP).
    """
    if not (math.isfinite(distance_preservation) and 0 < distance_preservation < 0.5):
        raise ValueError(f"target DP must be in (0, 1/2), got {distance_preservation!r}")
    search_dim = max(dim, MATCH_SEARCH_SIZE)

    def excess(log_bandwidth: float) -> float:
        bandwidth = math.exp(log_bandwidth)
        form = closed_form(analysis_embedding(name, search_dim, bandwidth=bandwidth, **params))
        if form is None:
            return math.nan
        return form.distance_preservation(threshold) - distance_preservation

    grid = np.linspace(*np.log(MATCH_SEARCH_RANGE), 16)
    values = [excess(float(point)) for point in grid]
    if all(math.isnan(value) for value in values):
        raise ValueError(f"embedding {name!r} has no closed-form DP to match")
    brackets = [
        index
        for index in range(len(grid) - 1)
        if values[index] * values[index + 1] <= 0  # False when either is NaN
    ]
    if not brackets:
        raise ValueError(
            f"no {name!r} bandwidth in {MATCH_SEARCH_RANGE} has a closed-form DP of "
            f"{distance_preservation:g}"
        )
    index = brackets[0]
    bandwidth = math.exp(brentq(excess, grid[index], grid[index + 1], xtol=1e-13))
    if closed_form(analysis_embedding(name, dim, bandwidth=bandwidth, **params)) is None:
        raise ValueError(
            f"{name!r} at DP {distance_preservation:g} needs bandwidth {bandwidth:.4g}, too "
            f"narrow for {dim} centres (the closed form needs two centre spacings)"
        )
    return bandwidth


def matched_embeddings(
    names: Sequence[str],
    distance_preservation: float,
    dim: int = 10_000,
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[str, Embedding]:
    """Each embedding of ``names`` (size ``dim``) at the bandwidth of
    :func:`matched_bandwidth`, labelled ``"name bandwidth=value"``: equal DP, different SR."""
    embeddings = {}
    for name in names:
        value = matched_bandwidth(name, distance_preservation, dim, threshold)
        embedding = analysis_embedding(name, dim, bandwidth=value)
        embeddings[f"{name} {embedding.bandwidth_name}={value:.4g}"] = embedding
    return embeddings


# ------------------------------------------------------------------------- experiments
def stable_rank_vs_samples(
    embeddings: Mapping[str, Embedding], sample_counts: Sequence[int], progress: bool = False
) -> PlotData:
    """SR of each embedding on ``N`` samples ``k / N`` for every ``N``, beside its theory.

    P1's figure uses ``D = 10000`` periodic centres and ``N = 1..50`` (REFERENCE section 2).
    """
    counts = np.array(sorted(set(sample_counts)), dtype=np.int64)
    series: list[Series] = []
    work = tqdm(embeddings.items(), desc="stable rank", disable=not progress, leave=False)
    for group, (label, embedding) in enumerate(work):
        measured = [embedding_stable_rank(embedding, int(n)) for n in counts]
        series.append(Series(label, counts, np.array(measured), group, marker="o"))
        form = closed_form(embedding)
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
        form = closed_form(embedding)
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


def stable_rank_dp_scatter(
    dimensions: Sequence[int] = SCATTER_DIMENSIONS,
    num_bandwidths: int = 100,
    sigma_range: tuple[float, float] = SCATTER_SIGMA_RANGE,
    seed: int = 0,
    progress: bool = False,
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
    draws = {d: np.exp(rng.uniform(low, high, num_bandwidths)) for d in dimensions}
    rff_seeds = {d: rng.integers(0, 2**31, num_bandwidths).tolist() for d in dimensions}
    series: list[Series] = []
    points: list[dict[str, Any]] = []
    bar = tqdm(total=len(dimensions) * num_bandwidths, desc="SR-DP scatter", disable=not progress)
    for group, dimension in enumerate(dimensions):
        measured: dict[str, list[tuple[float, float]]] = {"gaussian": [], "rff": []}
        for index, sigma in enumerate(draws[dimension]):
            pair = _scatter_embeddings(dimension, float(sigma), rff_seeds[dimension][index])
            for family, embedding in pair.items():
                sr, curve = stable_rank_and_similarity(embedding, dimension)
                dp = curve.distance_preservation()
                measured[family].append((sr, dp))
                points.append(
                    {
                        "D": dimension,
                        "family": family,
                        "sigma": float(sigma),
                        "bandwidth": embedding.bandwidth,
                        "stable_rank": sr,
                        "distance_preservation": dp,
                    }
                )
            bar.update()
        for family, marker in (("gaussian", "o"), ("rff", "x")):
            sr, dp = np.array(measured[family]).T
            label = f"{'Gaussian' if family == 'gaussian' else 'RFF'}, D = {dimension}"
            series.append(Series(label, dp, sr, group, marker=marker, line=False))
    bar.close()
    all_dp = np.array([p["distance_preservation"] for p in points])
    curve_dp = np.geomspace(all_dp.min(), all_dp.max(), 200)
    series.append(
        Series("SR·DP = √(ln 10 / π)", curve_dp, SR_DP_GAUSSIAN / curve_dp, len(dimensions), True)
    )
    products = {
        family: np.array(
            [p["stable_rank"] * p["distance_preservation"] for p in points if p["family"] == family]
        )
        for family in ("gaussian", "rff")
    }
    return PlotData(
        "stable_rank_dp_scatter",
        "Stable rank against distance preservation",
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
        features = embedding(x[:, None]).reshape(num_points, -1).to(torch.float64)
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
    form = closed_form(embedding)
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
    their closed forms (REFERENCE section 2's tables use the Gaussian with ``N = D = 10000``).

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
