"""Structured first layers: lookup and sparse rows equal the dense embedding, and so do the
first layer's output and gradients, the stable rank and a whole fit."""

from __future__ import annotations

import json

import pytest
import torch

from posenc.analysis import stable_rank
from posenc.embeddings import make_embedding
from posenc.neural_fields import build_model, fit, load_config_signal, pipeline, resolve_config
from posenc.neural_fields.sparse import (
    SparseFeatures,
    active_center_features,
    lookup_features,
    plan_first_layer,
    sparse_radius,
)

COMPACT_BASES = [
    ("triangle", {"width": 0.02}),
    ("rect", {"width": 0.03}),
    ("impulse", {}),
    ("gaussian", {"sigma": 0.01, "truncate": 3.0}),
]


def edge_values(num_centers: int) -> torch.Tensor:
    """Random values plus the places where rounding could bite: 0, centres, half-way."""
    centres = torch.arange(num_centers, dtype=torch.float64) / num_centers
    extra = torch.tensor([0.0, 1 - 1e-9, 0.5])
    generator = torch.Generator().manual_seed(0)
    return torch.cat(
        [torch.rand(500, generator=generator), centres, centres + 0.5 / num_centers, extra]
    )


@pytest.mark.parametrize(("name", "params"), COMPACT_BASES)
@pytest.mark.parametrize("periodic", [False, True])
def test_active_centers_scatter_to_the_dense_features(name, params, periodic) -> None:
    basis = make_embedding(name, num_centers=100, periodic=periodic, **params)
    values = edge_values(100).to(basis.dtype)
    indices, weights = basis.active_centers(values)
    scattered = torch.zeros(len(values), 100, dtype=basis.dtype)
    scattered.scatter_add_(1, indices, weights)
    assert torch.equal(scattered, basis.axis_features(values))
    assert indices.shape[1] < 100 / 2  # a few centres, not all of them


def test_active_centers_refuse_global_support_and_full_windows() -> None:
    with pytest.raises(ValueError, match="compact support or a radius"):
        make_embedding("gaussian", sigma=0.01).active_centers(torch.rand(4))
    with pytest.raises(ValueError, match="touches all 10 centres"):
        make_embedding("triangle", num_centers=10, width=0.5).active_centers(torch.rand(4))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_untruncated_gaussian_is_cut_below_rounding(dtype) -> None:
    basis = make_embedding("gaussian", sigma=0.004, num_centers=1000, dtype=dtype)
    radius = sparse_radius(basis)
    tail = torch.exp(torch.tensor(-(radius**2) / (2 * 0.004**2), dtype=torch.float64))
    assert tail == pytest.approx(torch.finfo(dtype).eps / 2)
    coords = torch.rand(300, 1, dtype=dtype)
    sparse = active_center_features(basis, coords).to_dense()
    dense = basis(coords)
    assert (sparse - dense).abs().max() <= torch.finfo(dtype).eps
    assert not torch.equal(sparse, dense)  # the tail really is dropped


@pytest.mark.parametrize("compose", ["concat", "directions"])
@pytest.mark.parametrize(
    ("name", "params"), [("gaussian", {"sigma": 0.02}), ("logf", {}), ("sinc", {})]
)
def test_lookup_rows_equal_the_embedding(compose, name, params) -> None:
    embedding = make_embedding(name, in_dim=2, compose=compose, **params)
    axis = torch.arange(20) / 20
    coords = torch.stack(torch.meshgrid(axis, axis, indexing="ij")).reshape(2, -1).T
    features = lookup_features(embedding, coords)
    assert features.kind == "lookup" and features.shape == (400, embedding.out_dim)
    # 20 values per axis, 39 per diagonal direction (a few more where sums round apart)
    assert features.rows.shape[1] <= (40 if compose == "concat" else 200)
    assert torch.equal(features.to_dense(), embedding(coords))


def test_structured_rows_need_a_fitted_train_normalisation() -> None:
    embedding = make_embedding("triangle", in_dim=2, width=0.05, normalization="train")
    coords = torch.rand(10, 2)
    with pytest.raises(ValueError, match="fit_normalization"):
        lookup_features(embedding, coords)
    embedding.fit_normalization(coords)
    assert torch.equal(active_center_features(embedding, coords).to_dense(), embedding(coords))


def both_forms(embedding, coords) -> list[SparseFeatures]:
    return [lookup_features(embedding, coords), active_center_features(embedding, coords)]


def test_first_layer_output_and_gradients_equal_the_dense_ones() -> None:
    embedding = make_embedding(
        "triangle", in_dim=2, width=0.03, num_centers=64, dtype=torch.float64
    )
    coords = (torch.randint(0, 40, (500, 2)) / 40).double()
    dense = embedding(coords)
    torch.manual_seed(0)
    model = build_model(
        "mlp", in_features=embedding.out_dim, out_channels=3, depth=2, width=16, sigmoid=True
    ).double()
    target = torch.rand(500, 3, dtype=torch.float64)

    def loss_and_gradients(inputs):
        model.zero_grad()
        loss = torch.mean((model(inputs) - target) ** 2)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    reference_loss, reference_grads = loss_and_gradients(dense)
    for features in both_forms(embedding, coords):
        loss, grads = loss_and_gradients(features)
        assert loss == pytest.approx(float(reference_loss), rel=1e-12), features.kind
        for grad, reference in zip(grads, reference_grads, strict=True):
            torch.testing.assert_close(grad, reference, rtol=1e-10, atol=1e-13)


def test_siren_and_linear_models_take_structured_rows() -> None:
    embedding = make_embedding("rect", in_dim=2, width=0.05, num_centers=50)
    coords = torch.rand(200, 2)
    dense = embedding(coords)
    for kind in ("siren", "linear"):
        model = build_model(
            kind, in_features=embedding.out_dim, out_channels=2, depth=1, width=8, sigmoid=False
        )
        for features in both_forms(embedding, coords):
            torch.testing.assert_close(model(features), model(dense), rtol=1e-5, atol=1e-5)


def test_stable_rank_from_the_structure() -> None:
    embedding = make_embedding("gaussian", in_dim=2, sigma=0.01, num_centers=80)
    coords = (torch.randint(0, 60, (1000, 2)) / 60).float()
    expected = stable_rank(embedding(coords))
    for features in both_forms(embedding, coords):
        assert stable_rank(features.gram_root()) == pytest.approx(expected, rel=1e-6)


def test_stable_rank_of_fewer_rows_than_centres_uses_the_rows() -> None:
    """P1's shape (few samples, many centres): the root comes from the rows' N x N Gram,
    never from an eigendecomposition of the centres' R x R selection Gram."""
    embedding = make_embedding("triangle", width=0.002, num_centers=5000)
    coords = torch.arange(0, 256, 2, dtype=torch.float32)[:, None] / 256
    features = active_center_features(embedding, coords)
    root = features.gram_root()
    assert root.shape == (128, 128)
    assert stable_rank(root) == pytest.approx(stable_rank(embedding(coords)), rel=1e-6)


def grid_coords(size: int) -> torch.Tensor:
    axis = torch.arange(0, size, 2) / size
    return torch.stack(torch.meshgrid(axis, axis, indexing="ij")).reshape(2, -1).T


def test_auto_plan_picks_lookup_on_grids_sparse_on_scattered_rows_dense_when_small() -> None:
    gaussian = make_embedding("gaussian", in_dim=2, sigma=0.003, num_centers=500)
    assert plan_first_layer("auto", "mlp", gaussian, grid_coords(512)).kind == "lookup"
    scattered = torch.rand(20000, 2)
    assert plan_first_layer("auto", "mlp", gaussian, scattered).kind == "sparse"
    assert plan_first_layer("auto", "mlp", gaussian, grid_coords(64)).kind == "dense"
    wide = make_embedding("gaussian", in_dim=2, sigma=0.07, num_centers=500)
    assert plan_first_layer("auto", "mlp", wide, scattered).kind == "dense"
    rff = make_embedding("rff", in_dim=2, compose="isotropic", num_frequencies=500)
    assert plan_first_layer("auto", "mlp", rff, grid_coords(512)).kind == "dense"
    separable = make_embedding("gaussian", in_dim=2, compose="separable", num_centers=500)
    assert plan_first_layer("auto", "separable", separable, grid_coords(512)).kind == "dense"


@pytest.mark.parametrize(
    ("requested", "model", "embedding", "message"),
    [
        ("sparse", "mlp", ("gaussian", {"sigma": 0.5}), "covers all"),
        ("sparse", "mlp", ("sinc", {}), "no compact support"),
        ("sparse", "mlp", ("logf", {}), "not a shifted basis"),
        ("lookup", "mlp", ("rff", {"compose": "isotropic"}), "not an axis-wise"),
        ("lookup", "separable", ("gaussian", {"compose": "separable"}), "no linear first layer"),
    ],
)
def test_forced_structured_layers_say_why_they_do_not_apply(
    requested, model, embedding, message
) -> None:
    name, params = embedding
    built = make_embedding(name, in_dim=2, **params)
    with pytest.raises(ValueError, match=message):
        plan_first_layer(requested, model, built, grid_coords(32))


def test_closed_form_rejects_a_structured_first_layer() -> None:
    with pytest.raises(ValueError, match="applies to Adam only"):
        resolve_config(
            model="linear", solver="closed-form", sigmoid=False, first_layer="lookup", depth=0
        )


def test_fits_with_every_first_layer_agree() -> None:
    settings = {
        "size": 32,
        "steps": 12,
        "eval_every": 4,
        "last_k": 3,
        "width": 16,
        "dtype": "float64",
        "embedding": "triangle",
        "embedding_params": {"width": 0.02, "num_centers": 96},
    }
    results = {
        kind: fit(
            load_config_signal(config := resolve_config(first_layer=kind, **settings)), config
        )
        for kind in ("dense", "lookup", "sparse")
    }
    dense = results["dense"]
    for kind, result in results.items():
        assert result.first_layer == kind
        assert result.history.train_psnr == pytest.approx(dense.history.train_psnr, abs=1e-6)
        assert result.test_psnr == pytest.approx(dense.test_psnr, abs=1e-6)
        assert result.stable_rank == pytest.approx(dense.stable_rank, rel=1e-9)
        torch.testing.assert_close(result.prediction, dense.prediction, rtol=0, atol=1e-7)


def test_first_layer_from_the_command_line(run_cli, tmp_path) -> None:
    out = tmp_path / "lookup"
    args = ("fit", "camera", "--size", "32", "--steps", "3", "--width", "8", "--quiet")
    result = run_cli(*args, "--first-layer", "lookup", "--out", str(out))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["first_layer"] == "lookup" and metrics["config"]["first_layer"] == "lookup"
    refused = tmp_path / "refused"
    result = run_cli(*args, "--embedding", "logf", "--first-layer", "sparse", "--out", str(refused))
    assert result.returncode == 2
    assert "first_layer 'sparse' does not apply: embedding 'logf' is not a shifted basis" in (
        result.stderr
    )
    assert result.stderr.strip().count("\n") == 0 and not refused.exists()


@pytest.mark.parametrize(("dense_seconds", "expected"), [(1.0, "dense"), (3.0, "lookup")])
def test_auto_on_a_device_keeps_the_structured_form_only_where_it_is_faster(
    monkeypatch, dense_seconds, expected
) -> None:
    gaussian = make_embedding("gaussian", in_dim=2, sigma=0.01, num_centers=64)
    coords = grid_coords(64)
    plan = plan_first_layer("lookup", "mlp", gaussian, coords)
    timed = []

    def seconds(rows, width):
        timed.append((type(rows).__name__, width))
        return 2.0 if isinstance(rows, SparseFeatures) else dense_seconds

    monkeypatch.setattr(pipeline, "first_layer_seconds", seconds)
    chosen = pipeline.faster_first_layer(plan, gaussian, coords, 16, torch.device("cpu"))
    assert chosen.kind == expected
    assert sorted(timed) == [("SparseFeatures", 16), ("Tensor", 16)]


def test_first_layer_timing_runs_both_forms() -> None:
    gaussian = make_embedding("gaussian", in_dim=2, sigma=0.01, num_centers=64)
    coords = grid_coords(64)
    for rows in (lookup_features(gaussian, coords), gaussian(coords)):
        assert 0 < pipeline.first_layer_seconds(rows, 8, repeats=1) < 60
