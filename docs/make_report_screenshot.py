"""Regenerate ``docs/report_page.png``: the sweep report page in headless Chromium.

    python docs/make_report_screenshot.py                     # run the sweep below, then shoot
    python docs/make_report_screenshot.py --sweep runs/row200 # shoot another sweep's page

The sweep (:data:`SWEEP`): the 64 x 64 camera image, Gaussian, RFF and triangle embeddings
at six ``auto`` bandwidths each, a 3 x 128 MLP, 300 Adam steps; 18 fits trained in three
batches, 7.4 CPU-minutes measured (about four minutes on two idle cores). The page is
written with ``posenc report``, opened in Debian's Chromium (``apt-get install chromium``;
Playwright drives it through :mod:`posenc.report_page.headless`, as in the browser tests)
with no network, and shot after a click on the run with the best test PSNR, so the run
panel shows its reconstruction beside the ground truth.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # draw with this checkout's posenc, installed or not

from posenc.report_page.headless import chromium_path, offline_chromium  # noqa: E402
from posenc.report_page.sweep import PLOT_IDS, write_sweep_report  # noqa: E402
from posenc.sweeps import load_points, make_executor, resolve_sweep, run_sweep  # noqa: E402
from posenc.sweeps.keys import runs_key  # noqa: E402

SWEEP = {
    "sweep": {
        "signals": ["camera"],
        "embeddings": ["gaussian", "rff", "triangle"],
        "bandwidths": "auto:6",
        "models": ["mlp"],
    },
    "fit": {"size": 64, "steps": 300},
}
WINDOW = (1500, 950)


def screenshot(folder: Path, out: Path, chromium: str) -> Path:
    """Write ``folder``'s report page, click its best run's point, save the view to ``out``."""
    page_path = write_sweep_report(folder)
    best = max(load_points(folder), key=lambda point: point.test_psnr)
    with (
        tempfile.TemporaryDirectory() as profile,
        offline_chromium(Path(profile), WINDOW, chromium) as browser,
    ):
        page = browser.open(page_path)
        points = page.locator(f"#{PLOT_IDS[0]} path.point")
        points.first.wait_for()
        for index in range(points.count()):  # hover each point until the best one's label shows
            box = points.nth(index).bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.wait_for_timeout(150)
            label = page.locator(f"#{PLOT_IDS[0]} .hoverlayer").text_content() or ""
            if f"run {best.key}" in label:
                page.mouse.click(x, y)
                break
        page.wait_for_timeout(300)
        page.screenshot(path=str(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sweep",
        type=Path,
        default=Path("runs/report-page-sweep"),
        help="sweep folder: run the sweep above into it (resumed if there), unless it is "
        "another sweep's folder, which is shown as it is (default runs/report-page-sweep)",
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "report_page.png")
    parser.add_argument("--chromium", default=chromium_path(), help="the browser")
    args = parser.parse_args()
    if args.chromium is None:
        parser.error("Chromium not found: apt-get install chromium, or give --chromium PATH")
    spec = resolve_sweep(SWEEP)
    if not (args.sweep / "sweep.json").is_file() or _same_sweep(args.sweep, spec):
        run_sweep(spec, args.sweep, make_executor(jobs=1, batch=True))
    print(screenshot(args.sweep, args.out, args.chromium))


def _same_sweep(folder: Path, spec: Any) -> bool:
    described = json.loads((folder / "sweep.json").read_text())
    return described["key"] == runs_key([run.key for run in spec.runs()])


if __name__ == "__main__":
    main()
