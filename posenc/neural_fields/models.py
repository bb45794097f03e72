"""Coordinate networks: embedded coordinates in, signal values out.

- :class:`MLPField` with ``depth=0`` is P1's single linear layer ("SLP"); with ``depth >= 1``
  it is the ReLU MLP of P1/P2/P3 (``depth`` hidden layers of ``width`` units, optional sigmoid).
- :class:`SirenField` is the SIREN baseline: sine activations and its own initialisation.
- :class:`SeparableField` is P2's "complex" model: its first layer is the multilinear form
  ``Phi_x W Phi_y^T`` on separable (Kronecker) embeddings, never forming ``K^d`` features.

Every model exposes ``hidden_layers()``: the modules whose outputs are hidden activations
(used by the layer stable-rank callback). :class:`MLPField` and :class:`SirenField` take
embedded rows as a dense ``(N, F)`` tensor or as
:class:`~posenc.neural_fields.sparse.SparseFeatures`, whose first layer skips the dense product.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from posenc.choices import ModelKind, options
from posenc.neural_fields.sparse import SparseFeatures, linear_layer

MODEL_KINDS = options(ModelKind)


class MLPField(nn.Module):
    """``depth`` hidden ``Linear -> ReLU`` layers of ``width``, a linear head, optional sigmoid.

    ``depth = 0`` gives one linear layer ``y = x A^T + b``. The ReLUs work in place: no
    layer's backward pass needs the pre-activation, so this saves a copy per layer.
    """

    def __init__(
        self, in_features: int, out_channels: int, depth: int, width: int, sigmoid: bool = False
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size = in_features
        for _ in range(depth):
            layers += [nn.Linear(size, width), nn.ReLU(inplace=True)]
            size = width
        layers.append(nn.Linear(size, out_channels))
        if sigmoid:
            layers.append(nn.Sigmoid())
        self.net = nn.Sequential(*layers)
        self.depth, self.sigmoid = depth, sigmoid

    def forward(self, features: Tensor | SparseFeatures) -> Tensor:
        return _forward_sequential(self.net, features)

    def hidden_layers(self) -> list[nn.Module]:
        """The ReLU modules, one per hidden layer."""
        return [module for module in self.net if isinstance(module, nn.ReLU)]

    def linear_layers(self) -> list[nn.Linear]:
        """The ``depth + 1`` linear layers, first to last."""
        return [module for module in self.net if isinstance(module, nn.Linear)]


class Sine(nn.Module):
    """``sin(omega * x)``: SIREN's activation."""

    def __init__(self, omega: float) -> None:
        super().__init__()
        self.omega = omega

    def forward(self, values: Tensor) -> Tensor:
        return torch.sin(self.omega * values)


class SirenField(nn.Module):
    """SIREN (Sitzmann et al. 2020): ``depth`` sine layers of ``width`` and a linear head.

    Initialisation: first layer weights ``U(-1/n, 1/n)``, later layers
    ``U(-sqrt(6/n)/omega, sqrt(6/n)/omega)`` for fan-in ``n``; activations ``sin(omega z)``.
    """

    def __init__(
        self,
        in_features: int,
        out_channels: int,
        depth: int,
        width: int,
        omega: float = 30.0,
        sigmoid: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size = in_features
        for index in range(max(depth, 1)):
            linear = nn.Linear(size, width)
            bound = 1 / size if index == 0 else math.sqrt(6 / size) / omega
            nn.init.uniform_(linear.weight, -bound, bound)
            layers += [linear, Sine(omega)]
            size = width
        head = nn.Linear(size, out_channels)
        nn.init.uniform_(head.weight, -math.sqrt(6 / size) / omega, math.sqrt(6 / size) / omega)
        layers.append(head)
        if sigmoid:
            layers.append(nn.Sigmoid())
        self.net = nn.Sequential(*layers)

    def forward(self, features: Tensor | SparseFeatures) -> Tensor:
        return _forward_sequential(self.net, features)

    def hidden_layers(self) -> list[nn.Module]:
        """The sine modules, one per hidden layer."""
        return [module for module in self.net if isinstance(module, Sine)]


class SeparableField(nn.Module):
    """P2's separable first layer on per-axis factors ``Phi_a`` (``n_a x K``).

    On a product grid the first layer is, per output unit ``o``,
    ``H[i_1, ..., i_d, o] = sum_k W[o, k_1, ..., k_d] prod_a Phi_a[i_a, k_a]``
    (in 2D: ``Phi_x W_o Phi_y^T``), without bias. ``depth = 0`` outputs it directly (a linear
    model: P2's closed form applies); ``depth = 1`` applies ReLU, then a linear head.

    ``forward`` takes a list of ``d`` factor matrices and returns the grid ``(n_1, ..., n_d,
    C)``; :meth:`forward_points` takes scattered factors ``(N, d, K)`` and returns ``(N, C)``.
    """

    def __init__(
        self,
        factor_dim: int,
        in_dim: int,
        out_channels: int,
        depth: int = 0,
        width: int = 256,
        sigmoid: bool = False,
    ) -> None:
        super().__init__()
        if depth not in (0, 1):
            raise ValueError(f"separable model depth must be 0 or 1, got {depth}")
        if in_dim > len(string.ascii_lowercase) - 2:
            raise ValueError(f"separable model supports up to 24 axes, got in_dim={in_dim}")
        units = out_channels if depth == 0 else width
        bound = 1 / math.sqrt(factor_dim**in_dim)
        self.weight = nn.Parameter(
            torch.empty(units, *([factor_dim] * in_dim)).uniform_(-bound, bound)
        )
        self.in_dim = in_dim
        self.activation = nn.ReLU() if depth == 1 else None
        self.head = nn.Linear(width, out_channels) if depth == 1 else None
        self.output = nn.Sigmoid() if sigmoid else nn.Identity()

    def forward(self, factors: Sequence[Tensor]) -> Tensor:
        if len(factors) != self.in_dim:
            raise ValueError(f"expected {self.in_dim} factor matrices, got {len(factors)}")
        hidden = self.weight
        for factor in factors:
            # hidden is (o, K_a, ..., K_d, n_1, ..., n_{a-1}): contract K_a with Phi_a.
            hidden = torch.tensordot(factor, hidden, dims=([1], [1])).movedim(0, -1)
        # hidden: (o, n_1, ..., n_d) -> (n_1, ..., n_d, o)
        return self._head(hidden.movedim(0, -1))

    def forward_points(self, factors: Tensor) -> Tensor:
        """Scattered points: ``(N, d, K)`` factors to ``(N, C)`` outputs."""
        letters = string.ascii_lowercase[: self.in_dim]
        operands = ",".join(f"n{letter}" for letter in letters)
        hidden = torch.einsum(f"o{letters},{operands}->no", self.weight, *factors.unbind(dim=1))
        return self._head(hidden)

    def _head(self, hidden: Tensor) -> Tensor:
        if self.head is not None and self.activation is not None:
            hidden = self.head(self.activation(hidden))
        return self.output(hidden)

    def hidden_layers(self) -> list[nn.Module]:
        """The ReLU after the separable layer (empty for the linear model)."""
        return [] if self.activation is None else [self.activation]


def _forward_sequential(net: nn.Sequential, features: Tensor | SparseFeatures) -> Tensor:
    """Run ``net``, whose first module is an ``nn.Linear``, on dense or sparse rows."""
    first, *rest = list(net)
    assert isinstance(first, nn.Linear)
    hidden = linear_layer(first, features)
    for module in rest:
        hidden = module(hidden)
    return hidden


def build_model(
    kind: str,
    *,
    in_features: int,
    out_channels: int,
    depth: int,
    width: int,
    sigmoid: bool,
    in_dim: int = 1,
    siren_omega: float = 30.0,
) -> nn.Module:
    """Build a model by kind name; ``in_features`` is the factor width for ``separable``."""
    if kind == "linear":
        return MLPField(in_features, out_channels, depth=0, width=width, sigmoid=sigmoid)
    if kind == "mlp":
        return MLPField(in_features, out_channels, depth=depth, width=width, sigmoid=sigmoid)
    if kind == "siren":
        return SirenField(in_features, out_channels, depth, width, siren_omega, sigmoid)
    if kind == "separable":
        return SeparableField(in_features, in_dim, out_channels, depth, width, sigmoid)
    raise ValueError(f"model must be one of {', '.join(MODEL_KINDS)}; got {kind!r}")
