"""Validate the bandwidth oracle against the sweeps it replaces; print and save the tables.

    python docs/validate_oracle.py                  # every case (hours on a CPU the first time)
    python docs/validate_oracle.py --only 1d        # the 1D rows only
    python docs/validate_oracle.py --quick          # the reduced set the tests check
    python docs/validate_oracle.py --only 1d --embeddings rff --rows camera:row=64
                                                    # a stated subset of the 1D cases

Each case is a signal, an embedding and a fit setting. For each, the script runs the
reference sweep with posenc's batched sweeps (:func:`posenc.sweeps.run_sweep`, cached on
disk under ``--cache``: a rerun reads the finished runs and fits nothing again), asks the
oracle for a suggestion (:func:`posenc.oracle.suggest_bandwidth`, from the training samples
only), fits once at the suggestion (cached too), and reports: the sweep's best bandwidth and
test PSNR, the suggestion, the test PSNR achieved there, the gap to the sweep's best, the
predicted PSNR and its error, and the oracle's seconds. A second suggestion, with the
held-out values known (``true_held_out_values``: the oracle's fit model unchanged, its
estimate of the error between the samples replaced by the truth), is fitted too; its gap
says how much of the first gap the fit model leaves, the rest being the estimate's, and the
error of its predicted PSNR how much of the prediction error. Test PSNR is the fit's
reported one: the mean over the last ``last_k`` steps (P1's convention; for ``p1-1d`` it is
measured on all 512 samples, training samples included).

Cases (:data:`CASES_1D`, :data:`CASES_2D`):

- 1D, P1's protocol (``p1-1d``: linear layer on 10000 Gaussian or triangle centres, or 256
  random Fourier frequencies; Adam, lr 1e-3, 2000 steps; train on the even samples of a
  512-sample row) on the 20 rows of :data:`ROWS` (rows 64, 160, 256, 352 and 448 of
  ``camera``, ``astronaut``, ``moon`` and ``brick``). Sweeps of 24 log-spaced values:
  Gaussian ``sigma`` over ``logspace:-4:-1``, and ranges matched to it by stable rank
  (:data:`posenc.sweeps.AUTO_BANDWIDTH_RULES`): RFF ``scale`` over ``logspace:0:3``
  (``s = 1 / (2 sqrt(2) pi sigma)``: 1.13 to 1125 for sigma 0.1 to 1e-4, rounded to whole
  decades) and triangle ``width`` over ``logspace:-3.6:-0.6`` (``w = 4 sqrt(pi) sigma / 3``).
- 2D, ``posenc fit``'s default setting (a 3 x 128 ReLU MLP with sigmoid on 256 Gaussian
  centres per axis, concatenated; Adam, lr 3e-3, 300 steps; offset split of a 256 x 256
  image) on :data:`IMAGES`, against the 12-value ``auto`` sweep.

Targets: 1D, a gap of at most 0.5 dB on every row and a median gap of at most 0.2 dB per
embedding; 2D, at most 1 dB on every image; the predicted PSNR within 1.5 dB of the achieved
one everywhere (the mean absolute error is reported).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # validate this checkout's posenc, installed or not

from posenc.neural_fields import (  # noqa: E402
    FitConfig,
    load_config_signal,
    resolve_config,
)
from posenc.oracle import suggest_bandwidth  # noqa: E402
from posenc.sweeps import ResultStore, make_executor, resolve_sweep, run_sweep  # noqa: E402
from posenc.sweeps.store import FINISHED  # noqa: E402
from posenc.tables import Table  # noqa: E402

ROWS = tuple(
    f"{image}:row={row}"
    for image in ("camera", "astronaut", "moon", "brick")
    for row in (64, 160, 256, 352, 448)
)
"""The 1D validation rows: five rows of each of four built-in 512 x 512 photographs."""
SWEEP_RANGES = {
    "gaussian": "logspace:-4:-1:24",
    "rff": "logspace:0:3:24",
    "triangle": "logspace:-3.6:-0.6:24",
}
"""The 1D reference sweeps, matched by stable rank (module docstring)."""
IMAGES = ("camera", "astronaut", "coffee", "chelsea", "brick")
"""The 2D validation images (256 x 256, as ``posenc fit`` loads them by default)."""
QUICK_ROWS = ("camera:row=256", "moon:row=160")
QUICK_EMBEDDINGS = ("rff",)
TARGETS = {"1d": {"gap": 0.5, "median_gap": 0.2}, "2d": {"gap": 1.0}, "prediction": 1.5}
DEFAULT_CACHE = REPO_ROOT / "runs" / "oracle-validation"


@dataclass(frozen=True)
class Case:
    """One validation case: a group (``1d`` or ``2d``), a signal, an embedding, the sweep's
    bandwidths and the fit setting (a protocol and overrides)."""

    group: str
    signal: str
    embedding: str
    bandwidths: str
    protocol: str | None

    @property
    def slug(self) -> str:
        """A folder name for the case."""
        return re.sub(r"[^A-Za-z0-9.=-]+", "_", self.signal)

    def config(self, **overrides: Any) -> FitConfig:
        """The case's fit setting."""
        return resolve_config(
            self.protocol, signal=self.signal, embedding=self.embedding, **overrides
        )


@dataclass(frozen=True)
class Outcome:
    """One row of the validation table."""

    group: str
    signal: str
    embedding: str
    bandwidth_name: str
    best_bandwidth: float
    best_psnr: float
    suggested_bandwidth: float
    achieved_psnr: float
    gap_db: float
    predicted_psnr: float
    prediction_error_db: float
    oracle_seconds: float
    known_heldout_bandwidth: float
    known_heldout_gap_db: float
    known_heldout_prediction_error_db: float


def cases(
    groups: Sequence[str],
    quick: bool,
    rows: Sequence[str] | None = None,
    embeddings: Sequence[str] | None = None,
    images: Sequence[str] | None = None,
) -> list[Case]:
    """The cases of ``groups`` (the reduced set when ``quick``); ``rows`` and ``embeddings``
    narrow the 1D cases to a subset (by default :data:`ROWS` and every embedding), ``images``
    the 2D ones (by default :data:`IMAGES`)."""
    found = []
    if "1d" in groups:
        rows = rows or (QUICK_ROWS if quick else ROWS)
        embeddings = embeddings or (QUICK_EMBEDDINGS if quick else tuple(SWEEP_RANGES))
        found += [
            Case("1d", row, name, SWEEP_RANGES[name], "p1-1d")
            for name in embeddings
            for row in rows
        ]
    if "2d" in groups and not quick:
        found += [Case("2d", image, "gaussian", "auto", None) for image in images or IMAGES]
    return found


def sweep_folder(case: Case, cache: Path, values: str | list[float]) -> Path:
    """Where the sweep of ``case`` over ``values`` is cached (the reference sweep, or the one
    fit at a suggestion)."""
    label = "sweeps" if isinstance(values, str) else "suggested"
    folder = cache / label / (case.protocol or "mlp-2d") / case.embedding / case.slug
    if not isinstance(values, str):
        folder = folder.with_name(f"{case.slug}-{values[0]!r}")
    return folder


def is_cached(case: Case, cache: Path) -> bool:
    """Whether ``case``'s reference sweep has finished in ``cache``."""
    store = sweep_folder(case, cache, case.bandwidths) / "results.sqlite"
    if not store.is_file():
        return False
    with ResultStore(store) as results:
        finished = len(results.rows(FINISHED))
    return finished == len(case_spec(case, case.bandwidths).runs())


def case_spec(case: Case, values: str | list[float]) -> Any:
    """The sweep of ``case`` over ``values``."""
    return resolve_sweep(
        {
            "sweep": {
                "signals": [case.signal],
                "embeddings": [case.embedding],
                "bandwidths": values,
                **({"protocol": case.protocol} if case.protocol else {}),
            }
        }
    )


def sweep_results(case: Case, cache: Path, values: str | list[float]) -> dict[float, float]:
    """Bandwidth -> reported test PSNR of ``case``'s sweep over ``values`` (run or read)."""
    spec = case_spec(case, values)
    folder = sweep_folder(case, cache, values)
    # Batched training stacks dense embedded rows; a single 2D fit's lookup first layer is
    # cheaper than that, so the image sweeps run their fits one by one.
    executor = make_executor(batch=case.group == "1d")
    summary = run_sweep(spec, folder, executor, progress=True)
    if summary.failed:
        raise RuntimeError(f"{case.signal} {case.embedding}: {summary.failed[0]}")
    with ResultStore(folder / "results.sqlite") as store:
        return {row["bandwidth"]: row["test_psnr_last"] for row in store.rows(FINISHED)}


def validate(case: Case, cache: Path) -> Outcome:
    """Sweep, suggest, fit at the suggestion, compare."""
    reference = sweep_results(case, cache, case.bandwidths)
    best_bandwidth = max(reference, key=reference.__getitem__)
    config = case.config()
    signal = load_config_signal(config)
    suggestion = suggest_bandwidth(signal, config)
    achieved = sweep_results(case, cache, [suggestion.bandwidth])[suggestion.bandwidth]
    known = suggest_bandwidth(signal, config, true_held_out_values=True)
    achieved_known = sweep_results(case, cache, [known.bandwidth])[known.bandwidth]
    return Outcome(
        group=case.group,
        signal=case.signal,
        embedding=case.embedding,
        bandwidth_name=suggestion.bandwidth_name,
        best_bandwidth=best_bandwidth,
        best_psnr=reference[best_bandwidth],
        suggested_bandwidth=suggestion.bandwidth,
        achieved_psnr=achieved,
        gap_db=reference[best_bandwidth] - achieved,
        predicted_psnr=suggestion.predicted_psnr,
        prediction_error_db=suggestion.predicted_psnr - achieved,
        oracle_seconds=suggestion.timings["total"],
        known_heldout_bandwidth=known.bandwidth,
        known_heldout_gap_db=reference[best_bandwidth] - achieved_known,
        known_heldout_prediction_error_db=known.predicted_psnr - achieved_known,
    )


def summarize(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """Per group and embedding: worst and median gap, rows within the gap target, mean
    absolute and largest prediction error, rows within the prediction target."""
    summary = []
    keys = sorted({(o.group, o.embedding) for o in outcomes})
    for group, embedding in keys:
        chosen = [o for o in outcomes if (o.group, o.embedding) == (group, embedding)]
        gaps = [o.gap_db for o in chosen]
        errors = [abs(o.prediction_error_db) for o in chosen]
        target = TARGETS[group]["gap"]
        summary.append(
            {
                "group": group,
                "embedding": embedding,
                "rows": len(chosen),
                "max_gap_db": max(gaps),
                "median_gap_db": statistics.median(gaps),
                "within_gap_target": sum(gap <= target for gap in gaps),
                "mean_abs_prediction_error_db": statistics.fmean(errors),
                "max_abs_prediction_error_db": max(errors),
                "within_prediction_target": sum(e <= TARGETS["prediction"] for e in errors),
                "median_oracle_seconds": statistics.median(o.oracle_seconds for o in chosen),
                "max_known_heldout_gap_db": max(o.known_heldout_gap_db for o in chosen),
                "median_known_heldout_gap_db": statistics.median(
                    o.known_heldout_gap_db for o in chosen
                ),
                "mean_abs_known_heldout_prediction_error_db": statistics.fmean(
                    abs(o.known_heldout_prediction_error_db) for o in chosen
                ),
            }
        )
    return summary


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of ``rows`` (dicts with the same keys), numbers to 4 digits."""
    return Table.from_records(rows, list(rows[0]), float_format=".4g").to_markdown()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen cases, print the tables, write CSV and JSON into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=["1d", "2d"], default=["1d", "2d"])
    parser.add_argument("--quick", action="store_true", help="the reduced set the tests run")
    parser.add_argument("--rows", nargs="+", metavar="ROW", help="1D rows (default: ROWS)")
    parser.add_argument(
        "--embeddings", nargs="+", choices=list(SWEEP_RANGES), help="1D embeddings (default: all)"
    )
    parser.add_argument("--images", nargs="+", metavar="IMAGE", help="2D images (default: IMAGES)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="sweep cache folder")
    parser.add_argument("--out", type=Path, help="folder for the tables (default: --cache)")
    parser.add_argument(
        "--cached",
        action="store_true",
        help="only the cases whose reference sweep has finished in the cache (list the others)",
    )
    args = parser.parse_args(argv)
    chosen = cases(args.only, args.quick, args.rows, args.embeddings, args.images)
    if args.cached:
        missing = [case for case in chosen if not is_cached(case, args.cache)]
        for case in missing:
            print(f"not in the cache yet: {case.signal} {case.embedding}", file=sys.stderr)
        chosen = [case for case in chosen if case not in missing]
    outcomes = [validate(case, args.cache) for case in chosen]
    if not outcomes:
        print("no case to report")
        return 0
    rows = [asdict(outcome) for outcome in outcomes]
    summary = summarize(outcomes)
    print(markdown(rows))
    print()
    print(markdown(summary))
    out = args.out or args.cache
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "validation.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out / "validation.json").write_text(
        json.dumps({"targets": TARGETS, "summary": summary, "rows": rows}, indent=1) + "\n"
    )
    print(f"wrote {out / 'validation.csv'} and {out / 'validation.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
