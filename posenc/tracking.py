"""Experiment tracking: fits, sweep runs and sequence runs logged to TensorBoard or MLflow.

A :class:`Tracker` is one tracked run. Two kinds (``--log tensorboard``, ``--log mlflow``):

``tensorboard`` (extra ``posenc[tensorboard]``)
    event files in ``LOG_DIR/<run name>`` written by torch's ``SummaryWriter``: scalars by
    step, the config flattened as hyper-parameters (the HParams tab, beside the run's scalar
    tags) and as JSON text, PNG files as images. ``LOG_DIR`` is ``tensorboard/`` beside the
    run or sweep folder (``runs/tensorboard`` for the default folders), so
    ``tensorboard --logdir runs/tensorboard`` shows every run.
``mlflow`` (extra ``posenc[mlflow]``)
    a run in the experiment ``posenc`` (or ``$MLFLOW_EXPERIMENT_NAME``) of the tracking store
    MLflow picks: its embedded local store in the working directory by default, the server
    ``$MLFLOW_TRACKING_URI`` names otherwise. Metrics by step, the config flattened as
    parameters, every file as an artifact.

What a fit logs (:func:`log_fit_record`, :class:`TrackingCallback`): at each evaluation step
``train/loss``, ``train/psnr`` and ``test/psnr``; at the end ``final/*`` (train, test and
held-out PSNR, their means over the last steps, stable rank, distance preservation, fit
seconds); the full config; the run folder's figures and files. A sweep is a
:class:`TrackedGroup`: one tracked run per sweep run (MLflow: children of one run for the
sweep; TensorBoard: ``LOG_DIR/<sweep folder>/<run label>``), the sweep's figures on the
sweep's own run.

Trackers are imported only when one is opened; a missing library is a ``ValueError`` naming
the extra to install.
"""

from __future__ import annotations

import abc
import importlib.util
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posenc.choices import TrackerKind, options
from posenc.tables import flatten

if TYPE_CHECKING:
    from posenc.neural_fields.fitting import FitStep

TRACKERS = options(TrackerKind)
LOG_DIR_NAME = "tensorboard"
"""The folder of TensorBoard event files, beside the run or sweep folder."""
DEFAULT_EXPERIMENT = "posenc"
"""The MLflow experiment of posenc's runs unless ``$MLFLOW_EXPERIMENT_NAME`` names another."""
FINAL_METRICS = (
    "train_psnr",
    "test_psnr",
    "heldout_psnr",
    "train_psnr_last",
    "test_psnr_last",
    "stable_rank",
    "distance_preservation",
)
"""Entries of a fit's metrics record logged as ``final/<name>``."""
IMAGE_SUFFIXES = (".png",)


class Tracker(abc.ABC):
    """One tracked run: parameters, scalars by step, files; close it when done."""

    @abc.abstractmethod
    def log_params(self, params: Mapping[str, Any]) -> None:
        """The run's settings; nested mappings are flattened to dotted keys."""

    @abc.abstractmethod
    def log_scalars(self, values: Mapping[str, float], step: int) -> None:
        """Scalars at ``step`` (non-finite values are skipped)."""

    @abc.abstractmethod
    def log_file(self, path: Path, name: str | None = None) -> None:
        """A file of the run under ``name`` (default: its own name); PNGs are images."""

    @abc.abstractmethod
    def close(self, failed: bool = False) -> None:
        """End the run (as failed if ``failed``)."""


class TensorBoardTracker(Tracker):
    """Event files in ``log_dir`` (created), read by ``tensorboard --logdir``."""

    def __init__(self, log_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ValueError(missing_extra("tensorboard")) from None
        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(log_dir=str(self.log_dir))
        self.params: dict[str, Any] = {}
        self.tags: set[str] = set()

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.params.update(flatten(params))
        text = json.dumps(params, indent=2, default=str)
        self.writer.add_text("config", "\n".join("    " + line for line in text.splitlines()))

    def log_scalars(self, values: Mapping[str, float], step: int) -> None:
        for tag, value in finite(values).items():
            self.writer.add_scalar(tag, value, step)
            self.tags.add(tag)

    def log_file(self, path: Path, name: str | None = None) -> None:
        if Path(path).suffix.lower() not in IMAGE_SUFFIXES:
            return  # TensorBoard shows scalars, text and images; other files stay in the folder
        from imageio.v3 import imread

        image = imread(path)
        if image.ndim == 2:
            image = image[:, :, None]
        tag = Path(name or Path(path).name).stem
        self.writer.add_image(tag, image[:, :, :3], dataformats="HWC")

    def close(self, failed: bool = False) -> None:
        from torch.utils.tensorboard.summary import hparams

        if self.params:
            # The HParams tab lists the run's settings beside the scalar tags it logged.
            summaries = hparams(
                {key: hparam_value(value) for key, value in self.params.items()},
                dict.fromkeys(sorted(self.tags), 0.0),
            )
            writer = self.writer.file_writer
            assert writer is not None  # made by SummaryWriter's constructor
            for summary in summaries:
                writer.add_summary(summary)
        if failed:
            self.writer.add_text("status", "failed")
        self.writer.close()


class MlflowTracker(Tracker):
    """A run in an MLflow tracking store (see the module docstring for which store)."""

    BATCH = 100
    """Parameters or metrics sent per request (MLflow's limit for parameters)."""

    def __init__(
        self,
        run_name: str,
        *,
        tags: Mapping[str, str] | None = None,
        parent: MlflowTracker | None = None,
        resume: bool = False,
    ) -> None:
        """A new run called ``run_name`` with ``tags`` (a child of ``parent``); with
        ``resume``, the experiment's run carrying all of ``tags`` when there is one (a
        sweep's run is resumed with the sweep)."""
        try:
            from mlflow import MlflowClient
        except ImportError:
            raise ValueError(missing_extra("mlflow")) from None
        self.client = MlflowClient()
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", DEFAULT_EXPERIMENT)
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = (
            experiment.experiment_id if experiment else self.client.create_experiment(name)
        )
        tags = dict(tags or {})
        found: list[Any] = []
        if resume and tags:
            query = " and ".join(f"tags.`{key}` = '{value}'" for key, value in tags.items())
            found = self.client.search_runs([experiment_id], filter_string=query, max_results=1)
        if found:
            self.run_id = found[0].info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
            return
        if parent is not None:
            tags["mlflow.parentRunId"] = parent.run_id
        run = self.client.create_run(experiment_id, run_name=run_name, tags=tags)
        self.run_id = run.info.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        flat = [Param(key, str(value)) for key, value in flatten(params).items()]
        for start in range(0, len(flat), self.BATCH):
            self.client.log_batch(self.run_id, params=flat[start : start + self.BATCH])

    def log_scalars(self, values: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        metrics = [Metric(tag, value, stamp, step) for tag, value in finite(values).items()]
        for start in range(0, len(metrics), self.BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[start : start + self.BATCH])

    def log_file(self, path: Path, name: str | None = None) -> None:
        path = Path(path)
        if name is None or name == path.name:
            self.client.log_artifact(self.run_id, str(path))
            return
        with tempfile.TemporaryDirectory() as folder:
            renamed = Path(folder) / name
            shutil.copyfile(path, renamed)
            self.client.log_artifact(self.run_id, str(renamed))

    def close(self, failed: bool = False) -> None:
        self.client.set_terminated(self.run_id, status="FAILED" if failed else "FINISHED")


def missing_extra(kind: str) -> str:
    """The error for a tracker whose library is not installed."""
    return f"--log {kind} needs the {kind!r} extra: pip install 'posenc[{kind}]'"


def check_trackers(kinds: Iterable[str]) -> tuple[str, ...]:
    """``kinds`` without repeats, each one of :data:`TRACKERS` and installed (``ValueError``
    otherwise, naming the extra to install): checked before any work is done."""
    kinds = tuple(dict.fromkeys(kinds))
    unknown = [kind for kind in kinds if kind not in TRACKERS]
    if unknown:
        raise ValueError(f"unknown tracker {unknown[0]!r} (available: {', '.join(TRACKERS)})")
    for kind in kinds:
        try:
            found = importlib.util.find_spec(kind) is not None
        except ValueError:  # a module set to None in sys.modules: not importable
            found = False
        if not found:
            raise ValueError(missing_extra(kind))
    return kinds


def log_dir_for(folder: Path) -> Path:
    """Where TensorBoard writes the runs of ``folder``: ``tensorboard/<folder name>`` beside
    it (``runs/tensorboard/fit-...`` for ``runs/fit-...``)."""
    folder = Path(folder)
    return folder.parent / LOG_DIR_NAME / folder.name


def open_trackers(
    kinds: Iterable[str], folder: Path, tags: Mapping[str, str] | None = None
) -> list[Tracker]:
    """One tracker per kind for the run written to ``folder`` (its name names the run)."""
    trackers: list[Tracker] = []
    try:
        for kind in check_trackers(kinds):
            if kind == "tensorboard":
                trackers.append(TensorBoardTracker(log_dir_for(folder)))
            else:
                trackers.append(MlflowTracker(Path(folder).name, tags=tags))
    except BaseException:
        close_all(trackers, failed=True)
        raise
    return trackers


@contextmanager
def tracked(
    kinds: Iterable[str], folder: Path, tags: Mapping[str, str] | None = None
) -> Iterator[list[Tracker]]:
    """:func:`open_trackers` for a block; each run is closed, as failed if the block raises."""
    trackers = open_trackers(kinds, folder, tags)
    try:
        yield trackers
    except BaseException:
        close_all(trackers, failed=True)
        raise
    close_all(trackers)


def close_all(trackers: Iterable[Tracker], failed: bool = False) -> None:
    """Close every tracker."""
    for tracker in trackers:
        tracker.close(failed=failed)


class TrackingCallback:
    """A fit callback logging ``train/loss``, ``train/psnr`` and ``test/psnr`` to every
    tracker at each evaluation step, while the fit trains."""

    def __init__(self, trackers: Sequence[Tracker]) -> None:
        self.trackers = list(trackers)

    def __call__(self, step: FitStep) -> None:
        """Log the evaluation steps; other steps cost nothing."""
        if step.test_psnr is None:
            return
        values = {"train/loss": step.train_loss, "train/psnr": step.train_psnr}
        values["test/psnr"] = step.test_psnr
        for tracker in self.trackers:
            tracker.log_scalars(values, step.step)


def history_scalars(metrics: Mapping[str, Any]) -> Iterator[tuple[int, dict[str, float]]]:
    """``(step, scalars)`` at each evaluation step of a fit's metrics record: what
    :class:`TrackingCallback` logs live, read back from the history."""
    history = metrics["history"]
    train = history["train_psnr"]
    for step, test in zip(history["eval_steps"], history["test_psnr"], strict=True):
        values = {"test/psnr": test}
        if step <= len(train):
            values["train/psnr"] = train[step - 1]
            values["train/loss"] = 10 ** (-train[step - 1] / 10)
        yield step, values


def log_fit_record(
    trackers: Sequence[Tracker],
    metrics: Mapping[str, Any],
    files: Iterable[Path] = (),
    *,
    history: bool = True,
    params: bool = True,
) -> None:
    """Log a fit's metrics record (:meth:`~posenc.neural_fields.FitResult.metrics`): the
    config as parameters (unless ``params=False``, already logged), the history's scalars
    (unless ``history=False``, logged live), the ``final/*`` scalars at the last step, and
    ``files``."""
    last = len(metrics["history"]["train_psnr"])
    final = {f"final/{name}": metrics[name] for name in FINAL_METRICS}
    final["final/fit_seconds"] = metrics["timings_seconds"]["fit"]
    for tracker in trackers:
        if params:
            tracker.log_params(metrics["config"])
        if history:
            for step, values in history_scalars(metrics):
                tracker.log_scalars(values, step)
        tracker.log_scalars(final, last)
        for path in files:
            tracker.log_file(path)


class TrackedGroup:
    """Tracked runs that belong together, as a sweep's runs do: ``folder``'s own run (the
    MLflow parent, resumed with the sweep; TensorBoard ``LOG_DIR/<folder>/sweep``) and one
    child per :meth:`child`."""

    def __init__(self, kinds: Iterable[str], folder: Path, key: str) -> None:
        self.kinds = check_trackers(kinds)
        self.folder = Path(folder)
        self.trackers: list[Tracker] = []
        self.parent: MlflowTracker | None = None
        try:
            for kind in self.kinds:
                if kind == "tensorboard":
                    self.trackers.append(TensorBoardTracker(log_dir_for(self.folder) / "sweep"))
                else:
                    tags = {"posenc.sweep": key, "posenc.folder": str(self.folder.resolve())}
                    self.parent = MlflowTracker(self.folder.name, tags=tags, resume=True)
                    self.trackers.append(self.parent)
        except BaseException:
            self.close(failed=True)
            raise

    def child(self, name: str, tags: Mapping[str, str] | None = None) -> list[Tracker]:
        """Trackers of one member run called ``name`` (close them when it is logged)."""
        trackers: list[Tracker] = []
        for kind in self.kinds:
            if kind == "tensorboard":
                folder = re.sub(r"[^A-Za-z0-9.,=+-]+", "_", name)
                trackers.append(TensorBoardTracker(log_dir_for(self.folder) / folder))
            else:
                trackers.append(MlflowTracker(name, tags=tags, parent=self.parent))
        return trackers

    def log_files(self, paths: Iterable[Path]) -> None:
        """Files of the whole group (a sweep's figures and tables) on its own run."""
        for path in paths:
            for tracker in self.trackers:
                tracker.log_file(path)

    def close(self, failed: bool = False) -> None:
        """End the group's own run."""
        close_all(self.trackers, failed)


def log_sequence_run(kinds: Iterable[str], folder: Path) -> None:
    """Log a finished ``posenc seq train`` run folder as one tracked run: ``config.json`` as
    parameters; per learning-curve point ``train/loss`` and each split's ``<split>/error``
    and ``<split>/loss``; at the last step ``final/id_error``, ``final/ood_error`` and each
    split's ``final/<split>/error``; every file of the folder (its plots as images)."""
    folder = Path(folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    final = {"final/id_error": metrics["id_error"], "final/ood_error": metrics["ood_error"]}
    final |= {
        f"final/{split}/error": result["error"] for split, result in metrics["splits"].items()
    }
    with tracked(kinds, folder, {"posenc.command": "seq train"}) as trackers:
        for tracker in trackers:
            tracker.log_params(config)
            for point in metrics["curve"]:
                values = {"train/loss": point["train_loss"]}
                for split, result in point.items():
                    if isinstance(result, Mapping):
                        values |= {
                            f"{split}/error": result["error"],
                            f"{split}/loss": result["loss"],
                        }
                tracker.log_scalars(values, point["step"])
            tracker.log_scalars(final, len(metrics["train_loss"]))
            for path in sorted(folder.iterdir()):
                tracker.log_file(path)


def hparam_value(value: Any) -> bool | int | float | str:
    """A value TensorBoard's HParams accepts: numbers, text and booleans as they are; lists
    as JSON, ``None`` as ``"none"``."""
    if isinstance(value, bool | int | float | str):
        return value
    if value is None:
        return "none"
    return json.dumps(value, default=str)


def finite(values: Mapping[str, float]) -> dict[str, float]:
    """``values`` as floats, without NaN or infinities (neither tracker stores them well)."""
    floats = {tag: float(value) for tag, value in values.items() if value is not None}
    return {tag: value for tag, value in floats.items() if math.isfinite(value)}
