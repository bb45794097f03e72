"""The steps every fit takes: plan, prepare, (train), evaluate.

::

    signal, config --plan_fit--> FitPlan --prepare--> PreparedFit --train--> TrainingHistory
                                                                    --evaluate--> FitResult

- :func:`plan_fit` decides what the fit will hold before anything large is allocated: the
  train/test split, the first layer's form (:mod:`posenc.neural_fields.sparse`; on a GPU,
  ``auto`` times its choice against the dense form: :func:`faster_first_layer`) and the
  estimated memory (:mod:`posenc.neural_fields.memory`), from the signal or only its shape
  (:func:`probe_config_signal`: a file's header), and refuses a fit that cannot fit;
- :func:`prepare` builds everything a fit trains on: the seeded embedding, the embedded
  problem (training and test rows, embedded once) and the initialised model;
- training is :func:`posenc.neural_fields.fitting.train_adam` or the closed form for one fit,
  :func:`posenc.neural_fields.batched.train_batch` for many trained together;
- :func:`evaluate` measures the trained model into a :class:`FitResult`: train and test PSNR,
  held-out PSNR, the full-grid prediction, stable rank and distance preservation.

:func:`posenc.neural_fields.fit` and :func:`posenc.neural_fields.fit_batched` are these steps
in sequence, so a fit trained alone and one trained in a batch are prepared and measured by
the same code.
"""

from __future__ import annotations

import functools
import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from posenc.config import FitConfig, check_device
from posenc.data import (
    Signal,
    SignalShape,
    Split,
    coordinate_grid,
    is_signal_spec,
    load_source,
    make_split,
    probe_source,
    split_sizes,
)
from posenc.embeddings import (
    AxisEmbedding,
    Embedding,
    declare_embedding,
    embedding_class,
    make_embedding,
)
from posenc.neural_fields.embedded import FlatProblem, GridProblem
from posenc.neural_fields.memory import (
    MemoryEstimate,
    MemoryPart,
    available_bytes,
    check_memory,
    estimate_fit_memory,
    size_flags,
)
from posenc.neural_fields.models import build_model
from posenc.neural_fields.result import FitResult, TrainingHistory, mse, psnr
from posenc.neural_fields.sparse import (
    FirstLayerPlan,
    SparseFeatures,
    embed_rows,
    linear_layer,
    plan_first_layer,
)
from posenc.neural_fields.step import autocast


@dataclass(frozen=True)
class FitPlan:
    """What a fit will hold, decided before anything large is allocated.

    ``first_layer`` is the resolved form (never ``auto``), ``memory`` the estimate of what
    the fit holds at its peak, ``rows_bytes`` the part of it that the embedded training and
    test rows take in that form, ``embedded_matrix_bytes`` the size of the dense training
    matrix.
    """

    config: FitConfig
    split: Split
    first_layer: FirstLayerPlan
    memory: MemoryEstimate
    rows_bytes: int
    embedded_matrix_bytes: int

    @property
    def estimated_bytes(self) -> int:
        """The estimated peak memory of the fit."""
        return self.memory.total


@dataclass
class PreparedFit:
    """Everything a fit trains on, nothing else: built by :func:`prepare`."""

    plan: FitPlan
    signal: Signal
    embedding: Embedding
    problem: FlatProblem | GridProblem
    model: nn.Module
    embed_seconds: float

    @property
    def config(self) -> FitConfig:
        """The fit's config."""
        return self.plan.config

    @property
    def device(self) -> torch.device:
        """Where the problem and the model live."""
        return torch.device(self.config.device)


def load_config_signal(config: FitConfig) -> Signal:
    """Load ``config.signal``; ``size`` and ``gray`` apply to images, not to 1D signals.

    Refused (``ValueError``) before anything is decoded if loading would need more memory
    than is free (the file's header gives its size).
    """
    shape = probe_config_signal(config)
    lower = "--size or a smaller image" if shape.ndim > 1 else "a shorter signal"
    loading = MemoryPart("loading the signal", shape.load_bytes, lower)
    check_memory(MemoryEstimate((), (loading,)), torch.device("cpu"), f"loading {config.signal!r}")
    if is_signal_spec(config.signal):
        return load_source(config.signal)
    return load_source(config.signal, size=config.size, gray=config.gray)


def probe_config_signal(config: FitConfig) -> SignalShape:
    """The shape :func:`load_config_signal` will give, from the file's header or the spec."""
    if is_signal_spec(config.signal):
        return probe_source(config.signal)
    return probe_source(config.signal, size=config.size, gray=config.gray)


def plan_fit(signal: Signal | SignalShape, config: FitConfig) -> FitPlan:
    """The split, first-layer form and memory estimate of fitting ``signal`` as ``config``
    says; ``signal`` may be only its shape (:func:`probe_config_signal`).

    Planned from the declared embedding (:meth:`~posenc.embeddings.Embedding.declared`) and
    a model on the meta device, so it costs the same whatever their sizes. Raises
    ``ValueError`` (naming the flag to change) if the fit cannot fit in the device's free
    memory: first from the sizes alone, before the split and the coordinates are made, then
    with the embedded rows in the form that will run.
    """
    check_device(config.device, config.precision)
    shape = signal if isinstance(signal, SignalShape) else SignalShape.of(signal)
    device = torch.device(config.device)
    declared = declared_embedding(config, shape.ndim)
    counts = split_sizes(shape.grid_shape, config.split, fraction=config.split_fraction)
    parameters = count_model_parameters(config, declared, shape)
    what = f"this fit of {config.signal!r}"
    check_memory(estimate_fit_memory(config, declared, shape, counts, parameters), device, what)
    split = make_split(
        shape.grid_shape, config.split, fraction=config.split_fraction, seed=config.seed
    )
    if config.solver == "adam":
        coords = coordinate_grid(shape.grid_shape)[split.train]
        first_layer = plan_first_layer(config.first_layer, config.model, declared, coords)
        if config.first_layer == "auto" and device.type == "cuda" and first_layer.kind != "dense":
            linear = config.model == "linear" or (config.model == "mlp" and config.depth == 0)
            units = shape.channels if linear else config.width
            unnormalised = build_embedding(config, shape.ndim, normalization="none")
            first_layer = faster_first_layer(first_layer, unnormalised, coords, units, device)
    else:  # closed-form solvers work on the dense embedded matrix
        first_layer = FirstLayerPlan("dense")
    memory = estimate_fit_memory(config, declared, shape, counts, parameters, first_layer)
    check_memory(memory, device, what)
    rows_bytes = sum(
        first_layer.embedded_bytes(declared, len(indices)) for indices in (split.train, split.test)
    )
    return FitPlan(
        config=config,
        split=split,
        first_layer=first_layer,
        memory=memory,
        rows_bytes=rows_bytes,
        embedded_matrix_bytes=declared.embedded_bytes(len(split.train)),
    )


def prepare(signal: Signal, config: FitConfig, plan: FitPlan | None = None) -> PreparedFit:
    """Seed, embed and build the model for one fit.

    Without ``plan`` the fit is planned here, and refused (``ValueError``) if it cannot fit
    in memory; a caller preparing several fits at once plans them and checks their sum
    itself. The torch seed is set to ``config.seed`` first, so the model's initial weights
    depend on the seed alone.
    """
    if plan is None:
        plan = plan_fit(signal, config)
    device = torch.device(config.device)
    torch.manual_seed(config.seed)
    start = time.perf_counter()
    embedding = build_embedding(config, signal.ndim).to(device)
    if isinstance(embedding, AxisEmbedding) and config.model == "separable":
        problem: FlatProblem | GridProblem = GridProblem.build(
            signal, plan.split, embedding, device
        )
    else:
        problem = FlatProblem.build(signal, plan.split, embedding, device, plan.first_layer.kind)
    embed_seconds = time.perf_counter() - start
    model = build_config_model(config, embedding, signal).to(device)
    return PreparedFit(plan, signal, embedding, problem, model, embed_seconds)


@torch.no_grad()
def evaluate(
    prepared: PreparedFit, history: TrainingHistory, timings: dict[str, float]
) -> FitResult:
    """Measure the trained model of ``prepared`` into a :class:`FitResult`.

    ``timings`` holds the training phases' seconds; the evaluation and matrix-metric phases
    are added. The model runs at the config's precision, as in training. The result's
    ``peak_memory_bytes`` is left ``None`` for the caller, who measured the whole fit, to
    fill in.
    """
    config, problem, model = prepared.config, prepared.problem, prepared.model
    split = prepared.plan.split
    start = time.perf_counter()
    with autocast(config.precision, prepared.device):
        train_psnr = psnr(mse(problem.predict_train(model).float(), problem.train_targets))
        test_psnr = psnr(mse(problem.predict_test(model).float(), problem.test_targets))
        prediction = problem.predict_full(model).float().cpu()
    heldout = split.heldout
    flat_prediction = prediction.reshape(-1, prepared.signal.channels)[heldout]
    heldout_psnr = psnr(mse(flat_prediction, prepared.signal.flat_values()[heldout]))
    measured = time.perf_counter()
    stable_rank, distance_preservation = problem.training_matrix_metrics()
    return FitResult(
        config=config,
        signal=prepared.signal,
        split=split,
        embedding=prepared.embedding,
        model=model,
        prediction=prediction,
        train_psnr=train_psnr,
        test_psnr=test_psnr,
        heldout_psnr=heldout_psnr,
        train_psnr_last=history.train_psnr_last(config.last_k, train_psnr),
        test_psnr_last=history.test_psnr_last(config.steps, config.last_k, test_psnr),
        stable_rank=stable_rank,
        distance_preservation=distance_preservation,
        timings={
            **timings,
            "evaluate": measured - start,
            "matrix_metrics": time.perf_counter() - measured,
        },
        history=history,
        first_layer=prepared.plan.first_layer.kind,
        peak_memory_bytes=None,
        embedded_matrix_bytes=prepared.plan.embedded_matrix_bytes,
    )


def count_model_parameters(
    config: FitConfig, embedding: Embedding, signal: Signal | SignalShape
) -> tuple[int, int]:
    """Parameters of :func:`build_config_model`'s model, and of its first weight (the one
    the embedding feeds), built on the meta device: no memory, at any size."""
    in_features = embedding.factor_dim if embedding.separable else embedding.out_dim
    try:
        return _parameter_counts(config.model, in_features, signal.channels, config.depth,
                                 config.width, signal.ndim)  # fmt: skip
    except RuntimeError as error:
        if "overflow" not in str(error):
            raise
        flags = " or ".join([*size_flags(embedding), "--width"])
        raise ValueError(
            f"a {config.model} model on {in_features} embedding features has more than "
            f"2**63 parameters: lower {flags}"
        ) from error


@functools.lru_cache(maxsize=256)
def _parameter_counts(
    model: str, in_features: int, channels: int, depth: int, width: int, ndim: int
) -> tuple[int, int]:
    with torch.device("meta"):
        built = build_model(
            model, in_features=in_features, out_channels=channels, depth=depth, width=width,
            sigmoid=False, in_dim=ndim,
        )  # fmt: skip
    sizes = [parameter.numel() for parameter in built.parameters()]
    return sum(sizes), sizes[0]


def faster_first_layer(
    plan: FirstLayerPlan, embedding: Embedding, coords: Tensor, width: int, device: torch.device
) -> FirstLayerPlan:
    """``plan`` (a structured form), or the dense form where that runs faster on ``device``.

    ``auto``'s rule (:mod:`posenc.neural_fields.sparse`) counts arithmetic, which decides on
    a CPU; on a GPU, small kernels can cost more than the arithmetic they save, so both forms
    of a ``width``-unit first layer are timed there (:func:`first_layer_seconds`) on the
    training rows, unless the dense rows would take more than half the free memory.
    """
    embedding, coords = embedding.to(device), coords.to(device=device, dtype=embedding.dtype)
    free = available_bytes(device)
    if free is not None and 2 * embedding.embedded_bytes(len(coords)) > free:
        return plan
    with torch.no_grad():
        forms = {kind: embed_rows(embedding, coords, kind) for kind in (plan.kind, "dense")}
    seconds = {kind: first_layer_seconds(rows, width) for kind, rows in forms.items()}
    return FirstLayerPlan("dense") if seconds["dense"] < seconds[plan.kind] else plan


def first_layer_seconds(rows: Tensor | SparseFeatures, width: int, repeats: int = 5) -> float:
    """Median seconds of a ``width``-unit first layer's forward pass and weight gradient on
    ``rows`` (after two untimed runs; the device synchronised around each)."""
    values = rows.entry_weights() if isinstance(rows, SparseFeatures) else rows
    layer = nn.Linear(rows.shape[1], width).to(device=values.device, dtype=values.dtype)
    times = []
    for index in range(repeats + 2):
        synchronize(values.device)
        start = time.perf_counter()
        output = linear_layer(layer, rows)
        output.backward(torch.ones_like(output))
        synchronize(values.device)
        if index >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def build_config_model(
    config: FitConfig, embedding: Embedding, signal: Signal | SignalShape
) -> nn.Module:
    """The configured model for ``embedding``'s features of ``signal``, in the config's dtype
    (on the CPU; move it to the device). Its initial weights follow the torch seed."""
    return build_model(
        config.model,
        in_features=embedding.factor_dim if embedding.separable else embedding.out_dim,
        out_channels=signal.channels,
        depth=config.depth,
        width=config.width,
        sigmoid=bool(config.sigmoid),
        in_dim=signal.ndim,
        siren_omega=config.siren_omega,
    ).to(dtype=config.torch_dtype)


def build_embedding(config: FitConfig, in_dim: int, normalization: str | None = None) -> Embedding:
    """The configured embedding; the run's seed also seeds random embeddings (RFF, noise)
    unless ``embedding_params`` sets ``seed`` itself. ``normalization`` overrides the
    config's."""
    return make_embedding(config.embedding, **_embedding_arguments(config, in_dim, normalization))


def declared_embedding(config: FitConfig, in_dim: int) -> Embedding:
    """:func:`build_embedding`'s embedding declared, not built: its sizes at no cost."""
    return declare_embedding(config.embedding, **_embedding_arguments(config, in_dim, None))


def _embedding_arguments(
    config: FitConfig, in_dim: int, normalization: str | None
) -> dict[str, Any]:
    params = dict(config.embedding_params)
    if "seed" in embedding_class(config.embedding).parameter_names():
        params.setdefault("seed", config.seed)
    return {
        **params,
        "in_dim": in_dim,
        "normalization": normalization or config.normalization,
        "dtype": config.torch_dtype,
    }


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU), so timings are whole."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
