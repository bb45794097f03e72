"""Every registered embedding as a drop-in encoding of another model: batch shapes, one
compiled graph, export, no silent precision loss, ``include_input``, config round trip."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import pytest
import tomli_w
import torch
from torch import nn

from posenc.embeddings import EMBEDDINGS, Embedding, embedding_class, make_embedding

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

NAMES = list(EMBEDDINGS)
SMALL = {"num_centers": 12, "num_frequencies": 6, "resolution": 64}
"""Sizes that keep the graphs and the tests small, for the embeddings that have them."""


def small(name: str, in_dim: int = 3, **params: Any) -> Embedding:
    """The registered embedding, small, with its example parameters."""
    cls = embedding_class(name)
    sizes = {key: value for key, value in SMALL.items() if key in cls.parameter_names()}
    return make_embedding(name, in_dim=in_dim, **{**cls.example_parameters, **sizes, **params})


def coords(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


class Field(nn.Module):
    """A coordinate network with an embedding as its first module."""

    def __init__(self, embedding: Embedding) -> None:
        super().__init__()
        self.embedding = embedding
        self.head = nn.Sequential(nn.Linear(embedding.out_dim, 8), nn.ReLU(), nn.Linear(8, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(x))


@pytest.mark.parametrize("name", NAMES)
def test_any_batch_shape(name: str) -> None:
    emb = small(name)
    x = coords(4, 8, 3)
    features = emb(x)
    assert features.shape == (4, 8, emb.out_dim)
    torch.testing.assert_close(features.reshape(32, -1), emb(x.reshape(32, 3)))
    single = emb(x[1, 2])
    assert single.shape == (emb.out_dim,)
    torch.testing.assert_close(single, features[1, 2])
    assert emb(coords(0, 3)).shape == (0, emb.out_dim)


@pytest.mark.parametrize("name", NAMES)
def test_separable_factors_keep_the_batch_shape(name: str) -> None:
    if "separable" not in embedding_class(name).compositions:
        pytest.fail(f"{name} has no separable composition")  # every registered one has
    emb = small(name, compose="separable")
    factors = emb(coords(4, 8, 3))
    assert factors.shape == (4, 8, 3, emb.factor_dim)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_last_axis_is_refused(name: str) -> None:
    emb = small(name)
    with pytest.raises(ValueError, match=r"shape \(\*batch, 3\), got \(4, 2\)"):
        emb(coords(4, 2))


@pytest.mark.parametrize("name", NAMES)
def test_compiles_as_one_graph(name: str) -> None:
    """``fullgraph=True`` fails on any graph break (a data-dependent branch, ``.item()``).

    The eager backend captures the graph as every backend does and skips code generation,
    which takes minutes on a small CPU; the graph is what the embedding decides.
    """
    torch._dynamo.reset()
    model = Field(small(name))
    x = coords(5, 7, 3)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x), model(x))


@pytest.mark.parametrize("name", NAMES)
def test_exports(name: str) -> None:
    model = Field(small(name))
    batch = torch.export.Dim("batch", min=2)
    exported = torch.export.export(
        model, (coords(6, 3),), dynamic_shapes={"x": {0: batch}}, strict=False
    )
    other = coords(11, 3, seed=1)  # another batch size: the exported graph is not specialised
    torch.testing.assert_close(exported.module()(other), model(other))


@pytest.mark.parametrize("name", NAMES)
def test_no_silent_precision_loss(name: str) -> None:
    emb = small(name)
    with pytest.raises(ValueError, match="coordinates are float64 but the embedding computes in"):
        emb(coords(5, 3, dtype=torch.float64))
    # Promotion loses nothing: a float16 input is embedded as its float32 value.
    half = coords(5, 3).half()
    torch.testing.assert_close(emb(half), emb(half.float()))
    wide = small(name, dtype=torch.float64)
    assert wide(coords(5, 3, dtype=torch.float64)).dtype == torch.float64
    # The checked entry point rounds on purpose.
    x = coords(5, 3, dtype=torch.float64)
    torch.testing.assert_close(emb.embed(x), emb(x.float()))


@pytest.mark.parametrize("name", NAMES)
def test_include_input_appends_the_raw_coordinates(name: str) -> None:
    plain, including = small(name), small(name, include_input=True)
    assert including.out_dim == plain.out_dim + 3
    x = coords(4, 8, 3)
    features = including(x)
    torch.testing.assert_close(features[..., -3:], x)
    torch.testing.assert_close(features[..., :-3], plain(x))
    with pytest.raises(ValueError, match="include_input"):
        small(name, include_input=True, compose="separable")


def non_default_config(name: str) -> dict[str, Any]:
    """A config with several values off their defaults, in JSON types only."""
    cls = embedding_class(name)
    config: dict[str, Any] = {
        "name": name,
        "in_dim": 2,
        "dtype": "float64",
        "include_input": True,
        "normalization": "none",
    }
    if cls.bandwidth_name:
        config[cls.bandwidth_name] = 0.0625
    if name == "custom":
        config["generator"] = [math.exp(-abs(k / 16 - 0.5) / 0.05) for k in range(16)]
    return config


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip_through_json_and_toml(name: str) -> None:
    emb = make_embedding(non_default_config(name))
    config = emb.to_config()
    assert config["name"] == name and config["dtype"] == "float64" and config["in_dim"] == 2
    assert set(config) - {"name"} <= emb.parameter_names()
    for text in (json.loads(json.dumps(config)), tomllib.loads(tomli_w.dumps(config))):
        rebuilt = make_embedding(text)
        assert rebuilt.to_config() == config
        x = coords(9, 2, dtype=torch.float64)
        torch.testing.assert_close(rebuilt(x), emb(x), rtol=0, atol=0)
        for key, value in emb.state_dict().items():
            assert torch.equal(rebuilt.state_dict()[key], value), key


def test_config_writes_resolved_defaults_and_the_buffers_dtype() -> None:
    emb = make_embedding("triangle", num_centers=32).double()
    config = emb.to_config()
    assert config["width"] == pytest.approx(1 / 32)  # derived from num_centers
    assert config["dtype"] == "float64"
    assert "truncate" not in make_embedding("gaussian").to_config()  # None: TOML has no null


def test_a_mapping_takes_keywords_and_needs_a_name() -> None:
    emb = make_embedding({"name": "gaussian", "sigma": 0.02}, in_dim=2, bandwidth=0.05)
    assert (emb.in_dim, emb.sigma) == (2, 0.05)
    with pytest.raises(ValueError, match="needs a 'name'"):
        make_embedding({"sigma": 0.02})
    with pytest.raises(ValueError, match="dtype must be a floating-point torch dtype"):
        make_embedding({"name": "gaussian", "dtype": "int32"})


def test_a_callable_generator_has_no_config() -> None:
    emb = small("custom")
    with pytest.raises(ValueError, match="'generator' holds a function"):
        emb.to_config()


def test_embed_checks_the_values_forward_does_not() -> None:
    emb = small("gaussian")
    bad = coords(4, 3)
    bad[1, 2] = math.nan
    assert torch.isnan(emb(bad)[1]).any() and not torch.isnan(emb(bad)[0]).any()
    with pytest.raises(ValueError, match="NaN or infinite"):
        emb.embed(bad)


def test_a_loaded_train_normalisation_is_ready() -> None:
    fitted = small("gaussian", normalization="train")
    fitted.fit_normalization(coords(64, 3))
    fresh = small("gaussian", normalization="train")
    with pytest.raises(ValueError, match="fit_normalization"):
        fresh(coords(2, 3))
    fresh.load_state_dict(fitted.state_dict())
    torch.testing.assert_close(fresh(coords(5, 3)), fitted(coords(5, 3)))
