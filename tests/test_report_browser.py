"""The report pages in a real browser: headless Chromium driven by Playwright.

The browser is :func:`posenc.report_page.headless.offline_chromium`'s: a fresh profile, no
network, every refused request recorded, so a page that needs the network fails. Where
Chromium or Playwright is missing these tests are skipped with the reason, unless
``POSENC_REQUIRE_BROWSER=1`` (set by ``.ci/run``, which installs both), where they fail.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from posenc.cli.main import main
from posenc.neural_fields import FitConfig, fit, load_config_signal, save_fit
from posenc.report_page.document import file_data_uri
from posenc.report_page.headless import OfflineBrowser, chromium_path, offline_chromium
from posenc.sweeps import ResultStore
from posenc.sweeps.store import FINISHED

PLOTS = ("psnr-vs-stable-rank", "psnr-vs-dp", "psnr-vs-bandwidth")


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or ``None``."""
    if importlib.util.find_spec("playwright") is None:
        return 'Playwright is not installed (pip install -e ".[test]")'
    if chromium_path() is None:
        return "Chromium is not installed (apt-get install chromium, or set POSENC_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfflineBrowser]:
    reason = missing_browser()
    if reason is not None:
        if os.environ.get("POSENC_REQUIRE_BROWSER") == "1":
            pytest.fail(f"POSENC_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    profile = tmp_path_factory.mktemp("chromium-profile")
    with offline_chromium(profile, (1400, 900)) as opened:
        yield opened


def finished_rows(folder: Path) -> dict[str, dict[str, Any]]:
    with ResultStore(folder / "results.sqlite") as store:
        return {row["key"]: row for row in store.rows(FINISHED)}


def test_sweep_page_loads_offline_without_console_errors(
    browser: OfflineBrowser, reported_sweep: Path
) -> None:
    page = browser.open(reported_sweep / "report.html")
    page.wait_for_selector(f"#{PLOTS[-1]} path.point")
    assert page.evaluate("typeof Plotly.newPlot") == "function"
    assert browser.errors == []
    assert browser.refused == []


def test_each_plot_holds_one_point_per_finished_run(
    browser: OfflineBrowser, reported_sweep: Path
) -> None:
    rows = finished_rows(reported_sweep)
    page = browser.open(reported_sweep / "report.html")
    page.wait_for_selector(f"#{PLOTS[-1]} path.point")
    counts = {plot: page.locator(f"#{plot} path.point").count() for plot in PLOTS}
    with_bandwidth = [row for row in rows.values() if row["bandwidth"] is not None]
    assert counts == {
        "psnr-vs-stable-rank": len(rows),
        "psnr-vs-dp": len(rows),
        "psnr-vs-bandwidth": len(with_bandwidth),  # the basic mapping has no bandwidth
    }
    assert page.locator("#runs tbody tr").count() == len(rows)
    assert page.locator("#failed-runs tbody tr").count() == 1


def test_clicking_a_point_shows_that_runs_reconstruction(
    browser: OfflineBrowser, reported_sweep: Path
) -> None:
    from playwright.sync_api import expect

    rows = finished_rows(reported_sweep)
    page = browser.open(reported_sweep / "report.html")
    points = page.locator(f"#{PLOTS[0]} path.point")
    points.first.wait_for()
    boxes = [points.nth(index).bounding_box() for index in range(points.count())]
    centres = [(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2) for b in boxes]
    label = page.locator(".hoverlayer .hovertext")
    shown = []
    for x, y in centres:
        # As a person does: point at it, read the hover label, click.
        page.mouse.move(0, 0)
        expect(label).to_have_count(0)
        page.mouse.move(x, y)
        expect(label).to_have_count(1)
        hovered = re.search(r"run ([0-9a-f]{16})", label.text_content()).group(1)
        page.mouse.click(x, y)
        key = page.get_attribute("#run-detail", "data-run")
        assert key == hovered
        row = rows[key]
        assert page.get_attribute("#run-reconstruction", "src") == file_data_uri(
            reported_sweep / row["reconstruction"]
        )
        assert page.evaluate("document.getElementById('run-truth').naturalWidth") == 16
        assert page.text_content("#run-title").startswith(row["embedding"])
        assert f"test {row['test_psnr']:.2f} dB" in page.text_content("#run-settings")
        shown.append(key)
    # A point far from every other one is the one clicked: such points show distinct runs.
    isolated = [
        key
        for (x, y), key in zip(centres, shown, strict=True)
        if all(math.dist((x, y), other) > 25 for other in centres if other != (x, y))
    ]
    assert len(isolated) >= 2
    assert len(set(isolated)) == len(isolated)
    assert browser.errors == []


def test_run_table_sorts_by_a_column_and_a_row_shows_its_run(
    browser: OfflineBrowser, reported_sweep: Path
) -> None:
    rows = finished_rows(reported_sweep)
    page = browser.open(reported_sweep / "report.html")
    page.wait_for_selector("#runs tbody tr")
    header = page.locator("#runs th", has_text="test PSNR (dB)")
    column = page.locator("#runs th").all_text_contents().index("test PSNR (dB)")

    def values() -> list[float]:
        cells = page.locator(f"#runs tbody tr td:nth-child({column + 1})")
        return [float(value) for value in cells.evaluate_all("c => c.map(x => x.dataset.value)")]

    header.click()
    assert values() == sorted(row["test_psnr"] for row in rows.values())
    header.click()
    assert values() == sorted((row["test_psnr"] for row in rows.values()), reverse=True)
    first = page.locator("#runs tbody tr").first
    first.click()
    key = first.get_attribute("data-run")
    assert rows[key]["test_psnr"] == max(row["test_psnr"] for row in rows.values())
    assert page.get_attribute("#run-detail", "data-run") == key
    assert browser.errors == []


def test_fit_and_comparison_pages_load_without_console_errors(
    browser: OfflineBrowser, tmp_path: Path
) -> None:
    config = FitConfig(size=16, steps=6, width=8, depth=1, eval_every=3, last_k=2)
    folder = save_fit(fit(load_config_signal(config), config), tmp_path / "fit")
    page = browser.open(folder / "report.html")
    widths = page.locator("img").evaluate_all("images => images.map(i => i.naturalWidth)")
    assert widths[:2] == [16, 16]  # ground truth and reconstruction, decoded
    assert len(widths) == 4 and min(widths[2:]) > 100  # the error map and the history
    assert browser.errors == [] and browser.refused == []

    arguments = [
        *["seq", "compare", "--task", "flipflop", "--pe", "absolute", "rope", "--seeds", "1"],
        *["--task-param", "num_instructions=6", "--task-param", "ood_instructions=6"],
        *["--steps", "4", "--eval-every", "2", "--test-size", "8", "--layers", "1"],
        *["--width", "16", "--heads", "2"],
    ]
    assert main([*arguments, "--out", str(tmp_path / "compare")]) == 0
    splits = json.loads((tmp_path / "compare" / "rope-seed0" / "metrics.json").read_text())
    page = browser.open(tmp_path / "compare" / "report.html")
    page.wait_for_selector("#errors .barlayer .point")
    assert page.locator("#errors .barlayer .point").count() == 2 * len(splits["splits"])
    assert page.locator("#runs tbody tr").count() == 2
    assert browser.errors == [] and browser.refused == []
