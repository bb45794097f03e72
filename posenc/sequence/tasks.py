"""Seeded generators of the synthetic tasks on which position encodings differ.

Every task produces token sequences with a mask of *answer* tokens: the tokens a model must
predict (the loss and the error are computed on them only; every other token is context).
A task has an in-distribution split ``"id"`` (training batches and the in-distribution test
set both come from it) and named out-of-distribution splits. :meth:`SequenceTask.check`
re-parses a sequence against the task's grammar and recomputes every answer, so that any
generated or hand-made sequence can be validated independently of the generator.

Tasks (parameters and defaults on each class):

- ``flipflop`` (Liu et al., arXiv 2306.00946): pairs (instruction, bit), instructions
  ``w`` (write), ``r`` (read), ``i`` (ignore); the first is ``w``, the last ``r``; the bit after
  ``r`` must equal the last written bit. FFL(p) draws ignore with probability ``p`` and
  read/write with ``(1 - p) / 2`` each. In-distribution FFL(0.8), OOD sparse FFL(0.98) and
  dense FFL(0.1), all of the same length.
- ``selective_copy``: ``num_tokens`` symbols scattered among blanks ``_``, a separator ``|``,
  then the symbols again in order, skipping the blanks. OOD: fewer (dense) or more (sparse)
  blanks.
- ``counting``: the official CoPE generator's statement grammar: ``v = 0 ;`` (weight 1),
  ``pass;`` (weight 50), ``v ++;`` (weight 7, only on a variable already set and never above
  ``max_value``; an impossible statement is redrawn), then ``print v`` and the value of ``v``
  as the answer. OOD ``long``: more statements than any training sequence.
- ``lm``: next-byte prediction on a text corpus (:mod:`posenc.sequence.corpus`): every byte
  after the first of a window is an answer. Training windows of ``T + 1`` bytes are drawn from
  the training documents; validation and test windows come from their own documents, at
  contexts ``T`` (``id``), ``2T`` and ``4T`` over the same bytes (context extrapolation).
"""

from __future__ import annotations

import abc
import difflib
import math
import random
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from posenc import validation
from posenc.sequence.corpus import BUILTIN_CORPORA, Document, load_corpus, split_corpus

PAD = "<pad>"
"""Token 0 of every vocabulary: fills batches to a common length, never an answer."""

IN_DISTRIBUTION = "id"
HELD_OUT = ("validation", "test")


@dataclass(frozen=True)
class Example:
    """One sequence: token ids ``(n,)`` and a boolean mask of its answer tokens ``(n,)``."""

    tokens: np.ndarray
    answers: np.ndarray


@dataclass(frozen=True)
class Batch:
    """Teacher-forced batch: ``inputs[t]`` predicts ``targets[t]``; ``mask`` marks answers."""

    inputs: Tensor
    targets: Tensor
    mask: Tensor


class SequenceTask(abc.ABC):
    """Base class: a seeded generator of one task, its splits, vocabulary and checker."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    ood_splits: ClassVar[tuple[str, ...]] = ()
    parameter_help: ClassVar[dict[str, str]] = {}
    measure: ClassVar[str] = "error"
    """What comparisons report: ``error`` (answer error, %) or ``bits_per_byte``."""

    def __init__(self, vocabulary: Sequence[str]) -> None:
        self.vocabulary = (PAD, *vocabulary)
        self.index = {token: position for position, token in enumerate(self.vocabulary)}

    @property
    def splits(self) -> tuple[str, ...]:
        """``"id"`` then the out-of-distribution splits."""
        return (IN_DISTRIBUTION, *self.ood_splits)

    @property
    def primary_ood(self) -> str:
        """The out-of-distribution split quoted as "the" OOD error."""
        return self.ood_splits[0]

    def sample(self, split: str, rng: np.random.Generator, count: int) -> list[Example]:
        """``count`` sequences of ``split``, drawn from ``rng`` only (deterministic per seed)."""
        self.check_split(split)
        return self._sample(split, rng, count)

    def held_out(
        self, split: str, part: str, rng: np.random.Generator, count: int
    ) -> list[Example]:
        """Sequences of ``split`` to measure a model on, never trained on; ``part`` is
        ``"validation"`` (learning curves) or ``"test"`` (final results).

        A generated task draws ``count`` fresh sequences from ``rng`` (whose stream the caller
        keeps apart from training); a corpus task overrides this with its held-out documents.
        """
        validation.choice("held-out part", part, HELD_OUT)
        return self.sample(split, rng, count)

    def default_max_position(self) -> int | None:
        """The model's ``max_position`` unless set (``None``: the model's context)."""
        return None

    def split_label(self, split: str) -> str:
        """How tables and plots name ``split``."""
        return split

    def loss_measures(self, loss: float) -> dict[str, float]:
        """Measures derived from a mean answer loss in nats, beside it in the metrics."""
        return {}

    def data_summary(self) -> dict[str, Any]:
        """What the task's data was, for ``metrics.json`` (empty for generated tasks)."""
        return {}

    @abc.abstractmethod
    def _sample(self, split: str, rng: np.random.Generator, count: int) -> list[Example]:
        """Draw ``count`` sequences of a validated split."""

    @abc.abstractmethod
    def max_length(self, split: str) -> int:
        """Longest sequence (in tokens) the split can produce."""

    @abc.abstractmethod
    def check(self, example: Example, split: str) -> None:
        """Raise ``ValueError`` unless ``example`` is a valid ``split`` sequence whose answers
        are right and whose answer mask marks exactly the answer tokens."""

    @abc.abstractmethod
    def parameters(self) -> dict[str, Any]:
        """The constructor parameters, as plain values."""

    def check_split(self, split: str) -> None:
        """Raise ``ValueError`` for a split this task does not have."""
        validation.choice(f"{self.name} split", split, self.splits)

    def decode(self, tokens: Sequence[int] | np.ndarray) -> list[str]:
        """Token ids to their strings."""
        return [self.vocabulary[int(token)] for token in tokens]

    def encode(self, words: Sequence[str]) -> np.ndarray:
        """Strings to token ids."""
        return np.array([self.index[word] for word in words], dtype=np.int64)

    def context(self) -> int:
        """Longest model input over all splits (the last token is never an input)."""
        return max(self.max_length(split) for split in self.splits) - 1


def collate(examples: Sequence[Example], device: torch.device | str = "cpu") -> Batch:
    """Right-pad with token 0 and shift by one: inputs ``tokens[:-1]``, targets ``tokens[1:]``.

    Padding sits after every real token, so with causal attention it never changes a real
    position's output; padded positions are not answers.
    """
    length = max(len(example.tokens) for example in examples)
    tokens = np.zeros((len(examples), length), dtype=np.int64)
    answers = np.zeros((len(examples), length), dtype=bool)
    for row, example in enumerate(examples):
        tokens[row, : len(example.tokens)] = example.tokens
        answers[row, : len(example.answers)] = example.answers
    tokens_t = torch.from_numpy(tokens).to(device)
    answers_t = torch.from_numpy(answers).to(device)
    return Batch(tokens_t[:, :-1], tokens_t[:, 1:], answers_t[:, 1:])


def _probability(name: str, value: float) -> float:
    number = validation.finite_float(name, value)
    if not 0 <= number < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return number


class FlipFlop(SequenceTask):
    """Flip-flop language FFL(p): remember the last written bit across ignored instructions."""

    name = "flipflop"
    summary = "read returns the last written bit; OOD sparse FFL(0.98), dense FFL(0.1)"
    ood_splits = ("sparse", "dense")
    parameter_help: ClassVar[dict[str, str]] = {
        "num_instructions": "instructions per sequence (2 tokens each), >= 2",
        "ood_instructions": "instructions per OOD sequence (default num_instructions, as in "
        "the paper)",
        "ignore": "probability of an ignore instruction in training and id test data",
        "sparse_ignore": "ignore probability of the sparse OOD split",
        "dense_ignore": "ignore probability of the dense OOD split",
    }

    def __init__(
        self,
        num_instructions: int = 256,
        ood_instructions: int | None = None,
        ignore: float = 0.8,
        sparse_ignore: float = 0.98,
        dense_ignore: float = 0.1,
    ) -> None:
        super().__init__(("w", "r", "i", "0", "1"))
        ood_instructions = num_instructions if ood_instructions is None else ood_instructions
        for name, value in (
            ("num_instructions", num_instructions),
            ("ood_instructions", ood_instructions),
        ):
            if validation.positive_int(name, value) < 2:
                raise ValueError(f"{name} must be >= 2, got {value}")
        self.instructions = {
            IN_DISTRIBUTION: num_instructions,
            "sparse": ood_instructions,
            "dense": ood_instructions,
        }
        self.ignore = {
            IN_DISTRIBUTION: _probability("ignore", ignore),
            "sparse": _probability("sparse_ignore", sparse_ignore),
            "dense": _probability("dense_ignore", dense_ignore),
        }

    def parameters(self) -> dict[str, Any]:
        return {
            "num_instructions": self.instructions[IN_DISTRIBUTION],
            "ood_instructions": self.instructions["sparse"],
            "ignore": self.ignore[IN_DISTRIBUTION],
            "sparse_ignore": self.ignore["sparse"],
            "dense_ignore": self.ignore["dense"],
        }

    def max_length(self, split: str) -> int:
        self.check_split(split)
        return 2 * self.instructions[split]

    def _sample(self, split: str, rng: np.random.Generator, count: int) -> list[Example]:
        ignore, length = self.ignore[split], self.instructions[split]
        write, read, skip = self.index["w"], self.index["r"], self.index["i"]
        instructions = rng.choice(
            np.array([write, read, skip]),
            size=(count, length),
            p=[(1 - ignore) / 2, (1 - ignore) / 2, ignore],
        )
        instructions[:, 0], instructions[:, -1] = write, read
        bits = rng.integers(0, 2, size=instructions.shape)
        steps = np.arange(length)
        last_write = np.maximum.accumulate(np.where(instructions == write, steps, 0), axis=1)
        is_read = instructions == read
        bits = np.where(is_read, np.take_along_axis(bits, last_write, axis=1), bits)
        tokens = np.stack([instructions, bits + self.index["0"]], axis=2).reshape(count, -1)
        answers = np.stack([np.zeros_like(is_read), is_read], axis=2).reshape(count, -1)
        return [Example(row, mask) for row, mask in zip(tokens, answers, strict=True)]

    def check(self, example: Example, split: str) -> None:
        self.check_split(split)
        words = _checked_words(self, example, self.max_length(split))
        if len(words) != self.max_length(split):
            raise ValueError(f"flipflop: expected {self.max_length(split)} tokens")
        instructions, bits = words[0::2], words[1::2]
        if instructions[0] != "w" or instructions[-1] != "r":
            raise ValueError("flipflop: the first instruction must be w and the last r")
        remembered = None
        expected = []
        for position, (instruction, bit) in enumerate(zip(instructions, bits, strict=True)):
            if instruction not in ("w", "r", "i") or bit not in ("0", "1"):
                raise ValueError(f"flipflop: bad pair {instruction!r} {bit!r} at {position}")
            if instruction == "w":
                remembered = bit
            elif instruction == "r" and bit != remembered:
                raise ValueError(f"flipflop: read {position} returns {bit}, not {remembered}")
            expected += [False, instruction == "r"]
        _check_mask(self, example, expected)


class SelectiveCopy(SequenceTask):
    """Copy the symbols of a context in order, skipping the blanks scattered among them."""

    name = "selective_copy"
    summary = "copy the non-blank tokens in order; OOD with fewer (dense) or more (sparse) blanks"
    ood_splits = ("dense", "sparse")
    parameter_help: ClassVar[dict[str, str]] = {
        "num_tokens": "symbols to copy per sequence",
        "num_symbols": "size of the symbol alphabet (<= 26)",
        "blanks": "blanks in the context of training and id test data",
        "dense_blanks": "blanks of the dense OOD split",
        "sparse_blanks": "blanks of the sparse OOD split",
    }

    def __init__(
        self,
        num_tokens: int = 128,
        num_symbols: int = 16,
        blanks: int = 128,
        dense_blanks: int = 64,
        sparse_blanks: int = 256,
    ) -> None:
        self.num_symbols = validation.positive_int("num_symbols", num_symbols)
        if num_symbols > len(string.ascii_uppercase):
            raise ValueError(f"num_symbols must be <= 26, got {num_symbols}")
        super().__init__(("_", "|", *string.ascii_uppercase[:num_symbols]))
        self.num_tokens = validation.positive_int("num_tokens", num_tokens)
        self.blanks = {
            IN_DISTRIBUTION: _count("blanks", blanks),
            "dense": _count("dense_blanks", dense_blanks),
            "sparse": _count("sparse_blanks", sparse_blanks),
        }

    def parameters(self) -> dict[str, Any]:
        return {
            "num_tokens": self.num_tokens,
            "num_symbols": self.num_symbols,
            "blanks": self.blanks[IN_DISTRIBUTION],
            "dense_blanks": self.blanks["dense"],
            "sparse_blanks": self.blanks["sparse"],
        }

    def max_length(self, split: str) -> int:
        self.check_split(split)
        return 2 * self.num_tokens + self.blanks[split] + 1

    def _sample(self, split: str, rng: np.random.Generator, count: int) -> list[Example]:
        cells = self.num_tokens + self.blanks[split]
        symbols = rng.integers(0, self.num_symbols, size=(count, self.num_tokens))
        symbols += self.index["A"]
        places = np.sort(rng.random((count, cells)).argsort(axis=1)[:, : self.num_tokens], axis=1)
        context = np.full((count, cells), self.index["_"], dtype=np.int64)
        np.put_along_axis(context, places, symbols, axis=1)
        separator = np.full((count, 1), self.index["|"], dtype=np.int64)
        tokens = np.concatenate([context, separator, symbols], axis=1)
        answers = np.zeros(tokens.shape, dtype=bool)
        answers[:, cells + 1 :] = True
        return [Example(row, mask) for row, mask in zip(tokens, answers, strict=True)]

    def check(self, example: Example, split: str) -> None:
        self.check_split(split)
        words = _checked_words(self, example, self.max_length(split))
        cells = self.num_tokens + self.blanks[split]
        if len(words) != cells + 1 + self.num_tokens or words[cells] != "|":
            raise ValueError(f"selective_copy: expected {cells} context tokens, | and the copy")
        context, copy = words[:cells], words[cells + 1 :]
        kept = [word for word in context if word != "_"]
        if len(kept) != self.num_tokens or "|" in kept:
            raise ValueError(f"selective_copy: the context must hold {self.num_tokens} symbols")
        if copy != kept:
            raise ValueError("selective_copy: the copy differs from the context's symbols")
        _check_mask(self, example, [False] * (cells + 1) + [True] * self.num_tokens)


COUNTING_WEIGHTS = {"set": 1, "pass": 50, "increment": 7}
"""Statement weights of the official counting generator."""


class Counting(SequenceTask):
    """Track variables through resets and increments; answer the value that is printed."""

    name = "counting"
    summary = "value of a variable after v = 0 ; / pass; / v ++; statements; OOD: longer"
    ood_splits = ("long",)
    parameter_help: ClassVar[dict[str, str]] = {
        "num_variables": "variables a, b, ... (1 to 26)",
        "min_statements": "fewest statements of training and id test data (>= 1)",
        "max_statements": "most statements of training and id test data",
        "long_max_statements": "long OOD split: max_statements + 1 to this many statements "
        "(default 2 * max_statements)",
        "max_value": "cap of every value: an increment past it is redrawn",
    }
    _MAX_TRIALS = 1000

    def __init__(
        self,
        num_variables: int = 3,
        min_statements: int = 3,
        max_statements: int = 512,
        long_max_statements: int | None = None,
        max_value: int = 10,
    ) -> None:
        self.num_variables = validation.positive_int("num_variables", num_variables)
        if num_variables > len(string.ascii_lowercase):
            raise ValueError(f"num_variables must be <= 26, got {num_variables}")
        self.max_value = validation.positive_int("max_value", max_value)
        self.variables = tuple(string.ascii_lowercase[:num_variables])
        values = tuple(str(value) for value in range(max_value + 1))
        super().__init__(("=", ";", "pass;", "++;", "print", *self.variables, *values))
        validation.positive_int("min_statements", min_statements)
        validation.positive_int("max_statements", max_statements)
        if min_statements > max_statements:
            raise ValueError(
                f"min_statements {min_statements} exceeds max_statements {max_statements}"
            )
        long_max = 2 * max_statements if long_max_statements is None else long_max_statements
        validation.positive_int("long_max_statements", long_max)
        if long_max <= max_statements:
            raise ValueError(
                f"long_max_statements {long_max} must exceed max_statements {max_statements}"
            )
        self.statements = {
            IN_DISTRIBUTION: (min_statements, max_statements),
            "long": (max_statements + 1, long_max),
        }

    def parameters(self) -> dict[str, Any]:
        return {
            "num_variables": self.num_variables,
            "min_statements": self.statements[IN_DISTRIBUTION][0],
            "max_statements": self.statements[IN_DISTRIBUTION][1],
            "long_max_statements": self.statements["long"][1],
            "max_value": self.max_value,
        }

    def max_length(self, split: str) -> int:
        self.check_split(split)
        return 4 * self.statements[split][1] + 3

    def _sample(self, split: str, rng: np.random.Generator, count: int) -> list[Example]:
        scalar = random.Random(int(rng.integers(2**63)))
        return [self._sample_one(split, scalar) for _ in range(count)]

    def _sample_one(self, split: str, rng: random.Random) -> Example:
        low, high = self.statements[split]
        for _ in range(self._MAX_TRIALS):
            values: dict[str, int] = {}
            words: list[str] = []
            for _ in range(rng.randint(low, high)):
                words += self._statement(values, rng)
            if values:
                variable = rng.choice(sorted(values))
                words += ["print", variable, str(values[variable])]
                answers = np.zeros(len(words), dtype=bool)
                answers[-1] = True
                return Example(self.encode(words), answers)
        raise ValueError(f"counting: no variable was ever set in {self._MAX_TRIALS} draws")

    def _statement(self, values: dict[str, int], rng: random.Random) -> list[str]:
        """Draw statements by weight until one is possible; apply it to ``values``."""
        set_weight, pass_weight = COUNTING_WEIGHTS["set"], COUNTING_WEIGHTS["pass"]
        total = sum(COUNTING_WEIGHTS.values())
        while True:
            draw = rng.random() * total
            if draw < set_weight:
                variable = rng.choice(self.variables)
                values[variable] = 0
                return [variable, "=", "0", ";"]
            if draw < set_weight + pass_weight:
                return ["pass;"]
            if values:
                variable = rng.choice(list(values))
                if values[variable] < self.max_value:
                    values[variable] += 1
                    return [variable, "++;"]

    def check(self, example: Example, split: str) -> None:
        self.check_split(split)
        words = _checked_words(self, example, self.max_length(split))
        if len(words) < 4 or words[-3] != "print":
            raise ValueError("counting: a sequence must end with print, a variable and a value")
        values: dict[str, int] = {}
        count = position = 0
        body = words[:-3]
        while position < len(body):
            position += self._check_statement(body, position, values)
            count += 1
        low, high = self.statements[split]
        if not low <= count <= high:
            raise ValueError(f"counting: {count} statements, split {split} has {low}..{high}")
        variable, answer = words[-2], words[-1]
        if variable not in values:
            raise ValueError(f"counting: print {variable!r} of a variable never set")
        if answer != str(values[variable]):
            raise ValueError(f"counting: answer {answer}, but {variable} = {values[variable]}")
        _check_mask(self, example, [False] * (len(words) - 1) + [True])

    def _check_statement(self, body: list[str], position: int, values: dict[str, int]) -> int:
        """Apply the statement at ``position`` to ``values``; return its length in tokens."""
        word = body[position]
        if word == "pass;":
            return 1
        if word in self.variables and body[position + 1 : position + 4] == ["=", "0", ";"]:
            values[word] = 0
            return 4
        if word in self.variables and body[position + 1 : position + 2] == ["++;"]:
            if word not in values or values[word] >= self.max_value:
                raise ValueError(f"counting: invalid increment of {word} at token {position}")
            values[word] += 1
            return 2
        raise ValueError(f"counting: no statement starts at token {position} ({word!r})")


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def _checked_words(task: SequenceTask, example: Example, max_length: int) -> list[str]:
    tokens = np.asarray(example.tokens)
    if tokens.ndim != 1 or tokens.shape != np.shape(example.answers):
        raise ValueError(f"{task.name}: tokens and answers must be 1D of equal length")
    if len(tokens) > max_length:
        raise ValueError(f"{task.name}: {len(tokens)} tokens, the split allows {max_length}")
    if ((tokens <= 0) | (tokens >= len(task.vocabulary))).any():
        raise ValueError(f"{task.name}: token id out of the vocabulary (or padding)")
    return task.decode(tokens)


def _check_mask(task: SequenceTask, example: Example, expected: list[bool]) -> None:
    if not np.array_equal(np.asarray(example.answers, dtype=bool), np.array(expected)):
        raise ValueError(f"{task.name}: the answer mask does not mark exactly the answers")


END_OF_DOCUMENT = "<eod>"
"""Token 1 of the lm vocabulary: follows every document (context only, never an answer)."""
FIRST_BYTE = 2
"""Token id of byte 0 in the lm vocabulary (byte ``b`` is token ``b + 2``)."""


class LanguageModelling(SequenceTask):
    """Next-byte prediction on a text corpus, tested at the training context and beyond.

    The vocabulary is the padding token, ``<eod>`` and the 256 byte values, so any UTF-8 text
    is modelled as it is stored. A split's documents are joined into one token stream, each
    followed by ``<eod>``. Windows of ``T + 1`` tokens at random offsets of the training stream
    are the training sequences. Held-out data (:meth:`held_out`) are ``ceil(count / 4)``
    blocks of ``4T + 1`` tokens evenly spaced over the validation or test stream; at context
    ``T`` (split ``id``) each block is cut into four windows, at ``2T`` into two, at ``4T`` it
    is one, overlapping by one token, so every split predicts exactly the same bytes and only
    the context they are predicted from differs. Bits per byte are the mean cross-entropy of
    those bytes over ``ln 2``, perplexity its exponential.
    """

    name = "lm"
    summary = "next byte of a text corpus; bits per byte at the training context T, 2T and 4T"
    ood_splits = ("2T", "4T")
    measure = "bits_per_byte"
    parameter_help: ClassVar[dict[str, str]] = {
        "corpus": f"{' | '.join(BUILTIN_CORPORA)} | PATH of a UTF-8 text file or folder",
        "context": "training context T in bytes (>= 2); tested at T, 2T and 4T",
        "pattern": "files read from a folder corpus (glob on the file name, default *)",
        "validation_fraction": "share of the bytes held out for validation (by document)",
        "test_fraction": "share of the bytes held out for test (by document)",
    }
    multiples: ClassVar[dict[str, int]] = {IN_DISTRIBUTION: 1, "2T": 2, "4T": 4}

    def __init__(
        self,
        corpus: str = "stdlib-docs",
        context: int = 128,
        pattern: str = "*",
        validation_fraction: float = 0.1,
        test_fraction: float = 0.1,
    ) -> None:
        super().__init__((END_OF_DOCUMENT, *(repr(bytes([value]))[2:-1] for value in range(256))))
        if validation.positive_int("context", context) < 2:
            raise ValueError(f"context must be >= 2, got {context}")
        self.context_length = context
        self.fractions = {
            "validation": _fraction("validation_fraction", validation_fraction),
            "test": _fraction("test_fraction", test_fraction),
        }
        if not isinstance(corpus, str) or not corpus:
            raise ValueError(f"corpus must be a built-in name or a path, got {corpus!r}")
        self.pattern = pattern
        self.corpus = load_corpus(corpus, pattern)
        if pattern != "*" and not Path(self.corpus.source).is_dir():
            raise ValueError(f"pattern {pattern!r} applies to a folder corpus, not to {corpus}")
        if self.corpus.size < context + 1:
            raise ValueError(
                f"corpus {corpus} holds {self.corpus.size} bytes, fewer than one context "
                f"of {context + 1} (T + 1)"
            )
        self.documents = split_corpus(
            self.corpus, self.fractions["validation"], self.fractions["test"]
        )
        self.streams = {part: _token_stream(docs) for part, docs in self.documents.items()}
        for part in ("train", *HELD_OUT):
            needed = (context if part == "train" else 4 * context) + 1
            if len(self.streams[part]) < needed:
                raise ValueError(
                    f"corpus {corpus}: its {part} split holds {len(self.streams[part])} tokens, "
                    f"fewer than the {needed} of one {'window' if part == 'train' else 'block'} "
                    f"at context {context}; use a larger corpus or a smaller context"
                )

    def parameters(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus.source,
            "context": self.context_length,
            "pattern": self.pattern,
            "validation_fraction": self.fractions["validation"],
            "test_fraction": self.fractions["test"],
        }

    def max_length(self, split: str) -> int:
        self.check_split(split)
        return self.multiples[split] * self.context_length + 1

    def _sample(self, split: str, rng: np.random.Generator, count: int) -> list[Example]:
        length = self.max_length(split)
        stream = self.streams["train"]
        if len(stream) < length:
            raise ValueError(
                f"lm: the training split holds {len(stream)} tokens, fewer than one {split} "
                f"window of {length}"
            )
        starts = rng.integers(0, len(stream) - length + 1, size=count)
        return [_window(stream[start : start + length]) for start in starts]

    def held_out(
        self, split: str, part: str, rng: np.random.Generator, count: int
    ) -> list[Example]:
        self.check_split(split)
        stream = self.streams[validation.choice("held-out part", part, HELD_OUT)]
        block = 4 * self.context_length
        blocks = max(1, min(-(-count // 4), (len(stream) - 1) // block))
        starts = np.linspace(0, len(stream) - 1 - block, blocks).astype(np.int64)
        length = self.max_length(split) - 1
        return [
            _window(stream[start + offset : start + offset + length + 1])
            for start in starts
            for offset in range(0, block, length)
        ]

    def default_max_position(self) -> int:
        """``T - 1``: the longest distance within a training window, so relative positions
        beyond it share the last trained row and CoPE counts at most one window."""
        return self.context_length - 1

    def split_label(self, split: str) -> str:
        """``T=64``, ``2T=128``, ``4T=256`` (for ``T = 64``)."""
        name = "T" if split == IN_DISTRIBUTION else split
        return f"{name}={self.multiples[split] * self.context_length}"

    def loss_measures(self, loss: float) -> dict[str, float]:
        """Bits per byte (``loss / ln 2``) and perplexity per byte (``exp(loss)``)."""
        return {"bits_per_byte": loss / math.log(2), "perplexity": math.exp(loss)}

    def data_summary(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus.source,
            "fingerprint": self.corpus.fingerprint(),
            "documents": {part: len(docs) for part, docs in self.documents.items()},
            "bytes": {
                part: sum(len(document.data) for document in docs)
                for part, docs in self.documents.items()
            },
        }

    def check(self, example: Example, split: str) -> None:
        self.check_split(split)
        length = self.max_length(split)
        words = _checked_words(self, example, length)
        if len(words) != length:
            raise ValueError(f"lm: a {split} window holds {length} tokens, got {len(words)}")
        expected = np.asarray(example.tokens) >= FIRST_BYTE
        expected[0] = False
        _check_mask(self, example, expected.tolist())


def _fraction(name: str, value: float) -> float:
    number = validation.finite_float(name, value)
    if not 0 < number < 0.5:
        raise ValueError(f"{name} must be in (0, 0.5), got {value!r}")
    return number


def _token_stream(documents: Sequence[Document]) -> np.ndarray:
    """Token ids of ``documents`` joined, each followed by ``<eod>`` (``int16``)."""
    end = np.array([1], dtype=np.int16)
    pieces = []
    for document in documents:
        pieces += [np.frombuffer(document.data, dtype=np.uint8).astype(np.int16) + FIRST_BYTE, end]
    return np.concatenate(pieces)


def _window(tokens: np.ndarray) -> Example:
    """A window of a token stream: every byte after the first is an answer."""
    tokens = tokens.astype(np.int64)
    answers = tokens >= FIRST_BYTE
    answers[0] = False
    return Example(tokens, answers)


TASKS: dict[str, type[SequenceTask]] = {
    task.name: task for task in (FlipFlop, SelectiveCopy, Counting, LanguageModelling)
}
"""Every task class, by name."""


def task_class(name: str) -> type[SequenceTask]:
    """The task registered as ``name``; unknown names raise ``ValueError``."""
    if name in TASKS:
        return TASKS[name]
    close = difflib.get_close_matches(name, TASKS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown task {name!r}{hint} (available: {', '.join(TASKS)})")


def make_task(name: str, **params: Any) -> SequenceTask:
    """Build the task ``name``; unknown parameters raise ``ValueError`` naming the accepted."""
    cls = task_class(name)
    unknown = sorted(set(params) - set(cls.parameter_help))
    if unknown:
        raise ValueError(
            f"task {name!r} has no parameter {', '.join(map(repr, unknown))} "
            f"(accepted: {', '.join(cls.parameter_help)})"
        )
    return cls(**params)
