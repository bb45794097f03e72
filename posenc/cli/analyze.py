"""``posenc analyze``: stable rank, distance preservation and theory of embeddings, as figures.

Every embedding is built as P1 analyses it: ``--dim`` centres (shifted bases, periodic unless
``--no-periodic``) or ``--dim / 2`` frequencies (Fourier features), embedding the grid
``k / N`` of ``[0, 1)``. The computation is :mod:`posenc.cli.analyze_folder`, imported when
the command runs, so that ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from posenc.protocols import P1_SCATTER_DIMENSIONS, P1_SCATTER_SIGMA_RANGE
from posenc.theory import DEFAULT_THRESHOLD

MANY_VALUES = True
"""``posenc analyze`` takes several values for an embedding's bandwidth (``--sigma A B``)."""
DEFAULT_DIM = 10_000
DEFAULT_SAMPLES = "1:50"

EMBEDDING_OPTIONS_HELP = """\
embedding parameters:
  --NAME V [V ...]      bandwidths of the selected embeddings whose bandwidth is NAME
                        (e.g. --sigma 0.01 0.005, --width 0.02, --scale 5)
  --NAME VALUE          any other parameter, for each selected embedding that has it
                        (e.g. --offset 0.7); `posenc embeddings NAME` lists them"""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``analyze`` sub-command."""
    parser = subparsers.add_parser(
        "analyze",
        help="stable rank, distance preservation and theory of embeddings, with plots",
        description="Measure stable rank (SR) and distance preservation (DP) of embeddings "
        "(exact FFT/Toeplitz paths where they apply), draw them beside their closed forms, "
        "and/or draw P1's SR-vs-DP scatter. Writes PNG figures, results.json, results.csv "
        "(one row per embedding), plotted.csv (every plotted point) and config.json.",
        epilog=EMBEDDING_OPTIONS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    group = parser.add_argument_group("embeddings")
    group.add_argument("--embedding", nargs="+", metavar="NAME", help="embeddings to analyse")
    group.add_argument(
        "--bandwidth", nargs="+", type=float, metavar="V", help="bandwidths, for every embedding"
    )
    group.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another embedding parameter, e.g. offset=0.7 (repeatable)",
    )
    group.add_argument(
        "--dim", type=int, default=DEFAULT_DIM, help="centres, or 2 x frequencies (10000)"
    )
    group.add_argument(
        "--no-periodic", action="store_true", help="shifted bases without wrap-around"
    )
    measure = parser.add_argument_group("measurements")
    measure.add_argument(
        "--samples",
        default=DEFAULT_SAMPLES,
        metavar="SPEC",
        help="sample counts N of the SR-vs-N figure: A:B, A:B:STEP or a comma list (1:50)",
    )
    measure.add_argument(
        "--points", type=int, help="grid points of the SR/DP measurement (default: --dim)"
    )
    measure.add_argument(
        "--threshold", type=float, default=DEFAULT_THRESHOLD, help="DP threshold (0.1)"
    )
    scatter = parser.add_argument_group("SR-vs-DP scatter")
    scatter.add_argument("--scatter", action="store_true", help="draw P1's SR-vs-DP scatter")
    scatter.add_argument(
        "--scatter-dims",
        nargs="+",
        type=int,
        default=list(P1_SCATTER_DIMENSIONS),
        metavar="D",
        help="embedding sizes (1000 2000 3000 5000)",
    )
    scatter.add_argument(
        "--scatter-bandwidths", type=int, default=100, help="random bandwidths per size (100)"
    )
    scatter.add_argument(
        "--sigma-range",
        nargs=2,
        type=float,
        default=list(P1_SCATTER_SIGMA_RANGE),
        metavar=("LOW", "HIGH"),
        help="Gaussian widths of the scatter (0.002 0.1)",
    )
    run_group = parser.add_argument_group("run")
    run_group.add_argument("--seed", type=int, default=0, help="seed of random draws (0)")
    run_group.add_argument("--out", type=Path, help="output folder (runs/analyze-<time>)")
    run_group.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run_analyze)
    return parser


def run_analyze(args: argparse.Namespace) -> int:
    """Run the analysis (:func:`posenc.cli.analyze_folder.run`)."""
    from posenc.cli.analyze_folder import run

    return run(args)
