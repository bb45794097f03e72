"""The identity of a run and of a sweep: hashes of their resolved configs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from posenc.config import FitConfig

KEY_LENGTH = 16
"""Hex digits of a run key (64 bits of SHA-256)."""


def runs_key(keys: Sequence[str]) -> str:
    """A hash of the sorted run keys: the identity of a sweep."""
    return _digest(sorted(keys))


def run_key(config: FitConfig) -> str:
    """The run's identity: SHA-256 of its config as canonical JSON, first 16 hex digits."""
    return _digest(config.to_dict())


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]
