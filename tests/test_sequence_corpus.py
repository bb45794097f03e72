"""Byte-level language modelling: corpora, their splits and refusals, and the ``lm`` task."""

from __future__ import annotations

import math
import random
import re
import sysconfig
from dataclasses import replace
from pathlib import Path
from pydoc_data import topics

import numpy as np
import pytest

from posenc.sequence.corpus import (
    EXCLUDED_CODE_FOLDERS,
    Corpus,
    Document,
    load_corpus,
    split_corpus,
)
from posenc.sequence.tasks import FIRST_BYTE, LanguageModelling, make_task
from posenc.sequence.training import resolve_config, train

WORDS = ("the", "of", "and", "to", "in", "is", "was", "for", "on", "that", "with", "as", "by")


def _prose(seed: int, size: int) -> str:
    """Deterministic English-like text of about ``size`` bytes, in lines."""
    generator = random.Random(seed)
    lines = []
    while sum(len(line) + 1 for line in lines) < size:
        lines.append(" ".join(generator.choice(WORDS) for _ in range(10)) + ".")
    return "\n".join(lines) + "\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder corpus: 30 text files in two levels, a hidden file and a hidden folder."""
    root = tmp_path / "corpus"
    for index in range(30):
        file = root / ("part" if index % 2 else "") / f"doc{index:02d}.txt"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(_prose(index, 2000 + 100 * index))
    (root / ".notes.txt").write_text("private")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_bytes(b"\0binary")
    return root


def _names(documents) -> list[str]:
    return [document.name for document in documents]


# ------------------------------------------------------------------------- built-in corpora
def test_stdlib_docs_is_one_document_per_pydoc_topic():
    corpus = load_corpus("stdlib-docs")
    assert _names(corpus.documents) == sorted(topics.topics)
    by_name = {document.name: document.data for document in corpus.documents}
    assert by_name["specialnames"] == topics.topics["specialnames"].encode()


def test_stdlib_code_is_the_library_without_tests_or_installed_packages():
    corpus = load_corpus("stdlib-code")
    names = _names(corpus.documents)
    root = Path(sysconfig.get_paths()["stdlib"])
    assert "os.py" in names and "collections/__init__.py" in names
    assert (root / "test").is_dir() and (root / "pydoc_data" / "topics.py").is_file()
    for name in names:
        parts = name.split("/")
        assert name.endswith(".py") and not parts[-1].startswith("test_"), name
        assert not EXCLUDED_CODE_FOLDERS & set(parts[:-1]), name
    assert dict(zip(names, corpus.documents, strict=True))["os.py"].data == (
        (root / "os.py").read_bytes()
    )


@pytest.mark.parametrize("name", ["stdlib-docs", "stdlib-code"])
def test_builtin_splits_are_disjoint_complete_and_near_their_shares(name):
    corpus = load_corpus(name)
    parts = split_corpus(corpus, 0.1, 0.1)
    names = [name for documents in parts.values() for name in _names(documents)]
    assert sorted(names) == sorted(_names(corpus.documents))
    shares = {
        split: sum(len(document.data) for document in documents) / corpus.size
        for split, documents in parts.items()
    }
    # Whole documents only: a share misses its target by less than one document's size.
    largest = max(len(document.data) for document in corpus.documents) / corpus.size
    for split in ("validation", "test"):
        assert abs(shares[split] - 0.1) <= largest / 2 + 1e-9, (split, shares)


# ------------------------------------------------------------------------------- splits
def test_splits_depend_on_document_names_only(folder):
    corpus = load_corpus(str(folder))
    shuffled = list(corpus.documents)
    random.Random(0).shuffle(shuffled)
    first = split_corpus(corpus, 0.1, 0.2)
    again = split_corpus(replace(corpus, documents=tuple(shuffled)), 0.1, 0.2)
    for split in first:
        assert sorted(_names(first[split])) == sorted(_names(again[split]))
    assert all(len(documents) > 0 for documents in first.values())
    test_bytes = sum(len(document.data) for document in first["test"])
    assert test_bytes == pytest.approx(0.2 * corpus.size, abs=1500)


def test_a_folder_corpus_reads_its_text_files_and_skips_hidden_ones(folder):
    corpus = load_corpus(str(folder))
    assert corpus.source == str(folder.resolve())
    assert len(corpus.documents) == 30
    assert "part/doc01.txt" in _names(corpus.documents) and "doc00.txt" in _names(corpus.documents)
    assert not any(name.startswith(".") for name in _names(corpus.documents))
    (folder / "part" / "doc01.txt").rename(folder / "part" / "doc01.md")
    assert _names(load_corpus(str(folder), "*.md").documents) == ["part/doc01.md"]


def test_a_single_file_is_cut_in_order_into_its_three_parts(tmp_path):
    text = _prose(1, 10_000).encode()
    path = tmp_path / "book.txt"
    path.write_bytes(text)
    parts = split_corpus(load_corpus(str(path)), 0.1, 0.2)
    pieces = [parts[split][0].data for split in ("train", "validation", "test")]
    assert b"".join(pieces) == text
    size = len(text)
    assert [len(piece) for piece in pieces] == [
        round(0.7 * size), round(0.8 * size) - round(0.7 * size), size - round(0.8 * size)
    ]  # fmt: skip


def test_the_fingerprint_tells_corpora_apart():
    one = Corpus("x", (Document("a", b"abc"), Document("b", b"d")))
    same = Corpus("y", (Document("b", b"d"), Document("a", b"abc")))
    moved = Corpus("x", (Document("a", b"ab"), Document("b", b"cd")))
    assert one.fingerprint() == same.fingerprint() != moved.fingerprint()


# ------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "missing.txt", "no such file or folder"),
        (lambda root: _write(root / "empty.txt", b""), "empty (0 bytes of text)"),
        (lambda root: _folder(root, {"a.txt": b"", "b.txt": b""}), "empty (0 bytes of text)"),
        (lambda root: _folder(root, {}), "no file in the folder matches '*'"),
        (lambda root: _write(root / "image.png", b"\x89PNG\r\n\x1a\n\0\0"), "binary"),
        (lambda root: _write(root / "latin.txt", "café".encode("latin-1")), "not UTF-8"),
        (
            lambda root: _folder(root, {"a.txt": b"text" * 100, "sub/b.bin": b"x\0y"}),
            "sub/b.bin) is binary, not text: a NUL byte at offset 1",
        ),
        (lambda root: _write(root / "short.txt", b"x" * 64), "fewer than one context of 65"),
        (lambda root: _write(root / "small.txt", b"y" * 600), "validation split holds 61 tokens"),
    ],
)
def test_the_loader_refuses_in_one_line(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        make_task("lm", corpus=str(path), context=64)
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith(f"corpus {path}")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    folder = root / "folder"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        _write(folder / name, data)
    return folder


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"context": 1}, "context must be >= 2"),
        ({"test_fraction": 0.5}, r"test_fraction must be in \(0, 0.5\)"),
        ({"validation_fraction": 0}, "validation_fraction must be in"),
        ({"pattern": "*.txt"}, "pattern '\\*.txt' applies to a folder corpus"),
        ({"corpus": ""}, "corpus must be a built-in name or a path"),
        ({"tokens": 5}, "has no parameter 'tokens'"),
    ],
)
def test_lm_parameters_are_checked(params, message):
    with pytest.raises(ValueError, match=message):
        make_task("lm", **{"corpus": "stdlib-docs", **params})


# ----------------------------------------------------------------------------- the task
@pytest.fixture(scope="module")
def docs() -> LanguageModelling:
    return make_task("lm", corpus="stdlib-docs", context=32)


def test_vocabulary_is_padding_end_of_document_and_the_256_bytes(docs):
    assert len(docs.vocabulary) == 258 == len(set(docs.vocabulary))
    text = "déjà vu\n".encode()
    tokens = docs.encode([repr(bytes([value]))[2:-1] for value in text])
    assert bytes((tokens - FIRST_BYTE).tolist()) == text
    assert docs.decode(tokens[:2]) == ["d", "\\xc3"]


def test_every_split_predicts_the_same_held_out_bytes_from_longer_contexts(docs):
    test_stream = docs.streams["test"]
    predicted = {}
    for split in docs.splits:
        examples = docs.held_out(split, "test", np.random.default_rng(0), 40)
        assert {len(example.tokens) for example in examples} == {docs.max_length(split)}
        for example in examples:
            docs.check(example, split)
        predicted[split] = np.concatenate([example.tokens[1:] for example in examples])
        assert len(examples) == 40 // docs.multiples[split]
    assert np.array_equal(predicted["id"], predicted["2T"])
    assert np.array_equal(predicted["id"], predicted["4T"])
    assert len(predicted["id"]) == 10 * 4 * 32
    starts = [
        _find(test_stream, example.tokens)
        for example in docs.held_out("4T", "test", np.random.default_rng(0), 40)
    ]
    assert starts[0] == 0 and starts[-1] == len(test_stream) - 4 * 32 - 1
    assert np.all(np.diff(starts) >= 4 * 32)  # evenly spread, never overlapping targets


def _find(stream: np.ndarray, window: np.ndarray) -> int:
    """Offset of ``window`` in ``stream`` (-1 if absent)."""
    haystack = stream.astype(np.int16).tobytes()
    offset = haystack.find(window.astype(np.int16).tobytes())
    return -1 if offset < 0 else offset // 2


def test_training_windows_come_from_training_documents_only(tmp_path):
    # Every word names its document, so a window shows which document it came from.
    root = tmp_path / "tagged"
    root.mkdir()
    for index in range(20):
        words = " ".join(f"d{index}w{word % 7}" for word in range(600))
        (root / f"{index}.txt").write_text(words)
    task = make_task("lm", corpus=str(root), context=32)
    examples = task.sample("id", np.random.default_rng(3), 200)
    train_documents = {f"d{name.split('.')[0]}w" for name in _names(task.documents["train"])}
    for example in examples:
        task.check(example, "id")
        text = bytes((example.tokens[example.tokens >= FIRST_BYTE] - FIRST_BYTE).tolist())
        whole_words = text.decode().split()[1:-1]  # the first and last may be cut
        tags = {f"{word.split('w')[0]}w" for word in whole_words}
        assert tags and tags <= train_documents
    again = task.sample("id", np.random.default_rng(3), 200)
    assert all(np.array_equal(a.tokens, b.tokens) for a, b in zip(examples, again, strict=True))


def test_end_of_document_is_context_never_an_answer(docs):
    stream = docs.streams["train"]
    boundary = int(np.flatnonzero(stream == 1)[0])
    window = docs.held_out("id", "validation", np.random.default_rng(0), 4)[0]
    assert not window.answers[0]
    tokens = stream[boundary - 5 : boundary + 28].astype(np.int64)
    answers = tokens >= FIRST_BYTE
    answers[0] = False
    example = type(window)(tokens, answers)
    docs.check(example, "id")
    wrong = type(window)(tokens, np.r_[False, np.ones(32, dtype=bool)])
    with pytest.raises(ValueError, match="answer mask"):
        docs.check(wrong, "id")
    with pytest.raises(ValueError, match="a id window holds 33 tokens, got 32"):
        docs.check(type(window)(tokens[:-1], answers[:-1]), "id")


def test_bits_per_byte_and_perplexity_come_from_the_loss_in_nats(docs):
    measures = docs.loss_measures(math.log(2) * 3)
    assert measures["bits_per_byte"] == pytest.approx(3.0)
    assert measures["perplexity"] == pytest.approx(8.0)


def test_relative_and_cope_tables_reach_the_longest_training_distance(docs):
    config = resolve_config("lm", "relative", task_params={"corpus": "stdlib-docs", "context": 32})
    model = config.model_config()
    assert model.context == 4 * 32 and model.max_position == 31
    assert config.as_dict()["task_params"]["corpus"] == "stdlib-docs"
    set_here = resolve_config("lm", "cope", task_params={"context": 32}, model={"max_position": 7})
    assert set_here.model_config().max_position == 7


def test_a_short_lm_run_learns_bytes_and_reports_bits_per_byte(tmp_path):
    path = tmp_path / "prose.txt"
    path.write_text(_prose(5, 60_000))
    config = resolve_config(
        "lm",
        "cope+relative",
        task_params={"corpus": str(path), "context": 16},
        model={"layers": 1, "width": 32, "heads": 2},
        train={"steps": 60, "lr": 1e-2, "warmup_steps": 5, "eval_every": 30, "test_size": 64},
    )
    metrics = train(config, progress=False).metrics
    assert list(metrics["splits"]) == ["id", "2T", "4T"]
    for result in metrics["splits"].values():
        assert result["bits_per_byte"] == pytest.approx(result["loss"] / math.log(2))
        assert result["perplexity"] == pytest.approx(math.exp(result["loss"]))
    # Uniform guessing over the 258 tokens costs log2(258) = 8.01 bits; 22 words and their
    # spaces cost far less once learned.
    assert metrics["curve"][0]["id"]["bits_per_byte"] < 6.0
    assert metrics["splits"]["id"]["bits_per_byte"] < 4.0
    assert metrics["data"]["bytes"]["test"] == pytest.approx(0.1 * path.stat().st_size, abs=1)
    assert metrics["data"]["corpus"] == str(path.resolve())
