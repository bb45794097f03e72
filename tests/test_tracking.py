"""``--log tensorboard`` and ``--log mlflow``: what was logged, read back with each library."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from posenc.cli.main import main
from posenc.sweeps.store import ResultStore
from posenc.tracking import TrackedGroup, log_dir_for

QUICK = ["--size", "16", "--steps", "24", "--eval-every", "8", "--last-k", "4", "--width", "16"]
QUICK += ["--num-centers", "16", "--quiet"]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory and no tracking server: MLflow's own local store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return tmp_path


def events(folder: Path) -> event_accumulator.EventAccumulator:
    guidance = {event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0}
    accumulator = event_accumulator.EventAccumulator(str(folder), size_guidance=guidance)
    accumulator.Reload()
    return accumulator


def scalars(accumulator: event_accumulator.EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


def assert_series(actual: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    """Same steps, same values (TensorBoard stores float32)."""
    assert [step for step, _ in actual] == [step for step, _ in expected]
    assert [value for _, value in actual] == pytest.approx([v for _, v in expected], rel=1e-6)


def hyperparameters(accumulator: event_accumulator.EventAccumulator) -> dict:
    content = accumulator.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    values = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    return {name: getattr(value, value.WhichOneof("kind")) for name, value in values.items()}


def local_store(workdir: Path) -> MlflowClient:
    """The store MLflow made in the working directory when no server was named."""
    assert (workdir / "mlflow.db").is_file()
    return MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")


def posenc_runs(client: MlflowClient) -> list:
    experiment = client.get_experiment_by_name("posenc")
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time"])


def test_fit_logs_scalars_config_and_figures_to_both(workdir: Path) -> None:
    out = workdir / "runs" / "fit-one"
    assert main(["fit", *QUICK, "--out", str(out), "--log", "tensorboard", "mlflow"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    history = metrics["history"]
    expected = list(zip(history["eval_steps"], history["test_psnr"], strict=True))
    assert [step for step, _ in expected] == [8, 16, 21, 22, 23, 24]

    board = events(log_dir_for(out))
    assert log_dir_for(out) == workdir / "runs" / "tensorboard" / "fit-one"
    assert_series(scalars(board, "test/psnr"), expected)
    train = [(step, history["train_psnr"][step - 1]) for step, _ in expected]
    assert_series(scalars(board, "train/psnr"), train)
    assert_series(scalars(board, "final/test_psnr"), [(24, metrics["test_psnr"])])
    assert set(board.Tags()["images"]) == {"reconstruction", "error", "history"}
    params = hyperparameters(board)
    assert params["embedding_params.sigma"] == pytest.approx(0.01)
    assert params["steps"] == 24 and params["embedding"] == "gaussian"

    client = local_store(workdir)
    (run,) = posenc_runs(client)
    assert run.info.status == "FINISHED" and run.info.run_name == "fit-one"
    assert run.data.params["embedding_params.num_centers"] == "16"
    assert run.data.params["steps"] == "24"
    assert run.data.metrics["final/stable_rank"] == pytest.approx(metrics["stable_rank"])
    logged = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "test/psnr")]
    assert_series(sorted(logged), expected)
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert artifacts == {p.name for p in out.iterdir()}  # figures, metrics.json, config.json


def test_sweep_logs_one_tracked_run_per_sweep_run(workdir: Path) -> None:
    folder = workdir / "runs" / "sweep-small"
    arguments = ["sweep", "camera", *QUICK, "--sigma", "0.05", "0.2", "--out", str(folder)]
    assert main([*arguments, "--log", "tensorboard", "mlflow"]) == 0
    with ResultStore(folder / "results.sqlite") as results:
        store = {row["key"]: row for row in results.rows()}
    assert len(store) == 2

    client = local_store(workdir)
    parent, *children = posenc_runs(client)
    assert parent.info.run_name == "sweep-small" and len(children) == 2
    figures = {item.path for item in client.list_artifacts(parent.info.run_id)}
    assert {"results.csv", "results.json"} <= figures
    assert any(name.endswith(".png") for name in figures)
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        row = store[child.data.tags["posenc.run_key"]]
        assert child.data.metrics["final/test_psnr"] == pytest.approx(row["test_psnr"])
        assert child.data.params["embedding_params.sigma"] == str(row["bandwidth"])
        history = json.loads(row["metrics_json"])["history"]
        logged = client.get_metric_history(child.info.run_id, "test/psnr")
        assert len(logged) == len(history["eval_steps"])
        assert {item.path for item in client.list_artifacts(child.info.run_id)} == {
            "reconstruction.png"
        }

    boards = sorted(path for path in log_dir_for(folder).iterdir() if path.name != "sweep")
    assert len(boards) == 2
    for board in map(events, boards):
        assert len(scalars(board, "test/psnr")) == 4 + 2  # steps 8, 16 and the last 4
        assert board.Tags()["images"] == ["reconstruction"]

    # Running the finished sweep again trains nothing and resumes the sweep's own run.
    assert main([*arguments, "--log", "mlflow"]) == 0
    assert len(posenc_runs(client)) == 3


def test_a_tracking_server_named_by_the_environment_is_used(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = workdir / "server" / "store.db"
    elsewhere.parent.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{elsewhere}")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "mine")
    assert main(["fit", *QUICK, "--out", str(workdir / "f"), "--log", "mlflow"]) == 0
    assert not (workdir / "mlflow.db").exists()
    client = MlflowClient(tracking_uri=f"sqlite:///{elsewhere}")
    experiment = client.get_experiment_by_name("mine")
    assert len(client.search_runs([experiment.experiment_id])) == 1


def test_a_missing_extra_is_one_line(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    assert main(["fit", *QUICK, "--out", str(workdir / "f"), "--log", "mlflow"]) == 2
    error = capsys.readouterr().err
    assert "needs the 'mlflow' extra: pip install 'posenc[mlflow]'" in error
    assert not (workdir / "f").exists()


def test_a_group_closes_as_failed_when_asked(workdir: Path) -> None:
    group = TrackedGroup(["mlflow"], workdir / "sweep-x", "key-x")
    group.close(failed=True)
    (run,) = posenc_runs(local_store(workdir))
    assert run.info.status == "FAILED" and run.data.tags["posenc.sweep"] == "key-x"


def test_seq_train_logs_its_learning_curve_and_plots(workdir: Path) -> None:
    out = workdir / "runs" / "seq-one"
    tiny = ["--steps", "6", "--eval-every", "3", "--test-size", "12", "--layers", "1"]
    tiny += ["--width", "16", "--heads", "2", "--batch-size", "8", "--task-param"]
    tiny += ["num_instructions=6", "--task-param", "ood_instructions=6"]
    command = ["seq", "train", "--task", "flipflop", "--pe", "rope", *tiny, "--out", str(out)]
    assert main([*command, "--log", "tensorboard", "mlflow"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    curve = [(point["step"], point["id"]["error"]) for point in metrics["curve"]]
    assert [step for step, _ in curve] == [3, 6]

    board = events(log_dir_for(out))
    assert_series(scalars(board, "id/error"), curve)
    assert_series(scalars(board, "final/ood_error"), [(6, metrics["ood_error"])])
    assert board.Tags()["images"] == ["learning_curves"]
    assert hyperparameters(board)["model.width"] == 16

    (run,) = posenc_runs(local_store(workdir))
    assert run.data.tags["posenc.command"] == "seq train"
    assert run.data.params["pe"] == "rope" and run.data.params["train.steps"] == "6"
    assert run.data.metrics["final/id_error"] == pytest.approx(metrics["id_error"])
    client = local_store(workdir)
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert artifacts == {path.name for path in out.iterdir()}
