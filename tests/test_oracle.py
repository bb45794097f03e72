"""The bandwidth oracle: its closed forms against real fits, its rows, its errors, its CLI."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from posenc.data import Signal, load_source, make_split
from posenc.neural_fields import fit, psnr, resolve_config
from posenc.neural_fields.pipeline import build_embedding
from posenc.oracle import default_range, suggest_bandwidth
from posenc.oracle.adam import LinearFitModel, predict_linear_fit
from posenc.oracle.features import embed_rows
from posenc.oracle.grid import network_start, predict_grid_fit
from posenc.oracle.heldout import FINE_SCALE_RATIO, held_out_points
from posenc.oracle.replay import replay_adam
from posenc.oracle.search import (
    REFINE_ROUNDS,
    REPLAY_MAX,
    _climb,
    _Prediction,
    _refinements,
    choose,
)

ROW = "camera:row=200"
SHORT_LENGTH = 128
"""Samples of the row the closed forms are checked on (a quarter of P1's training cost)."""


def linear_config(bandwidth: float, **overrides):
    """P1's 1D protocol at one bandwidth."""
    config = resolve_config("p1-1d", **{"signal": ROW, **overrides})
    params = {**config.embedding_params, "sigma": bandwidth}
    return dataclasses.replace(config, embedding_params=params)


def short_row() -> Signal:
    return load_source(ROW, length=SHORT_LENGTH)


def model_rows(config, signal: Signal):
    split = make_split(signal.grid_shape, config.split)
    coords = signal.coordinates().double().numpy()
    embedding = build_embedding(dataclasses.replace(config, dtype="float64"), 1, "none")
    rows = embed_rows(
        embedding,
        config.normalization,
        coords[split.train.numpy()],
        coords[split.heldout.numpy()],
    )
    return split, rows


@pytest.mark.parametrize("sigma", [1.5e-3, 3e-3, 2e-2])
def test_adam_closed_form_predicts_the_trained_fit(sigma: float) -> None:
    """P1's protocol on a 128-sample row: at the edge where the basis stops reaching the
    points between samples, memorising, and underfitting, the closed form lands within about
    a dB of Adam's fit, on the training samples and between them."""
    config = linear_config(sigma)
    signal = short_row()
    result = fit(signal, config)
    split, rows = model_rows(config, signal)
    targets = signal.flat_values().double().numpy()[split.train.numpy()]
    fit_model = LinearFitModel(steps=config.steps, lr=config.lr)
    train, heldout = predict_linear_fit(rows, targets, fit_model)
    truth = signal.flat_values().double().numpy()
    predicted_heldout = psnr(np.mean((heldout - truth[split.heldout.numpy()]) ** 2))
    assert predicted_heldout == pytest.approx(result.heldout_psnr, abs=1.25)
    predicted_train = psnr(np.mean((train - targets) ** 2))
    assert min(predicted_train, 60) == pytest.approx(min(result.train_psnr, 60), abs=1.0)


@pytest.mark.parametrize(("sigma", "centres"), [(3e-3, 1000), (3e-3, 10000), (1e-2, 10000)])
def test_replay_lands_on_the_trained_fit(sigma: float, centres: int) -> None:
    """P1's protocol on a whole row, near its best bandwidths: Adam replayed on the compact
    rows gives the trained fit, between the samples and on them (where the fit, in float32,
    is not memorising), with every centre kept
    (1000 centres) and with centres merged by quadrature (7 and 24 to one of P1's 10000)."""
    config = linear_config(sigma, embedding_params={"num_centers": centres})
    signal = load_source(ROW)
    result = fit(signal, config)
    split, rows = model_rows(config, signal)
    assert (rows.stride == 1) == (centres == 1000)
    targets = signal.flat_values().double().numpy()[split.train.numpy()]
    ((train, heldout),) = replay_adam([rows], targets, config)
    truth = signal.flat_values().double().numpy()[split.heldout.numpy()]
    assert psnr(np.mean((heldout - truth) ** 2)) == pytest.approx(result.heldout_psnr, abs=0.05)
    replayed_train = psnr(np.mean((train - targets) ** 2))  # above 45 dB: float32 rounding
    assert min(replayed_train, 45) == pytest.approx(min(result.train_psnr, 45), abs=0.05)


@pytest.mark.parametrize("embedding", ["gaussian", "rff"])
def test_candidates_replayed_together_train_as_if_alone(embedding: str) -> None:
    """One block-diagonal product for all candidates, windowed rows or dense ones (which the
    oracle itself does not replay): the same fit as each alone, to float32 rounding (the
    replay's precision; a row's sums are added in another order when it is one block of
    several)."""
    config = linear_config(2e-3, steps=50)
    if embedding == "rff":
        config = resolve_config("p1-1d", signal=ROW, embedding="rff", steps=50)
    signal = short_row()
    split, wide = model_rows(config, signal)
    narrow_config = linear_config(5e-4, steps=50)
    if embedding == "rff":
        narrow_config = dataclasses.replace(config, embedding_params={"scale": 40.0})
    _, narrow = model_rows(narrow_config, signal)
    targets = signal.flat_values().double().numpy()[split.train.numpy()]
    together = replay_adam([wide, narrow], targets, config)
    for rows, (train, heldout) in zip([wide, narrow], together, strict=True):
        ((alone_train, alone_heldout),) = replay_adam([rows], targets, config)
        np.testing.assert_allclose(train, alone_train, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(heldout, alone_heldout, rtol=1e-5, atol=1e-6)


def test_closed_form_solver_is_reproduced_exactly() -> None:
    config = linear_config(2e-3, solver="closed-form", dtype="float64")
    signal = short_row()
    result = fit(signal, config)
    split, rows = model_rows(config, signal)
    targets = signal.flat_values().double().numpy()[split.train.numpy()]
    _, heldout = predict_linear_fit(rows, targets, LinearFitModel(steps=None))
    expected = result.prediction.double().numpy().reshape(-1, 1)[split.heldout.numpy()]
    np.testing.assert_allclose(heldout, expected, atol=1e-5)


def test_with_the_held_out_values_known_an_exact_model_picks_the_best_candidate() -> None:
    """The minimum-norm fit is modelled exactly, so with the held-out values known (the
    validation's yardstick for the estimate's share of a gap) each candidate's predicted
    test PSNR is the fit's own, and the suggestion is the best of the candidates around it;
    the estimate from the training samples alone predicts differently."""
    config = linear_config(2e-3, solver="closed-form", dtype="float64")
    signal = short_row()
    known = suggest_bandwidth(signal, config, true_held_out_values=True, progress=False)
    chosen = known.curve.bandwidths.index(known.bandwidth)
    around = range(max(chosen - 1, 0), min(chosen + 2, len(known.curve.bandwidths)))
    achieved = {}
    for index in around:
        config_there = dataclasses.replace(
            config,
            embedding_params={**config.embedding_params, "sigma": known.curve.bandwidths[index]},
        )
        achieved[index] = fit(signal, config_there).test_psnr
        assert known.curve.predicted_psnr[index] == pytest.approx(achieved[index], abs=0.01)
    assert max(achieved, key=achieved.__getitem__) == chosen
    estimated = suggest_bandwidth(signal, config, progress=False)
    assert abs(estimated.predicted_psnr - known.predicted_psnr) > 0.01


def test_separable_closed_form_is_the_product_of_per_axis_operators() -> None:
    """P2's closed form on a product grid, ``pinv(Phi_x) S pinv(Phi_y)^T``, is reproduced
    by one interpolation operator per axis: the same image to rounding, the same SR."""
    config = resolve_config(
        "p2-closed-form",
        size=48,
        embedding_params={"num_centers": 48, "sigma": 0.012},
        dtype="float64",
    )
    signal = load_source("astronaut", size=48)
    result = fit(signal, config)
    split = make_split(signal.grid_shape, config.split)
    prediction = predict_grid_fit(signal, split, config, LinearFitModel(steps=None, bias=False))
    np.testing.assert_allclose(prediction.values, result.prediction.double().numpy(), atol=1e-6)
    assert prediction.stable_rank == pytest.approx(result.stable_rank, rel=1e-6)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("gaussian", {"sigma": 0.02, "num_centers": 4000}),  # thinned: stride > 1
        ("gaussian", {"sigma": 3e-4, "num_centers": 4000}),  # windows, every centre
        ("triangle", {"width": 0.05, "num_centers": 4000}),
        ("rff", {"scale": 20.0, "num_frequencies": 64}),  # dense rows
    ],
)
def test_compact_rows_give_the_dense_inner_products(name: str, params: dict) -> None:
    coords = np.linspace(0, 1, 97, endpoint=False)[:, None]
    embedding = build_embedding(
        resolve_config(embedding=name, embedding_params=params, dtype="float64"), 1, "none"
    )
    rows = embed_rows(embedding, "train", coords[::2], coords[1::2])
    with torch.no_grad():
        dense = embedding(torch.from_numpy(coords)).numpy()
    dense = dense / np.linalg.norm(dense[::2], axis=1).max()
    expected = dense[::2] @ dense[::2].T
    gram = rows.gram(np.ones(rows.num_features))
    if rows.stride == 1:  # every centre kept: exact to rounding
        np.testing.assert_allclose(gram, expected, atol=1e-12)
    else:  # thinned: within a fraction of a percent, at rows cut by the domain's edge too
        np.testing.assert_allclose(gram, expected, atol=5e-3 * expected.max())
        if name == "gaussian":  # smooth generator: spectrally accurate away from the edges
            inner = slice(len(expected) // 4, 3 * len(expected) // 4)
            np.testing.assert_allclose(gram[inner, inner], expected[inner, inner], atol=1e-6)


def test_reference_error_of_a_cubic_is_zero_and_of_a_quartic_is_known() -> None:
    n = 65  # every held-out sample lies between two training samples, at both rates
    x = np.arange(n) / n
    cubic = Signal(torch.tensor(0.2 + 0.5 * x - 0.4 * x**3, dtype=torch.float32)[:, None], "c", {})
    split = make_split((n,), "all")
    heldout = held_out_points(cubic, split)
    assert heldout.reference_mse < 1e-14  # float32 rounding of the samples only
    truth = cubic.flat_values().double().numpy()[split.heldout.numpy()]
    np.testing.assert_allclose(heldout.reference, truth, atol=1e-7)
    assert heldout.num_test == n and len(heldout.test_train_positions) == n // 2 + 1
    quartic = Signal(torch.tensor(x**4, dtype=torch.float32)[:, None], "quartic", {})
    estimate = held_out_points(quartic, split).reference_mse
    # the four-point Lagrange error of x^4 at a point p is prod_m (p - x_m) (the fourth
    # derivative over 4! is 1): halfway between the middle nodes (9/16) d^4, and with the
    # stencil shifted at either end of the coarse grid (spacing d = 4/n, 16 points) 15/16 d^4
    d = 4 / n
    coarse = ((9 / 16 * d**4) ** 2 * 14 + (15 / 16 * d**4) ** 2 * 2) / 16
    assert estimate == pytest.approx(FINE_SCALE_RATIO[1] * coarse, rel=1e-3)


def test_suggestion_is_the_best_of_its_curve_and_carries_its_config() -> None:
    config = linear_config(1e-3)
    signal = short_row()
    suggestion = suggest_bandwidth(signal, config, bandwidth_range=(1e-4, 1e-1), points=8)
    curve = suggestion.curve
    # the coarse candidates, one or two refinements a round and at most one climbing replay
    assert 8 + REFINE_ROUNDS <= len(curve.bandwidths) <= 8 + 2 * REFINE_ROUNDS + 1
    assert curve.bandwidths[0] == pytest.approx(1e-4)
    assert list(curve.bandwidths) == sorted(curve.bandwidths)
    assert suggestion.predicted_psnr == max(curve.predicted_psnr)
    replayed = [b for b, replay in zip(curve.bandwidths, curve.replayed, strict=True) if replay]
    assert 1 <= len(replayed) <= REPLAY_MAX + 1 and suggestion.bandwidth in replayed
    assert suggestion.timings["replay"] > 0
    assert suggestion.config.embedding_params["sigma"] == suggestion.bandwidth
    assert curve.stable_rank[0] > 10 * curve.stable_rank[-1]  # wider bases: lower rank
    assert suggestion.timings["total"] > 0
    record = json.loads(json.dumps(suggestion.to_dict()))
    assert record["bandwidth_name"] == "sigma"
    assert len(record["curve"]["bandwidths"]) == len(curve.bandwidths)


@pytest.mark.parametrize(
    ("overrides", "replays"),
    [({}, True), ({"solver": "closed-form"}, False), ({"embedding": "rff"}, False)],
)
def test_only_adam_fits_on_windowed_rows_are_replayed(overrides: dict, replays: bool) -> None:
    """The closed-form solver is exact already; dense rows would cost what the fits cost."""
    config = resolve_config("p1-1d", **{"signal": ROW, "steps": 200, **overrides})
    suggestion = suggest_bandwidth(short_row(), config, points=4)
    assert any(suggestion.curve.replayed) == replays


def test_choice_takes_the_best_or_the_smoothest_within_the_margin() -> None:
    psnrs, ranks = [20.0, 27.0, 26.5, 26.2, 24.0], [250.0, 120.0, 60.0, 30.0, 10.0]
    assert choose(psnrs, ranks, 0.0) == 1
    assert choose(psnrs, ranks, 1.0) == 3  # 26.2 >= 27 - 1, lowest stable rank
    assert choose(psnrs, ranks, 5.0) == 4


def test_mlp_on_an_image_collapses_where_the_basis_misses_the_test_pixels() -> None:
    """posenc fit's default MLP on a 32 x 32 image: a basis far narrower than the pixel
    spacing cannot reach the test pixels (predicted near the network's start), the
    suggestion lies past that edge, and the network's start was measured."""
    config = resolve_config(size=32)
    signal = load_source("camera", size=32)
    suggestion = suggest_bandwidth(signal, config, bandwidth_range=(2e-3, 0.1), points=6)
    curve = suggestion.curve
    assert curve.predicted_psnr[0] < max(curve.predicted_psnr) - 5
    assert suggestion.bandwidth > 1 / 64
    assert suggestion.method.startswith("MLP")
    split = make_split(signal.grid_shape, config.split)
    start = network_start(signal, split, config)
    assert 0.3 < start.output < 0.7 and 0 < start.gain < 1


def test_default_range_is_the_auto_sweeps() -> None:
    low, high = default_range("gaussian", 256)
    assert low == pytest.approx(1 / (2 * np.sqrt(np.pi) * 4 * 256))
    assert high == pytest.approx(1 / (2 * np.sqrt(np.pi) * 2))


@pytest.mark.parametrize(
    ("overrides", "keywords", "message"),
    [
        ({}, {"bandwidth_range": (0.01, 0.001)}, "range 0.01:0.001 is empty"),
        ({}, {"bandwidth_range": (0.01, 0.01)}, "range 0.01:0.01 is empty"),
        ({}, {"bandwidth_range": (0.0, 0.01)}, "finite values > 0"),
        ({"split": "random"}, {}, "needs a grid split"),
        ({"model": "siren", "sigmoid": False}, {}, "got model 'siren'"),
    ],
)
def test_bad_requests_raise_one_clear_value_error(overrides, keywords, message) -> None:
    config = linear_config(1e-3, **overrides)
    with pytest.raises(ValueError, match=message):
        suggest_bandwidth(short_row(), config, points=4, **keywords)


def test_an_embedding_without_a_bandwidth_is_refused() -> None:
    config = resolve_config("p1-1d", signal=ROW, embedding="none")
    with pytest.raises(ValueError, match=r"^embedding 'none' has no bandwidth to suggest$"):
        suggest_bandwidth(short_row(), config, points=4)


def test_a_signal_too_small_to_hold_out_samples_is_refused() -> None:
    config = resolve_config(size=4, model="linear", sigmoid=False)
    signal = load_source("camera", size=4)
    with pytest.raises(ValueError, match="2 training samples along axis 0"):
        suggest_bandwidth(signal, config)


def test_cli_prints_writes_and_refuses(run_cli, tmp_path) -> None:
    out = tmp_path / "run"
    args = ["suggest", ROW, "--protocol", "p1-1d", "--num-centers", "2000", "--steps", "300"]
    result = run_cli(
        *args, "--embedding", "gaussian", "triangle", "--points", "6", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("gaussian: sigma = ") and "predicted test PSNR" in lines[0]
    assert lines[1].startswith("triangle: width = ")
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "curve_gaussian.png",
        "curve_triangle.png",
        "suggest.json",
    ]
    record = json.loads((out / "suggest.json").read_text())
    assert [s["embedding"] for s in record["suggestions"]] == ["gaussian", "triangle"]
    assert json.loads((out / "config.json").read_text())["settings"]["steps"] == 300
    for bad, message in [
        (["--embedding", "none"], "embedding 'none' has no bandwidth to suggest"),
        (["--range", "0.01", "0.001"], "is empty"),
    ]:
        failed = run_cli(
            "suggest", ROW, "--protocol", "p1-1d", *bad, "--out", str(tmp_path / "bad")
        )
        assert failed.returncode == 2
        assert (
            failed.stderr.strip().startswith("posenc suggest: error:") and message in failed.stderr
        )
        assert len(failed.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "bad").exists()


def test_refinement_rounds_halve_the_step_around_the_best_prediction() -> None:
    """Each round adds the geometric midpoints to the chosen candidate's neighbours among
    all evaluated so far, so two rounds bracket the peak of a smooth curve at a quarter of
    the coarse log-step; at the range's end only the inner midpoint is added."""

    def candidate(bandwidth: float) -> _Prediction:
        error = 1.0 + (math.log10(bandwidth) - math.log10(0.004)) ** 2  # best at 0.004
        return _Prediction(error, error, error, 1.0 / bandwidth)

    evaluated = {b: candidate(b) for b in (1e-4, 1e-3, 1e-2, 1e-1)}
    first = _refinements(evaluated, 0.0)
    assert first == [pytest.approx(10**-2.5), pytest.approx(10**-1.5)]
    evaluated.update({b: candidate(b) for b in first})
    second = _refinements(evaluated, 0.0)
    assert second == [pytest.approx(10**-2.75), pytest.approx(10**-2.25)]
    ends = {b: candidate(b) for b in (3e-3, 3e-2, 3e-1)}
    assert _refinements(ends, 0.0) == [pytest.approx(math.sqrt(3e-3 * 3e-2))]


def test_climb_replays_halfway_towards_the_best_replayed_candidates_open_side() -> None:
    """The best replayed candidate's better unreplayed neighbour gets a replay halfway to it;
    with both neighbours replayed there is nothing to climb."""

    def candidate(test_mse: float, replayed: bool) -> _Prediction:
        return _Prediction(test_mse, test_mse, test_mse, 1.0, replayed)

    evaluated = {
        1.0: candidate(4.0, False),
        2.0: candidate(1.0, True),  # the best replayed
        4.0: candidate(3.0, False),  # its better unreplayed neighbour
        8.0: candidate(0.5, False),
    }
    assert _climb(evaluated) == [pytest.approx(math.sqrt(8.0))]
    evaluated[1.0] = candidate(2.0, True)
    evaluated[4.0] = candidate(3.0, True)
    assert _climb(evaluated) == []
