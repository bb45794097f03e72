"""Exact stable rank and similarity of shifted bases on a uniform periodic grid, by FFT.

P2's proof idea (appendix, Proposition 2): with ``K`` centres ``t_j = j / K`` on the circle, the
embedding of ``N`` samples ``x_k = k / N`` is ``X[k, j] = psi(x_k - t_j)``. Shifting both the
sample and the centre by ``1 / g``, ``g = gcd(N, K)``, leaves an entry unchanged, so with
``n = N / g`` and ``m = K / g``

    ``X[a + n p, b + m q] = h[a, (q - p) mod g, b]``,  ``h[a, r, b] = X[a, r m + b]``:

``X`` is block circulant, made of ``g x g`` circulant blocks, and the DFT over the block index
turns it into ``g`` independent ``n x m`` matrices ``H_w = sum_r h[:, r, :] e^{-2 pi i w r / g}``.
The singular values of ``X`` are those of all the ``H_w`` together, hence exactly

    ``SR(X) = g ||h||_F^2 / max_w ||H_w||_2^2``.

Only the first ``n`` rows of ``X`` are ever evaluated, and the cost is an FFT of ``N K / g``
numbers plus ``g / 2`` eigenproblems of size ``min(n, m)``. P1's construction, the full
``D x D`` circulant of one generator row (``N = K = D``), is the case ``n = m = 1``: the squared
singular values are ``|DFT(generator row)|^2`` and both SR and the similarity curve (the
circular autocorrelation of the row) cost ``O(D log D)``.

The Fourier family is the other structured case: a row ``[sin(2 pi f u), cos(2 pi f u)]``
has ``<psi(u1), psi(u2)> = sum_i cos(2 pi f_i (u1 - u2))``, so on the grid ``k / N`` the
``N x N`` Gram matrix is symmetric Toeplitz. Its first column costs ``O(N F)``, a product with
it ``O(N log N)`` (FFT), and the largest eigenvalue comes from Lanczos iterations
(:func:`fourier_features_stable_rank`): a 5000-sample RFF matrix takes a fraction of a
second where dense eigenvalues take half a minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh
from torch import Tensor

from posenc.analysis.metrics import checked_matrix, require_matrix_fits
from posenc.embeddings import Embedding, FourierFeatures, ShiftedBasis

FREQUENCY_CHUNK = 1024
"""Frequencies per chunk when summing a Fourier embedding's Gram column."""
_DENSE_TOEPLITZ = 512
"""Up to this size the Toeplitz Gram's eigenvalues are computed densely."""


@dataclass(frozen=True)
class BlockCirculant:
    """The ``N x K`` matrix ``X[a + n p, b + m q] = blocks[a, (q - p) mod g, b]``.

    ``blocks`` has shape ``(n, g, m)`` (float64): the first ``n`` rows of ``X`` with each row's
    ``K = g m`` columns split into ``g`` groups of ``m``. See the module docstring.
    """

    blocks: Tensor

    @classmethod
    def circulant(cls, generator_row: Tensor) -> BlockCirculant:
        """The ``D x D`` circulant whose row ``i`` is ``generator_row`` shifted right by ``i``."""
        row = checked_matrix(torch.as_tensor(generator_row).reshape(1, -1), "a circulant")
        return cls(row.reshape(1, -1, 1))

    @classmethod
    def from_embedding(cls, embedding: Embedding, num_samples: int) -> BlockCirculant:
        """The embedding of ``x_k = k / N`` (``k < N``) by a periodic 1D shifted basis.

        Only the first ``n`` rows are evaluated; the others are their exact shifts, as in
        P1's circulant of one generator row. For continuous generators this is the
        embedding's own matrix to rounding (1e-15); a generator evaluated inconsistently at
        discontinuities hit exactly by grid displacements (``sign(sin(.))`` of the square
        wave at its zeros) can differ from the embedding's later rows in those entries.
        Raises ``ValueError`` for any other embedding: without periodic centres on a uniform
        grid the matrix has no circulant structure.
        """
        if not isinstance(embedding, ShiftedBasis):
            raise ValueError(
                f"the FFT path needs a shifted basis; {embedding.name!r} is in the "
                f"{embedding.family} family"
            )
        if not embedding.periodic:
            raise ValueError(f"the FFT path needs periodic=True; {embedding.name!r} is not")
        if embedding.in_dim != 1:
            raise ValueError(f"the FFT path needs in_dim=1, got in_dim={embedding.in_dim}")
        _check_encoding_alone(embedding, "FFT")
        num_samples = _positive_samples(num_samples)
        groups = math.gcd(num_samples, embedding.num_centers)
        base_rows = num_samples // groups
        require_matrix_fits(base_rows, embedding.num_centers, "the FFT path")
        coords = torch.arange(base_rows, dtype=torch.float64)[:, None] / num_samples
        with torch.no_grad():
            rows = embedding.embed(coords).reshape(base_rows, embedding.num_centers)
        rows = checked_matrix(rows, f"the {embedding.name} embedding")
        return cls(rows.reshape(base_rows, groups, -1))

    @property
    def shape(self) -> tuple[int, int]:
        """``(N, K)`` of the full matrix."""
        base_rows, groups, width = self.blocks.shape
        return base_rows * groups, groups * width

    def matrix(self) -> Tensor:
        """The full ``N x K`` matrix (for checks on small sizes)."""
        base_rows, groups, width = self.blocks.shape
        shift = (torch.arange(groups)[None, :] - torch.arange(groups)[:, None]) % groups
        full = self.blocks[:, shift, :]  # [a, p, q, b] = blocks[a, (q - p) mod g, b]
        return full.permute(1, 0, 2, 3).reshape(base_rows * groups, groups * width)

    def stable_rank(self) -> float:
        """Exact ``SR = g ||h||_F^2 / max_w ||H_w||_2^2``; ``ValueError`` if all zero."""
        base_rows, groups, width = self.blocks.shape
        frobenius = groups * float(self.blocks.square().sum())
        if frobenius == 0:
            raise ValueError("stable rank of an all-zero matrix is undefined")
        spectra = torch.fft.rfft(self.blocks, dim=1).permute(1, 0, 2)  # (w, n, m)
        if min(base_rows, width) == 1:
            largest = spectra.abs().square().sum(dim=(1, 2)).max()
        else:
            gram = (
                spectra @ spectra.mH if base_rows <= width else spectra.mH @ spectra
            )  # Hermitian, min(n, m) square
            largest = torch.linalg.eigvalsh(gram)[:, -1].max()
        return frobenius / float(largest)

    def similarity(self, reference: int) -> Tensor:
        """Cosine similarity of every row ``k`` to row ``reference``, exactly, by FFT.

        ``<X_(a0, p0), X_(a, p)> = R[a, (p0 - p) mod g]`` with the circular cross-correlation
        ``R[a, t] = sum_b sum_s h[a0, s, b] h[a, s + t, b]``. An all-zero row has similarity 0;
        an all-zero reference row raises ``ValueError``.
        """
        base_rows, groups, _ = self.blocks.shape
        if not 0 <= reference < base_rows * groups:
            raise ValueError(f"reference row {reference} is outside 0..{base_rows * groups - 1}")
        ref_base, ref_shift = reference % base_rows, reference // base_rows
        spectra = torch.fft.rfft(self.blocks, dim=1)
        cross = (spectra[ref_base].conj()[None] * spectra).sum(dim=2)
        correlation = torch.fft.irfft(cross, n=groups, dim=1)  # (n, g)
        norms = self.blocks.square().sum(dim=(1, 2)).sqrt()
        if float(norms[ref_base]) == 0:
            raise ValueError(f"the reference row {reference} is all zero: similarity is undefined")
        rows = torch.arange(base_rows * groups)
        base, shift = rows % base_rows, rows // base_rows
        inner = correlation[base, (ref_shift - shift) % groups]
        return inner / (norms[base].clamp_min(torch.finfo(torch.float64).tiny) * norms[ref_base])


def circulant_stable_rank(generator_row: Tensor) -> float:
    """SR of the ``D x D`` circulant of ``generator_row``: ``sum |G|^2 / max |G|^2``, G its DFT.

    P1's analysis matrix: ``D = 10000`` and a Gaussian row
    ``exp(-d^2 / (2 sigma^2))`` give ``1 / (2 sqrt(pi) sigma)``. Exact, ``O(D log D)``.
    """
    return BlockCirculant.circulant(generator_row).stable_rank()


def circulant_similarity(generator_row: Tensor) -> Tensor:
    """Similarity of every row of the circulant of ``generator_row`` to row 0.

    Entry ``i`` is the circular autocorrelation of the row at lag ``i`` over its value at 0:
    the similarity curve ``D(i / D)`` of P1's construction, ``O(D log D)``.
    """
    return BlockCirculant.circulant(generator_row).similarity(0)


def shifted_basis_stable_rank(embedding: Embedding, num_samples: int) -> float:
    """Exact SR of a periodic 1D shifted basis embedding ``x_k = k / N``, ``k < N``, by FFT.

    With ``N = K`` (a sample at every centre) this is P1's circulant; P1's
    table of SR against N uses ``K = 10000`` centres and ``N = 1..50`` samples.
    """
    return BlockCirculant.from_embedding(embedding, num_samples).stable_rank()


def shifted_basis_similarity(embedding: Embedding, num_samples: int) -> Tensor:
    """Similarity of every sample ``x_k = k / N`` to the centre sample ``x_(N // 2)``, by FFT."""
    blocks = BlockCirculant.from_embedding(embedding, num_samples)
    return blocks.similarity(num_samples // 2)


@dataclass(frozen=True)
class ToeplitzGram:
    """The symmetric Toeplitz Gram ``T[k, l] = column[|k - l|]`` of ``N`` rows of equal norm.

    A 1D Fourier embedding of ``x_k = k / N`` has this Gram (module docstring):
    ``column[p] = c^2 sum_i cos(2 pi f_i p / N)`` for frequencies ``f_i`` and normalisation
    ``c``, computed in ``O(N F)``, a chunk of frequencies at a time.
    """

    column: np.ndarray

    @classmethod
    def from_embedding(cls, embedding: Embedding, num_samples: int) -> ToeplitzGram:
        """The Gram of ``embedding`` on ``k / N``; ``ValueError`` unless 1D Fourier features."""
        if not isinstance(embedding, FourierFeatures):
            raise ValueError(
                f"the Toeplitz path needs a Fourier-feature embedding; {embedding.name!r} is in "
                f"the {embedding.family} family"
            )
        if embedding.in_dim != 1:
            raise ValueError(f"the Toeplitz path needs in_dim=1, got in_dim={embedding.in_dim}")
        _check_encoding_alone(embedding, "Toeplitz")
        num_samples = _positive_samples(num_samples)
        frequencies = embedding.frequencies.detach().to(torch.float64).reshape(-1).cpu()
        require_matrix_fits(
            num_samples, min(frequencies.numel(), FREQUENCY_CHUNK), "the Toeplitz path"
        )
        scale = float(embedding.norm_scale.detach().reshape(-1)[0])
        lags = torch.arange(num_samples, dtype=torch.float64) / num_samples
        column = torch.zeros(num_samples, dtype=torch.float64)
        for chunk in frequencies.split(FREQUENCY_CHUNK):
            column += torch.cos((2 * math.pi) * lags[:, None] * chunk[None, :]).sum(dim=1)
        return cls((scale**2 * column).numpy())

    def stable_rank(self) -> float:
        """``SR = N t_0 / lambda_max(T)``: the trace over the largest eigenvalue.

        The eigenvalue is dense for ``N <= 512``, else from Lanczos with FFT-based Toeplitz
        products (agreeing with the dense value to about 1e-15).
        """
        if not self.column[0] > 0:
            raise ValueError("stable rank of an all-zero matrix is undefined")
        return float(
            self.column.shape[0] * self.column[0] / _toeplitz_largest_eigenvalue(self.column)
        )

    def similarity(self, reference: int) -> Tensor:
        """Similarity of every row to row ``reference``: ``t_|k - reference| / t_0``."""
        size = self.column.shape[0]
        if not 0 <= reference < size:
            raise ValueError(f"reference row {reference} is outside 0..{size - 1}")
        column = torch.from_numpy(self.column)
        return column[(torch.arange(size) - reference).abs()] / column[0]


def fourier_features_stable_rank(embedding: Embedding, num_samples: int) -> float:
    """Exact SR of a 1D Fourier-family embedding of ``x_k = k / N`` (:class:`ToeplitzGram`)."""
    return ToeplitzGram.from_embedding(embedding, num_samples).stable_rank()


def fourier_features_similarity(embedding: Embedding, num_samples: int) -> Tensor:
    """Similarity of every sample ``k / N`` to the centre ``(N // 2) / N``, from the Gram column."""
    return ToeplitzGram.from_embedding(embedding, num_samples).similarity(num_samples // 2)


def _toeplitz_largest_eigenvalue(column: np.ndarray) -> float:
    """Largest eigenvalue of the symmetric Toeplitz matrix with first column ``column``.

    Lanczos (ARPACK, 64 basis vectors, residual below 1e-12 of the eigenvalue, a fixed start
    vector) handles the clusters of near-equal eigenvalues of evenly spaced frequencies; if
    it does not converge the dense eigenvalues are taken instead.
    """
    size = column.shape[0]
    if size > _DENSE_TOEPLITZ:
        operator = LinearOperator(
            (size, size),
            matvec=lambda vector: scipy.linalg.matmul_toeplitz(column, vector),
            dtype=np.float64,
        )
        start = np.random.default_rng(0).standard_normal(size)
        options = {"k": 1, "which": "LA", "ncv": 64, "tol": 1e-12, "v0": start}
        try:
            return float(eigsh(operator, return_eigenvectors=False, **options)[0])
        except ArpackNoConvergence:
            pass
    dense = torch.from_numpy(scipy.linalg.toeplitz(column))
    return float(torch.linalg.eigvalsh(dense)[-1])


def _check_encoding_alone(embedding: Embedding, path: str) -> None:
    if embedding.include_input:
        raise ValueError(
            f"the {path} path measures the encoding alone; {embedding.name!r} has "
            "include_input=True (measure its dense matrix with method 'gram')"
        )


def _positive_samples(num_samples: int) -> int:
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"number of samples must be an integer >= 1, got {num_samples!r}")
    return num_samples
