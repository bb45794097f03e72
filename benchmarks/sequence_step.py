"""Cost of one training step per sequence position encoding, as ratios measured in one run.

For a task's small preset (or ``--preset paper``), times a full training step (forward,
backward, AdamW) of the causal transformer with each encoding, and a bare step made of the same
matrix multiplications only (the linear layers and the two attention products, forward and
backward), and prints each step's time as a ratio to the bare step and to the absolute-PE step.

    PYTHONPATH=. python benchmarks/sequence_step.py --task flipflop --threads 1
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from posenc.sequence.encodings import SEQUENCE_ENCODINGS
from posenc.sequence.model import CausalTransformer
from posenc.sequence.tasks import IN_DISTRIBUTION, collate
from posenc.sequence.training import answer_loss, resolve_config


def _median_seconds(step, repeats: int) -> float:
    for _ in range(3):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _training_step(task: str, pe: str, preset: str, device: torch.device):
    config = resolve_config(task, pe, preset=preset)
    sequences = config.build_task().sample(
        IN_DISTRIBUTION, np.random.default_rng(0), config.train.batch_size
    )
    batch = collate(sequences, device)
    model = CausalTransformer(config.model_config()).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        loss = answer_loss(model(batch.inputs), batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step, batch.inputs.shape, model.config


def _bare_matmul_step(shape, config, device: torch.device):
    """Forward and backward of the model's matrix products only, same shapes."""
    batch, length = shape
    width, heads, layers = config.width, config.heads, config.layers
    x = torch.randn(batch * length, width, device=device, requires_grad=True)
    weights = [
        torch.randn(width, out, device=device, requires_grad=True)
        for out in (3 * width, width, 4 * width)
    ] + [torch.randn(4 * width, width, device=device, requires_grad=True)]
    head = torch.randn(width, config.vocab_size, device=device, requires_grad=True)
    q = torch.randn(batch, heads, length, width // heads, device=device, requires_grad=True)

    def step() -> None:
        total = 0.0
        for _ in range(layers):
            qkv, out, up, down = weights
            total = total + (x @ qkv).sum() + (x @ out).sum() + ((x @ up) @ down).sum()
            scores = q @ q.transpose(-1, -2)
            total = total + (scores @ q).sum()
        total = total + (x @ head).sum()
        total.backward()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="flipflop")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    steps = {pe: _training_step(args.task, pe, args.preset, device) for pe in SEQUENCE_ENCODINGS}
    shape, config = steps["absolute"][1], steps["absolute"][2]
    bare = _median_seconds(_bare_matmul_step(shape, config, device), args.repeats)
    seconds = {pe: _median_seconds(step, args.repeats) for pe, (step, _, _) in steps.items()}
    print(
        f"{args.task} ({args.preset}): batch x length {tuple(shape)}, width {config.width}, "
        f"{config.heads} heads, {config.layers} layers, {args.threads} thread(s), {device}"
    )
    print(f"{'step':<12} {'ms':>8} {'/ bare GEMMs':>13} {'/ absolute':>11}")
    print(f"{'bare GEMMs':<12} {1e3 * bare:8.1f} {1.0:13.2f} {bare / seconds['absolute']:11.2f}")
    for pe, value in seconds.items():
        ratio = value / seconds["absolute"]
        print(f"{pe:<12} {1e3 * value:8.1f} {value / bare:13.2f} {ratio:11.2f}")


if __name__ == "__main__":
    main()
