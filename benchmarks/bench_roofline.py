"""Roofline: one full-batch training step of the ``p1-2d`` shapes against its required GEMMs,
as measured on the machine as it is and with competing processes added.

The P1 2D problem: 65,536 training rows of a 1000-feature concatenated Gaussian embedding,
a 4 x 256 ReLU MLP with 3 sigmoid outputs. The step is what ``posenc fit --protocol p1-2d``
runs: :class:`posenc.neural_fields.step.MLPStep` on the ``lookup`` first layer (the first
layer from per-axis tables, see ``posenc.neural_fields.sparse``), then fused Adam. Its
required GEMMs, on tensors of the same shapes with preallocated outputs:

- forward: the table products ``B_p W_p^T`` (256 x 500 by 500 x 256 per axis), three
  ``H W_l^T`` (N x 256 by 256 x 256), the head ``H W_5^T`` (N x 256 by 256 x 3);
- backward: every weight gradient (the tables' ``G_p^T B_p`` included) and every input
  gradient ``G_l W_l`` of the layers after the first.

The dense step (autograd on the dense 65,536 x 1000 matrix) has the same list with the first
layer's ``X W_1^T`` and ``G_1^T X`` (N x 1000 by 1000 x 256) instead of the table products.

Rows, medians of interleaved repeats: the step over its GEMMs (target <= 1.25), then the same
while ``N`` processes multiply matrices on one thread each (``--background-gemms N``,
default 1; target <= 1.4); for reference the autograd steps over their GEMMs (dense and
lookup: how the step ran before it was written out), and the bf16 step (``--precision
bf16``) over the float32 one.
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
from posenc.neural_fields.step import make_train_step, train_step

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
    """The GEMMs of a shape list on random operands with preallocated outputs."""

    def __init__(self, shapes: list[tuple[int, int, int]], device: str, dtype: torch.dtype):
        make = {"device": device, "dtype": dtype}
        self.operands: list[tuple[Tensor, Tensor, Tensor]] = [
            (torch.rand(m, k, **make), torch.rand(k, n, **make), torch.empty(m, n, **make))
            for m, k, n in shapes
        ]
        self.flops = sum(2 * m * k * n for m, k, n in shapes)

    @torch.no_grad()
    def __call__(self) -> None:
        for left, right, out in self.operands:
            torch.mm(left, right, out=out)


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
    gemms = {
        "dense": BareGemms(gemm_list(dense[1], rows, features), device, config.torch_dtype),
        "lookup": BareGemms(
            lookup_gemm_list(lookup[1], rows, lookup_features), device, config.torch_dtype
        ),
    }
    steps = {
        "fit step": fit_step(harness.build_training(config, signal, split, "lookup")),
        "bf16 fit step": fit_step(harness.build_training(config, signal, split, "lookup"), "bf16"),
        "autograd dense step": lambda: train_step(*dense),
        "autograd lookup step": lambda: train_step(*lookup),
    }
    works = {**steps, "dense GEMMs": gemms["dense"], "lookup GEMMs": gemms["lookup"]}
    repeats = settings["repeats"]
    quiet = harness.interleaved_medians(works, repeats, device)
    background = harness.background_count()
    with harness.background_gemms(background):
        loaded = harness.interleaved_medians(
            {key: works[key] for key in ("fit step", "autograd lookup step", "lookup GEMMs")},
            repeats,
            device,
        )
    case = f"p1-2d {signal.grid_shape[0]}px, N={rows}, F={features}, 4x256"
    loaded_case = f"{case}, {background} background GEMM process(es)"
    own = gemms["lookup"].flops / 1e9
    ratio, loaded_ratio = (times["fit step"] / times["lookup GEMMs"] for times in (quiet, loaded))
    note = f"median of {repeats} interleaved repeats; own GEMMs {own:.1f} GFLOP"
    return [
        harness.row("roofline", case, "fit step time", quiet["fit step"], "s", note=note),
        harness.row("roofline", case, "its bare GEMMs time", quiet["lookup GEMMs"], "s"),
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
            note=f"dense GEMMs {gemms['dense'].flops / 1e9:.1f} GFLOP",
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
            note=f"fit step {loaded['fit step']:.3g} s, GEMMs {loaded['lookup GEMMs']:.3g} s",
        ),
        harness.row(
            "roofline", loaded_case, "autograd lookup step / its bare GEMMs, under load",
            loaded["autograd lookup step"] / loaded["lookup GEMMs"], "x",
        ),
    ]  # fmt: skip


if __name__ == "__main__":
    harness.run_standalone(run, __doc__.splitlines()[0])
