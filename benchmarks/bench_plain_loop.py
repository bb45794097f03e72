"""Against a plain loop: the P1 2D protocol as the papers' notebooks run it, and as posenc does.

The plain loop is written here with torch alone, the way the notebooks run the protocol: the
concatenated Gaussian embedding (500 centres per axis, the protocol's sigma) precomputed for the
training and test pixels and divided by the largest training row norm, an
``nn.Sequential`` 4 x 256 ReLU MLP with a sigmoid, ``torch.optim.Adam`` (lr 1e-3, weight
decay 1e-8), the training loss read back with ``.item()`` after every step and the test
PSNR after each of the last ``last_k`` steps (P1 reports the mean test PSNR of the last 100
of 2000 steps). posenc runs :func:`posenc.neural_fields.fit` with
``resolve_config("p1-2d")`` (what ``posenc fit --protocol p1-2d`` calls) on the same image,
split, seed and step count; both models start from the same weights (same seed, same layer
order), and both processes use torch's default threads.

posenc tests every 100 steps and at each of the last ``last_k``; with fewer steps than the
protocol's 2000, ``last_k`` shrinks in proportion (1 of 20), for both. Both final test PSNRs
are the PSNR of the final model on the test pixels. Timed: the plain loop from embedding to
its last step, against ``fit``'s embedding and training (``timings["fit"]``); the whole
``fit`` call (which also plans, reconstructs the full image and measures stable rank and DP)
is reported too, with the share of its time that is not training (target <= 10 % at 200
steps: ``--full`` measures it; with fewer steps it is extrapolated to 200 from the measured
phases and time per step). Peak memory: each run's largest addition to the process's
resident memory (``fit``'s own report), beside the size of the dense embedded training
matrix. Each run has a fresh interpreter of its own.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import importlib
import math
import multiprocessing
import time
from typing import Any

import harness
import torch
from torch import Tensor, nn

from posenc.data import Signal, load_source
from posenc.neural_fields import PROTOCOLS, FitConfig, fit, resolve_config
from posenc.neural_fields.fitting import is_eval_step
from posenc.neural_fields.memory import PeakMemory

SETTINGS = {
    "quick": {"size": 128, "steps": 20},
    "default": {"size": 512, "steps": 20},
    "full": {"size": 512, "steps": 2000},
}
TARGET_SPEEDUP = 2.0
TARGET_PSNR_GAP = 0.2
TARGET_OTHER_PHASES = 0.10
PHASES_AT_STEPS = 200


def other_phases_share(timings: dict[str, float], config: FitConfig) -> float:
    """The share of a whole ``fit`` call that is not training, at :data:`PHASES_AT_STEPS`
    steps with the protocol's schedule (every 100 steps and the last 100), from the phases
    of a fit run as ``config`` says: its training time is split into steps and tests, each
    test costing a third of a step (a forward pass over as many rows)."""
    protocol = dataclasses.replace(config, steps=PHASES_AT_STEPS, last_k=100)
    other = timings["total"] - timings["train"]
    step_seconds = timings["train"] / (config.steps + tests(config) / 3)
    return other / (other + step_seconds * (PHASES_AT_STEPS + tests(protocol) / 3))


def tests(config: FitConfig) -> int:
    """How many times ``fit`` evaluates the test set."""
    return sum(is_eval_step(step, config) for step in range(1, config.steps + 1))


def gaussian_features(coords: Tensor, centres: Tensor, sigma: float) -> Tensor:
    """``[exp(-(x - t_k)^2 / (2 sigma^2))]_k`` for each axis, concatenated."""
    parts = [torch.exp(-((axis[:, None] - centres) ** 2) / (2 * sigma**2)) for axis in coords.T]
    return torch.cat(parts, dim=1)


def plain_loop(signal: Signal, config: FitConfig) -> dict[str, Any]:
    """The notebook-style protocol; returns wall time, final test PSNR and peak memory."""
    device = torch.device(config.device)
    peak = PeakMemory(device)
    peak.start()
    start = time.perf_counter()
    height, width = signal.grid_shape
    rows = torch.arange(height) / height
    cols = torch.arange(width) / width
    image = signal.values.to(device)

    def pixels(offset: int) -> tuple[Tensor, Tensor]:
        grid = torch.meshgrid(rows[offset::2], cols[offset::2], indexing="ij")
        coords = torch.stack([axis.reshape(-1) for axis in grid], dim=1).to(device)
        return coords, image[offset::2, offset::2].reshape(-1, signal.channels)

    params = config.embedding_params
    centres = (torch.arange(params["num_centers"]) / params["num_centers"]).to(device)
    (train_coords, train_values), (test_coords, test_values) = pixels(0), pixels(1)
    train_features = gaussian_features(train_coords, centres, params["sigma"])
    test_features = gaussian_features(test_coords, centres, params["sigma"])
    scale = train_features.norm(dim=1).max()
    train_features, test_features = train_features / scale, test_features / scale

    torch.manual_seed(config.seed)
    layers: list[nn.Module] = []
    size = train_features.shape[1]
    for _ in range(config.depth):
        layers += [nn.Linear(size, config.width), nn.ReLU()]
        size = config.width
    model = nn.Sequential(*layers, nn.Linear(size, signal.channels), nn.Sigmoid()).to(device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
    )
    train_psnr, test_psnr = [], []
    for step in range(1, config.steps + 1):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(train_features), train_values)
        loss.backward()
        optimizer.step()
        train_psnr.append(-10 * math.log10(loss.item()))
        if step > config.steps - config.last_k:
            with torch.no_grad():
                test_mse = nn.functional.mse_loss(model(test_features), test_values)
            test_psnr.append(-10 * math.log10(test_mse.item()))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "test_psnr": test_psnr[-1], "peak_bytes": peak.stop()}


def measure(kind: str, config: FitConfig) -> dict[str, Any]:
    """Run the plain loop or ``fit`` on the ``p1-2d`` image; times, PSNR and peak memory."""
    signal = load_source(config.signal, size=config.size)
    if kind == "plain":
        return plain_loop(signal, config)
    start = time.perf_counter()
    result = fit(signal, config)
    return {
        "fit_seconds": result.timings["fit"],
        "timings": result.timings,
        "seconds": time.perf_counter() - start,
        "test_psnr": result.test_psnr,
        "peak_bytes": result.peak_memory_bytes,
        "embedded_bytes": result.embedded_matrix_bytes,
        "first_layer": result.first_layer,
    }


def import_compiler_stack() -> None:
    """Import what torch's first optimiser step imports (``torch._dynamo``)."""
    importlib.import_module("torch._dynamo")


def in_fresh_process(kind: str, config: FitConfig) -> dict[str, Any]:
    """:func:`measure` in a new interpreter, so that neither run inherits the other's memory
    (peak memory counts only fresh allocations) or warm caches. torch's one-off import of
    its compiler stack, which the first Adam step triggers, happens before timing starts."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        pool.submit(import_compiler_stack).result()
        return pool.submit(measure, kind, config).result()


def run(quick: bool, device: str, full: bool = False) -> list[dict[str, Any]]:
    """Run the plain loop and ``fit`` one after the other; compare time, PSNR and memory."""
    settings = SETTINGS[harness.mode_name(quick, full)]
    steps = settings["steps"]
    last_k = max(1, steps * PROTOCOLS["p1-2d"]["last_k"] // PROTOCOLS["p1-2d"]["steps"])
    config = resolve_config(
        "p1-2d", size=settings["size"], steps=steps, last_k=last_k, device=device
    )
    plain, posenc = (in_fresh_process(kind, config) for kind in ("plain", "posenc"))
    posenc_seconds = posenc["fit_seconds"]
    case = f"p1-2d {config.size}px, {steps} steps"
    speedup = plain["seconds"] / posenc_seconds
    gap = posenc["test_psnr"] - plain["test_psnr"]
    label = "final test PSNR" + ("" if steps == 2000 else f" after {steps} steps")
    schedule_note = f"both test the last {last_k} steps, posenc also every {config.eval_every}"
    timings = posenc["timings"]
    other_share = (timings["total"] - timings["train"]) / timings["total"]
    if steps != PHASES_AT_STEPS:
        other_share = other_phases_share(timings, config)
    phases = ", ".join(f"{key} {value:.2f} s" for key, value in timings.items())
    return [
        harness.row("plain loop", case, "plain loop time", plain["seconds"], "s"),
        harness.row("plain loop", case, "posenc fit time", posenc_seconds, "s", note=schedule_note),
        harness.row(
            "plain loop",
            case,
            "plain loop / posenc fit",
            speedup,
            "x",
            target=f">= {TARGET_SPEEDUP}",
            met=speedup >= TARGET_SPEEDUP,
            note=f"first layer: {posenc['first_layer']}",
        ),
        harness.row(
            "plain loop",
            case,
            "plain loop / whole fit() call",
            plain["seconds"] / posenc["seconds"],
            "x",
            note="fit() also reconstructs the image and measures SR and DP",
        ),
        harness.row("plain loop", case, f"plain loop {label}", plain["test_psnr"], "dB"),
        harness.row("plain loop", case, f"posenc {label}", posenc["test_psnr"], "dB"),
        harness.row(
            "plain loop",
            case,
            "posenc - plain test PSNR",
            gap,
            "dB",
            target=f"|gap| <= {TARGET_PSNR_GAP}",
            met=abs(gap) <= TARGET_PSNR_GAP,
        ),
        harness.row(
            "plain loop",
            case,
            f"posenc phases other than training, share at {PHASES_AT_STEPS} steps",
            100 * other_share,
            "%",
            target=f"<= {100 * TARGET_OTHER_PHASES:.0f}",
            met=other_share <= TARGET_OTHER_PHASES,
            note=("" if steps == PHASES_AT_STEPS else "extrapolated; ") + phases,
        ),
        harness.row(
            "plain loop",
            case,
            "posenc fit peak memory",
            harness.mib(posenc["peak_bytes"]),
            "MiB",
            note=f"dense embedded training matrix: {harness.mib(posenc['embedded_bytes']):.0f} MiB",
        ),
        harness.row(
            "plain loop", case, "plain loop peak memory", harness.mib(plain["peak_bytes"]), "MiB"
        ),
    ]


if __name__ == "__main__":
    harness.run_standalone(run, __doc__.splitlines()[0])
