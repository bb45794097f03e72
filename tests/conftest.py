"""Shared fixtures: run the command line as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def python_environment(
    threads: int | None = None, overrides: dict[str, str | None] | None = None
) -> dict[str, str]:
    """The environment of a fresh interpreter on this checkout: this one's, with the checkout
    on ``PYTHONPATH``, matplotlib's non-interactive backend, ``threads`` OpenMP threads if
    given, then ``overrides`` (a ``None`` value removes the variable)."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), MPLBACKEND="Agg")
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    for name, value in (overrides or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_python(
    script: str,
    *arguments: str,
    threads: int | None = None,
    env: dict[str, str | None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c SCRIPT ARGUMENTS`` in a fresh interpreter on this checkout
    (:func:`python_environment`, ``env`` its overrides): for what a test process that has run
    other tests cannot show, such as which modules an import loads, or a process's memory
    peak (other tests' threads allocate and free in the same process)."""
    return subprocess.run(
        [sys.executable, "-c", script, *arguments],
        cwd=REPO_ROOT,
        env=python_environment(threads, env),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def run_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m posenc ARGS`` in a subprocess; return the completed process."""

    def run(
        *args: str, cwd: Path | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), MPLBACKEND="Agg")
        return subprocess.run(
            [sys.executable, "-m", "posenc", *args],
            cwd=cwd or REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


SMALL_IMAGE_SWEEP = {
    "sweep": {
        "signals": ["camera"],
        "embeddings": ["gaussian", "rff", "basic"],
        "models": ["mlp"],
        "bandwidths": "auto:3",
    },
    "fit": {"size": 16, "steps": 8, "width": 8, "depth": 1, "eval_every": 4, "last_k": 2},
    "embedding_params": {"num_centers": 16, "num_frequencies": 8},
}
"""A finished 2D sweep in seconds: two embeddings with different bandwidth parameters, and
one embedding without a bandwidth."""


@pytest.fixture(scope="session")
def reported_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2D sweep with its ``report.html``: Gaussian and RFF at three bandwidths
    each, the basic Fourier mapping (no bandwidth), and one failed run in the store."""
    import json
    import time

    from posenc.report_page.sweep import write_sweep_report
    from posenc.sweeps import ResultStore, make_executor, resolve_sweep
    from posenc.sweeps import run_sweep as run
    from posenc.sweeps.store import FAILED, RunRecord

    spec = resolve_sweep(SMALL_IMAGE_SWEEP)
    folder = tmp_path_factory.mktemp("report") / "sweep"
    run(spec, folder, make_executor(), progress=False)
    config = spec.runs()[0].config
    failed = RunRecord(
        key="f" * 16, status=FAILED, signal=config.signal, embedding="gaussian",
        bandwidth_name="sigma", bandwidth=1e-6, model=config.model, seed=0, train_psnr=None,
        test_psnr=None, heldout_psnr=None, train_psnr_last=None, test_psnr_last=None,
        stable_rank=None, distance_preservation=None, num_train=None, fit_seconds=None,
        run_seconds=None, started_at=time.time(), finished_at=time.time(), executor="single",
        batch_size=1, worker="test", reconstruction=None, error="RuntimeError: diverged",
        config_json=json.dumps(config.to_dict()), metrics_json=None,
    )  # fmt: skip
    with ResultStore(folder / "results.sqlite") as store:
        store.record(failed)
    write_sweep_report(folder)
    return folder
