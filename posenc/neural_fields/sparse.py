"""Structured first layers: the product ``X W^T`` without the dense embedded matrix ``X``.

A coordinate network's first layer multiplies the embedded rows ``X`` (``N x F``) by its
weight ``W`` (``width x F``). For axis-wise embeddings (``concat`` and ``directions``
compositions) most of that product is unnecessary. Both structured forms write ``X = S B``
with a sparse selection ``S`` (``N x R``, CSR) and a small dense basis ``B`` (``R x F``), and
compute ``X W^T + b = S (B W^T) + b``; the backward pass multiplies by a precomputed ``S^T``.

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
most ``SPARSE_MAX_FILL`` of the centres are active per value, else ``dense``. Every form
computes the same function up to floating-point summation order (and, for the untruncated
Gaussian's sparse form, the sub-rounding tail).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from posenc.embeddings import AxisEmbedding, Embedding, ShiftedBasis

FIRST_LAYERS = ("auto", "dense", "lookup", "sparse")
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

    def linear(self, weight: Tensor, bias: Tensor | None) -> Tensor:
        """``X W^T + b`` as ``S (B W^T) + b``; differentiable in ``weight`` and ``bias``.

        In the lookup form every row selects exactly one row of the first part's block, so
        the bias is added to those table rows instead of to all ``N`` outputs.
        """
        table = self.table(weight)
        if bias is not None and self.blocks is not None:
            first = len(self.blocks[0])
            table = torch.cat([table[:first] + bias, table[first:]])
        output = _SelectionProduct.apply(table, self.rows, self.rows_t)
        return output if bias is None or self.blocks is not None else output + bias

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
        """A float64 ``Z`` with ``Z^T Z = X^T X``, the smaller of ``X`` and a root built from
        ``S^T S``; so ``stable_rank(Z) == stable_rank(X)``.

        With no more rows than selected basis rows (``N <= R``: P1's 256 samples against
        10000 centres) ``X`` itself is the smaller (``N x F``, against ``R x F`` and an
        ``R x R`` eigendecomposition). Otherwise, with ``S^T S = Q diag(lambda) Q^T``,
        ``Z = diag(sqrt(lambda)) Q^T B``, without forming ``X``.
        """
        if self.rows.shape[0] <= self.rows.shape[1]:
            return self.to_dense().to(torch.float64)
        selection_gram = (self.rows_t.to(torch.float64) @ self.rows.to(torch.float64)).to_dense()
        eigenvalues, eigenvectors = torch.linalg.eigh(selection_gram)
        root = eigenvalues.clamp(min=0).sqrt()[:, None] * eigenvectors.T
        return root @ self.dense_basis().to(torch.float64)


class _SelectionProduct(torch.autograd.Function):
    """``S T`` for a CSR ``S``; the gradient ``S^T G`` uses the precomputed transpose."""

    @staticmethod
    def forward(ctx, table: Tensor, rows: Tensor, rows_t: Tensor) -> Tensor:  # type: ignore[override]
        ctx.rows_t = rows_t
        return rows @ table

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        return ctx.rows_t @ grad, None, None


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
    return embedding(coords)


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
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly")
        matrix = torch.sparse_csr_tensor(
            torch.arange(0, count * width + 1, width, device=columns.device),
            flat_columns,
            flat_weights,
            (count, num_columns),
            check_invariants=False,
        )
        transpose = torch.sparse_csr_tensor(
            _row_pointers(by_column.values, num_columns),
            torch.div(by_column.indices, width, rounding_mode="floor"),
            flat_weights[by_column.indices],
            (num_columns, count),
            check_invariants=False,
        )
    return matrix, transpose


def _row_pointers(sorted_rows: Tensor, count: int) -> Tensor:
    """CSR row pointers of entries whose (sorted) row indices are ``sorted_rows``."""
    pointers = torch.zeros(count + 1, dtype=torch.int64, device=sorted_rows.device)
    pointers[1:] = torch.cumsum(torch.bincount(sorted_rows, minlength=count), 0)
    return pointers
