"""The stable rank of hidden activations as a fitting callback."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from posenc.analysis import LayerStableRank, activation_stable_ranks, render, stable_rank
from posenc.embeddings import make_embedding
from posenc.neural_fields import FitStep


def mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 1)
    )


def training_data() -> tuple[torch.Tensor, torch.Tensor]:
    coords = torch.arange(128, dtype=torch.float32)[:, None] / 128
    inputs = make_embedding("gaussian", sigma=0.02, num_centers=64)(coords)
    return inputs, torch.sin(6 * coords)


def train(model: nn.Module, callbacks: list, steps: int = 12) -> None:
    """A minimal fitter with the project's callback contract."""
    inputs, targets = training_data()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(1, steps + 1):
        optimiser.zero_grad()
        loss = (model(inputs) - targets).square().mean()
        loss.backward()
        optimiser.step()
        for callback in callbacks:
            callback(FitStep(step, steps, loss.detach(), None, model, inputs))


def test_records_every_k_steps_and_matches_the_activations() -> None:
    model, tracker = mlp(), LayerStableRank(every=4)
    train(model, [tracker])
    assert [step for step, _ in tracker.history] == [4, 8, 12]
    inputs, _ = training_data()
    with torch.no_grad():
        first = torch.relu(model[0](inputs))
        second = torch.relu(model[2](first))
    assert tracker.history[-1][1] == pytest.approx([stable_rank(first), stable_rank(second)])
    assert all(not layer._forward_hooks for layer in model.modules())


def test_callback_changes_nothing_in_the_model() -> None:
    model = mlp()
    train(model, [])
    inputs, _ = training_data()
    before = [(p.detach().clone(), p.grad.clone()) for p in model.parameters()]
    grad_enabled: list[bool] = []
    handle = model.register_forward_hook(lambda *_: grad_enabled.append(torch.is_grad_enabled()))
    LayerStableRank(every=1)(FitStep(1, 1, torch.tensor(0.0), None, model, inputs))
    handle.remove()
    assert grad_enabled == [False]  # one forward pass, without autograd
    for (value, grad), parameter in zip(before, model.parameters(), strict=True):
        assert torch.equal(value, parameter) and torch.equal(grad, parameter.grad)
    assert model.training


def test_hidden_layers_method_takes_precedence() -> None:
    class Field(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = mlp()

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return self.body(inputs)

        def hidden_layers(self) -> list[nn.Module]:
            return [self.body[2]]  # the second linear layer: pre-activation outputs

    inputs, _ = training_data()
    field = Field()
    with torch.no_grad():
        expected = stable_rank(field.body[2](torch.relu(field.body[0](inputs))))
    assert activation_stable_ranks(field, inputs) == pytest.approx([expected])


def test_dead_layer_is_nan_and_hooks_are_removed_on_error() -> None:
    model = mlp()
    with torch.no_grad():
        model[2].weight.zero_()
        model[2].bias.fill_(-1.0)  # every unit of the second hidden layer is dead
    ranks = activation_stable_ranks(model, training_data()[0])
    assert not math.isnan(ranks[0]) and math.isnan(ranks[1])
    with pytest.raises(RuntimeError):
        activation_stable_ranks(model, torch.ones(3, 5))  # wrong input width
    assert all(not layer._forward_hooks for layer in model.modules())


def test_plot_and_json() -> None:
    model, tracker = mlp(), LayerStableRank(every=3)
    with pytest.raises(ValueError, match="no stable ranks recorded yet"):
        tracker.plot()
    train(model, [tracker], steps=9)
    plot = tracker.plot()
    assert [series.label for series in plot.series] == ["hidden layer 1", "hidden layer 2"]
    assert plot.series[0].x.tolist() == [3, 6, 9]
    assert plot.xlabel == "training step"
    render(plot)
    record = tracker.to_dict()
    assert record["steps"] == [3, 6, 9] and len(record["stable_ranks"][0]) == 2


@pytest.mark.parametrize("every", [0, -1, 2.5, True])
def test_every_is_validated(every: object) -> None:
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        LayerStableRank(every=every)  # type: ignore[arg-type]
