"""The bandwidth oracle against the sweep it replaces, timed side by side in one run.

Each case answers "which bandwidth?" twice for the same signal and fit setting: by the
sweep (every candidate fitted, as ``posenc sweep`` fits them) and by the oracle
(:func:`posenc.oracle.suggest_bandwidth`, from the training samples alone), in turn: oracle,
sweep, oracle, sweep, oracle, sweep, so that the load of a shared machine weighs on both
alike, and the medians are compared. A sweep of more than :data:`REPEAT_SWEEPS_UNDER`
seconds runs once (oracle, sweep, oracle, oracle): the load varies less over its length.
Rows: both times, the oracle's share of the sweep's time (target at most 2%), and, from one
more fit at the suggestion (not timed), the test PSNR there against the sweep's best.

Cases:

- P1's 1D protocol (``p1-1d``) on row 200 of ``camera``: Gaussian sigma over
  ``logspace:-4:-1:24``, RFF scale over ``logspace:0:3:24``, triangle width over
  ``logspace:-3.6:-0.6:24`` (the ranges of ``docs/validate_oracle.py``), each sweep trained as
  one batch (:func:`posenc.neural_fields.fit_batched`);
- ``--full`` adds ``posenc fit``'s default 2D setting on ``camera`` (256 x 256, a 3 x 128 MLP,
  300 steps) against the 12-value ``auto`` sweep, its fits one by one (the lookup first layer
  of a single fit is cheaper than the batch's dense rows);
- ``--quick`` runs the RFF case alone, its 24-value sweep against the oracle as it runs by
  default. RFF is the cheapest of the three embeddings to fit (256 features against 10000
  centres) and its oracle costs about as much as theirs, so its share is the largest of the
  three: a quick run bounds the others.

Run from the repository root (or through ``benchmarks/run_all.py``)::

    python benchmarks/bench_oracle.py [--quick | --full] [--device cuda]
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import harness
import numpy as np

from posenc.embeddings import describe_embedding
from posenc.neural_fields import FitConfig, fit, fit_batched, load_config_signal, resolve_config
from posenc.oracle import suggest_bandwidth
from posenc.oracle.search import with_bandwidth
from posenc.sweeps.bandwidths import auto_bandwidths

TARGET_SHARE = 0.02
SIGNAL_1D = "camera:row=200"
CASES_1D = {
    "gaussian": (-4.0, -1.0),
    "rff": (0.0, 3.0),
    "triangle": (-3.6, -0.6),
}
"""Embedding -> log10 range of its 24-value sweep (matched by stable rank)."""
ORACLE_REPEATS = 3
REPEAT_SWEEPS_UNDER = 15.0
"""Seconds: a sweep shorter than this is timed as often as the oracle (RFF's took 2.7 to 9.8 s
in one day's runs, with the oracle's share 1.8 to 2.7 %)."""


def run(quick: bool, device: str, full: bool = False) -> list[dict[str, Any]]:
    """Rows per case: sweep and oracle seconds, their ratio, and the PSNR gap."""
    rows = []
    for name, (low, high) in CASES_1D.items():
        if quick and name != "rff":
            continue
        config = resolve_config("p1-1d", signal=SIGNAL_1D, embedding=name)
        values = np.logspace(low, high, 24).tolist()
        rows += case_rows(measure(config, values, batched=True, device=device))
    if full:
        config = resolve_config(signal="camera")
        values = auto_bandwidths("gaussian", 128)
        rows += case_rows(measure(config, values, batched=False, device=device))
    return rows


def measure(
    config: FitConfig, bandwidths: list[float], batched: bool, device: str
) -> dict[str, Any]:
    """Time the sweep over ``bandwidths`` and the oracle (its default range and count); fit
    once at the suggestion."""
    config = resolve_config(**{**config.to_dict(), "device": device})
    signal = load_config_signal(config)
    name = config.embedding
    bandwidth_name = _bandwidth_name(config)
    configs = [with_bandwidth(config, bandwidth_name, value) for value in bandwidths]

    def suggest() -> Any:
        return suggest_bandwidth(signal, config)

    def sweep() -> list[Any]:
        return fit_batched(signal, configs) if batched else [fit(signal, c) for c in configs]

    oracle_seconds: list[float] = []
    sweep_seconds: list[float] = []
    for index in range(ORACLE_REPEATS):
        seconds, suggestion = _timed(suggest)
        oracle_seconds.append(seconds)
        if index == 0 or sweep_seconds[0] < REPEAT_SWEEPS_UNDER:
            seconds, results = _timed(sweep)
            sweep_seconds.append(seconds)
    achieved = fit(signal, suggestion.config).test_psnr_last
    best = max(results, key=lambda result: result.test_psnr_last)
    return {
        "case": f"{config.protocol or 'fit defaults'}, {signal.name}, {name}",
        "sweep_runs": len(configs),
        "sweep_seconds": statistics.median(sweep_seconds),
        "sweep_repeats": len(sweep_seconds),
        "oracle_seconds": statistics.median(oracle_seconds),
        "bandwidth_name": bandwidth_name,
        "best_bandwidth": best.embedding.bandwidth,
        "best_psnr": best.test_psnr_last,
        "suggested_bandwidth": suggestion.bandwidth,
        "achieved_psnr": achieved,
        "predicted_psnr": suggestion.predicted_psnr,
    }


def case_rows(measured: dict[str, Any]) -> list[dict[str, Any]]:
    """The table rows of one measured case."""
    case, share = measured["case"], measured["oracle_seconds"] / measured["sweep_seconds"]
    label = measured["bandwidth_name"]
    times = (
        f"oracle {measured['oracle_seconds']:.2f} s (median of {ORACLE_REPEATS}), "
        f"sweep of {measured['sweep_runs']} fits {measured['sweep_seconds']:.1f} s"
        + (f" (median of {measured['sweep_repeats']})" if measured["sweep_repeats"] > 1 else "")
    )
    gap = measured["best_psnr"] - measured["achieved_psnr"]
    psnrs = (
        f"sweep best {label} {measured['best_bandwidth']:.4g}: {measured['best_psnr']:.2f} dB; "
        f"suggested {measured['suggested_bandwidth']:.4g}: {measured['achieved_psnr']:.2f} dB "
        f"(predicted {measured['predicted_psnr']:.2f})"
    )
    return [
        harness.row(
            "oracle", case, "oracle time / sweep time", 100 * share, "%",
            f"<= {100 * TARGET_SHARE:g}", share <= TARGET_SHARE, times,
        ),
        harness.row("oracle", case, "PSNR gap to the sweep's best", gap, "dB", note=psnrs),
    ]  # fmt: skip


def _bandwidth_name(config: FitConfig) -> str:
    name = describe_embedding(config.embedding).bandwidth_name
    assert name is not None
    return name


def _timed(work: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


if __name__ == "__main__":
    harness.run_standalone(run, __doc__.splitlines()[0])
