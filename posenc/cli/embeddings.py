"""``posenc embeddings [NAME]``: list the registered embeddings or describe one."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from posenc.embeddings.registry import EmbeddingInfo, ParameterInfo


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``embeddings`` sub-command."""
    parser = subparsers.add_parser(
        "embeddings",
        help="list the embeddings, or describe one",
        description="List every registered embedding (name, family, bandwidth parameter, "
        "defaults, formula), or describe one in detail.",
    )
    parser.add_argument("name", nargs="?", help="an embedding to describe in detail")
    parser.add_argument(
        "--json", action="store_true", help="print JSON instead of a table (default: table)"
    )
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the table, or one embedding's details."""
    from posenc.embeddings import describe_embedding, embedding_names
    from posenc.tables import embedding_catalog

    names = [args.name] if args.name else embedding_names()
    infos = [describe_embedding(name) for name in names]
    if args.json:
        print(json.dumps([_as_json(info) for info in infos], indent=2))
    elif args.name:
        print(_details(infos[0]))
    else:
        print(embedding_catalog(names))
    return 0


def _details(info: EmbeddingInfo) -> str:
    from posenc.embeddings import embedding_class

    cls = embedding_class(info.name)
    lines = [
        f"{info.name} ({info.family} family)",
        f"  {info.summary}",
        f"  formula:      {info.formula}",
        f"  bandwidth:    {info.bandwidth_name or 'none'}",
        f"  compositions: {', '.join(cls.compositions)}",
        "  parameters:",
    ]
    width = max(len(parameter.name) for parameter in info.parameters)
    lines += [_parameter_line(parameter, width) for parameter in info.parameters]
    return "\n".join(lines)


def _parameter_line(parameter: ParameterInfo, width: int) -> str:
    return f"    {parameter.name.ljust(width)}  {parameter.shown_default:<18}  {parameter.help}"


def _as_json(info: EmbeddingInfo) -> dict[str, Any]:
    from posenc.embeddings import embedding_class

    return {
        "name": info.name,
        "family": info.family,
        "formula": info.formula,
        "bandwidth": info.bandwidth_name,
        "summary": info.summary,
        "compositions": list(embedding_class(info.name).compositions),
        "parameters": [
            {"name": p.name, "default": p.shown_default, "help": p.help} for p in info.parameters
        ],
    }
