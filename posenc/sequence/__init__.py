"""Sequence position encodings: a small causal transformer, the tasks where encodings differ,
training and measurement.

>>> from posenc.sequence import resolve_config, train
>>> config = resolve_config("flipflop", "cope", train={"steps": 3000})
>>> metrics = train(config).metrics          # in- and out-of-distribution errors, curves

Modules: :mod:`~posenc.sequence.encodings` (absolute, sinusoidal, relative, rope, cope),
:mod:`~posenc.sequence.model` (the transformer), :mod:`~posenc.sequence.tasks` (Flip-Flop,
selective copy, counting), :mod:`~posenc.sequence.training` (presets, training, errors),
:mod:`~posenc.sequence.experiments` (run folders, comparisons), :mod:`~posenc.sequence.reporting`
(files and plots) and :mod:`~posenc.sequence.tables` (SR and DP of position tables).
"""

from posenc.sequence.encodings import SEQUENCE_ENCODINGS, sequence_encoding, sinusoidal_table
from posenc.sequence.model import CausalTransformer, ModelConfig
from posenc.sequence.tasks import TASKS, SequenceTask, make_task
from posenc.sequence.training import RunConfig, TrainConfig, resolve_config, train

__all__ = [
    "SEQUENCE_ENCODINGS",
    "TASKS",
    "CausalTransformer",
    "ModelConfig",
    "RunConfig",
    "SequenceTask",
    "TrainConfig",
    "make_task",
    "resolve_config",
    "sequence_encoding",
    "sinusoidal_table",
    "train",
]
