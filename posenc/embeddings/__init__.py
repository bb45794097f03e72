"""Every embedding of coordinates in [0, 1)^d, one registry, one base class.

>>> from posenc.embeddings import make_embedding
>>> emb = make_embedding("gaussian", in_dim=2, sigma=0.01, num_centers=256, compose="concat")
>>> emb.out_dim
512
"""

from posenc.embeddings.base import (
    REFERENCE_GRID_POINTS,
    AxisEmbedding,
    Embedding,
    Param,
    kronecker_rows,
)
from posenc.embeddings.fourier import (
    BasicEmbedding,
    FourierFeatures,
    IdentityEmbedding,
    LinearFourierEmbedding,
    LogFourierEmbedding,
    P3PositionalEncoding,
    RandomFourierFeatures,
)
from posenc.embeddings.registry import (
    EMBEDDINGS,
    EmbeddingInfo,
    ParameterInfo,
    declare_embedding,
    describe_embedding,
    embedding_class,
    embedding_names,
    make_embedding,
    register,
)
from posenc.embeddings.shifted import (
    CustomBasis,
    GaussianBasis,
    ImpulseBasis,
    NoiseBasis,
    RectBasis,
    ShiftedBasis,
    SincBasis,
    SineBasis,
    SquareWaveBasis,
    TriangleBasis,
    periodic_interpolate,
)
from posenc.theory import gaussian_sigma_to_rff_scale, rff_scale_to_gaussian_sigma

__all__ = [
    "EMBEDDINGS",
    "REFERENCE_GRID_POINTS",
    "AxisEmbedding",
    "BasicEmbedding",
    "CustomBasis",
    "Embedding",
    "EmbeddingInfo",
    "FourierFeatures",
    "GaussianBasis",
    "IdentityEmbedding",
    "ImpulseBasis",
    "LinearFourierEmbedding",
    "LogFourierEmbedding",
    "NoiseBasis",
    "P3PositionalEncoding",
    "Param",
    "ParameterInfo",
    "RandomFourierFeatures",
    "RectBasis",
    "ShiftedBasis",
    "SincBasis",
    "SineBasis",
    "SquareWaveBasis",
    "TriangleBasis",
    "declare_embedding",
    "describe_embedding",
    "embedding_class",
    "embedding_names",
    "gaussian_sigma_to_rff_scale",
    "kronecker_rows",
    "make_embedding",
    "periodic_interpolate",
    "register",
    "rff_scale_to_gaussian_sigma",
]
