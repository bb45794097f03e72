"""A new shifted basis is one class in one file: registered, it works with fit, analyze and an
``auto`` sweep, with no other change to posenc."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import Tensor

from posenc import theory, validation
from posenc.cli.main import main
from posenc.embeddings import EMBEDDINGS, Param, ShiftedBasis, make_embedding, register
from posenc.sweeps.bandwidths import auto_bandwidths


class LaplaceBasis(ShiftedBasis):
    """Laplace bumps ``exp(-|d| / b)``: power ``1 / (1 + (2 pi b nu)^2)^2``, so
    ``SR = int P / P(0) = 1 / (4 b)``; similarity ``(1 + |delta| / b) exp(-|delta| / b)``."""

    name = "laplace"
    formula = "psi(d) = exp(-|d| / b)"
    bandwidth_name = "b"
    b = Param[float](0.01, "decay length (> 0)", validation.positive_float)

    def generator(self, displacement: Tensor) -> Tensor:
        return torch.exp(-displacement.abs() / self.b)

    def closed_form(self) -> theory.ClosedForm:
        b = self.b
        return theory.ClosedForm(
            "laplace",
            "SR = 1 / (4 b), D = (1 + |delta|/b) exp(-|delta|/b)",
            1.0 / (4.0 * b),
            lambda d: (1 + np.abs(d) / b) * np.exp(-np.abs(d) / b),
            lambda nu: 1.0 / (1.0 + (2 * math.pi * b * nu) ** 2) ** 2,
        )

    @classmethod
    def bandwidth_for_stable_rank(cls, stable_rank: float) -> float:
        return 1.0 / (4.0 * stable_rank)


@pytest.fixture
def laplace() -> Iterator[type[LaplaceBasis]]:
    register(LaplaceBasis)
    yield LaplaceBasis
    del EMBEDDINGS[LaplaceBasis.name]


def test_the_new_basis_builds_with_the_shared_parameters(laplace) -> None:
    emb = make_embedding("laplace", in_dim=2, b=0.05, num_centers=16, periodic=True)
    assert (emb.b, emb.num_centers, emb.periodic, emb.out_dim) == (0.05, 16, True, 32)
    assert set(laplace.declared_parameters()) == {
        "in_dim",
        "b",
        "num_centers",
        "periodic",
        "compose",
        "normalization",
        "dtype",
        "include_input",
    }
    with pytest.raises(ValueError, match="b must be a finite number > 0"):
        make_embedding("laplace", b=-1.0)


def test_its_closed_form_matches_the_measured_stable_rank(laplace) -> None:
    from posenc.analysis import embedding_stable_rank

    emb = make_embedding(
        "laplace", b=0.01, num_centers=2000, periodic=True, normalization="none",
        dtype=torch.float64,
    )  # fmt: skip
    # the circle cuts the bump at |d| = 1/2 and the centres sample it: 0.1% of SR
    predicted = emb.closed_form().stable_rank(2000)
    assert embedding_stable_rank(emb, 2000) == pytest.approx(predicted, rel=1e-3)
    assert emb.closed_form().stable_rank_limit == pytest.approx(25.0)


def test_posenc_fit_analyze_and_an_auto_sweep_use_it(laplace, tmp_path, capsys) -> None:
    fit_out, analyze_out, sweep_out = tmp_path / "fit", tmp_path / "analyze", tmp_path / "sweep"
    row = ["--signal", "camera:row=200", "--model", "linear", "--num-centers", "256"]
    quick = ["--steps", "20", "--eval-every", "10", "--last-k", "5", "--quiet"]
    code = main(
        ["fit", *row, "--embedding", "laplace", "--b", "0.004", *quick, "--out", str(fit_out)]
    )
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((fit_out / "metrics.json").read_text())
    assert metrics["embedding"] == {
        "name": "laplace", "out_dim": 256, "bandwidth_name": "b", "bandwidth": 0.004
    }  # fmt: skip

    code = main(
        ["analyze", "--embedding", "laplace", "--b", "0.01", "0.02", "--dim", "500",
         "--samples", "1:20", "--no-progress", "--out", str(analyze_out)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    summary = json.loads((analyze_out / "results.json").read_text())["summary"]
    assert [record["label"] for record in summary] == ["laplace b=0.01", "laplace b=0.02"]

    code = main(
        ["sweep", *row, "--embedding", "laplace", "--bandwidths", "auto:3", *quick,
         "--no-plots", "--out", str(sweep_out)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    toml = (sweep_out / "sweep.toml").read_text()
    expected = auto_bandwidths("laplace", 256, 3)
    assert all(repr(value) in toml for value in expected)
