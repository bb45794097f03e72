"""Properties the speed work relies on (never timings): the written-out MLP step computes
autograd's loss and gradients, no per-step copy of the embedded matrix, fused Adam, every
phase timed, bf16 and tf32 precision, peak memory reported beside the embedded matrix's size."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from posenc.data import make_split
from posenc.neural_fields import build_model, fit, psnr, resolve_config
from posenc.neural_fields.embedded import FlatProblem
from posenc.neural_fields.fitting import make_adam
from posenc.neural_fields.pipeline import build_embedding, load_config_signal
from posenc.neural_fields.step import (
    MatrixProducts,
    MLPStep,
    OneDNNProducts,
    matrix_products,
    train_step,
)
from tests.conftest import run_python


def small_problem(first_layer: str, dtype: str = "float64", size: int = 40) -> FlatProblem:
    """The training rows of a small image in the given first-layer form."""
    config = resolve_config(
        size=size,
        dtype=dtype,
        embedding="triangle",
        embedding_params={"width": 0.05, "num_centers": 32},
    )
    signal = load_config_signal(config)
    split = make_split(signal.grid_shape, config.split)
    embedding = build_embedding(config, signal.ndim)
    return FlatProblem.build(signal, split, embedding, torch.device("cpu"), first_layer)


def autograd_gradients(model, problem: FlatProblem, precision: str = "fp32"):
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        prediction = model(problem.train_inputs)
    loss = F.mse_loss(prediction.to(problem.train_targets.dtype), problem.train_targets)
    loss.backward()
    return loss.detach(), [parameter.grad.clone() for parameter in model.parameters()]


@pytest.mark.parametrize("first_layer", ["dense", "lookup", "sparse"])
@pytest.mark.parametrize("sigmoid", [True, False])
@pytest.mark.parametrize("chunk_rows", [None, 37])  # one chunk; chunks with a ragged end
def test_the_written_out_step_computes_autograds_loss_and_gradients(
    first_layer, sigmoid, chunk_rows
) -> None:
    problem = small_problem(first_layer)
    torch.manual_seed(0)
    model = build_model(
        "mlp", in_features=64, out_channels=1, depth=3, width=8, sigmoid=sigmoid
    ).double()
    loss, gradients = autograd_gradients(model, problem)
    step = MLPStep(model, problem.train_inputs, problem.train_targets, chunk_rows=chunk_rows)
    assert step.chunk_rows == (37 if chunk_rows else 400)
    assert float(step()) == pytest.approx(float(loss), rel=1e-12)
    for parameter, expected in zip(model.parameters(), gradients, strict=True):
        torch.testing.assert_close(parameter.grad, expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("first_layer", ["dense", "lookup"])
@pytest.mark.parametrize("library", ["torch", "onednn"])
def test_each_library_computes_autograds_gradients_in_float32(first_layer, library) -> None:
    if library == "onednn" and not isinstance(
        matrix_products(torch.device("cpu"), torch.float32), OneDNNProducts
    ):
        pytest.skip("this PyTorch build has no oneDNN products")
    problem = small_problem(first_layer, dtype="float32")
    torch.manual_seed(0)
    # width 32: wide enough that oneDNN also takes the hidden layers' weight gradients
    model = build_model("mlp", in_features=64, out_channels=3, depth=3, width=32, sigmoid=True)
    problem.train_targets = problem.train_targets.expand(-1, 3) * torch.tensor([1.0, 0.5, 0.2])
    loss, gradients = autograd_gradients(model, problem)
    step = MLPStep(model, problem.train_inputs, problem.train_targets, chunk_rows=37)
    step.products = OneDNNProducts() if library == "onednn" else MatrixProducts()
    if first_layer == "dense":
        step.first.products = step.products
    assert float(step()) == pytest.approx(float(loss), rel=1e-5)
    for parameter, expected in zip(model.parameters(), gradients, strict=True):
        torch.testing.assert_close(
            parameter.grad, expected, rtol=1e-4, atol=1e-6 * float(expected.abs().max())
        )


def test_the_cpu_step_multiplies_with_onednn_where_it_can() -> None:
    cpu = torch.device("cpu")
    assert isinstance(matrix_products(cpu, torch.float64), MatrixProducts)
    assert not isinstance(matrix_products(cpu, torch.float64), OneDNNProducts)  # no float64
    usable = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    for dtype in (torch.float32, torch.bfloat16):
        assert isinstance(matrix_products(cpu, dtype), OneDNNProducts) == usable
    assert not isinstance(matrix_products(torch.device("cuda"), torch.float32), OneDNNProducts)


def test_the_bf16_step_follows_autocast() -> None:
    problem = small_problem("lookup", dtype="float32", size=64)
    torch.manual_seed(0)
    model = build_model("mlp", in_features=64, out_channels=1, depth=2, width=32, sigmoid=True)
    _, exact = autograd_gradients(model, problem)
    autocast_loss, autocast = autograd_gradients(model, problem, "bf16")
    step = MLPStep(model, problem.train_inputs, problem.train_targets, "bf16", chunk_rows=300)
    assert float(step()) == pytest.approx(float(autocast_loss), rel=1e-2)
    for parameter, reference, fp32 in zip(model.parameters(), autocast, exact, strict=True):
        scale = reference.abs().max()
        assert (parameter.grad - reference).abs().max() <= 0.05 * scale
        # bfloat16 really is used: its gradients are not float32's
        assert not torch.allclose(parameter.grad, fp32, rtol=1e-5, atol=0)


def test_fit_trains_with_the_written_out_step_as_with_autograd(monkeypatch) -> None:
    config = resolve_config(
        size=32, steps=15, eval_every=5, last_k=3, width=16, dtype="float64", seed=3
    )
    signal = load_config_signal(config)
    calls = []
    original = MLPStep.__call__
    monkeypatch.setattr(MLPStep, "__call__", lambda step: calls.append(1) or original(step))
    result = fit(signal, config)
    assert len(calls) == config.steps
    split = make_split(signal.grid_shape, config.split)
    embedding = build_embedding(config, signal.ndim)
    problem = FlatProblem.build(signal, split, embedding, torch.device("cpu"), result.first_layer)
    torch.manual_seed(config.seed)
    model = build_model(
        "mlp", in_features=embedding.out_dim, out_channels=1, depth=3, width=16, sigmoid=True
    ).double()
    optimizer = make_adam(model.parameters(), config)
    expected = [psnr(train_step(problem, model, optimizer)) for _ in range(config.steps)]
    assert result.history.train_psnr == pytest.approx(expected, abs=1e-8)


def test_fit_times_every_phase() -> None:
    config = resolve_config(size=32, steps=3, width=8)
    timings = fit(load_config_signal(config), config).timings
    phases = ("plan", "embed", "model", "train", "evaluate", "matrix_metrics")
    assert set(timings) == {*phases, "fit", "total"}
    assert all(timings[phase] >= 0 for phase in phases)
    assert timings["fit"] == pytest.approx(timings["embed"] + timings["train"])
    assert sum(timings[phase] for phase in phases) <= timings["total"]


def test_bf16_precision_fits_close_to_fp32(run_cli, tmp_path) -> None:
    args = ("fit", "camera", "--size", "48", "--steps", "40", "--width", "32", "--quiet")
    psnrs = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        result = run_cli(*args, "--precision", precision, "--out", str(out))
        assert result.returncode == 0, result.stderr
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["config"]["precision"] == precision
        psnrs[precision] = metrics["test_psnr"]
    assert psnrs["bf16"] == pytest.approx(psnrs["fp32"], abs=0.3)
    assert psnrs["bf16"] != psnrs["fp32"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"precision": "tf32"}, "needs an NVIDIA GPU with TF32 tensor cores"),
        ({"precision": "bf16", "dtype": "float64"}, "applies to float32 networks"),
        (
            {"precision": "bf16", "model": "linear", "solver": "closed-form", "depth": 0},
            "applies to float32 networks trained by Adam",
        ),
    ],
)
def test_precisions_say_where_they_do_not_apply(settings, message) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_config(**settings)


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


FIT_MEMORY = """
import json
from posenc.neural_fields import fit, load_config_signal, resolve_config
# 128 x 128 training pixels x 2 x 512 centres, float32: a 64 MiB dense training matrix
config = resolve_config(
    size=256, steps=2, depth=1, width=4, first_layer="dense",
    embedding_params={"sigma": 0.004, "num_centers": 512},
)
result = fit(load_config_signal(config), config)
print(json.dumps([result.embedded_matrix_bytes, result.peak_memory_bytes, result.metrics()]))
"""


def test_fit_reports_peak_memory_beside_the_embedded_matrix() -> None:
    """In a fresh process: the peak is the process's, which other tests' threads would
    move."""
    completed = run_python(FIT_MEMORY)
    assert completed.returncode == 0, completed.stderr
    matrix_bytes, peak_bytes, record = json.loads(completed.stdout.splitlines()[-1])
    assert matrix_bytes == 128 * 128 * 1024 * 4
    assert peak_bytes is not None and peak_bytes >= matrix_bytes
    assert record["first_layer"] == "dense"
    assert record["memory"]["peak_bytes"] == peak_bytes
    assert record["memory"]["embedded_matrix_bytes"] == matrix_bytes


PEAK_OF_A_BLOCK = """
import torch
from posenc.neural_fields.memory import PeakMemory
peak = PeakMemory(torch.device("cpu"))
peak.start()
# 128 MiB, touched: above the largest size the C allocator serves from freed memory
block = torch.ones(128 * 2**20 // 4)
print(peak.stop())
"""


def test_peak_memory_sees_an_allocation_inside_the_block() -> None:
    """In a fresh process, where no other thread frees memory during the block."""
    completed = run_python(PEAK_OF_A_BLOCK)
    assert completed.returncode == 0, completed.stderr
    assert int(completed.stdout.split()[-1]) >= 120 * 2**20
