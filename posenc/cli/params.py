"""Parsing of ``KEY=VALUE`` command-line settings shared by the sub-commands."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any


def parse_value(text: str) -> Any:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, ``"true"``/``"false"`` -> bool, ``"none"`` -> None,
    anything else stays a string."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    return text


def parse_key_values(items: Iterable[str], flag: str = "--param") -> dict[str, Any]:
    """Parse ``KEY=VALUE`` items (``-`` in keys becomes ``_``); a malformed item raises
    ``ValueError`` naming the flag."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, separator, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not separator or not key:
            raise ValueError(f"{flag} {item!r}: expected KEY=VALUE")
        parsed[key] = parse_value(text.strip())
    return parsed


def split_unknown_options(
    argv: Sequence[str], known: Iterable[str], *, many: bool
) -> tuple[list[str], dict[str, list[str]]]:
    """Take the options that ``known`` does not name out of ``argv``.

    ``--name VALUE`` (or ``--name=VALUE``) becomes ``{"name": ["VALUE"]}``, with ``-`` in the
    name read as ``_``; with ``many`` every following token that is not an option is a value
    (``--sigma 0.01 0.02``). A flag without a value is ``true``, ``--no-name`` is ``false``.
    The command line uses this for an embedding's parameters, which it learns from the
    embedding only once it runs. A name given twice raises ``ValueError``.
    """
    known = set(known)
    kept: list[str] = []
    options: dict[str, list[str]] = {}
    tokens = list(argv)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        flag, equals, text = token.partition("=")
        if not token.startswith("--") or token == "--" or flag in known:
            kept.append(token)
            continue
        values = [text] if equals else []
        while not equals and index < len(tokens) and not tokens[index].startswith("--"):
            if values and not many:
                break
            values.append(tokens[index])
            index += 1
        name = flag[2:].replace("-", "_")
        if not values:
            negated = name.startswith("no_")
            name, values = (name[3:], ["false"]) if negated else (name, ["true"])
        if name in options:
            raise ValueError(f"--{name.replace('_', '-')} is given twice")
        options[name] = values
    return kept, options


def check_embedding_options(options: Iterable[str], flags: Iterable[str]) -> None:
    """Raise ``ValueError`` for an option that is neither one of the command's ``flags`` nor
    a parameter of any registered embedding, suggesting the closest of either."""
    from posenc.embeddings import EMBEDDINGS

    parameters = set().union(*(cls.parameter_names() for cls in EMBEDDINGS.values()))
    for name in options:
        if name in parameters:
            continue
        spelled = "--" + name.replace("_", "-")
        candidates = [*flags, *("--" + p.replace("_", "-") for p in sorted(parameters))]
        close = difflib.get_close_matches(spelled, candidates, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ValueError(
            f"unknown option {spelled}: not a flag of this command nor a parameter of any "
            f"embedding{hint}"
        )
