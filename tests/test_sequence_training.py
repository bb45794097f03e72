"""Training: configuration, reproducibility, measurement, and learning a trivial task."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posenc.sequence import training
from posenc.sequence.encodings import SEQUENCE_ENCODINGS
from posenc.sequence.model import CausalTransformer
from posenc.sequence.tasks import collate
from posenc.sequence.training import (
    RunConfig,
    TrainConfig,
    evaluate,
    learning_rate,
    resolve_config,
    train,
)

TINY_MODEL = {"layers": 1, "width": 32, "heads": 2}
TINY_TRAIN = {"steps": 12, "batch_size": 8, "eval_every": 6, "test_size": 20, "curve_size": 10}


def _tiny(pe: str = "cope", **train_values) -> RunConfig:
    return resolve_config(
        "counting",
        pe,
        task_params={"max_statements": 6},
        model=TINY_MODEL,
        train={**TINY_TRAIN, **train_values},
    )


@pytest.mark.parametrize("pe", list(SEQUENCE_ENCODINGS))
def test_every_encoding_learns_to_copy_the_written_bit(pe):
    # Flip-flop with two instructions, "w b r b": the answer is the token two steps back.
    config = resolve_config(
        "flipflop",
        pe,
        task_params={"num_instructions": 2, "ood_instructions": 2},
        model=TINY_MODEL,
        train={**TINY_TRAIN, "steps": 40, "batch_size": 16, "lr": 1e-2, "warmup_steps": 5},
    )
    metrics = train(config, progress=False).metrics
    assert metrics["train_loss"][0] > 0.5
    assert np.mean(metrics["train_loss"][-5:]) < 0.05
    assert metrics["id_error"] == 0.0


def test_a_run_repeats_exactly_with_its_seed_and_differs_with_another():
    first = train(_tiny(seed=3), progress=False).metrics
    again = train(_tiny(seed=3), progress=False).metrics
    other = train(_tiny(seed=4), progress=False).metrics
    assert first["train_loss"] == again["train_loss"]
    assert first["splits"] == again["splits"]
    assert first["train_loss"] != other["train_loss"]


def test_metrics_hold_every_split_and_the_learning_curve():
    metrics = train(_tiny(), progress=False).metrics
    assert list(metrics["splits"]) == ["id", "long"]
    assert metrics["primary_ood"] == "long"
    assert metrics["ood_error"] == metrics["splits"]["long"]["error"]
    assert len(metrics["train_loss"]) == 12
    assert [point["step"] for point in metrics["curve"]] == [6, 12]
    assert metrics["curve"][0]["id"]["sequences"] == 10
    assert metrics["splits"]["id"]["sequences"] == 20


@torch.no_grad()
def test_batched_evaluation_equals_one_sequence_at_a_time():
    config = _tiny()
    task = config.build_task()
    torch.manual_seed(0)
    model = CausalTransformer(config.model_config(task)).eval()
    examples = task.sample("long", np.random.default_rng(0), 13)
    wrong = losses = 0.0
    for example in examples:
        batch = collate([example])
        logits = model(batch.inputs)
        answer = logits[batch.mask]
        wrong += int((answer.argmax(-1) != batch.targets[batch.mask]).sum())
        losses += float(torch.nn.functional.cross_entropy(answer, batch.targets[batch.mask]))
    result = evaluate(model, examples, batch_size=4)
    assert result.error == pytest.approx(wrong / 13)
    assert result.sequence_error == pytest.approx(wrong / 13)
    assert result.loss == pytest.approx(losses / 13, rel=1e-5)


def test_a_fixed_training_set_is_visited_epoch_by_epoch(monkeypatch):
    monkeypatch.setattr(training, "collate", lambda examples, device: examples)
    config = _tiny(train_size=10, batch_size=4)
    data = training._TrainingData(config.build_task(), config.train, torch.device("cpu"))
    drawn = [id(example) for _ in range(5) for example in data.next_batch()]
    assert sorted(drawn) == sorted([id(example) for example in data.fixed] * 2)
    assert sorted(drawn[:10]) == sorted(id(example) for example in data.fixed)


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    config = TrainConfig(steps=110, lr=1.0, warmup_steps=10)
    assert learning_rate(config, 0) == pytest.approx(0.1)
    assert learning_rate(config, 9) == pytest.approx(1.0)
    assert learning_rate(config, 10) == pytest.approx(1.0)
    assert learning_rate(config, 110) == pytest.approx(0.1)
    constant = TrainConfig(steps=110, lr=1.0, warmup_steps=0, schedule="constant")
    assert learning_rate(constant, 100) == 1.0


def test_config_round_trips_through_its_dictionary():
    config = _tiny(train_size=50)
    assert RunConfig.from_dict(config.as_dict()).as_dict() == config.as_dict()
    assert config.as_dict()["model"]["context"] == config.build_task().context()


def test_a_diverging_run_stops_with_a_clear_error():
    message = r"counting/cope seed 0: training diverged at step 2 \(loss nan\); lower lr"
    with pytest.raises(ValueError, match=message):
        train(_tiny(lr=1e30, grad_clip=0.0), progress=False)


def test_small_counting_preset_has_three_variables_and_longer_ood_sequences():
    task = resolve_config("counting", "cope").build_task()
    assert task.parameters()["num_variables"] == 3
    assert task.variables == ("a", "b", "c")
    assert task.statements == {"id": (3, 32), "long": (33, 64)}


def test_paper_preset_matches_the_reference_recipe():
    config = resolve_config("counting", "cope", preset="paper").as_dict()
    assert config["model"] | {"vocab_size": 0} == {
        "vocab_size": 0,
        "context": 4 * 1024 + 2,
        "pe": "cope",
        "layers": 4,
        "width": 256,
        "heads": 4,
        "norm": "post",
        "dropout": 0.1,
        "max_position": 512,
        "tie_embeddings": True,
        "cope_gates": "key",
        "cope_scaled": True,
        "cope_every": 1,
        "cope_shared_table": False,
    }
    assert config["train"]["lr"] == 7e-5
    assert config["train"]["batch_size"] == 64
    assert config["train"]["train_size"] == 10000
    assert config["task_params"]["max_statements"] == 512


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"task": "count"}, "did you mean 'counting'"),
        ({"pe": "nope"}, "unknown position encoding 'nope'"),
        ({"preset": "huge"}, "preset must be one of small, paper"),
        ({"train": {"lr": float("nan")}}, "lr must be a finite number > 0"),
        ({"train": {"steps": 0}}, "steps must be an integer >= 1"),
        ({"train": {"warmup_steps": -1}}, "warmup_steps"),
        ({"train": {"momentum": 0.9}}, "unknown training setting 'momentum'"),
        ({"train": {"device": "tpu"}}, "device must be cpu, cuda or cuda:N"),
        ({"model": {"heads": 5}}, "divisible"),
        ({"task_params": {"max_statements": "many"}}, "max_statements"),
    ],
)
def test_bad_configurations_are_refused(overrides, message):
    arguments = {"task": "counting", "pe": "cope", **overrides}
    with pytest.raises(ValueError, match=message):
        resolve_config(**arguments)


def test_cuda_is_refused_where_absent(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_config("counting", "cope", train={"device": "cuda"})


def test_curves_use_validation_sequences_and_the_bar_shows_their_loss():
    config = _tiny()
    task = config.build_task()
    held = training.validation_sets(task, config.train)
    tests = training.test_sets(task, config.train)
    assert [len(held[split]) for split in task.splits] == [10, 10]
    assert [len(tests[split]) for split in task.splits] == [20, 20]
    # Drawn from their own stream: not the first test sequences (tiny tasks may repeat some).
    validation_rows = [example.tokens.tobytes() for example in held["id"]]
    assert validation_rows != [example.tokens.tobytes() for example in tests["id"][:10]]
    point = {"train_loss": 1.5, "id": {"loss": 0.25, "error": 0.125}}
    assert training.progress_postfix(point, task) == {
        "train": "1.500", "val": "0.250", "val_error": "0.125"
    }  # fmt: skip
    lm = resolve_config("lm", "rope", task_params={"context": 16}).build_task()
    point = {"train_loss": 1.5, "id": {"loss": 0.25, "error": 0.125, "bits_per_byte": 0.36}}
    assert training.progress_postfix(point, lm)["val_bpb"] == "0.360"
