"""Threads on a busy machine: spinning OpenMP threads against passive ones and a single thread.

The same work runs in three fresh interpreters while ``N`` competing processes multiply
matrices on one thread each (``--background-gemms N``, default 1; on two cores that is
already more runnable threads than cores):

- ``spinning``: torch's default, its threads (one per usable core) spin at barriers
  (torch imported before posenc, ``OMP_WAIT_POLICY`` unset);
- ``passive``: the same threads sleeping at barriers, what importing posenc first sets
  (``OMP_WAIT_POLICY=PASSIVE``, see ``posenc.threads``);
- ``one thread``: ``OMP_NUM_THREADS=1``.

The work: the stable rank and distance preservation of the ``p1-2d`` training matrix (what
``fit`` measures after training; small dense linear algebra), a ``p1-2d`` training step
(large GEMMs; median of a few), and (not with ``--quick``) a 20-step fit with ``posenc
fit``'s defaults (small kernels). Rows: each variant's seconds and spinning / passive.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import harness

SETTINGS = {
    "quick": {"size": 256, "step_repeats": 2, "fit_steps": 0},
    "default": {"size": 512, "step_repeats": 3, "fit_steps": 20},
    "full": {"size": 512, "step_repeats": 7, "fit_steps": 20},
}
VARIANTS = {
    "spinning": {"OMP_WAIT_POLICY": None, "OMP_NUM_THREADS": None},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": None},
    "one thread": {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"},
}


def measure(size: int, step_repeats: int, fit_steps: int) -> dict[str, float]:
    """Seconds of each piece of work (run in the measuring interpreter)."""
    from posenc.data import make_split
    from posenc.neural_fields import fit, load_config_signal, resolve_config
    from posenc.neural_fields.step import make_train_step

    config = resolve_config("p1-2d", size=size)
    signal = load_config_signal(config)
    split = make_split(signal.grid_shape, config.split)
    training = harness.build_training(config, signal, split, "lookup")
    start = time.perf_counter()
    training[0].training_matrix_metrics()
    seconds = {"training-matrix SR and DP": time.perf_counter() - start}
    step = make_train_step(*training)
    step()
    steps = [harness.timed(step, "cpu") for _ in range(step_repeats)]
    seconds[f"p1-2d {size}px training step"] = statistics.median(steps)
    if fit_steps:
        defaults = resolve_config(steps=fit_steps)
        result = fit(load_config_signal(defaults), defaults)
        seconds[f"default fit, {fit_steps} steps"] = result.timings["total"]
    return seconds


def in_fresh_process(variant: dict[str, str | None], settings: dict[str, int]) -> dict:
    """:func:`measure` in a new interpreter whose environment ``variant`` sets; torch is
    imported before posenc, so only the environment decides how threads wait."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in variant and key != harness.BACKGROUND_VARIABLE
    }
    environment.update({key: value for key, value in variant.items() if value is not None})
    code = (
        "import sys, json, torch\n"
        f"sys.path.insert(0, {str(harness.REPO_ROOT / 'benchmarks')!r})\n"
        "import bench_threads\n"
        f"print(json.dumps(bench_threads.measure(**{settings!r})))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def run(quick: bool, device: str, full: bool = False) -> list[dict[str, Any]]:
    """Every variant under the background load (the CPU only: ``device`` is not used)."""
    settings = SETTINGS[harness.mode_name(quick, full)]
    background = harness.background_count()
    with harness.background_gemms(background):
        seconds = {name: in_fresh_process(variant, settings) for name, variant in VARIANTS.items()}
    case = f"{background} background GEMM process(es), load {os.getloadavg()[0]:.1f}"
    rows = []
    for work in seconds["spinning"]:
        times = {name: seconds[name][work] for name in VARIANTS}
        note = ", ".join(f"{name} {value:.3g} s" for name, value in times.items())
        rows += [
            harness.row("threads", case, f"{work}: passive time", times["passive"], "s"),
            harness.row(
                "threads",
                case,
                f"{work}: spinning / passive",
                times["spinning"] / times["passive"],
                "x",
                note=note,
            ),
            harness.row(
                "threads",
                case,
                f"{work}: one thread / passive",
                times["one thread"] / times["passive"],
                "x",
            ),
        ]
    return rows


if __name__ == "__main__":
    harness.run_standalone(run, __doc__.splitlines()[0])
