"""``load_frame``: a sweep's runs as a DataFrame, the config flattened into columns."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from posenc.sweeps import ResultStore, load_frame
from posenc.sweeps.store import FAILED, FINISHED


def test_one_row_per_run_with_the_config_flattened(reported_sweep: Path) -> None:
    frame = load_frame(reported_sweep)
    with ResultStore(reported_sweep / "results.sqlite") as store:
        rows = {row["key"]: row for row in store.rows()}
    assert sorted(frame.index) == sorted(rows)
    assert (frame["status"] == FAILED).sum() == 1
    for key, row in rows.items():
        config = json.loads(row["config_json"])
        assert frame.loc[key, "steps"] == config["steps"] == 8
        assert frame.loc[key, "embedding"] == row["embedding"]
        for name, value in config["embedding_params"].items():
            assert frame.loc[key, f"embedding_params.{name}"] == value
        if "sigma" not in config["embedding_params"]:  # RFF and basic: no sigma
            assert math.isnan(frame.loc[key, "embedding_params.sigma"])
        if row["test_psnr"] is not None:
            assert frame.loc[key, "test_psnr"] == row["test_psnr"]
    assert "config_json" not in frame.columns and "metrics_json" not in frame.columns
    assert frame.columns.is_unique


def test_status_filter_and_a_folder_without_a_store(reported_sweep: Path, tmp_path: Path) -> None:
    finished = load_frame(reported_sweep, status=FINISHED)
    assert set(finished["status"]) == {FINISHED}
    assert len(finished) == len(load_frame(reported_sweep)) - 1
    best = finished.groupby("embedding")["test_psnr"].idxmax()
    assert set(best.index) == {"gaussian", "rff", "basic"}
    with pytest.raises(ValueError, match="is not a sweep folder"):
        load_frame(tmp_path)


def test_without_pandas_the_error_says_which_extra(
    reported_sweep: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ModuleNotFoundError, match=r"posenc\[pandas\]"):
        load_frame(reported_sweep)
