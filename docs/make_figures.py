"""Regenerate the README's headline figures (PNG files in this folder).

    python docs/make_figures.py                       # every figure, its documented settings
    python docs/make_figures.py --only sr_dp_scatter  # one figure
    python docs/make_figures.py --quick --out /tmp/x  # tiny settings: checks that it runs

Each figure is one function in :data:`FIGURES`, drawn only with posenc's public API:

- ``sr_dp_scatter``: P1's SR-against-DP scatter with the Gaussian theory curve, P1's full
  setting (D in {1000, 2000, 3000, 5000}, 100 bandwidths each); about two minutes on a
  laptop CPU.
- ``stable_rank_vs_samples``: SR against the number of samples N = 1..50 for the impulse,
  square wave, sine, Gaussian and RFF embedders at P1's D = 10000; seconds.
- ``comparison_2d``: P3's comparison (none, basic, LogF, RFF) plus Gaussian, triangle and
  sinc bases on the astronaut photograph, P3's network and optimiser with a smaller image
  and fewer steps (:data:`COMPARISON_2D`) so that a CPU draws it in about 20 minutes;
  ``notebooks/04_fit_2d.ipynb`` runs the full protocol.

The test-PSNR-against-stable-rank figure of the bandwidth sweep belongs here too: write a
function ``(out, quick, device) -> Path`` and add it to :data:`FIGURES`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # draw with this checkout's posenc, installed or not

import torch  # noqa: E402

from posenc.analysis import (  # noqa: E402
    reference_embedders,
    render,
    save_figure,
    stable_rank_dp_scatter,
    stable_rank_vs_samples,
)
from posenc.analysis.experiments import SCATTER_DIMENSIONS  # noqa: E402
from posenc.comparison import (  # noqa: E402
    comparison_configs,
    figure_reconstructions,
    p3_mappings,
    psnr_table,
    run_comparison,
)

COMPARISON_2D = {"image": "astronaut", "size": 128, "steps": 1000}
"""Settings of ``comparison_2d`` that differ from P3's protocol (512 x 512, 2000 steps)."""


def sr_dp_scatter(out: Path, quick: bool, device: str) -> Path:
    """P1's SR-vs-DP scatter, Gaussian and RFF at matched bandwidths, with the theory curve."""
    dimensions, count = ((1000, 2000), 5) if quick else (SCATTER_DIMENSIONS, 100)
    plot = stable_rank_dp_scatter(dimensions, count, progress=True)
    print(f"SR*DP mean: {plot.metrics['sr_dp_mean']} (theory {plot.metrics['sr_dp_theory']:.5f})")
    return save_figure(render(plot), out / "sr_dp_scatter.png")


def stable_rank_vs_samples_figure(out: Path, quick: bool, device: str) -> Path:
    """SR against N for the five embedders of P1's figure, beside the closed forms."""
    dim, samples = (2000, range(1, 11)) if quick else (10_000, range(1, 51))
    plot = stable_rank_vs_samples(reference_embedders(dim), samples)
    return save_figure(render(plot), out / "stable_rank_vs_samples.png")


def comparison_2d(out: Path, quick: bool, device: str) -> Path:
    """Reconstructions and test PSNR of P3's mappings and three shifted bases."""
    settings = {"size": 16, "steps": 3, "width": 16} if quick else dict(COMPARISON_2D)
    image = settings.pop("image", COMPARISON_2D["image"])
    configs = comparison_configs(p3_mappings(), device=device, **settings)
    comparison = run_comparison([image], configs, progress=True)
    print(psnr_table(comparison))
    return save_figure(figure_reconstructions(comparison), out / "comparison_2d.png")


FIGURES: dict[str, Callable[[Path, bool, str], Path]] = {
    "sr_dp_scatter": sr_dp_scatter,
    "stable_rank_vs_samples": stable_rank_vs_samples_figure,
    "comparison_2d": comparison_2d,
}
"""The README's figures by name; each draws one PNG into the output folder."""


def main(argv: Sequence[str] | None = None) -> int:
    """Draw the chosen figures and print each file written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(FIGURES), help="figures to draw")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--quick", action="store_true", help="tiny settings, to test the script")
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="device of the fits (default: cuda if available, else cpu)",
    )
    args = parser.parse_args(argv)
    for name in args.only or list(FIGURES):
        start = time.perf_counter()
        path = FIGURES[name](args.out, args.quick, args.device)
        print(f"wrote {path} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
