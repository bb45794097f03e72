"""A fit's figures say what was fitted; the history claims only the means it computed."""

from __future__ import annotations

import numpy as np
import pytest

from posenc.neural_fields import FitConfig, fit, load_config_signal, resolve_config
from posenc.neural_fields.output import figure_fit_1d, figure_history, figure_reconstruction


def quick(**overrides) -> FitConfig:
    settings = {"size": 24, "steps": 30, "eval_every": 10, "last_k": 8, "width": 16}
    settings["embedding_params"] = {"sigma": 0.02, "num_centers": 24}
    return resolve_config(**{**settings, **overrides})


@pytest.fixture(scope="module")
def result():
    config = quick()
    return fit(load_config_signal(config), config, progress=False)


def test_reconstruction_shows_the_ground_truth_beside_it_with_a_title(result) -> None:
    figure = figure_reconstruction(result)
    truth, reconstruction = figure.axes
    assert (truth.get_title(), reconstruction.get_title()) == ("ground truth", "reconstruction")
    title = figure.get_suptitle()
    assert "camera, gaussian sigma=0.02, mlp" in title
    assert f"test PSNR {result.test_psnr:.2f} dB" in title
    shown = truth.get_images()[0].get_array()
    np.testing.assert_allclose(shown, result.signal.values[..., 0].numpy(), atol=1e-6)
    np.testing.assert_allclose(
        reconstruction.get_images()[0].get_array(),
        np.clip(result.prediction[..., 0].numpy(), 0, 1),
        atol=1e-6,
    )


def test_history_is_titled_and_drawn_at_an_even_cadence(result) -> None:
    # Evaluated at 10, 20 and each of the last 8 steps; drawn every 10 steps.
    assert result.history.eval_steps == [10, 20, *range(23, 31)]
    (axes,) = figure_history(result).axes
    assert "camera, gaussian sigma=0.02, mlp" in axes.get_title()
    assert "30 Adam steps" in axes.get_title()
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert list(lines["test, every 10 steps"].get_xdata()) == [10, 20, 30]
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert f"test, mean of the last 8 steps: {result.test_psnr_last:.2f} dB" in legend
    assert result.metrics()["psnr_last_means"] == "mean of the last 8 steps"


def test_fewer_steps_than_the_window_are_not_called_the_last_k() -> None:
    config = quick(steps=5, last_k=100)
    short = fit(load_config_signal(config), config, progress=False)
    assert short.metrics()["psnr_last_means"] == "mean of all 5 steps"
    assert short.train_psnr_last == pytest.approx(np.mean(short.history.train_psnr))
    legend = figure_history(short).axes[0].get_legend().get_texts()
    labels = [text.get_text() for text in legend]
    assert "test, every step" in labels
    assert f"test, mean of all 5 steps: {short.test_psnr_last:.2f} dB" in labels
    assert not any("last 100" in label for label in labels)


def test_closed_form_claims_no_mean() -> None:
    config = resolve_config(
        "p2-closed-form", size=24, embedding_params={"sigma": 0.02, "num_centers": 24}
    )
    closed = fit(load_config_signal(config), config, progress=False)
    assert closed.metrics()["psnr_last_means"] == "final values (closed form, no training steps)"
    assert "closed-form solution" in figure_history(closed).axes[0].get_title()


def test_1d_fit_is_titled_with_what_was_fitted() -> None:
    config = quick(signal="camera:row=12", size=None, model="linear", steps=5)
    one_d = fit(load_config_signal(config), config, progress=False)
    title = figure_fit_1d(one_d).axes[0].get_title()
    assert title.startswith("camera:row=12, gaussian sigma=0.02, linear: test PSNR")
