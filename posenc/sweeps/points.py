"""The finished runs of a sweep as points, read from its results store.

:func:`load_points` reads the finished rows of a sweep folder's ``results.sqlite``; the
figures (:mod:`posenc.sweeps.figures`), the best-run tables (:mod:`posenc.sweeps.best_runs`)
and the report page draw from these points, never from runs in memory.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posenc.sweeps.store import FINISHED, STORE_NAME, ResultStore


@dataclass(frozen=True)
class SweepPoint:
    """One finished run as the figures see it."""

    key: str
    signal: str
    model: str
    embedding: str
    bandwidth_name: str | None
    bandwidth: float | None
    seed: int
    train_psnr: float
    test_psnr: float
    stable_rank: float
    distance_preservation: float
    num_train: int
    reconstruction: Path | None
    config: dict[str, Any]

    @property
    def facet(self) -> str:
        """The panel a point belongs to: its signal and model."""
        return f"{self.signal}, {self.model}"


def load_points(folder: Path) -> list[SweepPoint]:
    """The finished runs of the sweep in ``folder`` (``ValueError`` if there is no store)."""
    folder = Path(folder)
    path = folder / STORE_NAME
    if not path.exists():
        raise ValueError(f"{str(folder)!r} is not a sweep folder (it has no {STORE_NAME})")
    with ResultStore(path, create=False) as store:
        rows = store.rows(FINISHED)
    return [_point(folder, row) for row in rows if _plottable(row)]


def _plottable(row: dict[str, Any]) -> bool:
    numbers = ("train_psnr", "test_psnr", "stable_rank", "distance_preservation")
    return all(row[name] is not None and math.isfinite(row[name]) for name in numbers)


def _point(folder: Path, row: dict[str, Any]) -> SweepPoint:
    return SweepPoint(
        key=row["key"],
        signal=row["signal"],
        model=row["model"],
        embedding=row["embedding"],
        bandwidth_name=row["bandwidth_name"],
        bandwidth=row["bandwidth"],
        seed=row["seed"],
        train_psnr=row["train_psnr"],
        test_psnr=row["test_psnr"],
        stable_rank=row["stable_rank"],
        distance_preservation=row["distance_preservation"],
        num_train=row["num_train"],
        reconstruction=folder / row["reconstruction"] if row["reconstruction"] else None,
        config=json.loads(row["config_json"]),
    )


def ordered(points: Sequence[SweepPoint], attribute: Callable[[SweepPoint], Hashable]) -> list:
    """The distinct ``attribute(point)`` values, in the order they first occur."""
    return list(dict.fromkeys(attribute(point) for point in points))
