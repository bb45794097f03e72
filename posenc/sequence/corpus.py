"""Text corpora for byte-level language modelling, and their deterministic splits.

A corpus is a list of named documents (bytes of UTF-8 text). Two ship with Python, so they
need no download:

- ``stdlib-docs``: English prose, the documentation topics of the standard library's
  ``pydoc_data/topics.py`` (what ``help("topic")`` shows), one document per topic;
- ``stdlib-code``: Python code, the standard library's own ``.py`` sources, one document per
  file, without tests (any folder named ``test``, ``tests`` or ``idle_test`` and any
  ``test_*.py``), without ``pydoc_data`` (the docs corpus, stored as a Python file) and without
  installed packages (``site-packages``).

Both depend on the Python version that runs them; :meth:`Corpus.fingerprint` identifies the
exact bytes. Any other corpus is a path: a folder gives one document per file whose name
matches a glob pattern (recursively; hidden files and folders are skipped), a file is one
document.

Splits (:func:`split_corpus`) are by document: documents are ordered by the SHA-256 of their
names, and the test split takes, in that order, every document that brings its size closer to
``test_fraction`` of the bytes (the smallest one if none does); then the validation split
likewise from the rest, and what remains is training data. The order depends on names only, so
the split is the same on every machine and for every seed. A one-document
corpus (a single file) is cut instead into contiguous training, validation and test parts, in
that order, as enwik8 is.

Errors are ``ValueError`` with one line naming the corpus: a path that does not exist, an empty
corpus, a file that is not UTF-8 text (a NUL byte, or invalid UTF-8), a corpus smaller than one
context, a split too small to evaluate.
"""

from __future__ import annotations

import functools
import hashlib
import sysconfig
from dataclasses import dataclass
from pathlib import Path

BUILTIN_CORPORA = {
    "stdlib-docs": "English: the documentation topics of pydoc_data/topics.py, one per topic",
    "stdlib-code": "Python: the standard library's .py files without tests, one per file",
}
"""The corpora that ship with Python, by name."""

EXCLUDED_CODE_FOLDERS = frozenset(
    {"test", "tests", "idle_test", "pydoc_data", "site-packages", "dist-packages", "__pycache__"}
)
"""Folders of the standard library that ``stdlib-code`` leaves out."""

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Document:
    """One document of a corpus: its name (a topic or a relative path) and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Corpus:
    """Named documents of UTF-8 text; ``source`` is a built-in name or a resolved path."""

    source: str
    documents: tuple[Document, ...]

    @property
    def size(self) -> int:
        """Total bytes."""
        return sum(len(document.data) for document in self.documents)

    def fingerprint(self) -> str:
        """SHA-256 of the documents' names and bytes, in name order."""
        digest = hashlib.sha256()
        for document in sorted(self.documents, key=lambda document: document.name):
            digest.update(document.name.encode() + b"\0")
            digest.update(hashlib.sha256(document.data).digest())
        return digest.hexdigest()


def load_corpus(source: str, pattern: str = "*") -> Corpus:
    """The built-in corpus ``source``, or the text file or folder at that path.

    ``pattern`` selects the files of a folder (a glob matched against the file name, e.g.
    ``*.py``). Raises ``ValueError`` for a missing path, an empty corpus, or a file that is not
    UTF-8 text.
    """
    if source in BUILTIN_CORPORA:
        return _builtin_corpus(source)
    path = Path(source).expanduser()
    if path.is_file():
        documents: tuple[Document, ...] = (Document(path.name, _text_bytes(path, source)),)
    elif path.is_dir():
        files = sorted(
            file
            for file in path.rglob(pattern)
            if file.is_file()
            and not any(part.startswith(".") for part in file.relative_to(path).parts)
        )
        if not files:
            raise ValueError(f"corpus {source}: no file in the folder matches {pattern!r}")
        documents = tuple(
            Document(file.relative_to(path).as_posix(), _text_bytes(file, source)) for file in files
        )
    else:
        raise ValueError(
            f"corpus {source}: no such file or folder (built-in corpora: "
            f"{', '.join(BUILTIN_CORPORA)})"
        )
    corpus = Corpus(str(path.resolve()), documents)
    if corpus.size == 0:
        raise ValueError(f"corpus {source}: empty (0 bytes of text)")
    return corpus


def _text_bytes(file: Path, source: str) -> bytes:
    """The bytes of ``file``, refused unless they are UTF-8 text without NUL bytes."""
    data = file.read_bytes()
    where = "" if str(file) == source else f" ({file})"
    nul = data.find(b"\0")
    if nul >= 0:
        raise ValueError(f"corpus {source}{where} is binary, not text: a NUL byte at offset {nul}")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"corpus {source}{where} is not UTF-8 text: invalid byte at offset {error.start}"
        ) from None
    return data


@functools.lru_cache(maxsize=len(BUILTIN_CORPORA))
def _builtin_corpus(name: str) -> Corpus:
    if name == "stdlib-docs":
        from pydoc_data import topics  # imported only when asked for: 0.7 MB of text

        documents = tuple(
            Document(topic, text.encode()) for topic, text in sorted(topics.topics.items())
        )
    else:
        root = Path(sysconfig.get_paths()["stdlib"])
        documents = tuple(
            Document(file.relative_to(root).as_posix(), file.read_bytes())
            for file in sorted(root.rglob("*.py"))
            if _is_library_code(file.relative_to(root))
        )
    return Corpus(name, documents)


def _is_library_code(relative: Path) -> bool:
    """Whether a ``.py`` file of the standard library belongs to ``stdlib-code``."""
    return not (EXCLUDED_CODE_FOLDERS & set(relative.parts[:-1])) and not relative.name.startswith(
        "test_"
    )


def split_corpus(
    corpus: Corpus, validation_fraction: float, test_fraction: float
) -> dict[str, tuple[Document, ...]]:
    """Training, validation and test documents (see the module docstring for the rule).

    Raises ``ValueError`` if a split would be empty.
    """
    if len(corpus.documents) == 1:
        parts = _cut_document(corpus.documents[0], validation_fraction, test_fraction)
    else:
        parts = _split_documents(corpus, validation_fraction, test_fraction)
    for split, documents in parts.items():
        if sum(len(document.data) for document in documents) == 0:
            raise ValueError(
                f"corpus {corpus.source}: its {split} split is empty "
                f"({len(corpus.documents)} documents, {corpus.size} bytes)"
            )
    return parts


def _split_documents(
    corpus: Corpus, validation_fraction: float, test_fraction: float
) -> dict[str, tuple[Document, ...]]:
    remaining = sorted(
        corpus.documents, key=lambda document: hashlib.sha256(document.name.encode()).digest()
    )
    held_out: dict[str, tuple[Document, ...]] = {}
    for split, fraction in (("test", test_fraction), ("validation", validation_fraction)):
        target, filled, chosen = fraction * corpus.size, 0, []
        for index, document in enumerate(remaining):
            if filled + len(document.data) / 2 <= target:
                chosen.append(index)
                filled += len(document.data)
        if not chosen and remaining:
            chosen = [min(range(len(remaining)), key=lambda index: len(remaining[index].data))]
        held_out[split] = tuple(remaining[index] for index in chosen)
        remaining = [document for index, document in enumerate(remaining) if index not in chosen]
    return {"train": tuple(remaining), **{split: held_out[split] for split in SPLITS[1:]}}


def _cut_document(
    document: Document, validation_fraction: float, test_fraction: float
) -> dict[str, tuple[Document, ...]]:
    data = document.data
    train_end = round((1 - validation_fraction - test_fraction) * len(data))
    validation_end = round((1 - test_fraction) * len(data))
    parts = {
        "train": data[:train_end],
        "validation": data[train_end:validation_end],
        "test": data[validation_end:],
    }
    return {split: (Document(f"{document.name}:{split}", part),) for split, part in parts.items()}
