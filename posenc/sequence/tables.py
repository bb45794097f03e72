"""Position tables of sequence encodings, measured like coordinate embeddings.

A sequence position encoding's table has one row per position (index ``0..T-1``) and one
column per dimension, exactly like an embedded matrix of ``T`` coordinates on a uniform grid
of the unit domain. Its stable rank and distance preservation
(:func:`posenc.analysis.stable_rank`, :func:`posenc.analysis.grid_distance_preservation`) put
it on P1's SR/DP axes:

- ``sinusoidal``: :func:`~posenc.sequence.encodings.sinusoidal_table` ``(T, width)``;
- ``rope``: the same table at the head width, ``[sin(t w_k), cos(t w_k)]``: the inner product
  of rows ``m`` and ``n`` is ``sum_k cos((m - n) w_k)``, the rotation kernel RoPE applies;
- ``absolute``: the learned input table ``(context, width)``;
- ``relative``: one layer's learned per-distance table ``(m + 1, head_dim)``, row = distance;
- ``cope``: one layer's learned table ``e`` ``(p_max + 1, head_dim)``, row = contextual position.

Learned tables come either from a trained run's ``model.pt`` or from a fresh initialisation
with a seed. CoPE's table starts at zero, so only a trained one can be measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from posenc.analysis import grid_distance_preservation, row_similarity, stable_rank
from posenc.sequence.encodings import (
    LearnedAbsolute,
    RelativeEncoding,
    sequence_encoding,
    sinusoidal_table,
)
from posenc.sequence.model import CausalTransformer, ModelConfig


@dataclass(frozen=True)
class TableMeasure:
    """SR and DP of one position table and where the table came from."""

    pe: str
    source: str
    rows: int
    columns: int
    stable_rank: float
    distance_preservation: float
    similarity: list[float]

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return dict(self.__dict__)


def fresh_table(pe: str, length: int, width: int, heads: int, seed: int = 0) -> Tensor:
    """The table of ``pe`` for ``length`` positions as a model of this width and head count
    would build it at initialisation (``seed`` for learned tables)."""
    encoding = sequence_encoding(pe)
    head_dim = width // heads
    if pe == "sinusoidal":
        return sinusoidal_table(length, width)
    if pe == "rope":
        return sinusoidal_table(length, head_dim)
    if encoding.contextual:
        raise ValueError(
            f"a fresh {pe} table is all zeros (CoPE starts from zero): give a trained run "
            "folder to measure a learned one"
        )
    torch.manual_seed(seed)
    if pe == "absolute":
        return LearnedAbsolute(width, length).table.detach()
    return RelativeEncoding(head_dim, length - 1).table.detach()


def load_model(folder: Path) -> tuple[CausalTransformer, dict[str, Any]]:
    """The trained model of a run folder (``model.pt``, loaded with ``weights_only=True``)."""
    path = folder / "model.pt"
    if not path.is_file():
        raise OSError(f"{path}: no such file (is {folder} a finished run folder?)")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = CausalTransformer(ModelConfig(**saved["config"]["model"]))
    model.load_state_dict(saved["state_dict"])
    return model, saved["config"]


def trained_table(folder: Path, layer: int = 0) -> tuple[str, Tensor]:
    """The encoding name and position table of a trained run (``layer`` for per-layer
    tables; the fixed tables of ``sinusoidal`` and ``rope`` at the model's sizes).

    CoPE rows that training never reached are still zero; the table is cut after its last
    non-zero row. (For ``cope+relative`` the table is the CoPE one, except on a layer where
    ``cope_every`` skips CoPE, which has the relative table only.)
    """
    model, config = load_model(folder)
    pe, sizes = config["pe"], config["model"]
    if pe in ("sinusoidal", "rope"):
        return pe, fresh_table(pe, sizes["context"], sizes["width"], sizes["heads"])
    table = model.position_table(layer)
    if sequence_encoding(pe).contextual:
        used = torch.nonzero(table.abs().sum(dim=1)).flatten()
        table = table[: int(used.max()) + 1] if len(used) else table
    return pe, table


def measure_table(pe: str, table: Tensor, source: str) -> TableMeasure:
    """Stable rank and distance preservation of ``table`` (rows = positions), and the
    similarity of every unit-norm row to the centre row."""
    if bool((table.norm(dim=1) == 0).any()):
        raise ValueError(f"{pe} ({source}): the table has an all-zero row, DP is undefined")
    return TableMeasure(
        pe=pe,
        source=source,
        rows=table.shape[0],
        columns=table.shape[1],
        stable_rank=stable_rank(table),
        distance_preservation=grid_distance_preservation(table, (table.shape[0],)),
        similarity=row_similarity(table, table.shape[0] // 2).tolist(),
    )
