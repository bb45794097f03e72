"""Position tables on the SR/DP axes of the coordinate embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posenc.sequence import experiments, tables
from posenc.sequence.encodings import sinusoidal_table
from posenc.sequence.training import resolve_config


def test_sinusoidal_table_measures_match_an_independent_computation():
    table = sinusoidal_table(256, 32)
    measure = tables.measure_table("sinusoidal", table, "fixed")
    singular = np.linalg.svd(table.double().numpy(), compute_uv=False)
    assert measure.stable_rank == pytest.approx((singular**2).sum() / singular.max() ** 2)
    unit = table.double().numpy() / np.linalg.norm(table.double().numpy(), axis=1, keepdims=True)
    similarity = unit @ unit[128]
    assert measure.similarity == pytest.approx(similarity.tolist())
    assert measure.distance_preservation == pytest.approx((similarity > 0.1).sum() / 256 / 2)
    assert (measure.rows, measure.columns) == (256, 32)


def test_fresh_tables_have_the_model_shapes():
    assert tables.fresh_table("sinusoidal", 100, 64, 4).shape == (100, 64)
    assert tables.fresh_table("rope", 100, 64, 4).shape == (100, 16)
    assert tables.fresh_table("absolute", 100, 64, 4).shape == (100, 64)
    assert tables.fresh_table("relative", 100, 64, 4).shape == (100, 16)
    first = tables.fresh_table("absolute", 100, 64, 4, seed=1)
    assert torch.equal(first, tables.fresh_table("absolute", 100, 64, 4, seed=1))
    assert not torch.equal(first, tables.fresh_table("absolute", 100, 64, 4, seed=2))


def test_a_fresh_cope_table_is_refused_because_it_is_zero():
    with pytest.raises(ValueError, match="all zeros"):
        tables.fresh_table("cope", 100, 64, 4)
    with pytest.raises(ValueError, match="all-zero row"):
        tables.measure_table("cope", torch.zeros(5, 4), "fresh")


@pytest.mark.parametrize("pe", ["absolute", "cope"])
def test_trained_tables_come_from_the_saved_model(tmp_path, pe):
    config = resolve_config(
        "flipflop",
        pe,
        task_params={"num_instructions": 5, "ood_instructions": 5},
        model={"layers": 2, "width": 16, "heads": 2},
        train={"steps": 3, "test_size": 4},
    )
    experiments.run_and_save(config, tmp_path / "run", progress=False)
    model, _ = tables.load_model(tmp_path / "run")
    name, table = tables.trained_table(tmp_path / "run", layer=1)
    assert name == pe
    if pe == "absolute":
        assert torch.equal(table, model.input_position.table.detach())
    else:
        full = model.blocks[1].attention.position.table.detach()
        rows = table.shape[0]
        assert torch.equal(table, full[:rows])
        assert table[-1].abs().sum() > 0  # trained away from its zero start
        assert (full[rows:] == 0).all()  # rows never reached stay zero and are cut
        assert rows < full.shape[0]
