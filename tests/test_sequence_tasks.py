"""Task generators: deterministic per seed, valid (the checker recomputes every answer)."""

from __future__ import annotations

import numpy as np
import pytest

from posenc.sequence.tasks import (
    Counting,
    Example,
    FlipFlop,
    SelectiveCopy,
    collate,
    make_task,
)

SMALL_TASKS = [
    FlipFlop(num_instructions=24, ood_instructions=40),
    SelectiveCopy(num_tokens=6, num_symbols=5, blanks=6, dense_blanks=2, sparse_blanks=15),
    Counting(num_variables=3, max_statements=20),
    Counting(num_variables=1, min_statements=1, max_statements=4, max_value=2),
]
TASK_IDS = ["flipflop", "selective_copy", "counting3", "counting1"]


@pytest.mark.parametrize("task", SMALL_TASKS, ids=TASK_IDS)
def test_generators_are_deterministic_per_seed(task):
    for split in task.splits:
        first = task.sample(split, np.random.default_rng(11), 30)
        again = task.sample(split, np.random.default_rng(11), 30)
        other = task.sample(split, np.random.default_rng(12), 30)
        assert all(np.array_equal(a.tokens, b.tokens) for a, b in zip(first, again, strict=True))
        assert all(np.array_equal(a.answers, b.answers) for a, b in zip(first, again, strict=True))
        assert any(
            not np.array_equal(a.tokens, b.tokens) for a, b in zip(first, other, strict=True)
        )


@pytest.mark.parametrize("task", SMALL_TASKS, ids=TASK_IDS)
def test_every_generated_sequence_passes_the_checker(task):
    rng = np.random.default_rng(0)
    for split in task.splits:
        examples = task.sample(split, rng, 300)
        for example in examples:
            task.check(example, split)
            assert len(example.tokens) <= task.max_length(split)
            assert example.answers.any()


def _corrupt_answer(task, example):
    tokens = example.tokens.copy()
    position = int(np.flatnonzero(example.answers)[-1])
    answer_ids = {task.index[word] for word in ("0", "1")} if task.name == "flipflop" else None
    if answer_ids is not None:
        tokens[position] = (answer_ids - {tokens[position]}).pop()
    elif task.name == "selective_copy":
        tokens[position] = task.index["A"] + (tokens[position] - task.index["A"] + 1) % 5
    else:
        tokens[position] = task.index["0"] + (tokens[position] - task.index["0"] + 1) % 3
    return Example(tokens, example.answers)


@pytest.mark.parametrize("task", SMALL_TASKS, ids=TASK_IDS)
def test_checker_rejects_a_wrong_answer_and_a_wrong_mask(task):
    example = task.sample("id", np.random.default_rng(3), 1)[0]
    with pytest.raises(ValueError, match=task.name):
        task.check(_corrupt_answer(task, example), "id")
    shifted = Example(example.tokens, np.roll(example.answers, -1))
    with pytest.raises(ValueError, match="answer mask"):
        task.check(shifted, "id")


def test_checker_rejects_a_sequence_of_another_split():
    task = SMALL_TASKS[1]
    dense = task.sample("dense", np.random.default_rng(0), 1)[0]
    with pytest.raises(ValueError, match="context"):
        task.check(dense, "id")


def test_flipflop_follows_its_instruction_probabilities():
    task = FlipFlop(num_instructions=200)
    for split, ignore in (("id", 0.8), ("sparse", 0.98), ("dense", 0.1)):
        examples = task.sample(split, np.random.default_rng(1), 100)
        words = np.array([task.decode(example.tokens)[2:-2:2] for example in examples])
        assert (words == "i").mean() == pytest.approx(ignore, abs=0.01)
        assert (words == "w").mean() == pytest.approx((1 - ignore) / 2, abs=0.01)


def test_flipflop_hand_made_sequence():
    task = FlipFlop(num_instructions=4)
    good = Example(
        task.encode(["w", "1", "i", "0", "w", "0", "r", "0"]),
        np.array([0, 0, 0, 0, 0, 0, 0, 1], dtype=bool),
    )
    task.check(good, "id")
    wrong = Example(task.encode(["w", "1", "i", "0", "w", "0", "r", "1"]), good.answers)
    with pytest.raises(ValueError, match="returns 1, not 0"):
        task.check(wrong, "id")


def test_selective_copy_uses_the_documented_blank_counts():
    task = SMALL_TASKS[1]
    for split, blanks in (("id", 6), ("dense", 2), ("sparse", 15)):
        for example in task.sample(split, np.random.default_rng(2), 20):
            words = task.decode(example.tokens)
            assert words.count("_") == blanks
            assert words[-7] == "|"


def test_counting_respects_statement_ranges_and_the_value_cap():
    task = Counting(num_variables=2, max_statements=30, max_value=3)
    values = []
    for split, (low, high) in (("id", (3, 30)), ("long", (31, 60))):
        for example in task.sample(split, np.random.default_rng(4), 200):
            words = task.decode(example.tokens)
            statements = words.count("pass;") + words.count("++;") + words.count("=")
            assert low <= statements <= high
            values.append(int(words[-1]))
    assert max(values) == 3
    assert min(values) == 0


def test_counting_hand_made_sequence_and_official_grammar():
    task = Counting(num_variables=2, min_statements=1, max_statements=6)
    words = [
        "a",
        "=",
        "0",
        ";",
        "pass;",
        "a",
        "++;",
        "b",
        "=",
        "0",
        ";",
        "a",
        "++;",
        "b",
        "++;",
        "print",
        "a",
        "2",
    ]
    answers = np.zeros(len(words), dtype=bool)
    answers[-1] = True
    task.check(Example(task.encode(words), answers), "id")
    never_set = ["a", "=", "0", ";", "b", "++;", "print", "a", "0"]
    with pytest.raises(ValueError, match="invalid increment of b"):
        task.check(Example(task.encode(never_set), answers[-len(never_set) :]), "id")


def test_collate_pads_right_and_shifts_by_one():
    task = SMALL_TASKS[2]
    examples = task.sample("id", np.random.default_rng(0), 5)
    batch = collate(examples)
    longest = max(len(e.tokens) for e in examples)
    assert batch.inputs.shape == batch.targets.shape == batch.mask.shape == (5, longest - 1)
    for row, example in enumerate(examples):
        n = len(example.tokens)
        assert batch.inputs[row, : n - 1].tolist() == example.tokens[:-1].tolist()
        assert batch.targets[row, : n - 1].tolist() == example.tokens[1:].tolist()
        assert (batch.inputs[row, n:] == 0).all()
        assert (batch.targets[row, n - 1 :] == 0).all()
        assert int(batch.mask[row].sum()) == int(example.answers.sum())


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("flip", {}, "did you mean 'flipflop'"),
        ("flipflop", {"length": 3}, "no parameter 'length'"),
        ("flipflop", {"num_instructions": 1}, "num_instructions must be >= 2"),
        ("flipflop", {"ignore": 1.5}, r"ignore must be in \[0, 1\)"),
        ("selective_copy", {"num_symbols": 27}, "num_symbols must be <= 26"),
        ("selective_copy", {"blanks": -1}, "blanks must be an integer >= 0"),
        ("counting", {"min_statements": 9, "max_statements": 4}, "exceeds"),
        ("counting", {"max_statements": 4, "long_max_statements": 4}, "must exceed"),
    ],
)
def test_bad_task_parameters_are_refused(name, params, message):
    with pytest.raises(ValueError, match=message):
        make_task(name, **params)


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="counting split must be one of id, long"):
        SMALL_TASKS[2].sample("dense", np.random.default_rng(0), 1)
