"""Comparison tables: measures, paper columns, variants side by side."""

from __future__ import annotations

import math

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from posenc.sequence import reporting
from posenc.sequence.tasks import make_task

ENCODINGS = ("absolute", "sinusoidal", "rope", "relative", "cope", "cope+relative")


def _run(task: str, pe: str, seed: int, value: float) -> dict:
    split_result = {"error": value, "sequence_error": value, "loss": value * math.log(2)}
    if task == "lm":
        split_result |= {"bits_per_byte": value, "perplexity": 2**value}
    splits = ("id", "2T", "4T") if task == "lm" else ("id", "long")
    return {"task": task, "pe": pe, "seed": seed, "splits": dict.fromkeys(splits, split_result)}


def test_lm_rows_report_bits_per_byte_and_the_paper_perplexity_once():
    task = make_task("lm", corpus="stdlib-docs", context=16)
    runs = [_run("lm", pe, seed, 1.5 + 0.1 * seed) for pe in ("rope", "cope") for seed in (0, 1)]
    rows = reporting.summary_rows(runs, task.parameters())
    assert rows[1]["id_bits_per_byte_mean"] == 1.55
    assert rows[1]["id_paper"] == 23.46 and math.isnan(rows[0]["id_paper"])
    table = reporting.summary_markdown({"docs": rows, "code": rows[1:]}, task, "lm")
    header, _, rope, cope = table.splitlines()[2:6]
    assert header.count("paper Wikitext-103 PPL") == 1  # the same numbers twice: one column
    assert "| docs T=16 bits per byte |" in header and "| code 4T=64 bits per byte |" in header
    assert rope.startswith("| rope | 2 | 1.550 ± 0.071 | – |") and rope.endswith("| – | – | – |")
    assert cope.startswith("| cope | 2 | 1.550 ± 0.071 | 23.46 |")
    assert "another corpus and unit" in table


def test_counting_variants_keep_each_paper_column():
    task = make_task("counting")
    groups = {
        f"{n} variables": reporting.summary_rows(
            [_run("counting", "cope", 0, 0.02)], {"num_variables": n}
        )
        for n in (1, 3, 5)
    }
    table = reporting.summary_markdown(groups, task, "counting")
    assert table.splitlines()[2].count("paper (%)") == 3
    # one seed: the mean alone, since its spread is unknown rather than zero
    assert table.splitlines()[4] == (
        "| cope | 1 | 2.00 | 0 | 2.00 | 2.00 | 1.2 | 2.00 | 2.00 | 7.4 | 2.00 |"
    )


def _inside(artist, figure) -> bool:
    box, page = artist.get_window_extent(figure.canvas.get_renderer()), figure.bbox
    return box.x0 >= page.x0 and box.y0 >= page.y0 and box.x1 <= page.x1 and box.y1 <= page.y1


@pytest.mark.parametrize("encodings", [("cope",), ENCODINGS])
def test_comparison_plot_keeps_its_title_and_legend_inside_the_figure(
    tmp_path, monkeypatch, encodings
):
    task = make_task("lm", corpus="stdlib-docs", context=16)
    runs = [_run("lm", pe, seed, 1.5 + 0.1 * seed) for pe in encodings for seed in (0, 1)]
    rows = reporting.summary_rows(runs, task.parameters())
    figures = []
    save = Figure.savefig
    monkeypatch.setattr(
        Figure, "savefig", lambda self, *args, **kwargs: figures.append(self) or save(self, *args)
    )
    title = "lm (corpus=/a/rather/long/path/to/a/folder/of/text, context=16, pattern=*)"
    reporting.plot_comparison(rows, task, title, tmp_path / "bits_per_byte.png")
    assert (tmp_path / "bits_per_byte.png").is_file()
    figure = figures[0]
    FigureCanvasAgg(figure).draw()
    axes = figure.axes[0]
    assert _inside(axes.title, figure) and _inside(axes.get_legend(), figure)
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    assert labels == list(encodings)
    assert axes.title.get_text().replace("\n", " ") == title
    low, high = axes.get_ylim()
    assert low > 1.0 and high < 2.0  # bits per byte: a range around the values, not from 0


def test_learning_curves_share_one_legend_beside_the_panels(tmp_path, monkeypatch):
    task = make_task("lm", corpus="stdlib-docs", context=16)
    point = {"step": 1, **_run("lm", "cope", 0, 2.0)["splits"]}
    runs = [{**_run("lm", pe, 0, 2.0), "curve": [point]} for pe in ENCODINGS]
    figures = []
    save = Figure.savefig
    monkeypatch.setattr(
        Figure, "savefig", lambda self, *args, **kwargs: figures.append(self) or save(self, *args)
    )
    reporting.plot_comparison_curves(runs, task, "lm", tmp_path / "learning_curves.png")
    figure = figures[0]
    FigureCanvasAgg(figure).draw()
    assert all(axes.get_legend() is None for axes in figure.axes)
    (legend,) = figure.legends
    assert [text.get_text() for text in legend.get_texts()] == list(ENCODINGS)
    assert _inside(legend, figure)
    for axes in figure.axes:  # the legend sits beside the panels, over none of them
        box = axes.get_window_extent(figure.canvas.get_renderer())
        assert legend.get_window_extent(figure.canvas.get_renderer()).x0 >= box.x1
