"""Entry point of the ``posenc`` command.

Each sub-command lives in its own module exposing ``register(subparsers)``; the module's
parser sets ``handler`` to a function ``(args) -> int``. User mistakes surface as
``ValueError`` or ``OSError`` anywhere below and are reported here as one line on stderr with
exit code 2; set ``POSENC_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from posenc import __version__
from posenc.cli import analyze, embeddings, fit, plot, seq, suggest, sweep

COMMANDS = (embeddings, fit, suggest, analyze, sweep, plot, seq)

USER_ERROR_EXIT = 2
INTERRUPTED_EXIT = 130


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="posenc",
        description="Study the input embeddings (positional encodings) of coordinate networks.",
    )
    parser.add_argument("--version", action="version", version=f"posenc {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return USER_ERROR_EXIT
    try:
        return args.handler(args)
    except (ValueError, OSError) as error:
        if os.environ.get("POSENC_DEBUG"):
            raise
        print(f"posenc {args.command}: error: {error}", file=sys.stderr)
        return USER_ERROR_EXIT
    except KeyboardInterrupt:
        print(f"posenc {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT
