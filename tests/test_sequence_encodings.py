"""Sequence position encodings: formulas, CoPE against its direct evaluation, causality."""

from __future__ import annotations

import math

import pytest
import torch

from posenc.sequence.encodings import (
    SEQUENCE_ENCODINGS,
    AttentionEncoding,
    ContextualEncoding,
    RelativeEncoding,
    RotaryEncoding,
    sequence_encoding,
    sinusoidal_table,
)
from posenc.sequence.model import CausalTransformer, ModelConfig


def _qkv(seed: int, batch: int = 2, heads: int = 2, length: int = 9, dim: int = 6):
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, heads, length, dim, generator=generator, dtype=torch.float64)
        for _ in range(3)
    ]


def test_sinusoidal_table_is_the_transformer_table_up_to_column_order():
    length, dim = 50, 16
    table = sinusoidal_table(length, dim)
    positions = torch.arange(length, dtype=torch.float64)[:, None]
    frequencies = 10000.0 ** (-2 * torch.arange(dim // 2, dtype=torch.float64) / dim)
    # Vaswani et al.: PE[t, 2k] = sin(t w_k), PE[t, 2k + 1] = cos(t w_k).
    vaswani = torch.stack(
        [torch.sin(positions * frequencies), torch.cos(positions * frequencies)], dim=2
    ).reshape(length, dim)
    # LogF order: sines then cosines, frequencies ascending (w_k descends with k).
    order = [2 * k for k in reversed(range(dim // 2))] + [
        2 * k + 1 for k in reversed(range(dim // 2))
    ]
    assert table.dtype == torch.float32
    torch.testing.assert_close(table.double(), vaswani[:, order], atol=1e-6, rtol=0)


@pytest.mark.parametrize(("length", "dim"), [(0, 8), (8, 7), (8, 0)])
def test_sinusoidal_table_rejects_bad_sizes(length, dim):
    with pytest.raises(ValueError, match="sinusoidal table"):
        sinusoidal_table(length, dim)


def _direct_cope_logits(q, k, table, max_position):
    """O(T^2 p_max) evaluation straight from the formulas: gates summed per pair, the
    fractional position interpolated with hat weights max(0, 1 - |p - r|) over every row r."""
    batch, heads, length, dim = q.shape
    logits = torch.full((batch, heads, length, length), -math.inf, dtype=q.dtype)
    rows = torch.arange(table.shape[0], dtype=q.dtype)
    for b in range(batch):
        for h in range(heads):
            for i in range(length):
                for j in range(i + 1):
                    gates = [
                        torch.sigmoid(q[b, h, i] @ k[b, h, t] / math.sqrt(dim))
                        for t in range(j, i + 1)
                    ]
                    position = min(float(sum(gates)), max_position)
                    weights = (1 - (rows - position).abs()).clamp(min=0)
                    embedding = weights @ table
                    logits[b, h, i, j] = q[b, h, i] @ (k[b, h, j] + embedding) / math.sqrt(dim)
    return logits


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("max_position", [2, 4, 20])
def test_cope_equals_its_direct_evaluation(max_position, dtype):
    q, k, v = _qkv(seed=max_position)
    cope = ContextualEncoding(head_dim=q.shape[-1], max_position=max_position).double()
    with torch.no_grad():
        cope.table.normal_(generator=torch.Generator().manual_seed(7))
    direct = _direct_cope_logits(q, k, cope.table.detach(), max_position)
    fast = cope.to(dtype)
    logits = fast.logits(q.to(dtype), k.to(dtype)).double()
    torch.testing.assert_close(logits, direct, atol=1e-5, rtol=0)
    output = fast(q.to(dtype), k.to(dtype), v.to(dtype)).double()
    torch.testing.assert_close(output, torch.softmax(direct, dim=-1) @ v, atol=1e-5, rtol=0)


def test_cope_positions_count_gates_from_the_query_back_and_clamp():
    cope = ContextualEncoding(head_dim=4, max_position=3)
    content = torch.zeros(1, 1, 6, 6)  # every gate is sigmoid(0) = 1/2
    gates, positions = cope.gates_and_positions(content)
    assert torch.equal(gates, torch.full_like(gates, 0.5).tril())
    expected = ((torch.arange(6)[:, None] - torch.arange(6)[None, :] + 1) * 0.5).clamp(0, 3)
    assert torch.equal(positions[0, 0], expected.tril())


def test_cope_with_nan_logits_gives_nan_not_an_index_error():
    q, k, v = _qkv(seed=5)
    q[0, 1, 4, 2] = math.nan  # one query of one head, as after a diverged update
    cope = ContextualEncoding(head_dim=q.shape[-1], max_position=20).double()
    _, positions = cope.gates_and_positions(q @ k.transpose(-1, -2))
    assert positions.max() == q.shape[-2]
    output = cope(q, k, v)
    assert output[0, 1, 4].isnan().all()
    output[0, 1, 4] = 0.0
    assert torch.isfinite(output).all()


def test_cope_table_starts_at_zero_so_it_starts_as_plain_attention():
    q, k, v = _qkv(seed=3)
    cope = ContextualEncoding(head_dim=q.shape[-1], max_position=8).double()
    torch.testing.assert_close(cope(q, k, v), AttentionEncoding()(q, k, v))


def test_relative_equals_direct_distance_lookup():
    q, k, v = _qkv(seed=5)
    relative = RelativeEncoding(head_dim=q.shape[-1], max_position=4).double()
    table = relative.table.detach()
    length, dim = q.shape[2], q.shape[3]
    expected = torch.full((*q.shape[:2], length, length), -math.inf, dtype=q.dtype)
    for i in range(length):
        for j in range(i + 1):
            row = table[min(i - j, 4)]
            expected[:, :, i, j] = (q[:, :, i] * (k[:, :, j] + row)).sum(-1) / math.sqrt(dim)
    torch.testing.assert_close(relative.logits(q, k), expected)
    torch.testing.assert_close(relative(q, k, v), torch.softmax(expected, dim=-1) @ v)


def test_rope_logits_depend_only_on_the_distance():
    rope = RotaryEncoding(head_dim=8, context=40)
    generator = torch.Generator().manual_seed(0)
    query, key = torch.randn(2, 8, generator=generator)
    # The same query and key placed at index pairs (i, j) with equal i - j.
    values = []
    for shift in (0, 5, 17):
        q = torch.zeros(1, 1, 30, 8)
        k = torch.zeros(1, 1, 30, 8)
        q[0, 0, 10 + shift], k[0, 0, 7 + shift] = query, key
        values.append(rope.logits(q, k)[0, 0, 10 + shift, 7 + shift])
    torch.testing.assert_close(values[0], values[1])
    torch.testing.assert_close(values[0], values[2])
    plain = AttentionEncoding().logits(q, k)[0, 0, 10 + 17, 7 + 17]
    assert not torch.isclose(values[0], plain)


@pytest.mark.parametrize("pe", list(SEQUENCE_ENCODINGS))
def test_changing_a_future_token_never_changes_an_earlier_output(pe):
    torch.manual_seed(0)
    model = CausalTransformer(ModelConfig(vocab_size=7, context=24, pe=pe, layers=2)).eval()
    with torch.no_grad():
        for block in model.blocks:
            if hasattr(block.attention.position, "table"):
                block.attention.position.table.normal_()
    tokens = torch.randint(1, 7, (3, 20))
    changed = tokens.clone()
    changed[:, 11] = tokens[:, 11] % 6 + 1
    with torch.no_grad():
        before, after = model(tokens), model(changed)
    torch.testing.assert_close(before[:, :11], after[:, :11], atol=0, rtol=0)
    assert (before[:, 11:] - after[:, 11:]).abs().amax() > 1e-3


def test_absolute_tables_have_their_documented_scale():
    torch.manual_seed(0)
    absolute = CausalTransformer(ModelConfig(vocab_size=5, context=64, pe="absolute", width=64))
    norms = absolute.input_position.table.detach().norm(dim=1)
    assert float(norms.mean()) == pytest.approx(1.0, abs=0.1)
    sinusoidal = CausalTransformer(ModelConfig(vocab_size=5, context=64, pe="sinusoidal"))
    torch.testing.assert_close(
        sinusoidal.input_position.table.norm(dim=1), torch.ones(64), atol=1e-6, rtol=0
    )


def test_model_rejects_sequences_longer_than_its_context():
    model = CausalTransformer(ModelConfig(vocab_size=5, context=8, pe="absolute"))
    with pytest.raises(ValueError, match="exceeds the model context 8"):
        model(torch.zeros(1, 9, dtype=torch.long))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"pe": "alibi"}, "unknown position encoding 'alibi'"),
        ({"pe": "copee"}, "did you mean 'cope'"),
        ({"width": 30, "heads": 4}, "divisible"),
        ({"width": 12, "heads": 4, "pe": "rope"}, "even head width"),
        ({"norm": "mid"}, "norm must be one of"),
        ({"dropout": 1.0}, "dropout"),
        ({"layers": 0}, "layers must be an integer >= 1"),
        ({"max_position": 0}, "max_position"),
    ],
)
def test_model_config_rejects_bad_values(fields, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(vocab_size=5, context=8, **fields)


def test_registry_lookup():
    assert sequence_encoding("rope").name == "rope"
    assert set(SEQUENCE_ENCODINGS) == {"absolute", "sinusoidal", "relative", "rope", "cope"}
