"""A small causal transformer whose attention takes a pluggable position encoding.

Token embedding (``N(0, 1/width)``), optional input position table, ``layers`` blocks of
multi-head causal self-attention and a 4x GELU MLP, each wrapped in a residual connection with
LayerNorm before (``norm="pre"``) or after (``norm="post"``, the CoPE paper's setting), and a
linear read-out tied to the token embedding by default. The position encoding is one of
:data:`posenc.sequence.encodings.SEQUENCE_ENCODINGS`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from posenc import validation
from posenc.sequence.encodings import (
    COPE_GATES,
    AttentionEncoding,
    ContextualEncoding,
    CopeOptions,
    LearnedAbsolute,
    TableEncoding,
    sequence_encoding,
)

NORMS = ("pre", "post")
COPE_OPTIONS = ("cope_gates", "cope_scaled", "cope_every", "cope_shared_table")
"""The CoPE variant fields of :class:`ModelConfig`."""


@dataclass(frozen=True)
class ModelConfig:
    """Every hyper-parameter of :class:`CausalTransformer`.

    ``context`` is the longest sequence the model accepts (the size of absolute tables);
    ``max_position`` is CoPE's ``p_max`` and the relative table's largest distance (``None``:
    ``context``, as in the official code where the table has ``context + 1`` rows).

    The CoPE variants of the official code (for ``cope`` and ``cope+relative`` only; the
    defaults are the paper's CoPE): ``cope_gates`` (``key``, ``separate_key`` or ``value``,
    see :class:`~posenc.sequence.encodings.ContextualEncoding`), ``cope_scaled`` (``False``:
    the position term is not divided by ``sqrt(d)``), ``cope_every`` (CoPE on layers
    ``k - 1, 2k - 1, ...`` only, counting from 0; the other layers attend without it) and
    ``cope_shared_table`` (one CoPE table for every CoPE layer; the relative tables of
    ``cope+relative`` stay one per layer).
    """

    vocab_size: int
    context: int
    pe: str = "cope"
    layers: int = 2
    width: int = 64
    heads: int = 4
    norm: str = "pre"
    dropout: float = 0.0
    max_position: int | None = None
    tie_embeddings: bool = True
    cope_gates: str = "key"
    cope_scaled: bool = True
    cope_every: int = 1
    cope_shared_table: bool = False

    def __post_init__(self) -> None:
        sequence_encoding(self.pe)
        for name in ("vocab_size", "context", "layers", "width", "heads"):
            validation.positive_int(name, getattr(self, name))
        validation.choice("norm", self.norm, NORMS)
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.width % self.heads:
            raise ValueError(
                f"width {self.width} must be divisible by the number of heads {self.heads}"
            )
        if self.pe == "rope" and self.head_dim % 2:
            raise ValueError(f"rope needs an even head width, got width/heads = {self.head_dim}")
        if self.pe == "sinusoidal" and self.width % 2:
            raise ValueError(f"the sinusoidal table needs an even width, got {self.width}")
        if self.max_position is not None:
            validation.positive_int("max_position", self.max_position)
        self._check_cope_options()

    def _check_cope_options(self) -> None:
        validation.choice("cope_gates", self.cope_gates, COPE_GATES)
        for name in ("cope_scaled", "cope_shared_table"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        validation.positive_int("cope_every", self.cope_every)
        if self.cope_every > self.layers:
            raise ValueError(
                f"cope_every {self.cope_every} leaves no CoPE layer among {self.layers} layers"
            )
        changed = [
            name
            for name in COPE_OPTIONS
            if getattr(self, name) != ModelConfig.__dataclass_fields__[name].default
        ]
        if changed and not sequence_encoding(self.pe).contextual:
            raise ValueError(
                f"{', '.join(changed)} apply to the cope encodings only, not to {self.pe}"
            )

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.width // self.heads

    @property
    def resolved_max_position(self) -> int:
        """``max_position``, or ``context`` when unset."""
        return self.context if self.max_position is None else self.max_position

    def cope_layer(self, layer: int) -> CopeOptions | None:
        """The CoPE variants of ``layer`` (counting from 0), ``None`` where CoPE is skipped."""
        if (layer + 1) % self.cope_every:
            return None
        return CopeOptions(gates=self.cope_gates, scaled=self.cope_scaled)

    def as_dict(self) -> dict[str, Any]:
        """Plain-type fields, with ``max_position`` resolved."""
        return {**asdict(self), "max_position": self.resolved_max_position}


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention whose logits come from a position encoding."""

    def __init__(self, config: ModelConfig, position: AttentionEncoding) -> None:
        super().__init__()
        self.heads = config.heads
        self.qkv = nn.Linear(config.width, 3 * config.width)
        separate = isinstance(position, ContextualEncoding) and position.gates == "separate_key"
        self.gate_key = nn.Linear(config.width, config.width) if separate else None
        self.out = nn.Linear(config.width, config.width)
        self.position = position
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, T, width)`` to ``(B, T, width)``; position ``i`` sees positions ``<= i``."""
        batch, length, width = x.shape
        q, k, v = (
            self.qkv(x).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        )
        dropout = self.dropout.p if self.training else 0.0
        if self.gate_key is None:
            mixed = self.position(q, k, v, dropout)
        else:
            gate_keys = self.gate_key(x).view(batch, length, self.heads, -1).transpose(1, 2)
            mixed = self.position(q, k, v, dropout, gate_keys=gate_keys)
        mixed = mixed.transpose(1, 2).reshape(batch, length, width)
        return self.dropout(self.out(mixed))


class Block(nn.Module):
    """Attention and MLP sub-layers with residuals, LayerNorm before or after each."""

    def __init__(self, config: ModelConfig, position: AttentionEncoding) -> None:
        super().__init__()
        self.pre_norm = config.norm == "pre"
        self.attention = CausalSelfAttention(config, position)
        self.mlp = nn.Sequential(
            nn.Linear(config.width, 4 * config.width),
            nn.GELU(),
            nn.Linear(4 * config.width, config.width),
            nn.Dropout(config.dropout),
        )
        self.attention_norm = nn.LayerNorm(config.width)
        self.mlp_norm = nn.LayerNorm(config.width)

    def forward(self, x: Tensor) -> Tensor:
        if self.pre_norm:
            x = x + self.attention(self.attention_norm(x))
            return x + self.mlp(self.mlp_norm(x))
        x = self.attention_norm(x + self.attention(x))
        return self.mlp_norm(x + self.mlp(x))


class CausalTransformer(nn.Module):
    """Decoder-only transformer: token ids ``(B, T)`` to next-token logits ``(B, T, vocab)``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        encoding = sequence_encoding(config.pe)
        self.tokens = nn.Embedding(config.vocab_size, config.width)
        nn.init.normal_(self.tokens.weight, std=1 / math.sqrt(config.width))
        self.input_position = encoding.make_input(config.width, config.context)
        self.blocks = nn.ModuleList(
            Block(
                config,
                encoding.make_attention(
                    config.head_dim,
                    config.context,
                    config.resolved_max_position,
                    config.cope_layer(layer),
                ),
            )
            for layer in range(config.layers)
        )
        if config.cope_shared_table:
            first, *others = self.cope_layers().values()
            for encoding_of_layer in others:
                encoding_of_layer.table = first.table
        self.dropout = nn.Dropout(config.dropout)
        self.final_norm = nn.LayerNorm(config.width) if config.norm == "pre" else nn.Identity()
        self.head = nn.Linear(config.width, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.head.weight = self.tokens.weight

    def forward(self, tokens: Tensor) -> Tensor:
        """Logits for the token after each position of ``tokens`` ``(B, T)``, ``T <= context``."""
        if tokens.shape[-1] > self.config.context:
            raise ValueError(
                f"sequence of length {tokens.shape[-1]} exceeds the model context "
                f"{self.config.context}"
            )
        x = self.tokens(tokens)
        if self.input_position is not None:
            x = self.input_position(x)
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.final_norm(x))

    def cope_layers(self) -> dict[int, ContextualEncoding]:
        """The CoPE attention encodings, by layer (empty for other encodings)."""
        return {
            index: encoding
            for index, encoding in enumerate(self.attention_encodings())
            if isinstance(encoding, ContextualEncoding)
        }

    def attention_encodings(self) -> list[AttentionEncoding]:
        """The position encoding of every layer's attention, in layer order."""
        return [cast(Block, block).attention.position for block in self.blocks]

    @torch.no_grad()
    def contextual_maps(self, tokens: Tensor) -> dict[int, tuple[Tensor, Tensor]]:
        """CoPE gates and positions ``(B, H, T, T)`` of every CoPE layer, by layer, for
        ``tokens`` (in evaluation mode)."""
        layers = self.cope_layers()
        if not layers:
            raise ValueError(
                f"gate and position maps need a cope model, this one is {self.config.pe}"
            )
        was_training = self.training
        self.eval()
        for encoding in layers.values():
            encoding.keep_maps = True
        try:
            self(tokens)
            maps = {}
            for index, encoding in layers.items():
                assert encoding.last_gates is not None and encoding.last_positions is not None
                maps[index] = (encoding.last_gates, encoding.last_positions)
            return maps
        finally:
            self.train(was_training)
            for encoding in layers.values():
                encoding.keep_maps = False
                encoding.last_gates = encoding.last_positions = None

    def position_table(self, layer: int = 0) -> Tensor:
        """The learned position table, rows = positions: the absolute input table, or the
        per-distance (relative) or per-contextual-position (cope, cope+relative) table of
        ``layer``."""
        if isinstance(self.input_position, LearnedAbsolute):
            return self.input_position.table.detach()
        if not 0 <= layer < len(self.blocks):
            raise ValueError(f"layer must be in 0..{len(self.blocks) - 1}, got {layer}")
        encoding = self.attention_encodings()[layer]
        if not isinstance(encoding, TableEncoding):
            raise ValueError(
                f"layer {layer} of this {self.config.pe} model has no learned position table"
            )
        return encoding.table.detach()
