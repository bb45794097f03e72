"""Sparse first layer: compact-support shifted bases as a gather of their active centres.

For each basis and each number of centres per axis (500 and 5000, concatenated over the two
axes of the ``p1-2d`` image), three copies of the ``p1-2d`` model start from the same
weights and train side by side, one step each in turn:

- ``dense``: the dense embedded matrix times the first layer's weight;
- ``sparse``: the active centres of each coordinate gathered (CSR rows, see
  ``posenc.neural_fields.sparse``): about ``2 K r`` of the ``K`` centres per axis;
- ``lookup``: what ``fit`` picks on pixel grids, the first layer from per-axis tables.

Bases (support radius ``r``): the Gaussian at P1's middle 2D width sigma 0.003, which the dense
path evaluates exactly and the sparse path cuts at ``sigma sqrt(2 ln(2 / eps))`` = 5.77
sigma in float32 (the tail is below half a unit in the last place of the peak); the
triangle of half-width 0.006; the box of width 0.01 (``rect``). Rows: median step time of
dense over sparse (target >= 3 at 5000 centres per axis) and over lookup, and the test PSNR
gap after the same steps (target |gap| <= 0.05 dB).
"""

from __future__ import annotations

import statistics
from typing import Any

import harness

from posenc.data import make_split
from posenc.neural_fields import load_config_signal, resolve_config
from posenc.neural_fields.step import train_step

BASES = {
    "gaussian": {"sigma": 0.003},
    "triangle": {"width": 0.006},
    "rect": {"width": 0.01},
}
CENTRES = (500, 5000)
SETTINGS = {
    "quick": {"size": 64, "steps": {500: 6, 5000: 4}},
    "default": {"size": 256, "steps": {500: 10, 5000: 5}},
    "full": {"size": 512, "steps": {500: 200, 5000: 50}},
}
FORMS = ("dense", "sparse", "lookup")
TARGET_SPEEDUP = 3.0
TARGET_PSNR_GAP = 0.05


def compare(basis: str, centres: int, size: int, steps: int, device: str) -> dict[str, Any]:
    """Train the three forms side by side; median step times (first step left out) and
    final test PSNRs."""
    config = resolve_config(
        "p1-2d",
        size=size,
        device=device,
        embedding=basis,
        embedding_params={**BASES[basis], "num_centers": centres, "compose": "concat"},
    )
    signal = load_config_signal(config)
    split = make_split(signal.grid_shape, config.split)
    trainings = {form: harness.build_training(config, signal, split, form) for form in FORMS}
    times: dict[str, list[float]] = {form: [] for form in FORMS}
    for _ in range(steps):
        for form, training in trainings.items():
            times[form].append(harness.timed(lambda t=training: train_step(*t), device))
    return {
        "seconds": {form: statistics.median(values[1:]) for form, values in times.items()},
        "psnr": {form: harness.test_psnr(*training[:2]) for form, training in trainings.items()},
        "active": trainings["sparse"][0].train_inputs.rows.values().numel() / len(split.train),
    }


def run(quick: bool, device: str, full: bool = False) -> list[dict[str, Any]]:
    """Every basis at 500 and 5000 centres per axis."""
    settings = SETTINGS[harness.mode_name(quick, full)]
    size = settings["size"]
    rows = []
    for centres in CENTRES:
        steps = settings["steps"][centres]
        for basis in BASES:
            measured = compare(basis, centres, size, steps, device)
            seconds, psnr = measured["seconds"], measured["psnr"]
            case = f"{basis} K={centres}/axis, {size}px, {steps} steps"
            speedup = seconds["dense"] / seconds["sparse"]
            gap = psnr["sparse"] - psnr["dense"]
            demanding = centres == max(CENTRES)
            rows += [
                harness.row(
                    "sparse",
                    case,
                    "dense / sparse step time",
                    speedup,
                    "x",
                    target=f">= {TARGET_SPEEDUP}" if demanding else "",
                    met=speedup >= TARGET_SPEEDUP if demanding else None,
                    note=f"dense {seconds['dense']:.3g} s, sparse {seconds['sparse']:.3g} s; "
                    f"{measured['active']:.0f} of {2 * centres} weights per row non-zero",
                ),
                harness.row(
                    "sparse",
                    case,
                    "sparse - dense test PSNR",
                    gap,
                    "dB",
                    target=f"|gap| <= {TARGET_PSNR_GAP}",
                    met=abs(gap) <= TARGET_PSNR_GAP,
                    note=f"dense {psnr['dense']:.3f} dB after {steps} steps",
                ),
                harness.row(
                    "sparse",
                    case,
                    "dense / lookup step time",
                    seconds["dense"] / seconds["lookup"],
                    "x",
                    note=f"lookup {seconds['lookup']:.3g} s, "
                    f"PSNR gap {psnr['lookup'] - psnr['dense']:+.2g} dB",
                ),
            ]
    return rows


if __name__ == "__main__":
    harness.run_standalone(run, __doc__.splitlines()[0])
