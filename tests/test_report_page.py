"""The report pages as files: self-contained, one entry per run, the right images and
numbers, written by ``posenc report``, ``posenc fit`` and ``posenc seq compare``.
(``test_report_browser.py`` opens them in Chromium.)"""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from plotly.offline import get_plotlyjs

from posenc.cli.main import main
from posenc.neural_fields import FitConfig, fit, load_config_signal, save_fit
from posenc.report_page.document import file_data_uri, grid_image, png_data_uri
from posenc.report_page.sweep import write_sweep_report
from posenc.sweeps import ResultStore, resolve_sweep, run_sweep
from posenc.sweeps.executors import SequentialExecutor
from posenc.sweeps.jobs import load_signal
from posenc.sweeps.store import FINISHED


class Resources(HTMLParser):
    """Every URL a page would fetch (``src`` and ``href`` of its elements) and its JSON
    data blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.data: dict[str, str] = {}
        self._block: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]
        if tag == "script" and values.get("type") == "application/json":
            self._block = values["id"]

    def handle_data(self, data: str) -> None:
        if self._block:
            self.data[self._block] = self.data.get(self._block, "") + data

    def handle_endtag(self, tag: str) -> None:
        self._block = None


def parse(path: Path) -> Resources:
    parser = Resources()
    parser.feed(path.read_text())
    return parser


def report_data(path: Path) -> dict:
    return json.loads(parse(path).data["report-data"])


def decode(array: dict | list) -> np.ndarray:
    """A Plotly JSON array: a list, or ``{"dtype", "bdata"}`` base64 typed-array."""
    if isinstance(array, list):
        return np.asarray(array, dtype=float)
    return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))


def test_sweep_page_is_one_offline_file_with_plotly_embedded(reported_sweep: Path) -> None:
    page = reported_sweep / "report.html"
    text = page.read_text()
    assert get_plotlyjs() in text  # the library itself, not a link to a CDN
    assert all(url.startswith("data:") for url in parse(page).urls)
    for plot in ("psnr-vs-stable-rank", "psnr-vs-dp", "psnr-vs-bandwidth"):
        assert f'id="{plot}"' in text


def test_sweep_page_has_every_finished_run_with_its_reconstruction(
    reported_sweep: Path,
) -> None:
    with ResultStore(reported_sweep / "results.sqlite") as store:
        finished = store.rows(FINISHED)
    data = report_data(reported_sweep / "report.html")
    assert set(data["runs"]) == {row["key"] for row in finished}
    config = FitConfig.from_dict(json.loads(finished[0]["config_json"]))
    truth = png_data_uri(grid_image(load_signal(config).values.numpy()))
    assert list(data["truths"].values()) == [truth]  # one signal: its image, stored once
    for row in finished:
        run = data["runs"][row["key"]]
        assert run["reconstruction"] == file_data_uri(reported_sweep / row["reconstruction"])
        assert data["truths"][run["truth"]] == truth
        assert f"test {row['test_psnr']:.2f} dB" in run["settings"]
        assert run["title"].startswith(row["embedding"])


def test_sweep_page_points_carry_their_run_and_its_settings(reported_sweep: Path) -> None:
    text = (reported_sweep / "report.html").read_text()
    with ResultStore(reported_sweep / "results.sqlite") as store:
        rows = {row["key"]: row for row in store.rows()}
    # Each run's key appears as the customdata of its points (one per plot that draws it).
    for key, row in rows.items():
        if row["status"] == FINISHED:
            assert text.count(f'"{key}"') >= 2, key
    assert "RuntimeError: diverged" in text  # the failed run, listed with its error
    # Settings that differ between runs appear in the hover text; shared ones once above.
    assert "embedding_params.num_frequencies = 8" in text
    assert re.search(r"<dt>steps</dt><dd>8</dd>", text)


def test_a_1d_sweep_page_draws_each_fit_over_the_signal(tmp_path: Path) -> None:
    spec = resolve_sweep(
        {
            "sweep": {
                "signals": ["camera:row=200"],
                "embeddings": ["gaussian"],
                "bandwidths": [0.001, 0.01],
                "models": ["linear"],
            },
            "fit": {"steps": 5, "sigmoid": False, "eval_every": 5, "last_k": 2},
            "embedding_params": {"num_centers": 64},
        }
    )
    run_sweep(spec, tmp_path, SequentialExecutor(), progress=False)
    data = report_data(write_sweep_report(tmp_path))
    signal = load_config_signal(spec.runs()[0].config).values.numpy()[:, 0]
    with ResultStore(tmp_path / "results.sqlite") as store:
        rows = store.rows(FINISHED)
    assert len(data["runs"]) == 2
    for row in rows:
        truth, fitted = data["runs"][row["key"]]["curve"]["data"]
        np.testing.assert_allclose(decode(truth["y"]), signal)
        prediction = np.load(tmp_path / row["reconstruction"])[:, 0]
        np.testing.assert_allclose(decode(fitted["y"]), prediction)


def test_posenc_report_writes_the_page_and_refuses_other_folders(
    reported_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = reported_sweep / "report.html"
    page.unlink()
    assert main(["report", str(reported_sweep)]) == 0
    assert capsys.readouterr().out.strip() == str(page)
    assert page.is_file()

    assert main(["report", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "is not a sweep folder" in error and error.count("\n") == 1
    with ResultStore(tmp_path / "results.sqlite"):
        pass  # a sweep with no finished run yet
    assert main(["report", str(tmp_path)]) == 2
    assert "has no finished runs to report yet" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


def test_fit_folder_report_shows_prediction_beside_ground_truth(tmp_path: Path) -> None:
    config = FitConfig(size=16, steps=6, width=8, depth=1, eval_every=3, last_k=2)
    result = fit(load_config_signal(config), config)
    page = save_fit(result, tmp_path / "run") / "report.html"
    text = page.read_text()
    assert all(url.startswith("data:") for url in parse(page).urls)
    assert png_data_uri(result.signal.values.numpy()) in text
    assert png_data_uri(result.prediction.numpy()) in text
    assert f"<td>{result.test_psnr:.2f}</td>" in text
    assert 'id="history"' in text and 'id="error"' in text
    assert "plotly.js" not in text and page.stat().st_size < 500_000  # a static page


def test_comparison_folder_report_has_the_error_table_and_curves(tmp_path: Path) -> None:
    tiny = "--steps 4 --eval-every 2 --test-size 8 --layers 1 --width 16 --heads 2 --batch-size 8"
    arguments = [
        *(["seq", "compare", "--task", "flipflop", "--pe", "absolute", "cope", "--seeds", "1"]),
        *(["--task-param", "num_instructions=6", "--task-param", "ood_instructions=6"]),
        *tiny.split(),
    ]
    assert main([*arguments, "--out", str(tmp_path)]) == 0
    text = (tmp_path / "report.html").read_text()
    metrics = json.loads((tmp_path / "cope-seed0" / "metrics.json").read_text())
    error = 100 * metrics["splits"]["sparse"]["error"]
    assert f">{error:.2f}</td>" in text  # the run table and the summary (one seed: no ±)
    assert "<td>4.9</td>" in text  # the paper's Flip-Flop OOD error of CoPE
    assert 'id="errors"' in text and 'id="curves"' in text
