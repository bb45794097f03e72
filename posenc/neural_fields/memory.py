"""What a fit costs in memory: the estimate checked before any work, and the measured peak.

:func:`estimate_fit_memory` sizes a fit from its config, its signal's shape and its
first-layer plan before anything large is allocated, part by part (the signal, the embedding's
construction, the embedded rows, the model, training, evaluation); :func:`check_memory`
refuses a fit that cannot fit in the device's free memory in one line that names the flag to
change; :class:`PeakMemory` measures what a block of work really added to the process.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from posenc.config import FitConfig
from posenc.data import SignalShape
from posenc.embeddings import Embedding
from posenc.neural_fields.embedded import PREDICTION_CHUNK, PREDICTION_CHUNK_ELEMENTS
from posenc.neural_fields.sparse import FirstLayerPlan

SIZE_PARAMETERS = ("num_centers", "num_frequencies", "resolution")
"""Embedding parameters that set the size of its tables and rows, as flags name them."""
ACTIVATION_COPIES = 3
"""Training-set activations held per hidden layer: forward value, its gradient, the mask."""
ADAM_COPIES = 3
"""Copies of the parameters Adam adds: their gradient and its two moments."""
EMBEDDING_COPIES = 4
"""Chunks of embedded values alive while one chunk of the full grid is embedded: the
features and the embedding's elementwise temporaries (distances, their transform, the
concatenated parts; measured 2.5 to 4 chunks for the Gaussian, RFF, sinc and triangle
embeddings and for SIREN's at 96 x 96 on the CPU)."""
RUNTIME_BYTES = 128 * 2**20
"""What a fit's first kernels and their workspaces add to the process whatever its size
(measured: about 80 MiB for an 8 x 8 image on the CPU)."""


@dataclass(frozen=True)
class MemoryPart:
    """Bytes one part of a fit takes, and the settings (as flags) that make it smaller."""

    name: str
    bytes: int
    lower: str


@dataclass(frozen=True)
class MemoryEstimate:
    """A fit's memory at its peak: the parts it ``holds`` throughout, plus the largest of
    the temporaries of its ``phases`` (loading the signal, building the embedding and its
    rows, training, evaluation), which come one after another."""

    holds: tuple[MemoryPart, ...]
    phases: tuple[MemoryPart, ...]

    @property
    def total(self) -> int:
        """Estimated peak bytes."""
        return sum(part.bytes for part in self.holds) + self.peak_phase.bytes

    @property
    def peak_phase(self) -> MemoryPart:
        """The phase with the largest temporaries."""
        return max(self.phases, key=lambda part: part.bytes, default=MemoryPart("none", 0, ""))

    def largest(self, count: int = 3) -> list[MemoryPart]:
        """The ``count`` largest parts of :attr:`total`, largest first."""
        parts = [*self.holds, self.peak_phase]
        return sorted(parts, key=lambda part: part.bytes, reverse=True)[:count]


SHARED_PARTS = frozenset({"runtime", "signal"})
"""Parts that fits trained together in one process share: counted once in a batch."""


def combine(
    estimates: Sequence[MemoryEstimate], extra: Sequence[MemoryPart] = ()
) -> MemoryEstimate:
    """The estimate of fits held at once (a batch): parts and phases added by name, but the
    :data:`SHARED_PARTS`, which the process holds once."""
    return MemoryEstimate(
        _added([part for estimate in estimates for part in estimate.holds] + list(extra)),
        _added([part for estimate in estimates for part in estimate.phases]),
    )


def _added(parts: Sequence[MemoryPart]) -> tuple[MemoryPart, ...]:
    totals: dict[str, MemoryPart] = {}
    for part in parts:
        seen = totals.get(part.name)
        if seen is None:
            size = part.bytes
        elif part.name in SHARED_PARTS:
            size = max(part.bytes, seen.bytes)
        else:
            size = part.bytes + seen.bytes
        totals[part.name] = MemoryPart(part.name, size, part.lower)
    return tuple(totals.values())


def estimate_fit_memory(
    config: FitConfig,
    embedding: Embedding,
    shape: SignalShape,
    counts: tuple[int, int],
    model_parameters: tuple[int, int],
    plan: FirstLayerPlan | None = None,
) -> MemoryEstimate:
    """What fitting a signal of ``shape`` as ``config`` says holds at its peak.

    ``embedding`` may be :meth:`~posenc.embeddings.Embedding.declared` (nothing built);
    ``counts`` are the training and test points, ``model_parameters`` the model's size and
    that of its first layer (whose input is the embedding).
    Without ``plan`` (the first layer's form) the embedded rows are left out: the estimate
    is then a lower bound, checked before the split and the coordinates are made.

    - runtime: :data:`RUNTIME_BYTES`, whatever the fit;
    - signal: its float32 values, float32 and working-type coordinates, the values in the
      working type and the split's indices; loading it is a phase of its own;
    - embedding: its construction (tables and normalisation) is a phase;
    - embedded rows: training and test rows in the planned form, plus a temporary copy of
      the larger while they are embedded (twice that for the structured forms' sorting);
    - model: its parameters; training adds Adam's three copies and, per hidden layer, about
      three training-set activations (``4 * weight`` and the grid activations for the
      separable model); the closed forms instead hold float64 copies and the SVD of the
      training matrix;
    - evaluation: the full-grid prediction, a chunk of rows with the embedding's
      temporaries (:data:`EMBEDDING_COPIES`), and the stable rank's float64 copy of the
      training matrix and its Gram matrix.
    """
    item = config.torch_dtype.itemsize
    n_train, n_test = counts
    size = "--size" if shape.ndim > 1 else "a shorter signal"
    smaller_file = "--size or a smaller image" if shape.ndim > 1 else size
    grown = size_flags(embedding)
    embedding_flags = " or ".join(grown) or "the embedding"
    points = shape.num_points
    signal = (
        shape.values_bytes
        + points * (shape.ndim * (4 + item) + shape.channels * item)
        + 8 * (n_train + n_test)
    )
    total, first = model_parameters
    model_flags = embedding_flags if 2 * first >= total else "--width or --depth"
    holds = [
        MemoryPart("runtime", RUNTIME_BYTES, "nothing: every fit needs it"),
        MemoryPart("signal", signal, size),
        MemoryPart("model", total * item, model_flags),
    ]
    phases = [
        MemoryPart("loading the signal", shape.load_bytes + 16 * points * shape.ndim, smaller_file),
        MemoryPart("building the embedding", embedding.construction_bytes(), embedding_flags),
        _training(config, embedding, counts, total, item, model_flags, f"{size} or --width"),
    ]
    if plan is not None:
        rows, building, metrics = _rows(config, embedding, shape, counts, plan, item)
        holds.append(MemoryPart("embedded rows", rows, f"{embedding_flags} or {size}"))
        phases[1] = MemoryPart(
            "building the embedding",
            embedding.construction_bytes() + building,
            f"{embedding_flags} or {size}",
        )
        prediction = points * shape.channels * (item + 4)
        chunk = min(PREDICTION_CHUNK, points) * (config.width + shape.channels) * item * 2
        chunk += EMBEDDING_COPIES * PREDICTION_CHUNK_ELEMENTS * item
        phases.append(
            MemoryPart("evaluation", prediction + chunk + metrics, f"{embedding_flags} or {size}")
        )
    return MemoryEstimate(tuple(holds), tuple(phases))


def _rows(
    config: FitConfig,
    embedding: Embedding,
    shape: SignalShape,
    counts: tuple[int, int],
    plan: FirstLayerPlan,
    item: int,
) -> tuple[int, int, int]:
    """Bytes of the embedded rows, of the temporaries of embedding them, and of the stable
    rank of the training rows."""
    n_train, n_test = counts
    if config.model == "separable":
        factors = sum(shape.grid_shape) * embedding.factor_dim * item
        return 2 * factors, factors, 8 * 4 * factors // item
    train = plan.embedded_bytes(embedding, n_train)
    test = plan.embedded_bytes(embedding, n_test)
    copies = 1 if plan.kind == "dense" else 2
    return train + test, copies * max(train, test), _stable_rank_bytes(embedding, n_train, plan)


def _stable_rank_bytes(embedding: Embedding, rows: int, plan: FirstLayerPlan) -> int:
    """Float64 temporaries of the stable rank of ``rows`` embedded training rows (measured
    on the CPU): dense rows ``X`` (``rows x F``) take a copy, its square and the smaller
    Gram matrix; structured rows ``X = S B`` (``B`` with ``R`` rows) take ``S`` dense, its
    Gram matrix and an eigen-decomposition when ``rows <= R``, else ``S^T S``, its
    decomposition and ``B``."""
    features = embedding.out_dim
    if plan.kind == "dense":
        smaller = min(rows, features)
        return 8 * (2 * rows * features + 2 * smaller * smaller)
    basis_rows = features if plan.kind == "sparse" else plan.basis_elements // embedding.factor_dim
    if rows <= basis_rows:
        return 8 * (5 * rows * basis_rows + 3 * rows * rows)
    return 8 * (6 * basis_rows * basis_rows + basis_rows * features)


def _training(
    config: FitConfig,
    embedding: Embedding,
    counts: tuple[int, int],
    parameters: int,
    item: int,
    model_flags: str,
    activation_flags: str,
) -> MemoryPart:
    """Training's temporaries: Adam's copies and the activations, or a closed form's
    float64 workspace; ``lower`` names the flags of the larger."""
    n_train, n_test = counts
    if config.solver == "closed-form":
        if config.model == "separable":
            return MemoryPart("training", 8 * 4 * parameters, model_flags)
        columns = embedding.out_dim + 1
        smaller = min(n_train, columns)
        workspace = 8 * (3 * n_train * columns + n_train * smaller + smaller * columns)
        return MemoryPart("training", workspace, model_flags)
    optimizer = ADAM_COPIES * parameters * item
    if config.model == "separable":
        units = config.width if config.depth else 1
        activations = ACTIVATION_COPIES * (n_train + n_test) * units * item
    else:
        layers = max(config.depth, 1) if config.model == "siren" else config.depth
        copies = ACTIVATION_COPIES + (1 if config.model == "siren" else 0)
        activations = copies * n_train * config.width * layers * item
        activations += 2 * n_test * config.width * item
    lower = model_flags if optimizer >= activations else activation_flags
    return MemoryPart("training", optimizer + activations, lower)


def size_flags(embedding: Embedding) -> list[str]:
    """The embedding's size parameters as flags (``--num-centers``)."""
    declared = embedding.parameter_names()
    return ["--" + name.replace("_", "-") for name in SIZE_PARAMETERS if name in declared]


def check_memory(estimate: MemoryEstimate, device: torch.device, what: str = "this fit") -> None:
    """Raise ``ValueError`` if ``estimate`` exceeds the device's free memory: one line with
    the estimate, what is available, the largest parts and the flags that lower the largest."""
    available = available_bytes(device)
    if available is None or estimate.total <= available:
        return
    parts = ", ".join(f"{part.name} {_gib(part.bytes)} GiB" for part in estimate.largest())
    raise ValueError(
        f"{what} needs about {_gib(estimate.total)} GiB of {device.type} memory but "
        f"{_gib(available)} GiB is available ({parts}); lower {estimate.largest(1)[0].lower}"
    )


def _gib(size: int) -> str:
    return f"{size / 2**30:.1f}"


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
