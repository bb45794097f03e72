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
  and fewer steps (:data:`COMPARISON_2D`), P3's bandwidths carried to that size
  (:func:`posenc.fit_comparison.p3_bandwidths`), so that a CPU draws it in about 20 minutes;
  ``notebooks/04_fit_2d.ipynb`` runs the full protocol.
- ``layer_rank``, ``stride``, ``embedding_size_1d``, ``embedding_size_2d``, ``p3_table``,
  ``p1_2d_bandwidths``, ``sr_dp_scatter_p1``: the papers' remaining experiments
  (``posenc experiment NAME``, :mod:`posenc.cli.experiment`) at the reduced settings of
  :data:`EXPERIMENT_FIGURES` that one thread of a shared 2-core CPU runs in minutes each
  (the P3 table's text images keep P3's stroke widths in pixels at 128 x 128); the README
  gives each one's command and the papers' full axes.
- ``sweep_sr_vs_psnr``: the bandwidth sweep's headline, test PSNR against the stable rank of
  the embedded training matrix, for row 200 of the camera image under P1's 1D protocol
  (``p1-1d``: 256 even samples for training, tested on all 512; a linear model on 10000
  Gaussian, triangle or sinc centres, or 5000 RFF frequencies; Adam, 2000 steps at lr 1e-3)
  with 12 ``auto`` bandwidths per embedding (:data:`SWEEP_1D`): 48 fits, trained in four
  batches, about 3.5 minutes on two CPU cores. ``notebooks/05_sweep_stable_rank_vs_psnr.ipynb``
  draws the sweep's other figures.

Each figure is a function ``(out, quick, device) -> Path`` in :data:`FIGURES`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # draw with this checkout's posenc, installed or not

import torch  # noqa: E402

from posenc.analysis import (  # noqa: E402
    reference_embedders,
    render,
    stable_rank_dp_scatter,
    stable_rank_vs_samples,
)
from posenc.analysis.reproduction import override_settings  # noqa: E402
from posenc.cli.experiment import EXPERIMENTS  # noqa: E402
from posenc.fit_comparison import (  # noqa: E402
    comparison_configs,
    figure_reconstructions,
    p3_mappings,
    psnr_table,
    run_comparison,
)
from posenc.plotting import save_figure  # noqa: E402
from posenc.protocols import P1_SCATTER_DIMENSIONS  # noqa: E402
from posenc.sweeps import (  # noqa: E402
    best_table,
    figure_psnr_vs_stable_rank,
    load_points,
    make_executor,
    resolve_sweep,
    run_sweep,
)

COMPARISON_2D = {"image": "astronaut", "size": 128, "steps": 1000}
"""Settings of ``comparison_2d`` that differ from P3's protocol (512 x 512, 2000 steps)."""
SWEEP_1D = {
    "sweep": {
        "signals": ["camera:row=200"],
        "embeddings": ["gaussian", "triangle", "sinc", "rff"],
        "bandwidths": "auto",
        "models": ["linear"],
        "protocol": "p1-1d",
    },
    "embedding_params": {"num_frequencies": 5000},
}
"""The sweep of ``sweep_sr_vs_psnr``: P1's 1D protocol, 12 ``auto`` bandwidths per embedding."""
SWEEP_1D_QUICK = {
    "sweep": {**SWEEP_1D["sweep"], "bandwidths": "auto:3"},
    "fit": {"steps": 5, "eval_every": 5, "last_k": 2},
    "embedding_params": {"num_centers": 256, "num_frequencies": 128},
}


def sr_dp_scatter(out: Path, quick: bool, device: str) -> Path:
    """P1's SR-vs-DP scatter, Gaussian and RFF at matched bandwidths, with the theory curve."""
    dimensions, count = ((1000, 2000), 5) if quick else (P1_SCATTER_DIMENSIONS, 100)
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
    settings = {"size": 64, "steps": 3, "width": 16} if quick else dict(COMPARISON_2D)
    image = settings.pop("image", COMPARISON_2D["image"])
    mappings = p3_mappings(size=settings["size"])
    configs = comparison_configs(mappings, device=device, **settings)
    comparison = run_comparison([image], configs, progress=True)
    print(psnr_table(comparison))
    return save_figure(figure_reconstructions(comparison), out / "comparison_2d.png")


def sweep_sr_vs_psnr(out: Path, quick: bool, device: str) -> Path:
    """Test PSNR against stable rank across a bandwidth sweep of four embeddings."""
    settings = SWEEP_1D_QUICK if quick else SWEEP_1D
    spec = resolve_sweep({**settings, "fit": {**settings.get("fit", {}), "device": device}})
    with tempfile.TemporaryDirectory(prefix="posenc-sweep-") as folder:
        summary = run_sweep(spec, Path(folder), make_executor(), progress=True)
        if summary.failed:
            raise RuntimeError(f"{len(summary.failed)} sweep run(s) failed: {summary.failed[0]}")
        points = load_points(Path(folder))
    print(best_table(points, "best test PSNR of each embedding"))
    return save_figure(figure_psnr_vs_stable_rank(points), out / "sweep_sr_vs_psnr.png")


EXPERIMENT_FIGURES: dict[str, tuple[str, dict[str, str]]] = {
    "layer_rank": ("layer-rank", {"rows": "158,329", "repeats": "1", "every": "50"}),
    "stride": ("stride", {"rows": "200", "repeats": "1", "num_sigmas": "17"}),
    "embedding_size_1d": ("embedding-size", {"dimensions": "1d"}),
    "embedding_size_2d": (
        "embedding-size",
        {
            "dimensions": "2d",
            "sizes": "100,300,500,1000",
            "size": "64",
            "seeds": "3",
            "steps_2d": "300",
        },
    ),
    "p3_table": (
        "p3-table",
        {
            "natural_images": "astronaut,camera,coffee",
            "text_images": "3",
            "text_words": "3",
            "text_font_sizes": "0.25,0.8",
            "size": "128",
            "steps": "250",
        },
    ),
    "p1_2d_bandwidths": (
        "p1-2d-bandwidths",
        {"size": "128", "steps": "800", "reference_size": "128"},
    ),
    "sr_dp_scatter_p1": ("sr-dp-scatter", {}),
}
"""Figures of ``posenc experiment``: figure name to (experiment, ``--set`` overrides of its
full settings). ``posenc experiment NAME --full --set KEY=VALUE ...`` with the same overrides
writes the same figure with its tables and data."""


def experiment_figure(name: str) -> Callable[[Path, bool, str], Path]:
    """A figure function running experiment ``EXPERIMENT_FIGURES[name]``: its quick settings
    with ``quick``, else its full settings with the overrides."""

    def draw(out: Path, quick: bool, device: str) -> Path:
        experiment, overrides = EXPERIMENT_FIGURES[name]
        settings_class, quick_settings, runner = EXPERIMENTS[experiment].load()
        settings = quick_settings if quick else override_settings(settings_class(), overrides)
        if any(field == "device" for field in settings.__dataclass_fields__):
            settings = override_settings(settings, {"device": device})
        result = runner(settings, progress=True)
        for table in result.tables():
            print(table, end="\n\n")
        return save_figure(result.figure(), out / f"{name}.png")

    draw.__doc__ = f"``posenc experiment {EXPERIMENT_FIGURES[name][0]}`` at the README's settings."
    return draw


FIGURES: dict[str, Callable[[Path, bool, str], Path]] = {
    "sr_dp_scatter": sr_dp_scatter,
    "stable_rank_vs_samples": stable_rank_vs_samples_figure,
    "comparison_2d": comparison_2d,
    "sweep_sr_vs_psnr": sweep_sr_vs_psnr,
    **{name: experiment_figure(name) for name in EXPERIMENT_FIGURES},
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
    torch.set_flush_denormal(True)  # subnormal Gaussian features slow CPU products several-fold
    for name in args.only or list(FIGURES):
        start = time.perf_counter()
        path = FIGURES[name](args.out, args.quick, args.device)
        print(f"wrote {path} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
