"""Closed form against training: P2's separable closed form against the Adam-trained
``p1-2d`` MLP on the same image and split.

The closed form is ``resolve_config("p2-closed-form")`` (separable Gaussian, 256 centres per
axis, sigma 0.0025, ``W = pinv(Phi_x) S pinv(Phi_y)^T`` per channel) on the ``p1-2d``
image with the ``p1-2d`` (offset) split. The MLP is ``resolve_config("p1-2d")`` as ``fit``
runs it. Times are ``fit``'s embedding plus solving or training (``timings["fit"]``), the
closed form's the median of several fits. With fewer than the protocol's 2000 steps the MLP's
time is also extrapolated to 2000 steps (embedding + training time per step x 2000) and its
PSNR is the one reached after the steps run (labelled so); ``--full`` trains all 2000.
``--quick`` uses a 128 x 128 image and scales both bandwidths and the closed form's centres
with the pixel spacing (x 4, / 4), so that its PSNRs still mean something.
"""

from __future__ import annotations

import statistics
from typing import Any

import harness

from posenc.data import load_source
from posenc.neural_fields import PROTOCOLS, fit, resolve_config

SETTINGS = {
    "quick": {"size": 128, "steps": 10, "repeats": 3},
    "default": {"size": 512, "steps": 10, "repeats": 5},
    "full": {"size": 512, "steps": 2000, "repeats": 9},
}
PROTOCOL_STEPS = 2000
PROTOCOL_SIZE = 512
TARGET_SPEEDUP = 1000.0


def run(quick: bool, device: str, full: bool = False) -> list[dict[str, Any]]:
    """Fit the closed form several times and the MLP once; compare time and test PSNR."""
    settings = SETTINGS[harness.mode_name(quick, full)]
    stretch = PROTOCOL_SIZE / settings["size"]
    mlp_params = PROTOCOLS["p1-2d"]["embedding_params"]
    mlp_config = resolve_config(
        "p1-2d",
        size=settings["size"],
        steps=settings["steps"],
        eval_every=max(1, settings["steps"] // 20),
        last_k=max(1, settings["steps"] // 20),
        device=device,
        embedding_params={"sigma": mlp_params["sigma"] * stretch},
    )
    closed_params = PROTOCOLS["p2-closed-form"]["embedding_params"]
    closed_config = resolve_config(
        "p2-closed-form",
        signal=mlp_config.signal,
        size=mlp_config.size,
        split=mlp_config.split,
        device=device,
        embedding_params={
            "sigma": closed_params["sigma"] * stretch,
            "num_centers": round(closed_params["num_centers"] / stretch),
        },
    )
    signal = load_source(mlp_config.signal, size=mlp_config.size)
    closed = [fit(signal, closed_config) for _ in range(settings["repeats"])]
    closed_seconds = statistics.median(result.timings["fit"] for result in closed)
    mlp = fit(signal, mlp_config)
    steps = mlp_config.steps
    per_step = mlp.timings["train"] / steps
    extrapolated = mlp.timings["embed"] + per_step * PROTOCOL_STEPS
    speedup = extrapolated / closed_seconds
    case = f"{signal.name} {mlp_config.size}px, offset split"
    after = "" if steps == PROTOCOL_STEPS else f" after {steps} steps"
    gap = closed[0].test_psnr - mlp.test_psnr
    return [
        harness.row(
            "closed form",
            case,
            "closed-form fit time",
            closed_seconds,
            "s",
            note=f"median of {settings['repeats']}",
        ),
        harness.row(
            "closed form",
            case,
            f"MLP fit time, {steps} steps",
            mlp.timings["fit"],
            "s",
            note=f"first layer: {mlp.first_layer}",
        ),
        harness.row(
            "closed form",
            case,
            f"MLP / closed form, {steps} steps measured",
            mlp.timings["fit"] / closed_seconds,
            "x",
        ),
        harness.row(
            "closed form",
            case,
            f"MLP / closed form, {PROTOCOL_STEPS} steps",
            speedup,
            "x",
            target=f">= {TARGET_SPEEDUP:g}",
            met=speedup >= TARGET_SPEEDUP,
            note="measured" if steps == PROTOCOL_STEPS else f"extrapolated from {steps} steps",
        ),
        harness.row("closed form", case, "closed-form test PSNR", closed[0].test_psnr, "dB"),
        harness.row("closed form", case, f"MLP test PSNR{after}", mlp.test_psnr, "dB"),
        harness.row(
            "closed form",
            case,
            "closed form - MLP test PSNR",
            gap,
            "dB",
            target=">= 0",
            met=gap >= 0,
            note="" if steps == PROTOCOL_STEPS else f"MLP after {steps} of 2000 steps",
        ),
    ]


if __name__ == "__main__":
    harness.run_standalone(run, __doc__.splitlines()[0])
