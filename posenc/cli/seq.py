"""``posenc seq train | compare | analyze``: position encodings of a small causal transformer.

The command parses its own arguments (:data:`PARSES_OWN_ARGUMENTS`): its parser names the
tasks, encodings and presets of :mod:`posenc.sequence`, which loads torch, so it is built
(in :mod:`posenc.cli.seq_actions`) only when the command runs and ``posenc --help`` stays
fast.
"""

from __future__ import annotations

import argparse

PARSES_OWN_ARGUMENTS = True
"""``posenc seq ARGS...``: :func:`run` gets ``ARGS`` unparsed, as ``args.arguments``."""
SUMMARY = "position encodings of a causal transformer: Flip-Flop, copy, counting, bytes"
DESCRIPTION = (
    "Train and compare sequence position encodings (absolute, sinusoidal, relative, rope, "
    "cope, cope+relative) on tasks where they differ and on byte-level language modelling, "
    "and measure their tables."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """List ``seq`` among the commands (its own parser is :func:`run`'s)."""
    parser = subparsers.add_parser(
        "seq", help=SUMMARY, description=DESCRIPTION, usage="posenc seq ACTION ...", add_help=False
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Parse ``args.arguments`` with the full ``posenc seq`` parser and run its action."""
    from posenc.cli.seq_actions import build_parser

    parser = build_parser()
    action = parser.parse_args(args.arguments)
    return int(action.handler(action))
