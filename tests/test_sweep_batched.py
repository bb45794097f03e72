"""Batched training gives each fit what ``fit`` gives it; grouping of runs into jobs."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from posenc.neural_fields import (
    FitConfig,
    build_model,
    fit,
    fit_batched,
    fit_many,
    load_config_signal,
    resolve_config,
)
from posenc.neural_fields.batched import BatchedMLP, batch_key, batching_pays
from posenc.sweeps.jobs import RunTask, plan_jobs

LINEAR_1D = {
    "signal": "camera:row=200",
    "embedding": "gaussian",
    "model": "linear",
    "sigmoid": False,
    "steps": 40,
    "eval_every": 10,
    "last_k": 5,
}
MLP_2D = {
    "signal": "camera",
    "size": 16,
    "split": "random",
    "embedding": "rff",
    "model": "mlp",
    "depth": 2,
    "width": 16,
    "steps": 30,
    "eval_every": 10,
    "last_k": 5,
}


def configs(base: dict, bandwidths: list[float], seeds: list[int], **params) -> list[FitConfig]:
    return [
        resolve_config(**base, seed=seed, embedding_params={"bandwidth": value, **params})
        for value in bandwidths
        for seed in seeds
    ]


MEASURED = {"timings_seconds", "peak_bytes"}
"""Record fields that are measurements of this machine, not results of the fit."""


def assert_same_record(ours, theirs, path: str = "metrics") -> None:
    """Two metrics records agree field by field: the same keys, equal values (floats to
    rounding), measured fields present in both."""
    if isinstance(ours, dict):
        assert set(ours) == set(theirs), path
        for key in ours:
            if key in MEASURED:
                assert ours[key] is not None and theirs[key] is not None, f"{path}.{key}"
            else:
                assert_same_record(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(ours, list):
        assert len(ours) == len(theirs), path
        for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same_record(a, b, f"{path}[{index}]")
    elif isinstance(ours, float):
        assert ours == pytest.approx(theirs, rel=1e-5, abs=1e-3), path
    else:
        assert ours == theirs, path


def assert_same_results(batched, sequential) -> None:
    for ours, theirs in zip(batched, sequential, strict=True):
        assert_same_record(ours.metrics(), theirs.metrics())
        assert ours.config == theirs.config
        for name in (
            "train_psnr",
            "test_psnr",
            "heldout_psnr",
            "train_psnr_last",
            "test_psnr_last",
        ):
            assert getattr(ours, name) == pytest.approx(getattr(theirs, name), abs=1e-3), name
        assert ours.history.eval_steps == theirs.history.eval_steps
        assert ours.history.train_psnr == pytest.approx(theirs.history.train_psnr, abs=1e-3)
        assert ours.stable_rank == pytest.approx(theirs.stable_rank, rel=1e-6)
        assert ours.distance_preservation == theirs.distance_preservation
        assert torch.allclose(ours.prediction, theirs.prediction, atol=1e-4)
        assert set(ours.timings) >= {"embed", "train", "fit", "batch_train"}


def test_linear_bandwidths_and_seeds_match_fit_one_by_one() -> None:
    runs = configs(LINEAR_1D, [3e-4, 3e-2], [0, 1], num_centers=128)
    signal = load_config_signal(runs[0])
    sequential = [fit(signal, config) for config in runs]
    batched = fit_batched(signal, runs)
    assert_same_results(batched, sequential)
    # the sweep's members really differ: bandwidth moves PSNR by decibels, seeds by less
    assert len({round(result.test_psnr, 3) for result in sequential}) == len(runs)


def test_mlp_with_random_split_and_seeded_embedding_matches_fit() -> None:
    runs = configs(MLP_2D, [1.0, 6.0], [0, 2], num_frequencies=16)
    signal = load_config_signal(runs[0])
    assert_same_results(fit_batched(signal, runs), [fit(signal, config) for config in runs])


@pytest.mark.parametrize(
    ("base", "bandwidths", "params", "form"),
    [
        (MLP_2D | {"split": "offset", "embedding": "gaussian"}, [0.02, 0.08], {}, "lookup"),
        (LINEAR_1D, [0.002, 0.004], {"num_centers": 512}, "sparse"),
    ],
)
def test_structured_first_layers_train_batched_as_one_by_one(base, bandwidths, params, form):
    runs = configs(base | {"first_layer": form}, bandwidths, [0, 1], **params)
    signal = load_config_signal(runs[0])
    batched = fit_batched(signal, runs)
    assert_same_results(batched, [fit(signal, config) for config in runs])
    assert {result.first_layer for result in batched} == {form}


def test_auto_trains_each_member_in_the_form_a_single_fit_takes() -> None:
    # wide Gaussians cover every centre (dense), narrow ones touch a few (sparse); 16384
    # centres make the 256 training rows large enough for auto to consider a sparse form
    base = LINEAR_1D | {"normalization": "train", "steps": 10, "last_k": 2}
    runs = configs(base, [0.2, 0.0005], [0], num_centers=16384)
    signal = load_config_signal(runs[0])
    batched = fit_batched(signal, runs)
    single = [fit(signal, config) for config in runs]
    assert [result.first_layer for result in batched] == ["dense", "sparse"]
    assert_same_results(batched, single)


def test_batched_model_computes_each_member() -> None:
    torch.manual_seed(0)
    models = [
        build_model("mlp", in_features=5, out_channels=3, depth=2, width=7, sigmoid=True)
        for _ in range(3)
    ]
    batched = BatchedMLP(models, sigmoid=True)
    inputs = torch.randn(3, 11, 5)
    expected = torch.stack([model(inputs[index]) for index, model in enumerate(models)])
    assert torch.allclose(batched(inputs), expected, atol=1e-6)
    with torch.no_grad():
        for weight in batched.weights:
            weight.mul_(2)
    batched.write_back(models)
    assert torch.equal(models[1].net[0].weight, batched.weights[0][1])


def test_batch_keys_ignore_only_bandwidth_and_seed() -> None:
    base = dict(LINEAR_1D)
    key = batch_key(resolve_config(**base, embedding_params={"sigma": 0.01}))
    assert key is not None
    assert batch_key(resolve_config(**base, seed=4, embedding_params={"sigma": 0.5})) == key
    assert batch_key(resolve_config(**{**base, "lr": 0.1}, embedding_params={"sigma": 0.01})) != key
    assert batch_key(resolve_config(**{**base, "model": "siren"})) is None
    assert batch_key(resolve_config(**{**base, "solver": "closed-form"})) is None


def test_fit_batched_refuses_configs_that_differ_otherwise() -> None:
    runs = [resolve_config(**LINEAR_1D), resolve_config(**{**LINEAR_1D, "steps": 41})]
    with pytest.raises(ValueError, match="differ only in bandwidth and seed"):
        fit_batched(load_config_signal(runs[0]), runs)


def test_jobs_group_batchable_runs_and_split_them() -> None:
    linear = configs(LINEAR_1D, [1e-3, 1e-2, 1e-1], [0, 1], num_centers=64)
    siren = resolve_config(**{**LINEAR_1D, "model": "siren"})
    tasks = [RunTask(str(index), config) for index, config in enumerate([*linear, siren])]
    jobs = plan_jobs(tasks)
    assert [len(job) for job in jobs] == [6, 1] and jobs[1][0].config.model == "siren"
    assert [len(job) for job in plan_jobs(tasks, parallel=2)] == [3, 3, 1]
    # a memory cap below one run's estimate gives one run per job
    assert [len(job) for job in plan_jobs(tasks, max_batch_bytes=1)] == [1] * 7


def test_batching_pays_for_linear_fits_not_for_cpu_mlps_with_hidden_layers() -> None:
    """A CPU MLP with hidden layers trains faster alone (the written-out step): a sweep fits
    such runs one by one; linear fits and MLP fits on a GPU stay batched."""
    linear = resolve_config(signal="camera:row=200", embedding="gaussian", model="linear")
    mlp = resolve_config(embedding="gaussian")
    assert batching_pays(linear) and not batching_pays(mlp)
    assert batching_pays(dataclasses.replace(mlp, device="cuda"))
    tasks = [
        RunTask(f"{kind}{sigma}", dataclasses.replace(config, embedding_params={"sigma": sigma}))
        for kind, config in (("linear", linear), ("mlp", mlp))
        for sigma in (0.01, 0.02, 0.04)
    ]
    jobs = plan_jobs(tasks)
    assert [len(job) for job in jobs] == [3, 1, 1, 1]
    assert {task.config.model for task in jobs[0]} == {"linear"}


def test_fit_many_batches_where_it_pays_and_keeps_the_order() -> None:
    signal = load_config_signal(
        resolve_config(signal="camera:row=200", embedding="gaussian", model="linear")
    )
    configs = [
        resolve_config(
            signal="camera:row=200",
            embedding="gaussian",
            model=model,
            steps=20,
            embedding_params={"sigma": sigma, "num_centers": 64},
        )
        for model, sigma in (("linear", 0.01), ("mlp", 0.01), ("linear", 0.03))
    ]
    many = fit_many(signal, configs)
    assert [result.config for result in many] == configs
    alone = [fit(signal, config) for config in configs]
    for together, single in zip(many, alone, strict=True):
        assert together.test_psnr == pytest.approx(single.test_psnr, abs=1e-4)
    assert "batch_train" in many[0].timings and "batch_train" not in many[1].timings
