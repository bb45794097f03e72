"""Position encodings for causal attention, where a token's index is its coordinate.

Two places an encoding can act:

- the input, by adding a table row ``P[t]`` to the embedding of the token at index ``t``
  (``absolute``: a learned table; ``sinusoidal``: the Transformer's fixed table);
- the attention of every layer (``relative``, ``rope``, ``cope``), through an
  :class:`AttentionEncoding` that computes the layer's causal attention from per-head queries,
  keys and values ``(B, H, T, d)`` with its positions put into the logits.

With ``q_i``, ``k_j`` the per-head query and key and ``d`` the head width:

============  ==============================================================================
absolute      ``x_t = tok_t + P[t]``, ``P`` learned, initialised ``N(0, 1/width)``
sinusoidal    ``x_t = tok_t + S[t]``, ``S`` the Transformer's table (see
              :func:`sinusoidal_table`), rows of unit norm
relative      ``logit_ij = (q_i . k_j + q_i . r[min(i - j, m)]) / sqrt(d)``: one learned
              vector per distance (a per-distance bias that depends on the query), one table
              ``r`` per layer shared by the heads
rope          ``logit_ij = (R_i q_i) . (R_j k_j) / sqrt(d)``, ``R_t`` rotates each pair of
              dimensions by ``t w_k``, ``w_k = 10000^(-2k/d)``
cope          ``logit_ij = (q_i . k_j + q_i . e[p_ij]) / sqrt(d)`` with contextual positions
              ``p_ij = min(sum_{k=j..i} sigmoid(q_i . k_k / sqrt(d)), p_max)`` and ``e[p]``
              linearly interpolated between ``e[floor p]`` and ``e[ceil p]``; one table
              ``e`` of ``p_max + 1`` rows per layer shared by the heads, initialised to zero
cope+relative ``cope`` plus the ``relative`` bias ``q_i . r[min(i - j, m)] / sqrt(d)``, each with
              its own table
============  ==============================================================================

CoPE follows Golovneva et al. (arXiv 2405.18719) and its official code: the gates use the
same scaled logits as the attention, positions are summed from the query back (the query
itself counts), and the position term is computed cheaply as ``z_i[p] = q_i . e[p]`` for every
integer ``p`` with one matrix product, then gathered at ``floor p`` and ``ceil p`` and blended.
The official code's variants are options of :class:`ContextualEncoding` (gates from a separate
key or from the values, no division of the position term) and of the model (``p_max``, CoPE on
every k-th layer only, one table shared by the layers; see
:class:`posenc.sequence.model.ModelConfig`).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from posenc import validation
from posenc.embeddings import LogFourierEmbedding

TRANSFORMER_BASE = 10000.0
"""The Transformer's wavelength base: angular frequencies ``base^(-2k/d)``."""


def sinusoidal_table(length: int, dim: int, base: float = TRANSFORMER_BASE) -> Tensor:
    """The Transformer's sinusoidal table ``(length, dim)`` at integer positions ``0..length-1``.

    Column pair ``k`` holds ``sin(t w_k)`` and ``cos(t w_k)`` with ``w_k = base^(-2k/dim)``,
    ``k = 0..dim/2-1``. These frequencies are log-spaced, so the table is exactly LogF Fourier
    features ``[sin(2 pi f u), cos(2 pi f u)]``, ``f = 2^linspace(0, p, dim/2)``, of the scaled
    coordinate ``u = t w_min / (2 pi)`` with ``w_min = base^(-(dim-2)/dim)`` and
    ``p = log2(w_max / w_min)``. It is built that way, so the columns come as LogF orders them
    (all sines, then all cosines, frequencies ascending): a column permutation of Vaswani et
    al.'s interleaved layout, which changes neither inner products nor what a model can learn.
    Computed in float64 and returned as float32.
    """
    if length < 1 or dim < 2 or dim % 2:
        raise ValueError(
            f"a sinusoidal table needs length >= 1 and an even dim >= 2, got {length} x {dim}"
        )
    if not math.isfinite(base) or base <= 1:
        raise ValueError(f"the sinusoidal base must be a finite number > 1, got {base!r}")
    lowest = base ** (-(dim - 2) / dim)
    fourier = LogFourierEmbedding(
        p=math.log2(1.0 / lowest),
        num_frequencies=dim // 2,
        normalization="none",
        dtype=torch.float64,
    )
    positions = torch.arange(length, dtype=torch.float64)
    return fourier(positions * (lowest / (2 * math.pi))).to(torch.float32)


def causal_mask(length: int, device: torch.device) -> Tensor:
    """``(T, T)`` boolean matrix, true where key ``j <= query i``."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


# ------------------------------------------------------------------------ input encodings
class LearnedAbsolute(nn.Module):
    """Adds a learned row ``P[t]`` to the token at index ``t`` (``N(0, 1/width)`` init)."""

    def __init__(self, width: int, context: int) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(context, width) / math.sqrt(width))

    def forward(self, x: Tensor) -> Tensor:
        """``x`` of shape ``(B, T, width)`` plus the first ``T`` rows."""
        return x + self.table[: x.shape[1]]


class SinusoidalAbsolute(nn.Module):
    """Adds the fixed Transformer row ``S[t]``, divided by the largest row norm (rows are unit).

    The division is P1's normalisation of an embedded set; it puts the fixed table on the scale
    of the learned one, whose rows have expected norm 1.
    """

    table: Tensor

    def __init__(self, width: int, context: int) -> None:
        super().__init__()
        table = sinusoidal_table(context, width)
        self.register_buffer("table", table / table.norm(dim=1).max())

    def forward(self, x: Tensor) -> Tensor:
        """``x`` of shape ``(B, T, width)`` plus the first ``T`` rows."""
        return x + self.table[: x.shape[1]]


# -------------------------------------------------------------------- attention encodings
class AttentionEncoding(nn.Module):
    """How one layer's attention uses positions; this base class adds none.

    ``forward(q, k, v)`` is the causal attention ``softmax(logits) v`` of per-head queries,
    keys and values ``(B, H, T, d)``; :meth:`logits` returns the causal logits ``(B, H, T, T)``
    themselves (future keys at ``-inf``). Here the logits are ``q_i . k_j / sqrt(d)`` and the
    attention is PyTorch's fused causal kernel.
    """

    def forward(self, q: Tensor, k: Tensor, v: Tensor, dropout: float = 0.0) -> Tensor:
        """``softmax(logits) v`` with attention dropout ``dropout``."""
        return nn.functional.scaled_dot_product_attention(
            q, k, v, dropout_p=dropout, is_causal=True
        )

    def logits(self, q: Tensor, k: Tensor) -> Tensor:
        """Causal logits ``(B, H, T, T)``."""
        return masked(content_logits(q, k))


def content_logits(q: Tensor, k: Tensor) -> Tensor:
    """``q_i . k_j / sqrt(d)`` for every pair, no mask."""
    return (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])


def masked(logits: Tensor) -> Tensor:
    """``logits`` with every future key (``j > i``) set to ``-inf``."""
    mask = causal_mask(logits.shape[-1], logits.device)
    return logits.masked_fill(~mask, float("-inf"))


class RotaryEncoding(AttentionEncoding):
    """RoPE: rotate each query and key by its index before the dot product.

    Dimension ``m`` is paired with ``m + d/2``; pair ``k`` at index ``t`` is rotated by the
    angle ``t w_k`` of :func:`sinusoidal_table` (``w_k = 10000^(-2k/d)``), so
    ``(R_i q) . (R_j k)`` depends on the indices only through ``i - j``.
    """

    sin: Tensor
    cos: Tensor

    def __init__(self, head_dim: int, context: int) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rope needs an even head width, got {head_dim}")
        sin, cos = sinusoidal_table(context, head_dim).chunk(2, dim=1)
        self.register_buffer("sin", sin)
        self.register_buffer("cos", cos)

    def rotate(self, x: Tensor) -> Tensor:
        """Rotate ``x`` of shape ``(B, H, T, d)`` by its index along ``T``."""
        length = x.shape[-2]
        sin, cos = self.sin[:length], self.cos[:length]
        first, second = x.chunk(2, dim=-1)
        return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, dropout: float = 0.0) -> Tensor:
        return super().forward(self.rotate(q), self.rotate(k), v, dropout)

    def logits(self, q: Tensor, k: Tensor) -> Tensor:
        return super().logits(self.rotate(q), self.rotate(k))


class TableEncoding(AttentionEncoding):
    """Base of the encodings that add ``q_i . e[p_ij] / sqrt(d)`` for a learned table ``e``.

    ``e`` has ``max_position + 1`` rows of width ``head_dim``; ``z_i[p] = q_i . e[p]`` is
    computed once for the integer positions a sequence of length ``T`` can reach, then
    gathered at each pair's position ``p_ij``. Subclasses override :meth:`logits`; the
    attention is the explicit ``softmax(logits) v``.
    """

    def __init__(self, head_dim: int, max_position: int, init_std: float) -> None:
        super().__init__()
        if max_position < 1:
            raise ValueError(f"max_position must be >= 1, got {max_position}")
        self.max_position = max_position
        self.table = nn.Parameter(torch.zeros(max_position + 1, head_dim))
        if init_std > 0:
            nn.init.normal_(self.table, std=init_std)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, dropout: float = 0.0) -> Tensor:
        return attend(self.logits(q, k), v, dropout)

    def integer_logits(self, q: Tensor, reachable: int, scaled: bool = True) -> Tensor:
        """``z[..., p] = q . e[p]`` for ``p = 0..min(reachable, max_position)``, divided by
        ``sqrt(d)`` when ``scaled``."""
        rows = min(reachable, self.max_position) + 1
        z = q @ self.table[:rows].T
        return z / math.sqrt(q.shape[-1]) if scaled else z


def attend(logits: Tensor, v: Tensor, dropout: float) -> Tensor:
    """``softmax(logits) v`` with dropout ``dropout`` on the attention weights."""
    weights = torch.softmax(logits, dim=-1)
    return nn.functional.dropout(weights, dropout, training=dropout > 0) @ v


class RelativeEncoding(TableEncoding):
    """Learned relative positions: bias ``q_i . r[min(i - j, m)] / sqrt(d)``.

    ``r`` (``m + 1`` rows, ``N(0, 1/d)`` init) holds one vector per distance; distances beyond
    ``m`` share the last row.
    """

    def __init__(self, head_dim: int, max_position: int) -> None:
        super().__init__(head_dim, max_position, init_std=1 / math.sqrt(head_dim))

    def distances(self, length: int, device: torch.device) -> Tensor:
        """``(T, T)`` table index ``min(max(i - j, 0), m)``."""
        index = torch.arange(length, device=device)
        return (index[:, None] - index[None, :]).clamp(0, self.max_position)

    def bias(self, q: Tensor) -> Tensor:
        """``q_i . r[min(max(i - j, 0), m)] / sqrt(d)`` for every pair ``(B, H, T, T)``, no mask."""
        length = q.shape[-2]
        z = self.integer_logits(q, length - 1)
        index = self.distances(length, q.device).expand(*q.shape[:-2], length, length)
        return z.gather(-1, index)

    def logits(self, q: Tensor, k: Tensor) -> Tensor:
        return masked(content_logits(q, k) + self.bias(q))


COPE_GATES = ("key", "separate_key", "value")
"""What a CoPE query is compared with to compute its gates: the attention's keys (the paper),
the keys of a separate projection, or the values."""


class ContextualEncoding(TableEncoding):
    """CoPE: positions counted by gates ``sigmoid(q_i . c_j / sqrt(d))``, interpolated table.

    ``p_ij = min(sum_{k=j..i} g_ik, p_max)`` (zero gates for future keys), then
    ``e[p] = (p - floor p) e[ceil p] + (1 - p + floor p) e[floor p]`` and the logits are

        ``logit_ij = q_i . k_j / sqrt(d) + q_i . e[p_ij] / s  (+ q_i . r[min(i - j, m)] / sqrt(d))``

    The variants of the official code, each an argument (defaults: the paper's CoPE):

    - ``gates``: ``c_j`` is the key ``k_j`` (``"key"``), the key of a separate projection,
      passed to :meth:`forward` as ``gate_keys`` (``"separate_key"``), or the value ``v_j``
      (``"value"``). The gate logits are always divided by ``sqrt(d)``.
    - ``scaled``: ``s = sqrt(d)``; ``False`` is the official "no division" variant, ``s = 1``,
      where only the content (and relative) term is divided.
    - ``relative``: CoPE + relative, adding the bias of a :class:`RelativeEncoding` with its own
      table (``m = max_position``).

    The table starts at zero, as in the official code. With ``keep_maps`` set, the last gates
    and positions are kept in :attr:`last_gates` and :attr:`last_positions` for plotting.
    """

    def __init__(
        self,
        head_dim: int,
        max_position: int,
        gates: str = "key",
        scaled: bool = True,
        relative: bool = False,
    ) -> None:
        super().__init__(head_dim, max_position, init_std=0.0)
        self.gates = validation.choice("cope gates", gates, COPE_GATES)
        self.scaled = scaled
        self.relative = RelativeEncoding(head_dim, max_position) if relative else None
        self.keep_maps = False
        self.last_gates: Tensor | None = None
        self.last_positions: Tensor | None = None

    def gates_and_positions(self, gate_logits: Tensor) -> tuple[Tensor, Tensor]:
        """Causal gates ``sigmoid(gate_logits)`` and positions summed from the query back to
        each key, clamped to ``p_max``.

        A position is at most the sequence length ``T``, so the clamp is to ``min(T, p_max)``,
        the last row of :meth:`integer_logits`. ``fmin`` also maps a NaN position (from
        non-finite logits of a diverged model) to that row, so the table lookup stays in range
        and the NaN reaches the logits through the content term instead of an index error.
        """
        length = gate_logits.shape[-1]
        gates = torch.sigmoid(gate_logits) * causal_mask(length, gate_logits.device)
        positions = gates.flip(-1).cumsum(-1).flip(-1)
        return gates, positions.fmin(positions.new_tensor(min(length, self.max_position)))

    def forward(
        self, q: Tensor, k: Tensor, v: Tensor, dropout: float = 0.0, gate_keys: Tensor | None = None
    ) -> Tensor:
        """``softmax(logits) v``; ``gate_keys`` ``(B, H, T, d)`` for ``"separate_key"`` gates."""
        return attend(self.logits(q, k, v if self.gates == "value" else gate_keys), v, dropout)

    def logits(self, q: Tensor, k: Tensor, gate_keys: Tensor | None = None) -> Tensor:
        """Causal logits ``(B, H, T, T)``; ``gate_keys`` are the ``c_j`` of ``"separate_key"``
        and ``"value"`` gates (ignored for ``"key"`` gates)."""
        content = content_logits(q, k)
        if self.gates == "key":
            gate_logits = content
        elif gate_keys is None:
            raise ValueError(f"cope with {self.gates} gates needs the gate keys")
        else:
            gate_logits = content_logits(q, gate_keys)
        gates, positions = self.gates_and_positions(gate_logits)
        if self.keep_maps:
            self.last_gates, self.last_positions = gates.detach(), positions.detach()
        z = self.integer_logits(q, content.shape[-1], self.scaled)
        lower = positions.floor()
        upper_weight = positions - lower
        at_lower = z.gather(-1, lower.long())
        at_upper = z.gather(-1, positions.ceil().long())
        logits = content + at_lower + upper_weight * (at_upper - at_lower)
        if self.relative is not None:
            logits = logits + self.relative.bias(q)
        return masked(logits)


@dataclass(frozen=True)
class CopeOptions:
    """The per-layer CoPE variants (see :class:`ContextualEncoding`)."""

    gates: str = "key"
    scaled: bool = True


# ------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class SequenceEncoding:
    """A position encoding by name: what it is and how the model builds its parts.

    ``make_input(width, context)`` returns the module applied to the token embeddings (or
    ``None``); ``make_attention(head_dim, context, max_position, cope)`` returns one layer's
    :class:`AttentionEncoding`. ``max_position`` is CoPE's ``p_max`` and the relative table's
    largest distance. ``cope`` holds the CoPE variants of the layer, or is ``None`` on a layer
    where CoPE is skipped (such a layer of a ``contextual`` encoding keeps its other parts: no
    position for ``cope``, the relative bias for ``cope+relative``); other encodings ignore it.
    """

    name: str
    summary: str
    make_input: Callable[[int, int], nn.Module | None]
    make_attention: Callable[[int, int, int, CopeOptions | None], AttentionEncoding]
    learned_table: bool
    contextual: bool = False


def _no_input(width: int, context: int) -> None:
    return None


def _plain(head_dim: int, context: int, max_position: int, cope: CopeOptions | None):
    return AttentionEncoding()


def _cope(head_dim: int, context: int, max_position: int, cope: CopeOptions | None):
    if cope is None:
        return AttentionEncoding()
    return ContextualEncoding(head_dim, max_position, cope.gates, cope.scaled)


def _cope_relative(head_dim: int, context: int, max_position: int, cope: CopeOptions | None):
    if cope is None:
        return RelativeEncoding(head_dim, max_position)
    return ContextualEncoding(head_dim, max_position, cope.gates, cope.scaled, relative=True)


SEQUENCE_ENCODINGS: dict[str, SequenceEncoding] = {
    encoding.name: encoding
    for encoding in (
        SequenceEncoding(
            "absolute",
            "learned absolute table added to the token embeddings",
            LearnedAbsolute,
            _plain,
            learned_table=True,
        ),
        SequenceEncoding(
            "sinusoidal",
            "the Transformer's fixed sin/cos table (LogF features of the index)",
            SinusoidalAbsolute,
            _plain,
            learned_table=False,
        ),
        SequenceEncoding(
            "relative",
            "learned vector per distance i-j, added to the logits as q.r[i-j]",
            _no_input,
            lambda head_dim, context, max_position, cope: RelativeEncoding(head_dim, max_position),
            learned_table=True,
        ),
        SequenceEncoding(
            "rope",
            "rotary: queries and keys rotated by index (base 10000)",
            _no_input,
            lambda head_dim, context, max_position, cope: RotaryEncoding(head_dim, context),
            learned_table=False,
        ),
        SequenceEncoding(
            "cope",
            "contextual: positions are sums of gates sigmoid(q.k), interpolated table",
            _no_input,
            _cope,
            learned_table=True,
            contextual=True,
        ),
        SequenceEncoding(
            "cope+relative",
            "cope plus the relative bias q.r[i-j], each with its own table",
            _no_input,
            _cope_relative,
            learned_table=True,
            contextual=True,
        ),
    )
}
"""Every sequence position encoding, by name."""


def sequence_encoding(name: str) -> SequenceEncoding:
    """The encoding registered as ``name``; unknown names raise ``ValueError``."""
    if name in SEQUENCE_ENCODINGS:
        return SEQUENCE_ENCODINGS[name]
    close = difflib.get_close_matches(name, SEQUENCE_ENCODINGS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"unknown position encoding {name!r}{hint} (available: {', '.join(SEQUENCE_ENCODINGS)})"
    )
