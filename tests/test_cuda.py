"""The same work on a CUDA device as on the CPU: fits with every first-layer form, the closed
form, batched sweeps and sequence training. Skipped, with the reason, where CUDA is absent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posenc.neural_fields import fit, fit_batched, load_config_signal, resolve_config
from posenc.sequence import resolve_config as resolve_sequence_config
from posenc.sequence import train

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device; this machine has none"
)

SMALL_FIT = {"size": 64, "steps": 60, "depth": 2, "width": 32}
# Float32 on two devices rounds differently; after tens of Adam steps the PSNRs agree to a few
# hundredths of a dB, not to the last bit.
PSNR_TOLERANCE_DB = 0.05


def fit_on(device: str, **values) -> float:
    config = resolve_config(device=device, **values)
    return fit(load_config_signal(config), config).test_psnr


@pytest.mark.parametrize("first_layer", ["dense", "lookup", "sparse"])
def test_an_mlp_fit_on_cuda_matches_the_cpu(first_layer: str) -> None:
    values = {
        **SMALL_FIT,
        "first_layer": first_layer,
        "embedding_params": {"sigma": 0.01, "num_centers": 128},
    }
    assert fit_on("cuda", **values) == pytest.approx(fit_on("cpu", **values), abs=PSNR_TOLERANCE_DB)


def test_the_separable_closed_form_on_cuda_matches_the_cpu() -> None:
    values = {"protocol": "p2-closed-form", "signal": "coffee", "size": 128}
    assert fit_on("cuda", **values) == pytest.approx(fit_on("cpu", **values), abs=1e-3)


def test_a_batched_sweep_on_cuda_matches_its_fits_one_by_one() -> None:
    configs = [
        resolve_config(
            signal="camera:row=200",
            model="linear",
            steps=100,
            device="cuda",
            embedding_params={"sigma": float(sigma)},
        )
        for sigma in np.logspace(-3, -1, 4)
    ]
    signal = load_config_signal(configs[0])
    batched = [result.test_psnr for result in fit_batched(signal, configs)]
    one_by_one = [fit(signal, config).test_psnr for config in configs]
    assert batched == pytest.approx(one_by_one, abs=1e-3)


@pytest.mark.parametrize("pe", ["rope", "cope"])
def test_sequence_training_on_cuda_follows_the_cpu(pe: str) -> None:
    def losses(device: str) -> list[float]:
        config = resolve_sequence_config(
            "counting",
            pe,
            task_params={"max_statements": 6},
            model={"layers": 1, "width": 32, "heads": 2},
            train={"steps": 10, "batch_size": 8, "eval_every": 5, "test_size": 20,
                   "curve_size": 10, "device": device},
        )  # fmt: skip
        return train(config, progress=False).metrics["train_loss"]

    assert losses("cuda") == pytest.approx(losses("cpu"), rel=1e-3)
