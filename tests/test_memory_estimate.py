"""The cost model: a fit's estimate bounds what it really takes, without refusing fits that
fit, and it is made before anything large exists."""

from __future__ import annotations

import json

import pytest

from posenc.config import resolve_config
from posenc.data import SignalShape
from posenc.neural_fields import plan_fit
from posenc.neural_fields.batched import batch_memory
from posenc.neural_fields.memory import MemoryEstimate, MemoryPart, check_memory
from tests.conftest import run_python

MEASURE = """
import json, sys
from posenc.config import resolve_config
from posenc.neural_fields import fit, load_config_signal, plan_fit
config = resolve_config(**json.loads(sys.argv[1]))
signal = load_config_signal(config)
plan = plan_fit(signal, config)
result = fit(signal, config)
print(json.dumps([plan.estimated_bytes, result.peak_memory_bytes, plan.first_layer.kind]))
"""


@pytest.mark.parametrize(
    ("overrides", "form"),
    [
        ({"size": 96, "steps": 10}, "dense"),
        ({"size": 96, "steps": 10, "model": "siren"}, "dense"),
        (
            {"size": 96, "steps": 10, "embedding": "triangle", "first_layer": "sparse",
             "embedding_params": {"num_centers": 3000}},
            "sparse",
        ),
        (
            {"size": 96, "steps": 10, "first_layer": "dense",
             "embedding_params": {"num_centers": 1500}},
            "dense",
        ),
        (
            {"signal": "camera:row=200", "model": "linear", "solver": "closed-form",
             "embedding_params": {"num_centers": 4000, "sigma": 0.002}},
            "dense",
        ),
    ],
)  # fmt: skip
def test_the_estimate_bounds_the_measured_peak_of_a_fresh_process(overrides, form) -> None:
    """Each fit in a process of its own, so that its peak is all its own (memory freed by
    earlier work in the same process would hide it)."""
    completed = run_python(MEASURE, json.dumps(overrides), threads=1)
    assert completed.returncode == 0, completed.stderr
    estimate, peak, planned = json.loads(completed.stdout.splitlines()[-1])
    assert planned == form
    assert peak <= estimate, f"peak {peak / 2**20:.0f} MiB above the estimate"
    assert estimate <= 3 * peak + 256 * 2**20, f"estimate {estimate / peak:.1f} x the peak"


def test_a_refusal_names_the_largest_part_and_the_flag_that_lowers_it() -> None:
    estimate = MemoryEstimate(
        (
            MemoryPart("signal", 2**30, "--size"),
            MemoryPart("embedded rows", 2**50, "--num-centers"),
        ),
        (MemoryPart("training", 2**40, "--width"), MemoryPart("evaluation", 2**45, "--size")),
    )
    assert estimate.total == 2**30 + 2**50 + 2**45
    with pytest.raises(ValueError) as refused:
        check_memory(estimate, __import__("torch").device("cpu"), "this fit")
    message = str(refused.value)
    assert message.startswith(f"this fit needs about {estimate.total / 2**30:.1f} GiB of cpu")
    assert "(embedded rows 1048576.0 GiB, evaluation 32768.0 GiB, signal 1.0 GiB)" in message
    assert message.endswith("lower --num-centers") and "\n" not in message


def test_planning_costs_nothing_whatever_the_sizes() -> None:
    """Ten billion centres (also as a separable model's 10^20-entry core), a million-wide
    network, a 100000 x 100000 image: each refused by the plan, from sizes alone, in well
    under a second's work and no allocation."""
    shape = SignalShape((100_000, 100_000), 3, load_bytes=0)
    for overrides, flag in (
        ({"embedding_params": {"num_centers": 10**10}}, "--num-centers"),
        ({"width": 10**6}, "--width"),
        ({"embedding": "rff", "embedding_params": {"num_frequencies": 10**9}}, "--num-frequencies"),
        (
            {"model": "separable", "depth": 0,
             "embedding_params": {"num_centers": 10**10, "compose": "separable"}},
            "--num-centers",
        ),
    ):  # fmt: skip
        config = resolve_config(**overrides)
        with pytest.raises(ValueError, match=f"lower {flag}"):
            plan_fit(SignalShape((256, 256), 1), config)
    with pytest.raises(ValueError, match="lower --size"):
        plan_fit(shape, resolve_config())


def test_a_batch_holds_the_runtime_and_the_signal_once() -> None:
    """Members of a batch train in one process on one signal: the batch's estimate adds
    their own parts but not the process's runtime or the shared signal."""
    shape = SignalShape((128, 128), 1, load_bytes=128 * 128 * 4)
    plans = [
        plan_fit(shape, resolve_config(embedding="gaussian", embedding_params={"sigma": sigma}))
        for sigma in (0.001, 0.01, 0.1)
    ]
    batch = batch_memory(plans)
    single = {part.name: part.bytes for part in plans[0].memory.holds}
    held = {part.name: part.bytes for part in batch.holds}
    assert held["runtime"] == single["runtime"] and held["signal"] == single["signal"]
    assert held["model"] == sum(
        next(part.bytes for part in plan.memory.holds if part.name == "model") for plan in plans
    )
    assert batch.total < sum(plan.memory.total for plan in plans)
