"""``fit``: the result record, the schedule, determinism, and the papers' regimes."""

from __future__ import annotations

import json

import pytest
import torch

from posenc.analysis import LayerStableRank
from posenc.data import load_source
from posenc.neural_fields import (
    PROTOCOLS,
    FitConfig,
    FitStep,
    fit,
    load_config_signal,
    psnr,
    resolve_config,
    save_fit,
)


def quick(**overrides) -> FitConfig:
    settings = {"size": 32, "steps": 30, "eval_every": 10, "last_k": 5, "width": 32}
    return resolve_config(**{**settings, **overrides})


def test_result_record_and_eval_schedule() -> None:
    config = quick()
    result = fit(load_config_signal(config), config)
    assert len(result.history.train_psnr) == 30
    # every 10 steps, and each of the last 5
    assert result.history.eval_steps == [10, 20, 26, 27, 28, 29, 30]
    assert result.test_psnr_last == pytest.approx(sum(result.history.test_psnr[-5:]) / 5)
    assert result.train_psnr_last == pytest.approx(sum(result.history.train_psnr[-5:]) / 5)
    assert result.prediction.shape == (32, 32, 1)
    assert result.heldout_psnr == pytest.approx(result.test_psnr, abs=1e-4)  # offset split
    assert 1 < result.stable_rank <= 2 * 256 and 0 < result.distance_preservation < 0.5
    record = json.loads(json.dumps(result.metrics()))
    assert record["config"] == config.to_dict()
    assert set(record["timings_seconds"]) >= {"embed", "train", "fit"}


def test_same_seed_same_result_and_seed_matters() -> None:
    config = quick(embedding="rff", embedding_params={"scale": 3.0, "num_frequencies": 32})
    signal = load_config_signal(config)
    first, second = fit(signal, config), fit(signal, config)
    assert first.history.train_psnr == second.history.train_psnr
    other = fit(signal, resolve_config(**{**config.to_dict(), "seed": 1}))
    assert other.history.train_psnr != first.history.train_psnr
    assert not torch.equal(other.embedding.frequencies, first.embedding.frequencies)


def test_callbacks_see_every_step_its_loss_and_the_evaluations() -> None:
    seen: list[FitStep] = []
    config = quick(steps=7, eval_every=3, last_k=2)
    result = fit(load_config_signal(config), config, callbacks=[seen.append])
    assert [state.step for state in seen] == list(range(1, 8))
    assert {state.steps for state in seen} == {7}
    assert [state.train_psnr for state in seen] == pytest.approx(result.history.train_psnr)
    assert seen[0].train_loss == pytest.approx(10 ** (-result.history.train_psnr[0] / 10))
    evaluated = [(state.step, state.test_psnr) for state in seen if state.test_psnr is not None]
    assert evaluated == list(zip(result.history.eval_steps, result.history.test_psnr, strict=True))
    assert [step for step, _ in evaluated] == [3, 6, 7]
    assert seen[-1].model is result.model


def test_layer_stable_rank_is_a_fit_callback() -> None:
    tracker = LayerStableRank(every=2)
    config = quick(steps=5, depth=2)
    fit(load_config_signal(config), config, callbacks=[tracker])
    assert [step for step, _ in tracker.history] == [2, 4]
    assert all(len(ranks) == 2 and min(ranks) >= 1 for _, ranks in tracker.history)


def test_psnr_of_known_mse() -> None:
    assert psnr(0.01) == pytest.approx(20.0)
    assert psnr(0.0) == pytest.approx(300.0)


def test_every_protocol_resolves_to_a_valid_config() -> None:
    for name, settings in PROTOCOLS.items():
        config = resolve_config(name)
        assert config.protocol == name
        for key, value in settings.items():
            assert getattr(config, key) == (tuple(value) if key == "betas" else value), key


def test_overrides_change_one_field_and_drop_foreign_embedding_params() -> None:
    config = resolve_config("p1-2d", embedding="rff", steps=10)
    assert config.steps == 10 and config.depth == 4 and config.embedding == "rff"
    assert config.embedding_params == {"compose": "concat"}  # sigma/num_centers dropped
    generic = resolve_config("p1-2d", embedding_params={"bandwidth": 0.02})
    assert generic.embedding_params["sigma"] == 0.02


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"solver": "closed-form"}, "closed-form"),
        ({"model": "separable"}, "compose='separable'"),
        ({"lr": -1.0}, "lr must be"),
        ({"embedding": "gausian"}, "did you mean 'gaussian'"),
        ({"embedding_params": {"sigma": float("nan")}}, "sigma must be"),
        ({"embedding_params": {"num_centers": 0}}, "num_centers"),
        ({"embedding_params": {"bandwidth": 1.0, "sigma": 1.0}}, "either bandwidth or sigma"),
        ({"device": "cuda:7"} if not torch.cuda.is_available() else {"device": "tpu"}, "device"),
        ({"split": "diagonal"}, "split must be one of"),
    ],
)
def test_invalid_settings_are_named(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_config(**overrides)


def test_sigmoid_follows_the_model_unless_given() -> None:
    assert resolve_config().sigmoid is True
    assert resolve_config(model="linear").sigmoid is False
    assert resolve_config(model="siren").sigmoid is True
    assert resolve_config(model="linear", sigmoid=True).sigmoid is True
    assert resolve_config("p2-simple", model="mlp").sigmoid is False  # the protocol's choice


def test_unknown_protocol() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'p9'"):
        resolve_config("p9")


def test_memory_estimate_refuses_before_allocating() -> None:
    """2048^2 pixels x 2 x 100000 dense Gaussian features would need terabytes."""
    config = quick(size=2048, embedding_params={"num_centers": 100_000}, first_layer="dense")
    with pytest.raises(ValueError, match=r"needs about \d+\.\d GiB"):
        fit(load_config_signal(config), config)


def test_p1_1d_regimes() -> None:
    """P1 1D on a 512-sample image row: underfit, sweet spot, memorise."""
    results = {}
    for sigma in (0.01, 0.002, 0.0003):
        config = resolve_config("p1-1d", embedding_params={"sigma": sigma})
        results[sigma] = fit(load_config_signal(config), config)
    assert results[0.01].train_psnr < 40
    assert results[0.002].train_psnr > 60 and results[0.0003].train_psnr > 60
    heldout = {sigma: result.heldout_psnr for sigma, result in results.items()}
    assert heldout[0.002] == max(heldout.values())
    assert heldout[0.0003] <= heldout[0.002] - 10


def test_gaussian_embedding_beats_no_embedding_on_held_out_pixels() -> None:
    settings = {"size": 64, "steps": 200, "eval_every": 1000, "last_k": 1}
    plain = resolve_config(embedding="none", embedding_params={}, **settings)
    gaussian = resolve_config(embedding_params={"sigma": 0.01, "num_centers": 128}, **settings)
    signal = load_config_signal(plain)
    gap = fit(signal, gaussian).test_psnr - fit(signal, plain).test_psnr
    assert gap >= 3


def test_separable_closed_form_on_a_512_image() -> None:
    config = resolve_config("p2-closed-form", signal="camera", split="offset")
    result = fit(load_source("camera", size=512), config)
    assert result.history.train_psnr == []
    assert result.test_psnr > 25
    assert result.train_psnr > result.test_psnr


def test_save_fit_writes_a_whole_folder(tmp_path) -> None:
    config = quick(steps=5, last_k=2)
    result = fit(load_config_signal(config), config)
    out = save_fit(result, tmp_path / "run", checkpoint=True)
    names = {path.name for path in out.iterdir()}
    assert names == {
        "metrics.json",
        "config.json",
        "reconstruction.png",
        "error.png",
        "history.png",
        "checkpoint.pt",
        "report.html",
    }
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["config"] == config.to_dict()
    assert list(tmp_path.iterdir()) == [out]  # no staging folder left behind
    with pytest.raises(ValueError, match="already exists"):
        save_fit(result, out)
