"""posenc: study the input embeddings of coordinate networks."""

__version__ = "0.1.0"
