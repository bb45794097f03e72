"""The oracle's one call: predict every candidate bandwidth's test PSNR and pick the best."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from posenc.data import Signal, Split, make_split
from posenc.embeddings import Embedding, describe_embedding
from posenc.neural_fields import FitConfig, psnr
from posenc.neural_fields.pipeline import build_embedding
from posenc.oracle.adam import LinearFitModel, predict_linear_fit
from posenc.oracle.features import EmbeddedRows, embed_rows, is_windowed
from posenc.oracle.grid import check_grid_fit, network_start, predict_grid_fit
from posenc.oracle.heldout import HeldOut, held_out_points, predicted_test_mse, true_held_out
from posenc.oracle.replay import Fit, replay_adam
from posenc.progress import progress_bar
from posenc.sweeps.bandwidths import auto_bandwidths
from posenc.threads import map_on_cores

DEFAULT_POINTS = 8
"""Log-spaced candidate bandwidths evaluated when no count is given (before refinement).
With :data:`REFINE_ROUNDS` that makes 12 candidates, the step around the choice a quarter of
the log-spaced one. Against 16 candidates and one round (18, half the step) on the
validation rows: the same on Gaussian rows and images, triangle rows closer (worst gap 0.57
against 0.74 dB), one RFF row further (0.77 against 0.58 dB: an RFF fit's PSNR, measured and
predicted, jumps by 1 to 2 dB between scales 5 % apart, as the whole frequency draw scales
with them), at two thirds of the cost."""
REFINE_ROUNDS = 2
"""Rounds of refinement after the log-spaced candidates: each adds the geometric midpoints
between the chosen candidate and its neighbours among those evaluated so far (at most 2 per
round), halving the step around the choice."""
NETWORK_TOLERANCE_DB = 1.0
"""How far below the best predicted PSNR a smoother basis may be predicted and still be
suggested, for networks: the per-axis model of an MLP misplaces the narrow-basis edge by a
factor of about 1.5 in bandwidth, where the PSNR changes by several dB per step, so among
the candidates predicted within this margin of the best the smoothest (lowest stable rank)
is chosen, the one-standard-error rule of cross-validation. Linear fits, whose closed form
is within about half a dB of Adam, take the best outright."""
REPLAY_WITHIN_DB = 3.0
"""For linear fits by Adam on windowed rows (shifted bases of compact or fast-decaying
support), candidates whose closed-form prediction is within this of the best are replayed
(:mod:`posenc.oracle.replay`) and predicted from the replayed fit: the closed form is least
exact at the edge where the best bandwidth usually lies (2.3 dB low there on
``astronaut:row=160``). Dense rows (Fourier features) are not replayed: there the replay
costs what the fits it replaces cost (with four RFF replays the oracle took 1.3 s per row of
P1's protocol on a loaded machine, where the whole 24-fit sweep takes about 3 s), for little
(within the 0.5 dB gap target on 19 of 20 rows instead of 18)."""
REPLAY_MAX = 4
"""At most this many shortlisted candidates are replayed, the best predicted first (plus the
one :func:`_climb` adds). Three made the worst triangle row of the validation 2.6 dB off."""
POWER_ITERATIONS = 12
"""Power iterations for the largest eigenvalue of a Gram matrix (stable rank on the curve)."""
MIN_TRAIN_PER_AXIS = 3
"""Training samples an axis needs so that some can be held out at half the rate."""


@dataclass(frozen=True)
class BandwidthCurve:
    """The oracle's predictions at every candidate bandwidth, in increasing order.

    ``predicted_psnr`` is the test PSNR as the fit reports it (its ``test_psnr``; for the
    ``all`` split that includes the training samples); ``predicted_heldout_psnr`` the PSNR at
    test points that are not training points; ``predicted_train_psnr`` the training PSNR;
    ``stable_rank`` that of the embedded training matrix; ``replayed`` whether the prediction
    comes from a replay of the training (:mod:`posenc.oracle.replay`) rather than the closed
    form.
    """

    bandwidths: tuple[float, ...]
    predicted_psnr: tuple[float, ...]
    predicted_heldout_psnr: tuple[float, ...]
    predicted_train_psnr: tuple[float, ...]
    stable_rank: tuple[float, ...]
    replayed: tuple[bool, ...]

    def to_dict(self) -> dict[str, list[Any]]:
        """The curve as lists, for JSON."""
        return {field.name: list(getattr(self, field.name)) for field in dataclasses.fields(self)}


@dataclass(frozen=True)
class Suggestion:
    """The suggested bandwidth of one embedding for one signal and fit setting.

    ``config`` is the fit setting with the suggested bandwidth in place (``fit`` it to check);
    ``predicted_psnr`` the predicted test PSNR there; ``reference_heldout_psnr`` the estimated
    held-out PSNR of the training grid's cubic interpolation, the yardstick the
    held-out predictions are measured against; ``timings`` the seconds spent (``total``).
    """

    embedding: str
    bandwidth_name: str
    bandwidth: float
    predicted_psnr: float
    predicted_heldout_psnr: float
    reference_heldout_psnr: float
    curve: BandwidthCurve
    config: FitConfig
    method: str
    timings: dict[str, float]

    def answer(self) -> dict[str, Any]:
        """The oracle's answer, JSON-serialisable: the suggestion, its predictions, the
        method, the seconds and the curve (what ``posenc fit --sigma suggest`` records in
        ``metrics.json`` under ``oracle``)."""
        return {
            "embedding": self.embedding,
            "bandwidth_name": self.bandwidth_name,
            "bandwidth": self.bandwidth,
            "predicted_psnr": self.predicted_psnr,
            "predicted_heldout_psnr": self.predicted_heldout_psnr,
            "reference_heldout_psnr": self.reference_heldout_psnr,
            "method": self.method,
            "timings_seconds": self.timings,
            "curve": self.curve.to_dict(),
        }

    def to_dict(self) -> dict[str, Any]:
        """:meth:`answer` and the config at the suggestion (what ``suggest.json`` holds per
        embedding)."""
        return {**self.answer(), "config": self.config.to_dict()}


@dataclass(frozen=True)
class _Prediction:
    test_mse: float
    heldout_mse: float
    train_mse: float
    stable_rank: float
    replayed: bool = False


def suggest_bandwidth(
    signal: Signal,
    config: FitConfig,
    *,
    bandwidth_range: tuple[float, float] | None = None,
    points: int = DEFAULT_POINTS,
    progress: bool | None = None,
    true_held_out_values: bool = False,
) -> Suggestion:
    """Suggest the bandwidth of ``config``'s embedding for fitting ``signal`` as ``config``
    says, from the training samples of ``config``'s split alone.

    ``points`` candidates are log-spaced over ``bandwidth_range`` (default
    :func:`default_range`), and in each of :data:`REFINE_ROUNDS` rounds two more are placed
    halfway (geometrically) between the best so far and its neighbours (the candidates of a
    stage side by side, :func:`posenc.threads.map_on_cores`); for linear fits by Adam on
    windowed rows the best few are then replayed (:data:`REPLAY_WITHIN_DB`,
    :data:`REPLAY_MAX`), and one more halfway from the best replayed one towards an
    unreplayed neighbour (:func:`_climb`); the candidate with the highest predicted test
    PSNR is suggested.
    ``true_held_out_values`` (validation only: it reads the held-out values) replaces the
    estimate of the held-out points by their true values (:func:`true_held_out`).
    Raises ``ValueError`` for an embedding without a bandwidth, an empty range, a split
    without a training grid, too few training samples, or a fit the oracle cannot model.
    """
    start = time.perf_counter()
    name = _bandwidth_name(config)
    split = make_split(
        signal.grid_shape, config.split, fraction=config.split_fraction, seed=config.seed
    )
    _check_training_grid(signal, split)
    assert split.train_axes is not None
    low, high = _checked_range(
        bandwidth_range or default_range(config.embedding, len(split.train_axes[0])), name
    )
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise ValueError(f"points must be an integer >= 2, got {points!r}")
    heldout = (true_held_out if true_held_out_values else held_out_points)(signal, split)
    model = _fit_model(signal, split, heldout, config)
    tolerance = NETWORK_TOLERANCE_DB if config.model == "mlp" else 0.0
    targets = signal.flat_values().double().numpy()[split.train.numpy()]
    prepared = time.perf_counter()

    def prediction(fit: Fit, rank: float, replayed: bool = False) -> _Prediction:
        residual = fit[0] - targets
        test_mse, heldout_mse = predicted_test_mse(heldout, residual, fit[1])
        return _Prediction(test_mse, heldout_mse, float(np.mean(residual**2)), rank, replayed)

    def evaluate(bandwidth: float) -> _Prediction:
        fit_train, fit_heldout, rank = model.predict(with_bandwidth(config, name, bandwidth))
        return prediction((fit_train, fit_heldout), rank)

    def evaluate_all(bandwidths: list[float], tick: bool = True) -> None:
        predictions = map_on_cores(evaluate, bandwidths, (lambda: bar.update(1)) if tick else None)
        evaluated.update(zip(bandwidths, predictions, strict=True))

    def replay(bandwidths: list[float]) -> None:
        assert model.replay is not None
        if not bandwidths:
            return
        bar.total += len(bandwidths)
        evaluate_all([b for b in bandwidths if b not in evaluated], tick=False)  # stable ranks
        fits = model.replay([with_bandwidth(config, name, bandwidth) for bandwidth in bandwidths])
        for bandwidth, fit in zip(bandwidths, fits, strict=True):
            evaluated[bandwidth] = prediction(fit, evaluated[bandwidth].stable_rank, True)
        bar.update(len(bandwidths))

    coarse = np.geomspace(low, high, points).tolist()
    bar = progress_bar(
        progress,
        total=points + 2 * REFINE_ROUNDS,
        desc=f"suggest {config.embedding}",
        unit="bandwidth",
    )
    evaluated: dict[float, _Prediction] = {}
    evaluate_all(coarse)
    for _ in range(REFINE_ROUNDS):
        refinements = _refinements(evaluated, tolerance)
        bar.total -= 2 - len(refinements)  # one, where the choice is at the range's end
        evaluate_all(refinements)
    refined = time.perf_counter()
    if model.replay is not None:
        replay(_shortlist(evaluated))
        replay(_climb(evaluated))
    bar.close()
    bandwidths = sorted(evaluated)
    predictions = [evaluated[bandwidth] for bandwidth in bandwidths]
    curve = BandwidthCurve(
        bandwidths=tuple(bandwidths),
        predicted_psnr=tuple(psnr(p.test_mse) for p in predictions),
        predicted_heldout_psnr=tuple(psnr(p.heldout_mse) for p in predictions),
        predicted_train_psnr=tuple(psnr(p.train_mse) for p in predictions),
        stable_rank=tuple(p.stable_rank for p in predictions),
        replayed=tuple(p.replayed for p in predictions),
    )
    best = choose(curve.predicted_psnr, curve.stable_rank, tolerance)
    finished = time.perf_counter()
    return Suggestion(
        embedding=config.embedding,
        bandwidth_name=name,
        bandwidth=bandwidths[best],
        predicted_psnr=curve.predicted_psnr[best],
        predicted_heldout_psnr=curve.predicted_heldout_psnr[best],
        reference_heldout_psnr=psnr(heldout.reference_mse),
        curve=curve,
        config=with_bandwidth(config, name, bandwidths[best]),
        method=_method(config),
        timings={
            "prepare": prepared - start,
            "candidates": refined - prepared,
            "replay": finished - refined,
            "total": finished - start,
        },
    )


def choose(psnrs: Sequence[float], ranks: Sequence[float], tolerance_db: float) -> int:
    """Index of the suggested candidate: among those predicted within ``tolerance_db`` of the
    best, the one of lowest stable rank (with no tolerance, the best)."""
    best = max(psnrs)
    eligible = [index for index, value in enumerate(psnrs) if value >= best - tolerance_db]
    return min(eligible, key=lambda index: (ranks[index], -psnrs[index]))


def _shortlist(evaluated: dict[float, _Prediction]) -> list[float]:
    """The candidates to replay: at most :data:`REPLAY_MAX`, the best predicted first, within
    :data:`REPLAY_WITHIN_DB` of the best."""
    scores = {bandwidth: psnr(p.test_mse) for bandwidth, p in evaluated.items()}
    ranked = sorted(scores, key=scores.__getitem__, reverse=True)[:REPLAY_MAX]
    return [b for b in ranked if scores[b] >= scores[ranked[0]] - REPLAY_WITHIN_DB]


def _climb(evaluated: dict[float, _Prediction]) -> list[float]:
    """One more candidate to replay, where the best replayed one has neighbours on the curve
    that were not replayed (the closed form put them too low to shortlist): the geometric
    midpoint towards the better predicted of them (none if every neighbour was replayed)."""
    ordered = sorted(evaluated)
    best = min(
        (bandwidth for bandwidth in ordered if evaluated[bandwidth].replayed),
        key=lambda bandwidth: evaluated[bandwidth].test_mse,
    )
    at = ordered.index(best)
    unreplayed = [
        ordered[index]
        for index in (at - 1, at + 1)
        if 0 <= index < len(ordered) and not evaluated[ordered[index]].replayed
    ]
    if not unreplayed:
        return []
    towards = min(unreplayed, key=lambda bandwidth: evaluated[bandwidth].test_mse)
    return [math.sqrt(best * towards)]


def _refinements(evaluated: dict[float, _Prediction], tolerance_db: float) -> list[float]:
    """The geometric midpoints between the candidate :func:`choose` picks and its neighbours."""
    bandwidths = sorted(evaluated)
    predictions = [evaluated[bandwidth] for bandwidth in bandwidths]
    best = choose(
        [psnr(p.test_mse) for p in predictions], [p.stable_rank for p in predictions], tolerance_db
    )
    neighbours = [index for index in (best - 1, best + 1) if 0 <= index < len(bandwidths)]
    return [math.sqrt(bandwidths[best] * bandwidths[index]) for index in neighbours]


def default_range(embedding: str, samples_per_axis: int) -> tuple[float, float]:
    """The range an ``auto`` sweep covers for ``samples_per_axis`` training samples: from a
    predicted stable rank of 2 to ``4 N`` (:func:`posenc.sweeps.auto_bandwidths`)."""
    try:
        ends = auto_bandwidths(embedding, samples_per_axis, 2)
    except ValueError:
        raise ValueError(
            f"there is no default bandwidth range for {embedding!r} (no closed-form stable "
            "rank); give the range to search"
        ) from None
    return ends[0], ends[-1]


def with_bandwidth(config: FitConfig, name: str, bandwidth: float) -> FitConfig:
    """``config`` with its embedding's bandwidth parameter ``name`` set to ``bandwidth``."""
    return dataclasses.replace(
        config, embedding_params={**config.embedding_params, name: float(bandwidth)}
    )


def _bandwidth_name(config: FitConfig) -> str:
    name = describe_embedding(config.embedding).bandwidth_name
    if name is None:
        raise ValueError(f"embedding {config.embedding!r} has no bandwidth to suggest")
    return name


def _checked_range(bandwidth_range: tuple[float, float], name: str) -> tuple[float, float]:
    low, high = (float(value) for value in bandwidth_range)
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0:
        raise ValueError(f"the {name} range must hold finite values > 0, got {low:g}:{high:g}")
    if not low < high:
        raise ValueError(
            f"the {name} range {low:g}:{high:g} is empty (its low end must be below its high end)"
        )
    return low, high


def _check_training_grid(signal: Signal, split: Split) -> None:
    if split.train_axes is None:
        raise ValueError(
            f"the bandwidth oracle needs a grid split (offset, rest or all); got {split.kind!r}"
        )
    for axis, indices in enumerate(split.train_axes):
        if len(indices) < MIN_TRAIN_PER_AXIS:
            raise ValueError(
                f"signal {signal.name!r} has {len(indices)} training samples along axis "
                f"{axis}; the oracle needs at least {MIN_TRAIN_PER_AXIS} to hold some out"
            )


Predictor = Callable[[FitConfig], tuple[np.ndarray, np.ndarray, float]]
"""Config at one bandwidth -> the fit at the training samples (``N x C``), at the held-out
points (``M x C``), and the stable rank of the embedded training matrix."""
Replay = Callable[[list[FitConfig]], list[Fit]]
"""Configs at several bandwidths -> each one's fit, from a replay of its training."""


@dataclass(frozen=True)
class _Model:
    """How the oracle predicts a candidate's fit: ``predict`` (closed form) for every
    candidate, ``replay`` (where the training can be replayed) for the few that decide."""

    predict: Predictor
    replay: Replay | None = None


def _fit_model(signal: Signal, split: Split, heldout: HeldOut, config: FitConfig) -> _Model:
    """The model of ``config``'s training (module docstrings of :mod:`posenc.oracle.adam`
    and :mod:`posenc.oracle.grid`)."""
    fit = LinearFitModel(
        steps=None if config.solver == "closed-form" else config.steps,
        lr=config.lr,
        beta2=config.betas[1],
    )
    if config.model == "linear" and not config.sigmoid:
        targets = signal.flat_values().double().numpy()[split.train.numpy()]
        coords = signal.coordinates().double().numpy()[split.train.numpy()]

        def predict_linear(at: FitConfig) -> tuple[np.ndarray, np.ndarray, float]:
            rows = _rows(at, signal.ndim, coords, heldout.coords)
            fit_train, fit_heldout = predict_linear_fit(rows, targets, fit)
            return fit_train, fit_heldout, training_stable_rank(rows)

        def replay_linear(configs: list[FitConfig]) -> list[Fit]:
            rows = [_rows(at, signal.ndim, coords, heldout.coords) for at in configs]
            return replay_adam(rows, targets, config)

        replays = not fit.closed_form and is_windowed(_embedding(config, signal.ndim))
        return _Model(predict_linear, replay_linear if replays else None)
    if config.model == "separable" and config.depth == 0 and config.solver == "closed-form":
        separable = dataclasses.replace(fit, bias=False)

        def predict_separable(at: FitConfig) -> tuple[np.ndarray, np.ndarray, float]:
            prediction = predict_grid_fit(signal, split, at, separable)
            flat = prediction.values.reshape(-1, signal.channels)
            return flat[split.train.numpy()], flat[split.heldout.numpy()], prediction.stable_rank

        return _Model(predict_separable)
    if config.model == "mlp":
        check_grid_fit(config, signal)
        start = network_start(signal, split, config)
        network_fit = dataclasses.replace(fit, gradient_scale=start.gain)

        def predict_mlp(at: FitConfig) -> tuple[np.ndarray, np.ndarray, float]:
            prediction = predict_grid_fit(signal, split, at, network_fit, start.output)
            flat = prediction.values.reshape(-1, signal.channels)
            return flat[split.train.numpy()], flat[split.heldout.numpy()], prediction.stable_rank

        return _Model(predict_mlp)
    raise ValueError(
        "the bandwidth oracle models linear fits without sigmoid, the separable model's closed "
        "form and MLP fits of images; got "
        f"model {config.model!r}, solver {config.solver!r}"
        + (" with sigmoid" if config.sigmoid else "")
    )


def _method(config: FitConfig) -> str:
    if config.model == "separable":
        return "separable least squares, exact (per-axis pseudo-inverses)"
    if config.model == "mlp":
        return "MLP on an axis-wise embedding: per-axis closed forms of Adam"
    if config.solver == "closed-form":
        return "minimum-norm least squares, exact"
    return "linear fit by Adam, closed form; the best candidates replayed"


def _rows(
    config: FitConfig, ndim: int, train_coords: np.ndarray, query_coords: np.ndarray
) -> EmbeddedRows:
    embedding = _embedding(config, ndim)
    return embed_rows(embedding, config.normalization, train_coords, query_coords)


def _embedding(config: FitConfig, ndim: int) -> Embedding:
    """``config``'s embedding as the oracle evaluates it: float64, unnormalised."""
    return build_embedding(dataclasses.replace(config, dtype="float64"), ndim, "none")


def training_stable_rank(rows: EmbeddedRows) -> float:
    """``SR = ||A||_F^2 / ||A||_2^2`` of the (weighted) embedded training rows ``A``; the
    largest squared singular value by power iteration on ``A diag(w) A^T`` (never formed),
    which converges quadratically in the Rayleigh quotient, from a fixed random start."""
    train, weights = rows.train, rows.weights
    count = int(train.shape[0])
    frobenius = float(rows.feature_sums(np.ones((count, 1)), squared=True)[:, 0] @ weights)
    vector = np.random.default_rng(0).standard_normal(count)
    vector /= np.linalg.norm(vector)
    value = 0.0
    for _ in range(POWER_ITERATIONS):
        image = np.asarray(train @ (weights * np.asarray(train.T @ vector).ravel())).ravel()
        value = float(vector @ image)
        norm = float(np.linalg.norm(image))
        if norm == 0.0:
            break
        vector = image / norm
    return frobenius / value
