"""Structured first layers: the product ``X W^T`` without the dense embedded matrix ``X``.

A coordinate network's first layer multiplies the embedded rows ``X`` (``N x F``) by its
weight ``W`` (``width x F``). For axis-wise embeddings (``concat`` and ``directions``
compositions) most of that product is unnecessary. Both structured forms write ``X = S B``
with a sparse selection ``S`` (``N x R``, CSR) and a small dense basis ``B`` (``R x F``), and
compute ``X W^T + b = S (B W^T) + b``: every row of ``S`` holds the same number of entries, so
``S T`` is a gather-sum of table rows (``embedding_bag``); the backward pass multiplies by a
precomputed ``S^T``.

``lookup`` (any axis-wise embedding; exact)
    Row ``n`` concatenates the per-part features ``f(v_p[n])`` of its part values (the axes,
    or P2's four directions). On a pixel grid each part takes few distinct values ``u_p``
    (256 per axis for the 65,536 training pixels of a 512 x 512 image), so ``B`` stacks
    ``f(u_p)`` part by part (``R = sum_p U_p`` rows, block-diagonal) and ``S`` holds one 1
    per part and row. Cost: ``R F width`` for the table ``B W^T`` and ``N P width``
    additions, instead of ``N F width``.
``sparse`` (compact-support shifted bases)
    A generator of support radius ``r`` touches about ``2 K r`` of the ``K`` centres per
    part value: ``B`` is the identity and ``S`` holds the active weights of each row
    (:meth:`~posenc.embeddings.ShiftedBasis.active_centers`). The untruncated Gaussian is
    cut where it falls below half a unit in the last place of its peak,
    ``sigma sqrt(2 ln(2 / eps))`` (5.8 sigma in float32, 8.6 sigma in float64), so its
    sparse rows equal the dense ones to rounding.
``dense``
    The embedded matrix and a plain matrix product.

``auto`` (the default of :class:`~posenc.neural_fields.FitConfig`) keeps ``dense`` when the
dense embedded matrix is small (fewer than ``STRUCTURED_MIN_ELEMENTS`` entries, where the
product is cheap anyway), else picks ``lookup`` when the parts take at most
``LOOKUP_MAX_ROW_FRACTION`` of the rows' count of distinct values, else ``sparse`` when at
most ``SPARSE_MAX_FILL`` of the centres are active per value, else ``dense``; on a GPU, a fit
then keeps the structured form only if it runs faster than the dense one there
(:func:`posenc.neural_fields.pipeline.faster_first_layer`). Every form computes the same
function up to floating-point summation order (and, for the untruncated Gaussian's sparse
form, the sub-rounding tail).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posenc.choices import FirstLayerForm, options
from posenc.embeddings import AxisEmbedding, Embedding, ShiftedBasis

FIRST_LAYERS = options(FirstLayerForm)
STRUCTURED_MODELS = ("linear", "mlp", "siren")
STRUCTURED_COMPOSITIONS = ("concat", "directions")

STRUCTURED_MIN_ELEMENTS = 2**22
"""``auto`` keeps the dense product when ``N F`` is below this (4M entries, 16 MiB float32)."""
LOOKUP_MAX_ROW_FRACTION = 0.25
"""``auto`` picks ``lookup`` when the distinct part values number at most this fraction of N."""
SPARSE_MAX_FILL = 0.125
"""``auto`` picks ``sparse`` when at most this fraction of the centres is active per value."""


@dataclass(frozen=True, eq=False)
class SparseFeatures:
    """Embedded rows ``X = S B`` kept as a CSR selection ``S`` and a dense basis ``B``.

    ``rows`` is ``S`` (``N x R``), ``rows_t`` its transpose, ``blocks`` the diagonal blocks of
    ``B`` (one ``U_p x K`` block per part; ``None`` when ``B`` is the identity) and
    ``num_features`` is ``F``. Models accept it wherever they accept a dense ``(N, F)``
    tensor (see :func:`linear_layer`).
    """

    rows: Tensor
    rows_t: Tensor
    blocks: tuple[Tensor, ...] | None
    num_features: int

    @property
    def kind(self) -> str:
        """``"lookup"`` or ``"sparse"``."""
        return "sparse" if self.blocks is None else "lookup"

    @property
    def shape(self) -> tuple[int, int]:
        """``(N, F)``: the shape of the dense embedded matrix this stands for."""
        return (self.rows.shape[0], self.num_features)

    @property
    def columns(self) -> Tensor:
        """``S``'s column indices, ``(N, Q)``: every row keeps its ``Q`` entries."""
        return self.rows.col_indices().view(self.rows.shape[0], -1)

    @property
    def weights(self) -> Tensor | None:
        """``S``'s values, ``(N, Q)``; ``None`` for ``lookup``, whose entries are all 1."""
        return None if self.blocks is not None else self.entry_weights()

    def entry_weights(self) -> Tensor:
        """``S``'s values, ``(N, Q)``, the ones of ``lookup`` included."""
        return self.rows.values().view(self.rows.shape[0], -1)

    @property
    def nbytes(self) -> int:
        """Bytes held: both CSR matrices and the basis blocks."""
        tensors = [self.rows.crow_indices(), self.rows.col_indices(), self.rows.values()]
        tensors += [self.rows_t.crow_indices(), self.rows_t.col_indices(), self.rows_t.values()]
        tensors += list(self.blocks or ())
        return sum(tensor.numel() * tensor.element_size() for tensor in tensors)

    def table(self, weight: Tensor) -> Tensor:
        """``B W^T`` (``R x width``): part ``p``'s block times its columns of ``W``."""
        if self.blocks is None:
            return weight.T
        width = self.blocks[0].shape[1]
        parts = [
            block @ weight[:, part * width : (part + 1) * width].T
            for part, block in enumerate(self.blocks)
        ]
        return torch.cat(parts)

    def table_grad(self, grad: Tensor) -> Tensor:
        """The gradient of :meth:`table` with respect to ``W``, given the table's ``grad``
        (``R x width``): ``grad^T B`` (``width x F``), part by part."""
        if self.blocks is None:
            return grad.T
        sizes = [len(block) for block in self.blocks]
        parts = grad.split(sizes)
        return torch.cat(
            [part.T @ block for part, block in zip(parts, self.blocks, strict=True)], 1
        )

    def linear(self, weight: Tensor, bias: Tensor | None) -> Tensor:
        """``X W^T + b`` as ``S (B W^T) + b``; differentiable in ``weight`` and ``bias``."""
        table = self.biased_table(weight, bias)
        output = _SelectionProduct.apply(table, self.columns, self.weights, self.rows_t)
        return output if bias is None or self.blocks is not None else output + bias

    def biased_table(self, weight: Tensor, bias: Tensor | None) -> Tensor:
        """:meth:`table`, with the bias folded in where the form allows it.

        In the lookup form every row selects exactly one row of the first part's block, so
        the bias is added to those table rows instead of to all ``N`` outputs; the sparse
        form leaves the bias to be added to the output.
        """
        table = self.table(weight)
        if bias is None or self.blocks is None:
            return table
        first = len(self.blocks[0])
        return torch.cat([table[:first] + bias, table[first:]])

    def dense_basis(self) -> Tensor:
        """``B`` as a dense ``R x F`` matrix (the identity for ``sparse``)."""
        if self.blocks is None:
            values = self.rows.values()
            return torch.eye(self.num_features, dtype=values.dtype, device=values.device)
        return torch.block_diag(*self.blocks)

    def to_dense(self) -> Tensor:
        """The dense embedded matrix ``X`` (``N x F``); for tests and small problems."""
        if self.blocks is None:
            return self.rows.to_dense()
        return self.rows @ self.dense_basis()

    def gram_root(self) -> Tensor:
        """A float64 matrix with the singular values of ``X``, built without forming ``X``.

        Through the smaller side: with ``N <= R`` rows, ``X X^T = S (B B^T) S^T`` is
        ``N x N`` (for the sparse form ``B B^T = I``); otherwise ``X^T X = B^T (S^T S) B``
        with ``S^T S`` of size ``R x R``. For a Gram matrix ``G = Q diag(lambda) Q^T`` the root
        is ``diag(sqrt(lambda)) Q^T`` (times ``B`` on the ``R`` side), so
        ``stable_rank(gram_root()) == stable_rank(X)`` at the cost of the smaller side.
        """
        rows = self.rows.to(torch.float64)
        if rows.shape[0] <= rows.shape[1]:
            selection = rows.to_dense()
            basis = self.dense_basis().to(torch.float64)
            inner = selection if self.blocks is None else selection @ (basis @ basis.T)
            return _psd_root(inner @ selection.T)
        selection_gram = (self.rows_t.to(torch.float64) @ rows).to_dense()
        return _psd_root(selection_gram) @ self.dense_basis().to(torch.float64)


def _psd_root(gram: Tensor) -> Tensor:
    """``diag(sqrt(lambda)) Q^T`` for a symmetric positive semi-definite ``Q diag(lambda) Q^T``."""
    eigenvalues, eigenvectors = torch.linalg.eigh(gram)
    return eigenvalues.clamp(min=0).sqrt()[:, None] * eigenvectors.T


class _SelectionProduct(torch.autograd.Function):
    """``S T`` where row ``n`` of ``S`` holds ``weights[n, j]`` (1 if ``weights`` is ``None``)
    at ``columns[n, j]``: a gather-sum of table rows; the gradient ``S^T G`` uses the
    precomputed transpose ``rows_t``. The table may be of a lower precision than ``S``
    (autocast)."""

    @staticmethod
    def forward(
        ctx, table: Tensor, columns: Tensor, weights: Tensor | None, rows_t: Tensor
    ) -> Tensor:
        ctx.rows_t, ctx.dtype = rows_t, table.dtype
        weights = None if weights is None else weights.to(table.dtype)
        return F.embedding_bag(columns, table, mode="sum", per_sample_weights=weights)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None, None]:
        rows_t = ctx.rows_t
        return (rows_t @ grad.to(rows_t.dtype)).to(ctx.dtype), None, None, None


@dataclass(frozen=True, eq=False)
class StackedFeatures:
    """The structured rows of ``B`` fits with equal shapes, for one batched first layer.

    Member ``b``'s rows are ``X_b = S_b B_b`` (:class:`SparseFeatures`). The selections are
    stacked block-diagonally, ``S = diag(S_1, ..., S_B)`` (``B N x sum_b R_b``), so that every
    member's product ``S_b (B_b W_b^T)`` is one sparse product ``S T`` with the members'
    tables ``T_b = B_b W_b^T`` stacked: the same arithmetic as ``B`` separate products.
    """

    rows_t: Tensor
    columns: Tensor
    weights: Tensor | None
    members: tuple[SparseFeatures, ...]

    @classmethod
    def stack(cls, members: Sequence[SparseFeatures]) -> StackedFeatures:
        """Stack members of equal row count and form (all ``lookup`` or all ``sparse``).

        ``columns`` and ``weights`` hold ``S``'s entries row by row, members with fewer
        entries per row (a narrower basis) padded with zero weights.
        """
        if len({member.shape for member in members}) != 1:
            raise ValueError("stacked features need members of one shape")
        if len({member.kind for member in members}) != 1:
            raise ValueError("stacked features need members of one form")
        rows_t = _block_diagonal([member.rows_t for member in members])
        widest = max(member.columns.shape[1] for member in members)
        offsets = [0, *itertools.accumulate(member.rows.shape[1] for member in members)]
        columns = torch.cat(
            [
                F.pad(member.columns + offset, (0, widest - member.columns.shape[1]), value=offset)
                for member, offset in zip(members, offsets, strict=False)
            ]
        )
        weights = None
        if members[0].weights is not None or any(
            member.columns.shape[1] < widest for member in members
        ):
            weights = torch.cat(
                [
                    F.pad(member.entry_weights(), (0, widest - member.columns.shape[1]))
                    for member in members
                ]
            )
        return cls(rows_t, columns, weights, tuple(members))

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(B, N, F)``: the shape of the dense stacked rows this stands for."""
        return (len(self.members), *self.members[0].shape)

    def linear(self, weight: Tensor, bias: Tensor) -> Tensor:
        """``X_b W_b^T + b_b`` for every member: weights ``(B, out, F)``, biases
        ``(B, out, 1)`` to ``(B, N, out)``; differentiable in both."""
        tables = [
            member.biased_table(weight[index], bias[index, :, 0])
            for index, member in enumerate(self.members)
        ]
        output = _SelectionProduct.apply(torch.cat(tables), self.columns, self.weights, self.rows_t)
        output = output.reshape(len(self.members), -1, weight.shape[1])
        return output if self.weights is None else output + bias.transpose(1, 2)


def stack_rows(rows: Sequence[Tensor | SparseFeatures]) -> Tensor | StackedFeatures:
    """The embedded rows of ``B`` fits as one batch: dense ``(N, F)`` tensors as a
    ``(B, N, F)`` tensor, structured rows as :class:`StackedFeatures`."""
    if all(isinstance(member, SparseFeatures) for member in rows):
        return StackedFeatures.stack(rows)  # type: ignore[arg-type]
    if any(isinstance(member, SparseFeatures) for member in rows):
        raise ValueError("a batch cannot mix dense and structured rows")
    return torch.stack(rows)  # type: ignore[arg-type]


def linear_layer(layer: nn.Linear, features: Tensor | SparseFeatures) -> Tensor:
    """``layer(features)`` for dense rows or :class:`SparseFeatures`."""
    if isinstance(features, SparseFeatures):
        return features.linear(layer.weight, layer.bias)
    return layer(features)


@dataclass(frozen=True)
class FirstLayerPlan:
    """How a fit computes its first layer, and what its embedded rows will cost.

    ``entries_per_row``: non-zeros of ``S`` per row (0 for dense); ``basis_elements``: entries
    of the lookup basis blocks of the training rows (0 otherwise).
    """

    kind: str
    entries_per_row: int = 0
    basis_elements: int = 0

    def embedded_bytes(self, embedding: Embedding, num_rows: int) -> int:
        """Bytes of ``num_rows`` embedded rows in this form (``S``, ``S^T`` and the basis)."""
        item = embedding.norm_scale.element_size()
        if self.kind == "dense":
            return embedding.embedded_bytes(num_rows)
        index = torch.empty((), dtype=torch.int64).element_size()
        return 2 * num_rows * self.entries_per_row * (index + item) + self.basis_elements * item


def plan_first_layer(
    requested: str, model: str, embedding: Embedding, coords: Tensor
) -> FirstLayerPlan:
    """Resolve ``requested`` (one of :data:`FIRST_LAYERS`) for training rows at ``coords``.

    ``lookup`` and ``sparse`` raise ``ValueError`` saying why when they do not apply; ``auto``
    chooses as the module docstring says.
    """
    if requested not in FIRST_LAYERS:
        raise ValueError(f"first_layer must be one of {', '.join(FIRST_LAYERS)}; got {requested!r}")
    if requested == "dense":
        return FirstLayerPlan("dense")
    obstacles = {
        "lookup": _lookup_obstacle(model, embedding),
        "sparse": _sparse_obstacle(model, embedding),
    }
    if requested != "auto":
        if obstacles[requested] is not None:
            raise ValueError(f"first_layer {requested!r} does not apply: {obstacles[requested]}")
        return _plan(requested, embedding, coords)
    if embedding.separable or len(coords) * embedding.out_dim < STRUCTURED_MIN_ELEMENTS:
        return FirstLayerPlan("dense")
    if obstacles["lookup"] is None:
        lookup = _plan("lookup", embedding, coords)
        if lookup.basis_elements <= LOOKUP_MAX_ROW_FRACTION * len(coords) * embedding.factor_dim:
            return lookup
    if obstacles["sparse"] is None:
        sparse = _plan("sparse", embedding, coords)
        assert isinstance(embedding, AxisEmbedding)
        if sparse.entries_per_row <= SPARSE_MAX_FILL * embedding.out_dim:
            return sparse
    return FirstLayerPlan("dense")


def embed_rows(embedding: Embedding, coords: Tensor, kind: str) -> Tensor | SparseFeatures:
    """Embedded rows of ``coords`` in the form ``kind`` (``dense``, ``lookup`` or ``sparse``)."""
    if kind == "lookup":
        assert isinstance(embedding, AxisEmbedding)
        return lookup_features(embedding, coords)
    if kind == "sparse":
        assert isinstance(embedding, ShiftedBasis)
        return active_center_features(embedding, coords)
    return embedding.embed(coords)


@torch.no_grad()
def lookup_features(embedding: AxisEmbedding, coords: Tensor) -> SparseFeatures:
    """``X = S B`` over the distinct values of each part; equals ``embedding(coords)``."""
    coords = embedding.check_coordinates(coords)
    embedding.check_normalized()
    columns, blocks, offset = [], [], 0
    for values in embedding.projections(coords):
        distinct, inverse = torch.unique(values, return_inverse=True)
        blocks.append(embedding.axis_features(distinct) * embedding.norm_scale)
        columns.append(inverse + offset)
        offset += len(distinct)
    column = torch.stack(columns, dim=1)
    weights = torch.ones(column.shape, dtype=embedding.dtype, device=column.device)
    rows, rows_t = _selection(column, weights, offset)
    return SparseFeatures(rows, rows_t, tuple(blocks), embedding.out_dim)


@torch.no_grad()
def active_center_features(embedding: ShiftedBasis, coords: Tensor) -> SparseFeatures:
    """``X = S`` holding each row's active centre weights; equals ``embedding(coords)`` where
    the generator vanishes beyond :func:`sparse_radius` (to rounding for the Gaussian)."""
    coords = embedding.check_coordinates(coords)
    embedding.check_normalized()
    radius = sparse_radius(embedding)
    columns, weights = [], []
    for part, values in enumerate(embedding.projections(coords)):
        index, weight = embedding.active_centers(values, radius)
        columns.append(index + part * embedding.num_centers)
        weights.append(weight * embedding.norm_scale)
    rows, rows_t = _selection(torch.cat(columns, 1), torch.cat(weights, 1), embedding.out_dim)
    return SparseFeatures(rows, rows_t, None, embedding.out_dim)


def sparse_radius(embedding: ShiftedBasis) -> float | None:
    """Radius beyond which the generator is below half a unit in the last place of its peak."""
    return embedding.negligible_radius(torch.finfo(embedding.dtype).eps / 2)


def _plan(kind: str, embedding: Embedding, coords: Tensor) -> FirstLayerPlan:
    assert isinstance(embedding, AxisEmbedding)
    if kind == "lookup":
        projections = embedding.projections(embedding.check_coordinates(coords))
        distinct = sum(len(torch.unique(values)) for values in projections)
        return FirstLayerPlan("lookup", embedding.num_parts, distinct * embedding.factor_dim)
    assert isinstance(embedding, ShiftedBasis)
    radius = sparse_radius(embedding)
    assert radius is not None
    active = math.ceil(2 * embedding.num_centers * radius) + 3
    return FirstLayerPlan("sparse", embedding.num_parts * active)


def _lookup_obstacle(model: str, embedding: Embedding) -> str | None:
    if model not in STRUCTURED_MODELS:
        return f"model {model!r} has no linear first layer ({', '.join(STRUCTURED_MODELS)} do)"
    if embedding.include_input:
        return "include_input=True appends the coordinates, which only the dense form holds"
    if not isinstance(embedding, AxisEmbedding) or embedding.compose not in (
        STRUCTURED_COMPOSITIONS
    ):
        return (
            f"embedding {embedding.name!r} with compose={embedding.compose!r} is not an axis-wise "
            f"{' or '.join(STRUCTURED_COMPOSITIONS)} embedding"
        )
    return None


def _sparse_obstacle(model: str, embedding: Embedding) -> str | None:
    obstacle = _lookup_obstacle(model, embedding)
    if obstacle is not None:
        return obstacle
    if not isinstance(embedding, ShiftedBasis):
        return f"embedding {embedding.name!r} is not a shifted basis"
    radius = sparse_radius(embedding)
    if radius is None:
        return f"the {embedding.name} generator has no compact support"
    if math.ceil(2 * embedding.num_centers * radius) + 3 >= embedding.num_centers:
        return (
            f"the {embedding.name} support (radius {radius:g}) covers all "
            f"{embedding.num_centers} centres"
        )
    return None


def _selection(columns: Tensor, weights: Tensor, num_columns: int) -> tuple[Tensor, Tensor]:
    """CSR ``S`` (``N x num_columns``) with ``S[n, columns[n, j]] = weights[n, j]`` and its
    transpose; the columns of a row must be distinct.

    Every row keeps its ``Q`` entries (zeros included), so ``S`` needs no compaction: rows
    are sorted by column, and a stable sort of all columns orders the transpose, whose row
    indices are then ``position // Q``.
    """
    count, width = columns.shape
    if width > 1 and bool((columns[:, 1:] < columns[:, :-1]).any()):
        columns, order = torch.sort(columns, dim=1)
        weights = torch.gather(weights, 1, order)
    flat_columns, flat_weights = columns.reshape(-1), weights.reshape(-1)
    by_column = torch.sort(flat_columns, stable=True)
    matrix = _csr(
        torch.arange(0, count * width + 1, width, device=columns.device),
        flat_columns,
        flat_weights,
        (count, num_columns),
    )
    transpose = _csr(
        _row_pointers(by_column.values, num_columns),
        torch.div(by_column.indices, width, rounding_mode="floor"),
        flat_weights[by_column.indices],
        (num_columns, count),
    )
    return matrix, transpose


def selection_transposes(
    columns: Tensor, weights: Tensor, num_columns: int, chunk_rows: int
) -> list[Tensor]:
    """``S_c^T`` (CSR, ``num_columns x rows of c``) of every chunk ``c`` of ``chunk_rows`` rows
    of ``S``, where ``S[n, columns[n, j]] = weights[n, j]`` (columns of a row distinct)."""
    return [
        _selection(chunk_columns, chunk_weights, num_columns)[1]
        for chunk_columns, chunk_weights in zip(
            columns.split(chunk_rows), weights.split(chunk_rows), strict=True
        )
    ]


def _csr(pointers: Tensor, columns: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    """A CSR tensor from valid parts (their invariants hold by construction, unchecked)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly")
        return torch.sparse_csr_tensor(pointers, columns, values, shape, check_invariants=False)


def _block_diagonal(matrices: Sequence[Tensor]) -> Tensor:
    """The CSR matrix ``diag(M_1, ..., M_B)`` of CSR matrices ``M_b``."""
    pointers, columns, values = [], [], []
    entries = column_offset = 0
    for matrix in matrices:
        crow = matrix.crow_indices()
        pointers.append(crow[:-1] + entries)
        columns.append(matrix.col_indices() + column_offset)
        values.append(matrix.values())
        entries += int(crow[-1])
        column_offset += matrix.shape[1]
    pointers.append(torch.tensor([entries], dtype=pointers[0].dtype, device=pointers[0].device))
    shape = (sum(matrix.shape[0] for matrix in matrices), column_offset)
    return _csr(torch.cat(pointers), torch.cat(columns), torch.cat(values), shape)


def _row_pointers(sorted_rows: Tensor, count: int) -> Tensor:
    """CSR row pointers of entries whose (sorted) row indices are ``sorted_rows``."""
    pointers = torch.zeros(count + 1, dtype=torch.int64, device=sorted_rows.device)
    pointers[1:] = torch.cumsum(torch.bincount(sorted_rows, minlength=count), 0)
    return pointers
