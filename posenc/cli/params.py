"""Parsing of ``KEY=VALUE`` command-line settings shared by the sub-commands."""

from __future__ import annotations

from collections.abc import Iterable
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
