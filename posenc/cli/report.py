"""``posenc report``: write a sweep folder's interactive, self-contained ``report.html``."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` sub-command."""
    parser = subparsers.add_parser(
        "report",
        help="write a sweep's interactive report.html (opens offline in a browser)",
        description="Write FOLDER/report.html for a sweep folder (written by `posenc sweep`): "
        "test PSNR against stable rank, distance preservation and bandwidth per embedding "
        "(hover a point for its run's settings and PSNRs, click it for its reconstruction "
        "beside the ground truth) and a sortable table of runs. The page is one file with "
        "everything embedded: it opens from disk with no network. Works on a sweep that is "
        "still running or was interrupted: it shows the runs finished so far. `posenc fit` "
        "and `posenc seq compare` write a report.html of their own.",
    )
    parser.add_argument("folder", type=Path, metavar="FOLDER", help="a sweep folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Write the page and print its path."""
    from posenc.report_page.sweep import write_sweep_report

    print(write_sweep_report(args.folder))
    return 0
