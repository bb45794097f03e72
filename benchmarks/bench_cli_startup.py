"""How fast the command line answers: ``posenc --help`` against ``python -c "import torch"``.

Each command runs in a fresh interpreter (``python -m posenc ...`` with this checkout first on
``sys.path``), interleaved with the others so that all see the same background load; the
rows are median wall times and the ratio of each ``--help`` to importing torch. A command
line that answers without the numerical stack stays well below the import of torch alone
(target: under half of it); one that imports torch to describe itself cannot. The bare
interpreter (``python -c pass``) is the floor. Repeats: 3 (``--quick``), 7 (default), 15
(``--full``).

    python benchmarks/bench_cli_startup.py [--quick | --full]
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import harness

REPEATS = {"quick": 3, "default": 7, "full": 15}
TARGET_RATIO = 0.5
"""``--help`` should take under half the time of importing torch."""
COMMANDS = {
    "python -c pass": ["-c", "pass"],
    'python -c "import torch"': ["-c", "import torch"],
    "posenc --help": ["-m", "posenc", "--help"],
    "posenc fit --help": ["-m", "posenc", "fit", "--help"],
    "posenc sweep --help": ["-m", "posenc", "sweep", "--help"],
    "posenc seq --help": ["-m", "posenc", "seq", "--help"],
}
TORCH = 'python -c "import torch"'


def command(arguments: list[str]) -> Any:
    """Run ``python ARGUMENTS`` from the checkout, output discarded; fail loudly."""
    env = dict(os.environ, PYTHONPATH=str(harness.REPO_ROOT))

    def work() -> None:
        subprocess.run(
            [sys.executable, *arguments],
            env=env,
            cwd=harness.REPO_ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    return work


def run(quick: bool, device: str, full: bool = False) -> list[dict[str, Any]]:
    """Median wall time of each command and each ``--help``'s ratio to importing torch."""
    repeats = REPEATS[harness.mode_name(quick, full)]
    works = {label: command(arguments) for label, arguments in COMMANDS.items()}
    seconds = harness.interleaved_medians(works, repeats, "cpu")
    rows = [
        harness.row("cli_startup", label, "wall time", value, "s", note=f"median of {repeats}")
        for label, value in seconds.items()
    ]
    for label, value in seconds.items():
        if label.startswith("posenc"):
            ratio = value / seconds[TORCH]
            rows.append(
                harness.row(
                    "cli_startup",
                    label,
                    "time / import torch",
                    ratio,
                    "x",
                    target=f"< {TARGET_RATIO:g}",
                    met=ratio < TARGET_RATIO,
                    note="measured side by side in this run",
                )
            )
    return rows


if __name__ == "__main__":
    harness.run_standalone(run, __doc__.splitlines()[0])
