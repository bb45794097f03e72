"""Roofline: one full-batch training step of the ``p1-2d`` shapes against its required GEMMs,
as measured on the machine as it is and with competing processes added.

The P1 2D problem: 65,536 training rows of a 1000-feature concatenated Gaussian embedding,
a 4 x 256 ReLU MLP with 3 sigmoid outputs. The step is what ``posenc fit --protocol p1-2d``
runs: :class:`posenc.neural_fields.step.MLPStep` on the ``lookup`` first layer (the first
layer from per-axis tables, see ``posenc.neural_fields.sparse``), then fused Adam. Its
required GEMMs, on tensors of the same shapes, each timed with PyTorch's matrix multiply and,
where the step uses it (:func:`posenc.neural_fields.step.matrix_products`), with oneDNN; the
faster library is the reference (on CPUs where PyTorch's BLAS runs below full vector
width, such as MKL on AMD's, oneDNN is faster: 1.2x to 2.3x on the machines measured):

- forward: the table products ``B_p W_p^T`` (256 x 500 by 500 x 256 per axis), three
  ``H W_l^T`` (N x 256 by 256 x 256), the head ``H W_5^T`` (N x 256 by 256 x 3);
- backward: every weight gradient (the tables' ``G_p^T B_p`` included) and every input
  gradient ``G_l W_l`` of the layers after the first.

The dense step (autograd on the dense 65,536 x 1000 matrix) has the same list with the first
layer's ``X W_1^T`` and ``G_1^T X`` (N x 1000 by 1000 x 256) instead of the table products.

Rows, medians of interleaved repeats: the step over its GEMMs (target <= 1.25), then the same
while ``N`` processes multiply matrices on one thread each (``--background-gemms N``,
default 1; target <= 1.4); for reference the autograd steps over their GEMMs (dense and
lookup: how the step ran before it was written out), the step over the GEMMs by PyTorch's
matrix multiply alone and that library over oneDNN, and the bf16 step (``--precision bf16``)
over the float32 one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import harness
import torch
from torch import Tensor, nn

from posenc.data import make_split
from posenc.neural_fields import load_config_signal, resolve_config
from posenc.neural_fields.sparse import SparseFeatures
from posenc.neural_fields.step import (
    CHUNK_ROWS,
    MatrixProducts,
    OneDNNProducts,
    make_train_step,
    matrix_products,
    onednn_linear,
    train_step,
)

SETTINGS = {"quick": {"size": 128, "repeats": 3}, "default": {"size": 512, "repeats": 5}}
SETTINGS["full"] = {"size": 512, "repeats": 15}
TARGET_RATIO = 1.25
TARGET_LOADED_RATIO = 1.4


def gemm_list(model: nn.Module, rows: int, in_features: int) -> list[tuple[int, int, int]]:
    """``(m, k, n)`` of every GEMM a dense training step does (module docstring)."""
    linears = [module for module in model.modules() if isinstance(module, nn.Linear)]
    shapes = []
    for index, layer in enumerate(linears):
        fan_in, fan_out = layer.in_features, layer.out_features
        shapes.append((rows, fan_in, fan_out))  # forward
        shapes.append((fan_out, rows, fan_in))  # weight gradient
        if index > 0:
            shapes.append((rows, fan_out, fan_in))  # input gradient
    assert linears[0].in_features == in_features
    return shapes


def lookup_gemm_list(
    model: nn.Module, rows: int, features: SparseFeatures
) -> list[tuple[int, int, int]]:
    """The lookup step's GEMMs: the dense list with the first layer's two GEMMs replaced by
    the table products ``B_p W_p^T`` and their weight gradients."""
    shapes = gemm_list(model, rows, features.num_features)[2:]
    width = next(m for m in model.modules() if isinstance(m, nn.Linear)).out_features
    for block in features.blocks or ():
        distinct, centres = block.shape
        shapes += [(distinct, centres, width), (width, distinct, centres)]
    return shapes


class BareGemms:
    """The GEMMs of a shape list on random operands by one library: PyTorch's matrix
    multiply (``"torch"``) into preallocated outputs, or oneDNN's product (``"onednn"``,
    :func:`posenc.neural_fields.step.onednn_linear`) with the second operand stored
    transposed, as oneDNN wants it (the reduced dimension contiguous), so no copy is timed,
    and tall products cut into blocks of the step's :data:`CHUNK_ROWS` rows (oneDNN returns
    a new output, and the step's outputs are of that size; with whole 64 MiB outputs, most
    likely freshly mapped each time, the same GEMMs took 0.23 s in one run and 0.37 s in
    another, in blocks 0.214 s in three)."""

    def __init__(
        self, shapes: list[tuple[int, int, int]], device: str, dtype: torch.dtype, library: str
    ):
        make = {"device": device, "dtype": dtype}
        self.library = library
        self.operands: list[tuple[Tensor, Tensor, Tensor]] = [
            (torch.rand(m, k, **make), torch.rand(n, k, **make).T, torch.empty(m, n, **make))
            for m, k, n in shapes
        ]
        self.flops = sum(2 * m * k * n for m, k, n in shapes)

    @torch.no_grad()
    def __call__(self) -> None:
        for left, right, out in self.operands:
            if self.library == OneDNNProducts.name:
                for block in left.split(CHUNK_ROWS):
                    onednn_linear(block, right.T, None, "none")
            else:
                torch.mm(left, right, out=out)


def gemm_libraries(device: str, dtype: torch.dtype) -> list[str]:
    """The libraries the bare GEMMs are timed with: PyTorch's matrix multiply, and the one
    the step itself uses if it is another (:func:`posenc.neural_fields.step.matrix_products`)."""
    used = matrix_products(torch.device(device), dtype).name
    return list(dict.fromkeys([MatrixProducts.name, used]))


def fastest_library(
    times: dict[str, float], libraries: list[str]
) -> tuple[dict[str, float], dict[str, str]]:
    """``times`` with ``"dense GEMMs"`` and ``"lookup GEMMs"`` added, each the faster library's
    time among those measured (the roofline is the best this machine's PyTorch does), and
    which library that was, per form."""
    chosen, libraries_used = dict(times), {}
    for form in ("dense", "lookup"):
        measured = {
            library: times[f"{form} GEMMs {library}"]
            for library in libraries
            if f"{form} GEMMs {library}" in times
        }
        if measured:
            library = min(measured, key=measured.__getitem__)
            chosen[f"{form} GEMMs"], libraries_used[form] = measured[library], library
    return chosen, libraries_used


def library_rows(case: str, times: dict[str, float], libraries: list[str]) -> list[dict[str, Any]]:
    """Where oneDNN was timed too: the step against the GEMMs by PyTorch's matrix multiply
    alone (the reference before oneDNN), and the two libraries' times for the same GEMMs."""
    if OneDNNProducts.name not in libraries:
        return []
    by_torch = times[f"lookup GEMMs {MatrixProducts.name}"]
    by_onednn = times[f"lookup GEMMs {OneDNNProducts.name}"]
    return [
        harness.row(
            "roofline", case, "fit step / its bare GEMMs by torch.mm",
            times["fit step"] / by_torch, "x", note="PyTorch's own matrix multiply",
        ),
        harness.row(
            "roofline", case, "bare GEMMs by torch.mm / by oneDNN", by_torch / by_onednn, "x",
            note="the same products, two libraries",
        ),
    ]  # fmt: skip


def fit_step(training: tuple[Any, Any, Any], precision: str = "fp32") -> Callable[[], Any]:
    """The step ``fit`` repeats for this problem, model and optimiser."""
    return make_train_step(*training, precision)


def run(quick: bool, device: str, full: bool = False) -> list[dict[str, Any]]:
    """Time the steps against their bare GEMMs, first as the machine is, then under load."""
    mode = harness.mode_name(quick, full)
    settings = SETTINGS[mode]
    config = resolve_config("p1-2d", size=settings["size"], device=device)
    signal = load_config_signal(config)
    split = make_split(signal.grid_shape, config.split)
    dense = harness.build_training(config, signal, split, "dense")
    lookup = harness.build_training(config, signal, split, "lookup")
    rows, features = len(split.train), dense[0].train_inputs.shape[1]
    lookup_features = lookup[0].train_inputs
    assert isinstance(lookup_features, SparseFeatures)
    libraries = gemm_libraries(device, config.torch_dtype)
    lookup_shapes = lookup_gemm_list(lookup[1], rows, lookup_features)
    dense_shapes = gemm_list(dense[1], rows, features)
    gemms = {
        f"{form} GEMMs {library}": BareGemms(shapes, device, config.torch_dtype, library)
        for form, shapes in (("dense", dense_shapes), ("lookup", lookup_shapes))
        for library in libraries
    }
    steps = {
        "fit step": fit_step(harness.build_training(config, signal, split, "lookup")),
        "bf16 fit step": fit_step(harness.build_training(config, signal, split, "lookup"), "bf16"),
        "autograd dense step": lambda: train_step(*dense),
        "autograd lookup step": lambda: train_step(*lookup),
    }
    works = {**steps, **gemms}
    repeats = settings["repeats"]
    quiet, quiet_libraries = fastest_library(
        harness.interleaved_medians(works, repeats, device), libraries
    )
    background = harness.background_count()
    under_load = ["fit step", "autograd lookup step"] + [f"lookup GEMMs {x}" for x in libraries]
    with harness.background_gemms(background):
        loaded = harness.interleaved_medians(
            {key: works[key] for key in under_load}, repeats, device
        )
    loaded, loaded_libraries = fastest_library(loaded, libraries)
    case = f"p1-2d {signal.grid_shape[0]}px, N={rows}, F={features}, 4x256"
    loaded_case = f"{case}, {background} background GEMM process(es)"
    own = gemms[f"lookup GEMMs {libraries[0]}"].flops / 1e9
    dense_flops = gemms[f"dense GEMMs {libraries[0]}"].flops / 1e9
    ratio, loaded_ratio = (times["fit step"] / times["lookup GEMMs"] for times in (quiet, loaded))
    note = f"median of {repeats} interleaved repeats; own GEMMs {own:.1f} GFLOP"
    return [
        harness.row("roofline", case, "fit step time", quiet["fit step"], "s", note=note),
        harness.row(
            "roofline", case, "its bare GEMMs time", quiet["lookup GEMMs"], "s",
            note=f"by {quiet_libraries['lookup']}, the faster of {', '.join(libraries)}",
        ),
        *library_rows(case, quiet, libraries),
        harness.row(
            "roofline", case, "fit step / its bare GEMMs", ratio, "x",
            target=f"<= {TARGET_RATIO}", met=ratio <= TARGET_RATIO,
        ),
        harness.row(
            "roofline", case, "fit step GFLOP/s", own / quiet["fit step"], "GFLOP/s",
            note=f"bare GEMMs {own / quiet['lookup GEMMs']:.1f} GFLOP/s",
        ),
        harness.row(
            "roofline", case, "autograd lookup step / its bare GEMMs",
            quiet["autograd lookup step"] / quiet["lookup GEMMs"], "x",
            note="the same arithmetic through autograd",
        ),
        harness.row(
            "roofline", case, "autograd dense step / its bare GEMMs",
            quiet["autograd dense step"] / quiet["dense GEMMs"], "x",
            note=f"dense GEMMs {dense_flops:.1f} GFLOP",
        ),
        harness.row(
            "roofline", case, "fit step / bare dense GEMMs",
            quiet["fit step"] / quiet["dense GEMMs"], "x",
            note="below 1: faster than the dense step's GEMMs alone",
        ),
        harness.row(
            "roofline", case, "bf16 fit step / fit step",
            quiet["bf16 fit step"] / quiet["fit step"], "x",
            note="--precision bf16 against fp32",
        ),
        harness.row(
            "roofline", loaded_case, "fit step / its bare GEMMs, under load", loaded_ratio, "x",
            target=f"<= {TARGET_LOADED_RATIO}", met=loaded_ratio <= TARGET_LOADED_RATIO,
            note=f"fit step {loaded['fit step']:.3g} s, GEMMs {loaded['lookup GEMMs']:.3g} s "
            f"by {loaded_libraries['lookup']}",
        ),
        harness.row(
            "roofline", loaded_case, "autograd lookup step / its bare GEMMs, under load",
            loaded["autograd lookup step"] / loaded["lookup GEMMs"], "x",
        ),
    ]  # fmt: skip


if __name__ == "__main__":
    harness.run_standalone(run, __doc__.splitlines()[0])
