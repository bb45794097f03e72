"""``posenc plot``: re-draw every figure of a sweep folder from its results store."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``plot`` sub-command."""
    parser = subparsers.add_parser(
        "plot",
        help="re-draw a sweep's figures and exports from its results store",
        description="Draw every figure of a sweep folder (written by `posenc sweep`) from its "
        "results.sqlite and reconstruction files into FOLDER/figures, and export the store to "
        "FOLDER/results.csv and FOLDER/results.json. Works on a sweep that is still running "
        "or was interrupted: it shows the runs finished so far.",
    )
    parser.add_argument("folder", type=Path, metavar="FOLDER", help="a sweep folder")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Draw the figures, export the results, print the paths written."""
    from posenc.sweeps.figures import draw_figures
    from posenc.sweeps.runner import export_results

    for path in draw_figures(args.folder) + export_results(args.folder):
        print(path)
    return 0
