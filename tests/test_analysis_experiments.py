"""Experiments return the numbers they plot; plots render them with Agg into PNG files."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from posenc.analysis import (
    basis_functions,
    embedding_distance_preservation,
    embedding_stable_rank,
    render,
    render_basis,
    similarity_vs_displacement,
    stable_rank_dp_scatter,
    stable_rank_vs_samples,
    summarize,
)
from posenc.embeddings import make_embedding
from posenc.plotting import STYLE, new_figure, plot_style, save_figure
from posenc.theory import SR_DP_GAUSSIAN
from tests.conftest import run_python


def small_set() -> dict[str, object]:
    return {
        "gaussian": make_embedding("gaussian", sigma=0.02, num_centers=400, periodic=True),
        "rff": make_embedding("rff", scale=6.0, num_frequencies=200),
        "logf": make_embedding("logf", p=4.0, num_frequencies=16),
    }


def test_stable_rank_vs_samples_numbers_and_theory() -> None:
    embeddings = small_set()
    plot = stable_rank_vs_samples(embeddings, [5, 1, 3, 3, 20])
    by_label = {series.label: series for series in plot.series}
    assert set(by_label) == {"gaussian", "gaussian theory", "rff", "rff theory", "logf"}
    assert by_label["gaussian"].x.tolist() == [1, 3, 5, 20]
    expected = [embedding_stable_rank(embeddings["rff"], n) for n in (1, 3, 5, 20)]
    assert by_label["rff"].y.tolist() == pytest.approx(expected)
    assert by_label["gaussian theory"].theory and not by_label["gaussian"].theory
    assert by_label["gaussian theory"].y == pytest.approx(by_label["gaussian"].y, rel=2e-3)


def test_similarity_plot_window_dp_and_theory() -> None:
    embeddings = small_set()
    plot = similarity_vs_displacement(embeddings, 400)
    dps = plot.metrics["distance_preservation"]
    for label, embedding in embeddings.items():
        assert dps[label] == embedding_distance_preservation(embedding, 400)
    assert plot.metrics["window"] == pytest.approx(min(0.5, 4 * max(dps.values())))
    measured = next(s for s in plot.series if s.label == "gaussian")
    assert np.abs(measured.x).max() <= plot.metrics["window"]
    assert plot.guides == (("threshold 0.1", 0.1),)
    assert len(plot.rows()) == sum(len(s.x) for s in plot.series)


def test_scatter_follows_the_gaussian_curve() -> None:
    plot = stable_rank_dp_scatter(dimensions=(600, 1000), num_bandwidths=6, seed=3)
    points = plot.metrics["points"]
    assert len(points) == 2 * 2 * 6
    gaussian = [p for p in points if p["family"] == "gaussian"]
    for point in gaussian:
        product = point["stable_rank"] * point["distance_preservation"]
        # D = 600 with sigma down to 0.002 puts only 1.2 grid steps in sigma: DP rounding.
        assert product == pytest.approx(SR_DP_GAUSSIAN, rel=0.12)
        assert 0.002 <= point["sigma"] <= 0.1
    theory = plot.series[-1]
    assert theory.theory and theory.y * theory.x == pytest.approx(SR_DP_GAUSSIAN)
    again = stable_rank_dp_scatter(dimensions=(600, 1000), num_bandwidths=6, seed=3)
    assert again.metrics["points"] == points  # seeded


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sigma_range": (0.1, 0.01)}, "0 < LOW < HIGH"),
        ({"num_bandwidths": 0}, "integer >= 1"),
        ({"dimensions": (1,)}, "integers >= 2"),
        ({"dimensions": ()}, "integers >= 2"),
    ],
)
def test_scatter_checks_its_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        stable_rank_dp_scatter(**kwargs)


def test_basis_functions_and_gram() -> None:
    emb = make_embedding("triangle", width=0.05, num_centers=20, periodic=True)
    data = basis_functions(emb, "triangle", num_points=100, num_functions=4, gram_points=32)
    assert data.feature_indices == (2, 7, 12, 17)
    assert data.functions.shape == (4, 100) and data.gram.shape == (32, 32)
    assert np.allclose(data.gram, data.gram.T)
    centre = emb.centers[7].item()
    assert data.x[np.argmax(data.functions[1])] == pytest.approx(centre, abs=0.01)
    with pytest.raises(ValueError, match="in_dim=1"):
        basis_functions(make_embedding("gaussian", in_dim=2), "2d")


def test_summary_record() -> None:
    emb = make_embedding("gaussian", sigma=0.01, num_centers=2000, periodic=True)
    row = summarize("g", emb, 2000)
    assert row["method"] == "fft" and row["bandwidth"] == 0.01
    assert row["stable_rank"] == pytest.approx(row["theory_stable_rank"], rel=1e-6)
    assert row["sr_x_dp"] == pytest.approx(row["stable_rank"] * row["distance_preservation"])
    assert summarize("l", make_embedding("logf"), 100)["theory_stable_rank"] is None
    json.dumps(row)


def test_render_and_save_write_pngs_without_pyplot(tmp_path: Path) -> None:
    embeddings = small_set()
    plots = [
        stable_rank_vs_samples(embeddings, [1, 2, 8]),
        similarity_vs_displacement(embeddings, 200),
    ]
    for plot in plots:
        figure = render(plot)
        assert isinstance(figure, Figure)
        axes = figure.axes[0]
        assert axes.get_xlabel() == plot.xlabel and axes.get_ylabel() == plot.ylabel
        assert figure.legends  # one legend under the axes
        path = save_figure(figure, tmp_path / f"{plot.name}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert not figure.axes  # closed: cleared
    basis = basis_functions(embeddings["gaussian"], "g", gram_points=16)
    save_figure(render_basis(basis), tmp_path / "basis.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "basis.png",
        "similarity_vs_displacement.png",
        "stable_rank_vs_samples.png",
    ]


def test_drawing_never_imports_pyplot(tmp_path: Path) -> None:
    """No pyplot: no window can open and no global backend is switched."""
    script = (
        "import sys\n"
        "from posenc.analysis import render, stable_rank_vs_samples\n"
        "from posenc.plotting import save_figure\n"
        "from posenc.embeddings import make_embedding\n"
        "plot = stable_rank_vs_samples({'g': make_embedding('gaussian', num_centers=32)}, [1, 2])\n"
        "save_figure(render(plot), sys.argv[1])\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    target = tmp_path / "plot.png"
    result = run_python(script, str(target), env={"MPLBACKEND": None})
    assert result.returncode == 0, result.stderr
    assert target.stat().st_size > 1000


def test_style_is_scoped_and_paper_sized() -> None:
    before = matplotlib.rcParams["font.size"]
    with plot_style():
        assert matplotlib.rcParams["font.size"] == STYLE["font.size"] == 8
    assert matplotlib.rcParams["font.size"] == before
    figure, axes = new_figure(ncols=2)
    assert figure.get_size_inches() == pytest.approx((3.4, 1.275))
    assert len(axes) == 2


def test_save_figure_rejects_other_formats_and_leaves_nothing(tmp_path: Path) -> None:
    figure, _ = new_figure()
    with pytest.raises(ValueError, match=r"must end in \.png"):
        save_figure(figure, tmp_path / "plot.pdf")
    assert list(tmp_path.iterdir()) == []


def test_json_ready() -> None:
    plot = stable_rank_vs_samples({"g": make_embedding("gaussian", num_centers=64)}, [1, 4])
    decoded = json.loads(json.dumps(plot.to_dict()))
    assert decoded["series"][0]["x"] == [1.0, 4.0]
    assert decoded["xlabel"] == "number of samples N"
    assert decoded["series"][0]["y"] == pytest.approx(plot.series[0].y.tolist())
