"""Properties the speed work relies on (never timings): no per-step copy of the embedded
matrix, fused Adam, peak memory reported beside the embedded matrix's size."""

from __future__ import annotations

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from posenc.data import make_split
from posenc.neural_fields import build_model, fit, resolve_config
from posenc.neural_fields.embedded import FlatProblem
from posenc.neural_fields.fitting import make_adam, train_step
from posenc.neural_fields.memory import PeakMemory
from posenc.neural_fields.pipeline import build_embedding, load_config_signal


def largest_allocation(work) -> int:
    """Bytes of the largest single allocation the profiler records while ``work()`` runs."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        work()
    return max(event.self_cpu_memory_usage for event in prof.events())


@pytest.mark.parametrize("first_layer", ["dense", "lookup", "sparse"])
def test_a_training_step_never_copies_the_embedded_matrix(first_layer) -> None:
    config = resolve_config(
        size=96, depth=2, width=8, embedding_params={"sigma": 0.005, "num_centers": 1024}
    )
    signal = load_config_signal(config)
    split = make_split(signal.grid_shape, config.split)
    embedding = build_embedding(config, signal.ndim)
    problem = FlatProblem.build(signal, split, embedding, torch.device("cpu"), first_layer)
    model = build_model(
        "mlp", in_features=embedding.out_dim, out_channels=1, depth=2, width=8, sigmoid=True
    )
    optimizer = make_adam(model.parameters(), config)
    train_step(problem, model, optimizer)
    matrix_bytes = embedding.embedded_bytes(len(split.train))  # 2304 x 2048 float32: 18 MiB

    def steps() -> None:
        for _ in range(2):
            train_step(problem, model, optimizer)

    assert 0 < largest_allocation(steps) < matrix_bytes / 8
    # the check can fail: the profiler does see a copy of that size
    dense = embedding(signal.coordinates()[split.train])
    assert largest_allocation(dense.clone) >= matrix_bytes


def test_adam_is_the_fused_kernel_with_the_configured_settings() -> None:
    config = resolve_config(lr=0.02, weight_decay=0.5)
    optimizer = make_adam(torch.nn.Linear(3, 2).parameters(), config)
    assert optimizer.defaults["fused"] is True
    assert optimizer.defaults["lr"] == 0.02 and optimizer.defaults["weight_decay"] == 0.5


def test_fit_reports_peak_memory_beside_the_embedded_matrix() -> None:
    # 128 x 128 training pixels x 2 x 512 centres, float32: a 64 MiB dense training matrix
    config = resolve_config(
        size=256,
        steps=2,
        depth=1,
        width=4,
        first_layer="dense",
        embedding_params={"sigma": 0.004, "num_centers": 512},
    )
    result = fit(load_config_signal(config), config)
    assert result.embedded_matrix_bytes == 128 * 128 * 1024 * 4
    assert result.peak_memory_bytes is not None
    assert result.peak_memory_bytes >= result.embedded_matrix_bytes
    record = result.metrics()
    assert record["first_layer"] == "dense"
    assert record["memory"]["peak_bytes"] == result.peak_memory_bytes
    assert record["memory"]["embedded_matrix_bytes"] == result.embedded_matrix_bytes


def test_peak_memory_sees_an_allocation_inside_the_block() -> None:
    peak = PeakMemory(torch.device("cpu"))
    peak.start()
    # 128 MiB, touched: above the largest size the C allocator serves from freed memory
    block = torch.ones(128 * 2**20 // 4)
    measured = peak.stop()
    del block
    assert measured is not None and measured >= 120 * 2**20
