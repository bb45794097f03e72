"""Roofline: one full-batch training step of the ``p1-2d`` shapes against its bare GEMMs.

The step is posenc's own (:func:`posenc.neural_fields.fitting.train_step`: forward, MSE,
backward, fused Adam) on the P1 2D problem: 65,536 training rows of a 1000-feature
concatenated Gaussian embedding, a 4 x 256 ReLU MLP with 3 sigmoid outputs. The bare GEMMs
are the matrix products that step must do with a dense first layer, on tensors of the same
shapes with preallocated outputs:

- forward: ``X W_1^T`` (N x 1000 by 1000 x 256), three ``H W_l^T`` (N x 256 by 256 x 256),
  the head ``H W_5^T`` (N x 256 by 256 x 3);
- backward: every weight gradient ``G_l^T H_{l-1}`` and every input gradient ``G_l W_l``
  except the first layer's (the embedding needs no gradient).

Rows: the dense step over its GEMMs (target <= 1.3) and the GFLOP/s both achieve; the step
in the form ``fit`` picks (``lookup``: the first layer from per-axis tables, see
``posenc.neural_fields.sparse``) over the same dense GEMMs and over its own GEMMs (the same
list with the first layer's replaced by the table products). Medians of interleaved repeats.
"""

from __future__ import annotations

from typing import Any

import harness
import torch
from torch import Tensor, nn

from posenc.data import make_split
from posenc.neural_fields import load_config_signal, resolve_config
from posenc.neural_fields.fitting import train_step
from posenc.neural_fields.sparse import SparseFeatures

SETTINGS = {"quick": {"size": 128, "repeats": 3}, "default": {"size": 512, "repeats": 5}}
SETTINGS["full"] = {"size": 512, "repeats": 15}
TARGET_RATIO = 1.3


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


def run(quick: bool, device: str, full: bool = False) -> list[dict[str, Any]]:
    """Time the step (dense and as ``fit`` runs it) against its bare GEMMs."""
    mode = harness.mode_name(quick, full)
    settings = SETTINGS[mode]
    config = resolve_config("p1-2d", size=settings["size"], device=device)
    signal = load_config_signal(config)
    split = make_split(signal.grid_shape, config.split)
    dense = harness.build_training(config, signal, split, "dense")
    lookup = harness.build_training(config, signal, split, "lookup")
    rows, features = len(split.train), dense[0].train_inputs.shape[1]
    dense_gemms = BareGemms(gemm_list(dense[1], rows, features), device, config.torch_dtype)
    lookup_features = lookup[0].train_inputs
    assert isinstance(lookup_features, SparseFeatures)
    lookup_gemms = BareGemms(
        lookup_gemm_list(lookup[1], rows, lookup_features), device, config.torch_dtype
    )
    medians = harness.interleaved_medians(
        {
            "dense step": lambda: train_step(*dense),
            "lookup step": lambda: train_step(*lookup),
            "dense GEMMs": dense_gemms,
            "lookup GEMMs": lookup_gemms,
        },
        settings["repeats"],
        device,
    )
    case = f"p1-2d {signal.grid_shape[0]}px, N={rows}, F={features}, 4x256"
    ratio = medians["dense step"] / medians["dense GEMMs"]
    gflops = dense_gemms.flops / 1e9
    note = f"median of {settings['repeats']} interleaved repeats"
    return [
        harness.row("roofline", case, "dense step time", medians["dense step"], "s", note=note),
        harness.row("roofline", case, "bare dense GEMMs time", medians["dense GEMMs"], "s"),
        harness.row(
            "roofline",
            case,
            "dense step / bare GEMMs",
            ratio,
            "x",
            target=f"<= {TARGET_RATIO}",
            met=ratio <= TARGET_RATIO,
        ),
        harness.row(
            "roofline", case, "dense step GFLOP/s", gflops / medians["dense step"], "GFLOP/s"
        ),
        harness.row(
            "roofline", case, "bare GEMMs GFLOP/s", gflops / medians["dense GEMMs"], "GFLOP/s"
        ),
        harness.row(
            "roofline",
            case,
            "lookup step (fit's choice) / bare dense GEMMs",
            medians["lookup step"] / medians["dense GEMMs"],
            "x",
            note="below 1: faster than the dense step's GEMMs alone",
        ),
        harness.row(
            "roofline",
            case,
            "lookup step / its own bare GEMMs",
            medians["lookup step"] / medians["lookup GEMMs"],
            "x",
            note=f"own GEMMs {lookup_gemms.flops / 1e9:.1f} GFLOP vs dense {gflops:.1f}",
        ),
    ]


if __name__ == "__main__":
    harness.run_standalone(run, __doc__.splitlines()[0])
