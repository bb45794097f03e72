"""Coordinate network models and closed-form solvers."""

from __future__ import annotations

import math

import pytest
import torch

from posenc.data import load_source, make_split
from posenc.embeddings import kronecker_rows, make_embedding
from posenc.neural_fields.embedded import (
    FlatProblem,
    GridProblem,
    solve_linear_closed_form,
    solve_separable_closed_form,
)
from posenc.neural_fields.models import MLPField, SeparableField, SirenField, build_model


def test_mlp_structure_and_hidden_layers() -> None:
    model = MLPField(10, 3, depth=4, width=16, sigmoid=True)
    assert len(model.hidden_layers()) == 4
    output = model(torch.randn(7, 10))
    assert output.shape == (7, 3) and bool(((output > 0) & (output < 1)).all())
    linear = build_model("linear", in_features=10, out_channels=2, depth=5, width=8, sigmoid=False)
    assert [type(m).__name__ for m in linear.modules()] == ["MLPField", "Sequential", "Linear"]


def test_siren_initialisation_bounds() -> None:
    omega = 30.0
    model = SirenField(2, 1, depth=3, width=64, omega=omega)
    first, second = model.net[0], model.net[2]
    assert float(first.weight.detach().abs().max()) <= 1 / 2
    assert float(second.weight.detach().abs().max()) <= math.sqrt(6 / 64) / omega
    assert len(model.hidden_layers()) == 3
    assert model(torch.rand(5, 2)).shape == (5, 1)


@pytest.mark.parametrize(("in_dim", "depth"), [(2, 0), (2, 1), (3, 0), (3, 1)])
def test_separable_grid_equals_kronecker_features(in_dim: int, depth: int) -> None:
    """Phi_x W Phi_y^T equals a linear layer on the materialised Kronecker rows."""
    torch.manual_seed(0)
    model = SeparableField(4, in_dim, 2, depth=depth, width=5).double()
    sizes = (3, 5, 2)[:in_dim]
    factors = [torch.randn(n, 4, dtype=torch.float64) for n in sizes]
    grid = model(factors)
    assert grid.shape == (*sizes, 2)
    mesh = torch.meshgrid(*[torch.arange(n) for n in sizes], indexing="ij")
    points = torch.stack([f[m.reshape(-1)] for f, m in zip(factors, mesh, strict=True)], dim=1)
    hidden = kronecker_rows(points) @ model.weight.reshape(model.weight.shape[0], -1).T
    expected = hidden if depth == 0 else model.head(torch.relu(hidden))
    torch.testing.assert_close(grid.reshape(-1, 2), expected)
    torch.testing.assert_close(model.forward_points(points), expected)


def test_separable_depth_is_zero_or_one() -> None:
    with pytest.raises(ValueError, match="depth must be 0 or 1"):
        SeparableField(4, 2, 1, depth=2)


def _grid_problem(size: int, sigma: float) -> GridProblem:
    signal = load_source("camera", size=size)
    split = make_split(signal.grid_shape, "offset")
    embedding = make_embedding(
        "gaussian",
        in_dim=2,
        sigma=sigma,
        num_centers=size // 2,
        compose="separable",
        dtype=torch.float64,
    )
    return GridProblem.build(signal, split, embedding, torch.device("cpu"))


def test_separable_closed_form_is_the_kronecker_least_squares() -> None:
    problem = _grid_problem(16, sigma=0.02)
    model = SeparableField(8, 2, 1).double()
    solve_separable_closed_form(problem, model)
    kron = torch.kron(*problem.train_inputs)  # rows (i, j) in C order, columns (k, l)
    target = problem.train_targets.reshape(-1, 1)
    expected = torch.linalg.lstsq(kron, target, driver="gelsd").solution
    torch.testing.assert_close(model.weight.reshape(1, -1), expected.T, rtol=1e-6, atol=1e-8)


def test_separable_closed_form_interpolates_a_full_rank_grid() -> None:
    problem = _grid_problem(32, sigma=0.01)
    model = SeparableField(16, 2, 1).double()
    solve_separable_closed_form(problem, model)
    with torch.no_grad():
        error = problem.predict_train(model) - problem.train_targets
    assert float(error.abs().max()) < 1e-8


def test_linear_closed_form_memorises_when_features_outnumber_samples() -> None:
    """P2 Proposition 1: rank(X) = N lets a linear model fit N points exactly."""
    signal = load_source("camera:row=100")
    split = make_split(signal.grid_shape, "offset")
    embedding = make_embedding("gaussian", sigma=0.001, num_centers=1024, dtype=torch.float64)
    problem = FlatProblem.build(signal, split, embedding, torch.device("cpu"))
    model = MLPField(1024, 1, depth=0, width=1).double()
    solve_linear_closed_form(problem, model)
    with torch.no_grad():
        error = problem.predict_train(model) - problem.train_targets
    assert float(error.abs().max()) < 1e-8
