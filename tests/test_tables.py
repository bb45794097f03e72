"""Tables: exact values, formatted text, HTML and Markdown; the catalogue and figure tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posenc.analysis import PlotData, Series, summarize
from posenc.embeddings import EMBEDDINGS, make_embedding
from posenc.tables import (
    MISSING,
    Table,
    embedding_catalog,
    measurement_table,
    plot_table,
)


def test_text_aligns_numbers_right_and_formats_per_column() -> None:
    table = Table(
        ("name", "SR", "DP"),
        (("gaussian", 28.20947, 0.0303485), ("impulse", 256.0, None)),
        title="two embeddings",
        formats={"DP": ".5f"},
    )
    lines = str(table).splitlines()
    assert lines == [
        "two embeddings",
        "name         SR       DP",
        "gaussian  28.21  0.03035",
        "impulse     256        -",
    ]
    assert table.column("SR") == [28.20947, 256.0]  # values stay exact


def test_missing_values_and_text_columns() -> None:
    table = Table(("a", "b"), ((math.nan, "x"), (1, "longer")))
    assert table.cells() == [[MISSING, "x"], ["1", "longer"]]
    assert str(table).splitlines()[0] == "a  b"


def test_rows_must_match_columns_and_formats_known_columns() -> None:
    with pytest.raises(ValueError, match="row 1 has 1 values for 2 columns"):
        Table(("a", "b"), ((1, 2), (3,)))
    with pytest.raises(ValueError, match="unknown column"):
        Table(("a",), ((1,),), formats={"b": ".2f"})
    with pytest.raises(ValueError, match="no column 'c'"):
        Table(("a",), ((1,),)).column("c")


def test_from_records_picks_and_renames_keys() -> None:
    records = [{"sigma": 0.01, "sr": 28.2, "extra": 1}, {"sigma": 0.1, "sr": 2.82, "extra": 2}]
    table = Table.from_records(records, {"sigma": "σ", "sr": "SR"}, formats={"sr": ".1f"})
    assert table.columns == ("σ", "SR")
    assert table.rows == ((0.01, 28.2), (0.1, 2.82))
    assert str(table).splitlines() == ["   σ    SR", "0.01  28.2", " 0.1   2.8"]
    with pytest.raises(ValueError, match="record 1 has no 'sr'"):
        Table.from_records([{"sr": 1}, {"sigma": 2}], ["sr"])


def test_html_escapes_and_markdown_rules() -> None:
    table = Table(("a<b", "n"), (("x|y", 1.5),), title="t & u")
    html = table._repr_html_()
    assert "<caption>t &amp; u</caption>" in html and "a&lt;b" in html
    assert 'style="text-align: right">1.5</td>' in html
    assert table.to_markdown().splitlines() == [
        "**t & u**",
        "",
        "| a<b | n |",
        "| --- | ---: |",
        "| x\\|y | 1.5 |",
    ]


def test_catalog_lists_every_embedding_with_its_formula() -> None:
    table = embedding_catalog()
    assert table.column("NAME") == list(EMBEDDINGS)
    assert table.column("FORMULA") == [cls.formula for cls in EMBEDDINGS.values()]
    defaults = dict(zip(table.column("NAME"), table.column("DEFAULTS"), strict=True))
    assert defaults["gaussian"].startswith("sigma=0.01 ")
    assert "num_centers=256" in defaults["gaussian"]
    assert "in_dim" not in defaults["gaussian"]
    assert defaults["none"] == "include_input=False"
    assert embedding_catalog(["sinc"]).column("BANDWIDTH") == ["width"]


def test_plot_table_reads_series_at_chosen_x() -> None:
    plot = PlotData(
        "p",
        "title",
        "N",
        "SR",
        (
            Series("a", np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 2.5])),
            Series("a theory", np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]), theory=True),
            Series("b", np.array([1.0, 3.0]), np.array([1.0, 1.5])),
        ),
    )
    table = plot_table(plot, [1, 2])
    assert table.columns == ("SR at N =", "1", "2")
    assert table.rows == (("a", 1.0, 2.0), ("b", 1.0, None))
    assert [row[0] for row in plot_table(plot, theory=True).rows] == ["a", "a theory", "b"]
    assert plot_table(plot).columns[1:] == ("1", "2", "3")


def test_measurement_table_shows_theory_or_missing() -> None:
    records = [
        summarize(
            "g", make_embedding("gaussian", sigma=0.01, num_centers=1000, periodic=True), 1000
        ),
        summarize("l", make_embedding("logf"), 100),
    ]
    table = measurement_table(records)
    assert table.column("embedding") == ["g", "l"]
    assert table.column("SR theory")[0] == pytest.approx(28.2095, rel=1e-4)
    assert table.cells()[1][table.columns.index("SR theory")] == MISSING
