"""Sequence position encodings: formulas, CoPE against its direct evaluation, causality."""

from __future__ import annotations

import math
from dataclasses import replace

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


def _direct_cope_logits(
    q, k, table, max_position, gate_keys=None, scaled=True, relative=None, relative_max=None
):
    """O(T^2 p_max) evaluation straight from the formulas: gates sigmoid(q_i . c_t / sqrt(d))
    summed per pair (c = gate_keys, the keys k by default), the fractional position
    interpolated with hat weights max(0, 1 - |p - r|) over every row r, the position term
    divided by sqrt(d) only if ``scaled``, and the relative bias q_i . r[min(i - j, m)] / sqrt(d)
    added if a ``relative`` table is given."""
    gate_keys = k if gate_keys is None else gate_keys
    batch, heads, length, dim = q.shape
    logits = torch.full((batch, heads, length, length), -math.inf, dtype=q.dtype)
    rows = torch.arange(table.shape[0], dtype=q.dtype)
    for b in range(batch):
        for h in range(heads):
            for i in range(length):
                for j in range(i + 1):
                    gates = [
                        torch.sigmoid(q[b, h, i] @ gate_keys[b, h, t] / math.sqrt(dim))
                        for t in range(j, i + 1)
                    ]
                    position = min(float(sum(gates)), max_position)
                    weights = (1 - (rows - position).abs()).clamp(min=0)
                    embedding = weights @ table
                    logit = q[b, h, i] @ k[b, h, j] / math.sqrt(dim)
                    logit += q[b, h, i] @ embedding / (math.sqrt(dim) if scaled else 1.0)
                    if relative is not None:
                        logit += q[b, h, i] @ relative[min(i - j, relative_max)] / math.sqrt(dim)
                    logits[b, h, i, j] = logit
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


VARIANTS = {
    "separate gate key": {"gates": "separate_key"},
    "value gates": {"gates": "value"},
    "no sqrt(d) division": {"scaled": False},
    "cope+relative": {"relative": True},
    "all at once": {"gates": "separate_key", "scaled": False, "relative": True},
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("max_position", [3, 20])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_cope_variant_equals_its_direct_evaluation(variant, max_position, dtype):
    options = VARIANTS[variant]
    q, k, v = _qkv(seed=max_position)
    separate_keys = _qkv(seed=100 + max_position)[0]
    cope = ContextualEncoding(q.shape[-1], max_position, **options).double()
    with torch.no_grad():
        cope.table.normal_(generator=torch.Generator().manual_seed(7))
    gates = options.get("gates", "key")
    gate_keys = {"key": None, "separate_key": separate_keys, "value": v}[gates]
    relative = cope.relative.table.detach() if cope.relative is not None else None
    direct = _direct_cope_logits(
        q,
        k,
        cope.table.detach(),
        max_position,
        gate_keys=gate_keys,
        scaled=options.get("scaled", True),
        relative=relative,
        relative_max=max_position,
    )
    fast = cope.to(dtype)
    typed = [tensor.to(dtype) for tensor in (q, k, v, separate_keys)]
    passed = {"gate_keys": typed[3]} if gates == "separate_key" else {}
    output = fast(*typed[:3], **passed).double()
    torch.testing.assert_close(output, torch.softmax(direct, dim=-1) @ v, atol=1e-5, rtol=0)
    logit_keys = {"key": None, "separate_key": typed[3], "value": typed[2]}[gates]
    logits = fast.logits(typed[0], typed[1], logit_keys).double()
    torch.testing.assert_close(logits, direct, atol=1e-5, rtol=0)
    # Each variant changes the logits of the paper's CoPE with the same table.
    plain = _direct_cope_logits(q, k, cope.table.detach().double(), max_position)
    assert (direct - plain).nan_to_num().abs().amax() > 1e-3


def test_cope_gates_other_than_keys_need_gate_keys():
    q, k, _ = _qkv(seed=1)
    with pytest.raises(ValueError, match="separate_key gates needs the gate keys"):
        ContextualEncoding(q.shape[-1], 8, gates="separate_key").double().logits(q, k)
    with pytest.raises(ValueError, match="cope gates must be one of"):
        ContextualEncoding(q.shape[-1], 8, gates="query")


def _direct_model_logits(model, tokens, shared_table=None):
    """The transformer's forward pass with every attention computed from the formulas: CoPE
    on the layers ``k - 1, 2k - 1, ...`` (``k = cope_every``), with one shared table if given,
    and on the other layers plain attention (``cope``) or the relative bias
    (``cope+relative``). Norms, projections and MLPs are the model's own modules."""
    config = model.config
    batch, length = tokens.shape
    x = model.tokens(tokens)
    for index, block in enumerate(model.blocks):
        attention, encoding = block.attention, block.attention.position
        parts = attention.qkv(block.attention_norm(x)).view(batch, length, 3, config.heads, -1)
        q, k, v = parts.permute(2, 0, 3, 1, 4)
        gate_keys = None
        if attention.gate_key is not None:
            gate_keys = attention.gate_key(block.attention_norm(x))
            gate_keys = gate_keys.view(batch, length, config.heads, -1).transpose(1, 2)
        if config.cope_gates == "value":
            gate_keys = v
        relative = config.pe == "cope+relative"
        m = config.resolved_max_position
        if (index + 1) % config.cope_every == 0:
            table = encoding.table if shared_table is None else shared_table
            logits = _direct_cope_logits(
                q,
                k,
                table,
                m,
                gate_keys=gate_keys,
                scaled=config.cope_scaled,
                relative=encoding.relative.table if relative else None,
                relative_max=m,
            )
        else:
            zero = torch.zeros(m + 1, q.shape[-1], dtype=q.dtype)
            logits = _direct_cope_logits(
                q, k, zero, m, relative=encoding.table if relative else None, relative_max=m
            )  # a zero CoPE table: plain attention, plus the relative bias if any
        mixed = (torch.softmax(logits, dim=-1) @ v).transpose(1, 2).reshape(batch, length, -1)
        x = x + attention.out(mixed)
        x = x + block.mlp(block.mlp_norm(x))
    return model.head(model.final_norm(x))


@pytest.mark.parametrize(
    ("pe", "options", "cope_layers"),
    [
        ("cope", {"cope_every": 2}, [1, 3]),
        ("cope+relative", {"cope_every": 3}, [2]),
        ("cope", {"cope_shared_table": True}, [0, 1, 2, 3]),
        ("cope+relative", {"cope_every": 2, "cope_shared_table": True}, [1, 3]),
        ("cope", {"cope_gates": "separate_key", "cope_scaled": False}, [0, 1, 2, 3]),
        ("cope+relative", {"cope_gates": "value", "max_position": 3}, [0, 1, 2, 3]),
    ],
)
def test_model_cope_layers_and_shared_tables_equal_the_direct_forward(pe, options, cope_layers):
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=7, context=6, pe=pe, layers=4, width=8, heads=2, **options)
    model = CausalTransformer(config).double().eval()
    assert list(model.cope_layers()) == cope_layers
    tables = [model.cope_layers()[index].table for index in cope_layers]
    with torch.no_grad():
        tables[0].normal_()  # only the first CoPE table is set
    shared = config.cope_shared_table
    if shared:
        assert all(table is tables[0] for table in tables)
        alone = CausalTransformer(replace(config, cope_shared_table=False))
        saved = (len(cope_layers) - 1) * tables[0].numel()
        assert _parameters(alone) - _parameters(model) == saved
    else:
        for table in tables[1:]:
            with torch.no_grad():
                table.normal_()
    tokens = torch.randint(1, 7, (2, 6))
    with torch.no_grad():
        fast = model(tokens)
        direct = _direct_model_logits(model, tokens, tables[0] if shared else None)
    torch.testing.assert_close(fast, direct, atol=1e-5, rtol=0)
    separate = config.cope_gates == "separate_key"
    assert all((block.attention.gate_key is not None) == separate for block in model.blocks)


def _parameters(model) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


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
        ({"pe": "rope", "cope_every": 2}, "cope_every apply to the cope encodings only"),
        ({"pe": "absolute", "cope_gates": "value"}, "cope_gates apply to the cope encodings"),
        ({"cope_gates": "query"}, "cope_gates must be one of key, separate_key, value"),
        ({"layers": 2, "cope_every": 3}, "cope_every 3 leaves no CoPE layer among 2 layers"),
        ({"cope_scaled": "no"}, "cope_scaled must be true or false"),
    ],
)
def test_model_config_rejects_bad_values(fields, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(vocab_size=5, context=8, **fields)


def test_registry_lookup():
    assert sequence_encoding("rope").name == "rope"
    assert set(SEQUENCE_ENCODINGS) == {
        "absolute", "sinusoidal", "relative", "rope", "cope", "cope+relative"
    }  # fmt: skip
    assert [name for name, encoding in SEQUENCE_ENCODINGS.items() if encoding.contextual] == [
        "cope", "cope+relative"
    ]  # fmt: skip
