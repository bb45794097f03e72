"""A sweep's runs as flat records, and as a pandas DataFrame (``pip install "posenc[pandas]"``).

Each run of the store (:mod:`posenc.sweeps.store`) becomes one record: the store's columns
(status, signal, embedding, bandwidth, PSNRs, SR, DP, timings, ...) followed by its full fit
config flattened into columns, nested keys joined with a dot (``embedding_params.sigma``,
``embedding_params.num_centers``, ``steps``, ``lr``, ...). Config keys that are already store
columns (``signal``, ``embedding``, ``model``, ``seed``) hold the same value and appear once.
The metrics JSON (with the PSNR history) is left out; ``results.json`` keeps it.

>>> frame = load_frame("runs/row200")  # doctest: +SKIP
>>> frame.groupby("embedding")["test_psnr"].max()  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posenc.sweeps.store import COLUMN_NAMES, STORE_NAME, ResultStore
from posenc.tables import flatten

if TYPE_CHECKING:
    import pandas

RECORD_COLUMNS = tuple(name for name in COLUMN_NAMES if not name.endswith("_json"))
"""The store's columns that every record starts with, in store order."""


def run_records(folder: Path, status: str | None = None) -> list[dict[str, Any]]:
    """Every run of the sweep in ``folder`` (or those with ``status``: ``finished`` or
    ``failed``) as a flat record, ordered by finish time; ``ValueError`` if there is no
    store."""
    path = Path(folder) / STORE_NAME
    if not path.is_file():
        raise ValueError(f"{str(folder)!r} is not a sweep folder (it has no {STORE_NAME})")
    with ResultStore(path) as store:
        rows = store.rows(status)
    records = []
    for row in rows:
        record = {name: row[name] for name in RECORD_COLUMNS}
        config = flatten(json.loads(row["config_json"]))
        records.append({**record, **{k: v for k, v in config.items() if k not in record}})
    return records


def load_frame(folder: Path, status: str | None = None) -> pandas.DataFrame:
    """The runs of :func:`run_records` as a DataFrame, one row per run, indexed by run key.

    Columns whose config key is absent from some runs (an embedding parameter that only
    some embeddings take) hold NaN there. Needs pandas (the ``pandas`` extra).
    """
    try:
        import pandas
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            'load_frame needs pandas: pip install "posenc[pandas]"', name="pandas"
        ) from error
    records = run_records(folder, status)
    columns = list(dict.fromkeys(name for record in records for name in record))
    return pandas.DataFrame.from_records(records, columns=columns or RECORD_COLUMNS).set_index(
        "key"
    )
