"""Run a sweep into its folder, resuming where an earlier run of it stopped.

A sweep folder holds:

- ``results.sqlite``: the results store (:mod:`posenc.sweeps.store`), one row per run;
- ``sweep.toml`` and ``sweep.json``: the resolved sweep (``posenc sweep --config
  FOLDER/sweep.toml`` runs it again), and in the JSON every run's key, label and config;
- ``reconstructions/<key>.png`` (2D) or ``.npy`` (other): each finished run's prediction on
  the full grid, written under a temporary name and renamed before the run's row is written;
- ``figures/*.png``, ``results.csv``, ``results.json``: drawn and exported from the store
  (:mod:`posenc.sweeps.figures`).

The driver checks the folder and opens and checks the store before it writes anything
(a damaged store is refused, or moved aside with ``repair``), starts the executor (a Ray
cluster is connected here), then computes the list of run keys, skips those the store has as
``finished`` (a failed run is tried again), hands the rest to the executor and writes each
outcome to the store as it arrives. A run is therefore in the store exactly when it
finished; killing the process at any moment loses at most the runs in flight.

Processes that run the same sweep on one folder share it: each job's runs are claimed in the
store just before it starts (:mod:`posenc.sweeps.claims`), so every run is fitted by one
process; a process that has nothing left to claim waits for the runs others hold, and takes
over those of a process that died.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.image import imsave

from posenc import __version__
from posenc.files import atomic_path, write_text
from posenc.progress import progress_bar
from posenc.sweeps.claims import LEASE_SECONDS, WAIT_SECONDS, ClaimOwner, Heartbeat
from posenc.sweeps.jobs import Executor, Job, RunOutcome, RunTask
from posenc.sweeps.keys import runs_key
from posenc.sweeps.spec import SweepRun, SweepSpec
from posenc.sweeps.store import (
    FAILED,
    FINISHED,
    STORE_NAME,
    Repair,
    ResultStore,
    RunRecord,
    check_store,
    repair_store,
)
from posenc.sweeps.sweep_file import to_toml
from posenc.tracking import TrackedGroup, close_all, log_fit_record

SPEC_JSON = "sweep.json"
SPEC_TOML = "sweep.toml"
RECONSTRUCTIONS = "reconstructions"


@dataclass
class SweepSummary:
    """What one call of :func:`run_sweep` did."""

    folder: Path
    total: int
    already_finished: int
    finished: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    """``(run label, error)`` of every run that failed in this call."""
    by_others: int = 0
    """Runs that other processes sharing the folder finished during this call."""
    repair: Repair | None = None
    """What ``repair`` did to the store, if it was asked for."""


def check_folder(folder: Path, runs: Sequence[SweepRun]) -> None:
    """Raise ``ValueError`` if ``folder`` is a file, a non-empty folder that is not a sweep
    folder, or the folder of a different sweep; write nothing."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"output folder {str(folder)!r} is a file")
    spec_file = folder / SPEC_JSON
    if spec_file.exists():
        _check_same_sweep(folder, spec_file, runs)
    elif folder.exists() and any(folder.iterdir()):
        raise ValueError(
            f"output folder {str(folder)!r} is not empty and holds no {SPEC_JSON}: "
            "not a sweep folder"
        )


def prepare_folder(spec: SweepSpec, folder: Path, runs: Sequence[SweepRun]) -> None:
    """Create ``folder`` for ``spec`` (or check that it already holds this very sweep) and
    write ``sweep.toml`` and ``sweep.json``; raises as :func:`check_folder`."""
    folder = Path(folder)
    check_folder(folder, runs)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(
            f"output folder {str(folder)!r} cannot be created: {error.strerror or error}"
        ) from None
    description = {
        "posenc_version": __version__,
        "key": runs_key([run.key for run in runs]),
        "spec": spec.to_mapping(),
        "runs": [
            {"key": run.key, "label": run.label, "config": run.config.to_dict()} for run in runs
        ],
    }
    write_text(folder / SPEC_TOML, to_toml(spec.to_mapping()))
    write_text(folder / SPEC_JSON, json.dumps(description, indent=1) + "\n")


def _check_same_sweep(folder: Path, spec_file: Path, runs: Sequence[SweepRun]) -> None:
    try:
        stored = {run["key"] for run in json.loads(spec_file.read_text())["runs"]}
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{spec_file}: not a readable sweep description") from None
    wanted = {run.key for run in runs}
    if stored != wanted:
        raise ValueError(
            f"output folder {str(folder)!r} holds a different sweep ({len(stored)} runs, "
            f"{len(stored - wanted)} of them not in this one, which has {len(wanted)}); "
            "choose another --out"
        )


def run_sweep(
    spec: SweepSpec,
    folder: Path,
    executor: Executor,
    *,
    progress: bool | None = None,
    repair: bool = False,
    tracking: TrackedGroup | None = None,
) -> SweepSummary:
    """Run every run of ``spec`` not yet finished in ``folder``; write each as it ends.

    Before anything is written the folder and its store are checked (``ValueError`` for a
    damaged store, unless ``repair`` moves it aside and keeps its readable finished runs:
    :func:`~posenc.sweeps.store.repair_store`) and the executor is started. Runs are
    claimed job by job, so other processes running the same sweep on ``folder`` share them.

    ``progress``: the sweep's bar (``None``: in a terminal or a notebook), counting runs and
    the parts of runs trained so far where the executor reports training steps.
    ``tracking``: each finished run is also logged there, as its own tracked run
    (:func:`track_outcome`).
    """
    folder = Path(folder)
    runs = spec.runs()
    check_folder(folder, runs)
    path = folder / STORE_NAME
    repaired = repair_store(path, {run.key for run in runs}) if repair else None
    if path.exists():
        check_store(path).close()
    executor.start()
    try:
        prepare_folder(spec, folder, runs)
        with ResultStore(path) as store:
            summary = _run(store, folder, runs, executor, progress, tracking)
    finally:
        executor.stop()
    summary.repair = repaired
    return summary


def _run(
    store: ResultStore,
    folder: Path,
    runs: Sequence[SweepRun],
    executor: Executor,
    progress: bool | None,
    tracking: TrackedGroup | None,
) -> SweepSummary:
    """Claim, fit and record the runs not finished yet, until none is left to this process."""
    owner = ClaimOwner.current()
    by_key = {run.key: run for run in runs}
    finished = store.keys(FINISHED) & set(by_key)
    summary = SweepSummary(folder, len(runs), len(finished))
    attempted: set[str] = set()

    def claim(job: Job) -> Job:
        held = set(store.claim([task.key for task in job], owner, LEASE_SECONDS))
        attempted.update(held)
        return tuple(task for task in job if task.key in held)

    bar = RunsBar(by_key, finished, progress)
    try:
        with Heartbeat(store.path, owner):
            while True:
                left = [key for key in by_key if key not in finished and key not in attempted]
                if not left:
                    break
                free = store.claimable(left, owner, LEASE_SECONDS)
                if not free:  # every run left is another live process's: wait for them
                    bar.note(f"{len(left)} run(s) running in other processes")
                    time.sleep(WAIT_SECONDS)
                else:
                    tasks = [RunTask(key, by_key[key].config) for key in free]
                    for outcome in executor.execute(tasks, claim=claim, on_steps=bar.trained):
                        run = by_key[outcome.task.key]
                        _record(store, folder, run, outcome, summary, bar, tracking)
                finished = store.keys(FINISHED) & set(by_key)
                bar.finished_elsewhere(finished)
    finally:
        store.release(owner)
        bar.close()
    summary.by_others = len(finished) - summary.already_finished - summary.finished
    return summary


def _record(
    store: ResultStore,
    folder: Path,
    run: SweepRun,
    outcome: RunOutcome,
    summary: SweepSummary,
    bar: RunsBar,
    tracking: TrackedGroup | None,
) -> None:
    """Write one outcome (its row releases the run's claim), count it and track it."""
    record = outcome_record(folder, run, outcome)
    store.record(record)
    if outcome.status == FINISHED and outcome.metrics is not None:
        summary.finished += 1
        bar.finished(run, f"{run.label}: test {outcome.metrics['test_psnr']:.2f} dB")
        if tracking is not None:
            track_outcome(tracking, folder, run, outcome.metrics, record)
    else:
        summary.failed.append((run.label, outcome.error or ""))
        bar.finished(run, f"{run.label}: failed")


class RunsBar:
    """The sweep's bar in runs: a finished run counts 1, a run in training the fraction of
    its steps taken so far (reported by the executor, never more than 1; a report that
    arrives after its run's outcome is ignored)."""

    FORMAT = "{l_bar}{bar}| {n:.1f}/{total_fmt} runs [{elapsed}<{remaining}{postfix}]"

    def __init__(self, runs: dict[str, SweepRun], done: set[str], progress: bool | None) -> None:
        self.runs = runs
        self.trained_fraction: dict[str, float] = {}
        self.ended: set[str] = set()
        self.counted_before = set(done)
        self.bar = progress_bar(
            progress, total=len(runs), initial=len(done), desc="sweep", bar_format=self.FORMAT
        )

    def trained(self, keys: Sequence[str], steps: int) -> None:
        """The runs ``keys`` each took ``steps`` more training steps."""
        for key in keys:
            if key in self.ended:
                continue
            before = self.trained_fraction.get(key, 0.0)
            now = min(1.0, before + steps / self.runs[key].config.steps)
            self.trained_fraction[key] = now
            self.bar.update(now - before)

    def finished(self, run: SweepRun, note: str) -> None:
        """``run`` ended: count the rest of it."""
        self.bar.set_postfix_str(note, refresh=False)
        self.bar.update(1.0 - self.trained_fraction.pop(run.key, 0.0))
        self.ended.add(run.key)

    def note(self, text: str) -> None:
        """Show ``text`` beside the bar."""
        self.bar.set_postfix_str(text)

    def finished_elsewhere(self, keys: set[str]) -> None:
        """The runs ``keys`` are finished (by this process or another): count those not
        counted yet."""
        for key in keys - self.ended - self.counted_before:
            self.ended.add(key)
            self.bar.update(1.0 - self.trained_fraction.pop(key, 0.0))

    def close(self) -> None:
        """Leave the bar on the screen, complete."""
        self.bar.close()


def track_outcome(
    tracking: TrackedGroup,
    folder: Path,
    run: SweepRun,
    metrics: dict[str, Any],
    record: RunRecord,
) -> None:
    """Log one finished sweep run as a tracked run of ``tracking``: its config, history,
    final metrics and reconstruction image."""
    files = []
    if record.reconstruction is not None and record.reconstruction.endswith(".png"):
        files.append(Path(folder) / record.reconstruction)
    trackers = tracking.child(f"{run.label} {run.key[:8]}", tags={"posenc.run_key": run.key})
    try:
        log_fit_record(trackers, metrics)
        for tracker in trackers:
            for path in files:
                tracker.log_file(path, "reconstruction.png")
    finally:
        close_all(trackers)


def export_results(folder: Path) -> list[Path]:
    """Export the store of ``folder`` to ``results.csv`` and ``results.json``; return them."""
    folder = Path(folder)
    with ResultStore(folder / STORE_NAME, create=False) as store:
        return [
            store.export_csv(folder / "results.csv"),
            store.export_json(folder / "results.json"),
        ]


def outcome_record(folder: Path, run: SweepRun, outcome: RunOutcome) -> RunRecord:
    """The store row of ``outcome``; a finished run's reconstruction is saved first."""
    config = run.config
    metrics = outcome.metrics or {}
    reconstruction = None
    if outcome.status == FINISHED and outcome.prediction is not None:
        reconstruction = save_reconstruction(folder, run.key, outcome.prediction)
    return RunRecord(
        key=run.key,
        status=outcome.status,
        signal=config.signal,
        embedding=config.embedding,
        bandwidth_name=run.bandwidth_name,
        bandwidth=run.bandwidth,
        model=config.model,
        seed=config.seed,
        train_psnr=metrics.get("train_psnr"),
        test_psnr=metrics.get("test_psnr"),
        heldout_psnr=metrics.get("heldout_psnr"),
        train_psnr_last=metrics.get("train_psnr_last"),
        test_psnr_last=metrics.get("test_psnr_last"),
        stable_rank=metrics.get("stable_rank"),
        distance_preservation=metrics.get("distance_preservation"),
        num_train=metrics.get("split", {}).get("train"),
        fit_seconds=metrics.get("timings_seconds", {}).get("fit"),
        run_seconds=(outcome.finished_at - outcome.started_at) / outcome.batch_size,
        started_at=outcome.started_at,
        finished_at=outcome.finished_at,
        executor=outcome.executor,
        batch_size=outcome.batch_size,
        worker=outcome.worker,
        reconstruction=reconstruction,
        error=outcome.error if outcome.status == FAILED else None,
        config_json=json.dumps(config.to_dict(), sort_keys=True),
        metrics_json=json.dumps(metrics) if metrics else None,
    )


def save_reconstruction(folder: Path, key: str, prediction: np.ndarray) -> str:
    """Save a full-grid prediction ``(*grid, C)``; return its path relative to ``folder``.

    2D grids become an 8-bit PNG (gray for one channel, else RGB; values clipped to
    [0, 1]); other grids a float32 ``.npy``. The file is written under a temporary name and
    renamed, so it is either whole or absent.
    """
    directory = Path(folder) / RECONSTRUCTIONS
    directory.mkdir(exist_ok=True)
    if prediction.ndim == 3 and prediction.shape[-1] in (1, 3):
        image = np.clip(prediction, 0.0, 1.0)
        name = f"{key}.png"
        with atomic_path(directory / name) as path:
            _save_png(path, image)
    else:
        name = f"{key}.npy"
        with atomic_path(directory / name) as path:
            np.save(path, prediction.astype(np.float32))
    return f"{RECONSTRUCTIONS}/{name}"


def _save_png(path: Path, image: np.ndarray) -> None:
    if image.shape[-1] == 1:
        imsave(path, image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, format="png")
    else:
        imsave(path, image, format="png")
