"""What a fit costs in memory: the estimate checked before any work, and the measured peak.

:func:`estimate_fit_bytes` sizes a fit from its config and first-layer plan before anything
large is allocated; :func:`check_memory` refuses a fit that cannot fit in the device's free
memory; :class:`PeakMemory` measures what a block of work really added to the process.
"""

from __future__ import annotations

import gc

import torch

from posenc.config import FitConfig
from posenc.data import Split
from posenc.embeddings import Embedding
from posenc.neural_fields.sparse import FirstLayerPlan


def estimate_fit_bytes(
    config: FitConfig, embedding: Embedding, split: Split, plan: FirstLayerPlan | None = None
) -> int:
    """Bytes a fit will hold at once: embedded matrices plus training activations.

    Flat models keep the embedded training and test rows (in the form ``plan`` says, dense
    by default) and, per hidden layer, about three training-set activations (forward value,
    its gradient, ReLU mask). The separable model keeps only its factors, its weight and the
    first layer's output on the training grid.
    """
    item = torch.empty((), dtype=config.torch_dtype).element_size()
    n_train, n_test = len(split.train), len(split.test)
    if embedding.separable:
        units = config.width if config.depth else 1
        weight = embedding.factor_dim**embedding.in_dim * units
        return item * (3 * (n_train + n_test) * units + 4 * weight)
    activations = 3 * n_train * config.width * config.depth * item
    plan = plan or FirstLayerPlan("dense")
    return (
        plan.embedded_bytes(embedding, n_train)
        + plan.embedded_bytes(embedding, n_test)
        + activations
    )


def check_memory(required: int, device: torch.device) -> None:
    """Raise ``ValueError`` saying how large the fit would be if it cannot fit in memory."""
    available = available_bytes(device)
    if available is not None and required > available:
        raise ValueError(
            f"this fit needs about {required / 2**30:.1f} GiB (embedded matrices and "
            f"activations) but only {available / 2**30:.1f} GiB of {device.type} memory is "
            "available; use fewer centres or frequencies, a smaller image (--size), or the "
            "separable embedding"
        )


def available_bytes(device: torch.device) -> int | None:
    """Free memory of ``device``: CUDA's free bytes, or Linux's ``MemAvailable``."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class PeakMemory:
    """Peak memory a block of work adds to what the process held when it started.

    CUDA: ``torch.cuda.max_memory_allocated`` over the block minus the allocated bytes at its
    start. CPU (Linux): the resident-set high-water mark (``VmHWM``), reset at the start by
    writing ``5`` to ``/proc/self/clear_refs`` after collecting garbage (so that earlier work
    freed during the block cannot hide its allocations), minus the resident set then
    (``VmRSS``); it counts every allocation of the process, including other threads', but not
    memory the C allocator hands out again from blocks freed earlier and still resident
    (glibc does so for blocks up to 32 MiB). ``None`` where neither is available.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.baseline: int | None = None

    def start(self) -> None:
        """Reset the high-water mark and remember the current usage."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline = torch.cuda.memory_allocated(self.device)
            return
        gc.collect()
        try:
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")
        except OSError:
            self.baseline = None
            return
        self.baseline = _proc_status_bytes("VmRSS")

    def stop(self) -> int | None:
        """Bytes of the peak above the usage at :meth:`start`, or ``None`` if unknown."""
        if self.baseline is None:
            return None
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) - self.baseline
        high_water = _proc_status_bytes("VmHWM")
        return None if high_water is None else max(high_water - self.baseline, 0)


def _proc_status_bytes(key: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
