"""``posenc seq train | compare | analyze``: position encodings of a small causal transformer.

The command parses its own arguments (:data:`PARSES_OWN_ARGUMENTS`): its parser names the
tasks, encodings and presets of :mod:`posenc.sequence`, which loads torch, so it is built
(in :mod:`posenc.cli.seq_actions`) only when an action runs or its help is asked for;
``posenc --help`` and ``posenc seq --help`` (:func:`overview_parser`: the actions by name)
stay fast.
"""

from __future__ import annotations

import argparse
import sys

PARSES_OWN_ARGUMENTS = True
"""``posenc seq ARGS...``: :func:`run` gets ``ARGS`` unparsed, as ``args.arguments``, and
:func:`computes` says whether they run an action (else nothing loads torch)."""
SUMMARY = "position encodings of a causal transformer: Flip-Flop, copy, counting, bytes"
DESCRIPTION = (
    "Train and compare sequence position encodings (absolute, sinusoidal, relative, rope, "
    "cope, cope+relative) on tasks where they differ and on byte-level language modelling, "
    "and measure their tables."
)

ACTIONS = {
    "train": "train one model, write a run folder",
    "compare": "several encodings x seeds, tables and plots",
    "analyze": "stable rank and DP of position tables",
}
"""The actions of ``posenc seq`` and their one-line help."""
HELP_FLAGS = ("-h", "--help")


def register(subparsers: argparse._SubParsersAction) -> None:
    """List ``seq`` among the commands (its own parser is :func:`run`'s)."""
    parser = subparsers.add_parser(
        "seq", help=SUMMARY, description=DESCRIPTION, usage="posenc seq ACTION ...", add_help=False
    )
    parser.set_defaults(handler=run)


def overview_parser() -> argparse.ArgumentParser:
    """``posenc seq``'s parser with its actions named but not their options: what
    ``posenc seq [--help]`` prints (``posenc seq ACTION --help`` shows an action's)."""
    parser = argparse.ArgumentParser(prog="posenc seq", description=DESCRIPTION)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    for name, text in ACTIONS.items():
        actions.add_parser(name, help=text)
    return parser


def computes(arguments: list[str]) -> bool:
    """Whether ``posenc seq ARGUMENTS`` runs an action, rather than printing the overview
    (no arguments, or ``--help`` first)."""
    return bool(arguments) and arguments[0] not in HELP_FLAGS


def run(args: argparse.Namespace) -> int:
    """Parse ``args.arguments`` with the full ``posenc seq`` parser and run its action.

    Without arguments: the overview on stderr and exit code 2; with only ``--help``: the
    overview, exit code 0; neither loads torch."""
    if not computes(args.arguments):
        overview_parser().print_help(sys.stdout if args.arguments else sys.stderr)
        return 0 if args.arguments else 2
    from posenc.cli.seq_actions import build_parser

    parser = build_parser()
    action = parser.parse_args(args.arguments)
    return int(action.handler(action))
