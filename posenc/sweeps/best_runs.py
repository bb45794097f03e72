"""The best run of each embedding in a sweep, as points and as a table."""

from __future__ import annotations

from collections.abc import Sequence

from posenc.sweeps.points import SweepPoint, ordered
from posenc.tables import Table

BEST_COLUMNS = {
    "signal": "signal",
    "model": "model",
    "embedding": "embedding",
    "bandwidth_name": "parameter",
    "bandwidth": "bandwidth",
    "train_psnr": "train PSNR (dB)",
    "test_psnr": "test PSNR (dB)",
    "stable_rank": "SR",
    "distance_preservation": "DP",
    "runs": "runs",
}
"""Keys of the records behind :func:`best_table`, and their headers."""


def best_points(points: Sequence[SweepPoint]) -> list[SweepPoint]:
    """The run with the highest test PSNR for each signal, model and embedding (over every
    bandwidth and seed), in the order the groups first occur in ``points``."""
    groups = ordered(points, lambda p: (p.facet, p.embedding))
    return [
        max((p for p in points if (p.facet, p.embedding) == group), key=lambda p: p.test_psnr)
        for group in groups
    ]


def best_table(points: Sequence[SweepPoint], title: str = "") -> Table:
    """:func:`best_points` as a table: the bandwidth of each embedding's best test PSNR, its
    train PSNR, SR and DP, and how many runs of that embedding the sweep has."""
    records = []
    for best in best_points(points):
        same = [p for p in points if (p.facet, p.embedding) == (best.facet, best.embedding)]
        record = {key: getattr(best, key) for key in BEST_COLUMNS if key != "runs"}
        records.append({**record, "runs": len(same)})
    formats = {"train_psnr": ".2f", "test_psnr": ".2f", "stable_rank": ".1f"}
    return Table.from_records(records, BEST_COLUMNS, title, formats=formats)
