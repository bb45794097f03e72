"""posenc: study the input embeddings (positional encodings) of coordinate networks.

The core verbs are importable from the package itself, loaded on first use (declared in
``__init__.pyi``)::

    import posenc

    config = posenc.resolve_config("p1-1d", embedding_params={"sigma": 0.002})
    result = posenc.fit(posenc.load_config_signal(config), config)
    emb = posenc.make_embedding("gaussian", sigma=0.01, num_centers=1000)
    posenc.embedding_stable_rank(emb, 1000)

Subpackages: :mod:`posenc.embeddings`, :mod:`posenc.data`, :mod:`posenc.neural_fields`,
:mod:`posenc.analysis`, :mod:`posenc.sweeps`, :mod:`posenc.sequence`.

Importing posenc before torch makes torch's waiting threads sleep instead of spin
(``OMP_WAIT_POLICY=PASSIVE`` unless set): on a machine shared with busy processes, spinning
threads slow multi-threaded work many times over (:mod:`posenc.threads`).
"""

import lazy_loader

from posenc.threads import prefer_passive_waiting

prefer_passive_waiting()

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
__all__ += ["__version__"]
