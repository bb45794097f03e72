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
from types import ModuleType
from typing import NoReturn

from posenc import __version__
from posenc.cli import analyze, embeddings, experiment, fit, plot, report, seq, suggest, sweep
from posenc.cli.params import check_embedding_options, split_unknown_options
from posenc.threads import use_usable_cores

COMMANDS = (embeddings, fit, suggest, analyze, sweep, plot, experiment, report, seq)
COMPUTING_COMMANDS = ("fit", "suggest", "analyze", "sweep", "experiment", "seq")
"""Commands whose tensor work runs on :func:`~posenc.threads.usable_cores` threads."""

USER_ERROR_EXIT = 2
INTERRUPTED_EXIT = 130


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors (an unknown choice, a value of the wrong type) are
    one line on stderr and exit code 2, like every other user error; sub-command parsers
    inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(USER_ERROR_EXIT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered sub-command."""
    parser = OneLineParser(
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
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((token for token in argv if not token.startswith("-")), None)
    module = _command_module(command)
    computes = True
    if module is not None and getattr(module, "PARSES_OWN_ARGUMENTS", False):
        start = argv.index(str(command)) + 1
        args = parser.parse_args(argv[:start])
        args.arguments = argv[start:]
        computes = module.computes(args.arguments)
    else:
        try:
            argv, options = _embedding_options(parser, argv, command)
        except ValueError as error:
            print(f"posenc {command}: error: {error}", file=sys.stderr)
            return USER_ERROR_EXIT
        args = parser.parse_args(argv)
        args.embedding_options = options
    if not hasattr(args, "handler"):
        parser.print_help()
        return USER_ERROR_EXIT
    if args.command in COMPUTING_COMMANDS and computes:
        use_usable_cores()
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


def _embedding_options(
    parser: argparse.ArgumentParser, argv: list[str], command: str | None
) -> tuple[list[str], dict[str, list[str]]]:
    """Take the ``--NAME VALUE`` embedding parameters of ``fit`` and ``sweep`` out of
    ``argv`` (their names come from the embedding, which the parser does not know)."""
    module = _command_module(command)
    if command is None or module is None or not hasattr(module, "MANY_VALUES"):
        return argv, {}
    if {"-h", "--help"} & set(argv):
        return argv, {}
    subparser = next(
        action.choices[command]
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    start = argv.index(command) + 1
    flags = subparser._option_string_actions
    rest, options = split_unknown_options(argv[start:], flags, many=module.MANY_VALUES)
    check_embedding_options(options, [flag for flag in flags if flag.startswith("--")])
    return argv[:start] + rest, options


def _command_module(command: str | None) -> ModuleType | None:
    """The module of the sub-command ``command``, ``None`` if there is none of that name."""
    return {module.__name__.rsplit(".", 1)[-1]: module for module in COMMANDS}.get(command or "")
