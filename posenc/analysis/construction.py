"""Embeddings built as P1 analyses them, and embeddings matched in distance preservation.

:func:`analysis_embedding` builds an embedding as P1's analysis does: ``D`` periodic centres or
``D / 2`` frequencies, raw features (SR and DP do not depend on a constant scale), float64.
:func:`default_embeddings` builds every registered one, :func:`reference_embedders` P1's
SR-against-N set, and :func:`matched_embeddings` several embeddings at equal distance
preservation (:func:`matched_bandwidth`, from their closed forms).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy.optimize import brentq

from posenc.embeddings import (
    Embedding,
    describe_embedding,
    embedding_class,
    embedding_names,
    make_embedding,
)
from posenc.theory import DEFAULT_THRESHOLD


def analysis_parameters(
    name: str, dim: int, periodic: bool = True, seed: int = 0
) -> dict[str, Any]:
    """The size parameters of P1's analysis construction of embedding ``name``.

    Shifted bases get ``num_centers=dim`` and ``periodic``; Fourier features ``dim // 2``
    frequencies (at least 1); embeddings that draw at random get ``seed``. Embeddings with a
    fixed size (``none``, ``basic``) get nothing.
    """
    accepted = embedding_class(name).parameter_names()
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
"""P1's SR-against-N embedders (P1's SR-against-N figure): label to (name, parameters)."""
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
        form = analysis_embedding(name, search_dim, bandwidth=bandwidth, **params).closed_form()
        if form is None:
            return math.nan
        return form.distance_preservation(threshold) - distance_preservation

    low, high = MATCH_SEARCH_RANGE
    grid = np.linspace(math.log(low), math.log(high), 16)
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
    if analysis_embedding(name, dim, bandwidth=bandwidth, **params).closed_form() is None:
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
