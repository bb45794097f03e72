"""Measurements of embedded matrices: stable rank, distance preservation, and their theory.

- :mod:`~posenc.analysis.metrics`: SR and DP of any matrix (Gram or SVD).
- :mod:`~posenc.analysis.spectral`: exact structured paths, FFT for periodic shifted bases and
  Toeplitz/Lanczos for Fourier features.
- :mod:`~posenc.analysis.measure`: one call per quantity on an embedding and a sample grid.
- :mod:`posenc.theory`: closed forms (Gaussian, RFF, triangle, sinc, ...), stated by each
  embedding's ``closed_form()``.
- :mod:`~posenc.analysis.construction`: embeddings built as P1 analyses them, and matched in
  distance preservation.
- :mod:`~posenc.analysis.experiments`: P1's figures as functions returning their numbers
  (:mod:`~posenc.analysis.plot_data`); :mod:`~posenc.analysis.plots` draws them in the style
  of :mod:`~posenc.plotting`.
- :mod:`~posenc.analysis.layers`: the stable rank of hidden activations during training.

The papers' remaining experiments live in their own modules, imported by name (each one a
settings class with the papers' axes, a ``QUICK`` preset and a ``run_*`` function; see
:mod:`~posenc.analysis.reproduction` and ``posenc experiment``):
:mod:`~posenc.analysis.layer_rank`, :mod:`~posenc.analysis.stride`,
:mod:`~posenc.analysis.embedding_size`, :mod:`~posenc.analysis.p3_table`,
:mod:`~posenc.analysis.p1_bandwidths` and :mod:`~posenc.analysis.p1_scatter`.

The names below are imported on first use (declared in ``__init__.pyi``).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
