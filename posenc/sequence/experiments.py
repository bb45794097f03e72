"""Run and compare: train runs into folders, in parallel if asked, resuming finished ones.

``compare`` trains every (encoding, seed) pair of one task into ``OUT/<pe>-seed<s>/`` (each a
complete run folder, see :mod:`posenc.sequence.reporting`), skips pairs whose folder already
holds a finished run with the same configuration, then writes beside them ``runs.csv`` (one
row per run), ``summary.csv`` and ``summary.md`` (mean ± std over seeds beside the paper's
numbers), ``errors.png`` (``bits_per_byte.png`` for ``lm``) and ``learning_curves.png``.

``compare_table`` runs one of the paper's tables (:data:`PAPER_TABLES`): a comparison per
variant in ``OUT/<variant>/``, and the variants side by side in ``OUT/summary.md``.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from posenc.files import atomic_path, write_text
from posenc.report_page.comparison import write_comparison_report
from posenc.sequence import reporting
from posenc.sequence.corpus import BUILTIN_CORPORA
from posenc.sequence.training import RunConfig, train


def run_and_save(
    config: RunConfig, out: Path, progress: bool = True, threads: int | None = None
) -> dict[str, Any]:
    """Train ``config`` and write its run folder ``out``; return its metrics.

    ``threads`` sets ``torch.set_num_threads`` for this process (``None``: leave it).
    """
    if threads is not None:
        torch.set_num_threads(threads)
    result = train(config, progress=progress)
    reporting.save_run(result, out)
    return result.metrics


def _run_in_worker(config: dict[str, Any], out: str) -> dict[str, Any]:
    return run_and_save(RunConfig.from_dict(config), Path(out), progress=False, threads=1)


def run_folder(out: Path, config: RunConfig) -> Path:
    """Folder of one run of a comparison."""
    return out / f"{config.pe}-seed{config.train.seed}"


def finished_runs(out: Path, configs: Sequence[RunConfig]) -> dict[int, dict[str, Any]]:
    """Metrics of the runs of ``configs`` already finished under ``out``, by index.

    Raises ``ValueError`` if a run folder holds a run with a different configuration, or
    something that is not a finished run.
    """
    done = {}
    for index, config in enumerate(configs):
        folder = run_folder(out, config)
        if not folder.exists():
            continue
        config_file = folder / "config.json"
        if not (config_file.is_file() and (folder / "metrics.json").is_file()):
            raise ValueError(
                f"{folder} exists but holds no finished run; remove it or use another --out"
            )
        if json.loads(config_file.read_text()) != config.as_dict():
            raise ValueError(
                f"{folder} holds a run with a different configuration; use another --out"
            )
        done[index] = reporting.load_run_metrics(folder)
    return done


def compare(
    configs: Sequence[RunConfig], out: Path, jobs: int = 1, progress: bool = True
) -> list[dict[str, Any]]:
    """Train every configuration (skipping finished ones) and write the comparison files.

    ``jobs > 1`` trains that many runs at once in separate processes, one thread each.
    Returns the metrics of every run, in the order of ``configs``.
    """
    if out.exists() and not out.is_dir():
        raise ValueError(f"output {out} exists and is not a folder")
    results = finished_runs(out, configs)
    todo = [index for index in range(len(configs)) if index not in results]
    bar = tqdm(total=len(configs), initial=len(results), desc="runs", disable=not progress)
    if jobs == 1:
        for index in todo:
            results[index] = run_and_save(
                configs[index], run_folder(out, configs[index]), progress=progress
            )
            bar.update()
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = {
                pool.submit(
                    _run_in_worker, configs[index].as_dict(), str(run_folder(out, configs[index]))
                ): index
                for index in todo
            }
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
    bar.close()
    runs = [results[index] for index in range(len(configs))]
    write_comparison(runs, configs, out)
    return runs


def write_comparison(
    runs: Sequence[dict[str, Any]], configs: Sequence[RunConfig], out: Path
) -> None:
    """The comparison files of ``runs`` (trained from ``configs``, all of one task and task
    parameters)."""
    task = configs[0].build_task()
    rows = reporting.summary_rows(runs, task.parameters())
    title = _title(configs[0].task, task.parameters())
    write_text(out / "runs.csv", reporting.runs_csv(runs))
    write_text(out / "summary.csv", reporting.summary_csv(rows))
    write_text(
        out / "summary.md",
        reporting.summary_markdown({"": rows}, task, title, shared_setting(configs)),
    )
    with atomic_path(out / reporting.comparison_plot_name(task)) as path:
        reporting.plot_comparison(rows, task, title, path)
    with atomic_path(out / "learning_curves.png") as path:
        reporting.plot_comparison_curves(runs, task, title, path)
    measure = reporting.MEASURES[task.measure]
    write_comparison_report(out, runs, rows, task.splits, title, measure)


def _title(task: str, params: dict[str, Any]) -> str:
    return f"{task} ({', '.join(f'{key}={value}' for key, value in params.items())})"


def shared_setting(configs: Sequence[RunConfig]) -> str:
    """The preset, model and training values that every configuration of a comparison shares,
    and the seeds: ``preset small; model: layers=2, ...; training: steps=600, ...; seeds
    0, 1, 2``. Values that differ between the runs (the encoding, its own options) and unset
    ones are left out; each run's ``config.json`` holds everything."""
    parts = []
    presets = {config.preset for config in configs}
    if len(presets) == 1:
        parts.append(f"preset {presets.pop()}")
    for name, values in (
        ("model", [config.model for config in configs]),
        ("training", [asdict(config.train) for config in configs]),
    ):
        shared = [
            f"{key}={value}"
            for key, value in values[0].items()
            if key != "seed"
            and value is not None
            and all(key in other and other[key] == value for other in values)
        ]
        if shared:
            parts.append(f"{name}: {', '.join(shared)}")
    seeds = sorted({config.train.seed for config in configs})
    parts.append(f"seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))}")
    return "; ".join(parts)


# ---------------------------------------------------------------------------- paper tables
@dataclass(frozen=True)
class PaperTable:
    """A table of the CoPE paper at small scale: a task, its variants (task parameters by
    label, which names their folder) and the encodings compared (the paper's rows)."""

    task: str
    summary: str
    variants: dict[str, dict[str, Any]]
    encodings: tuple[str, ...]


PAPER_TABLES: dict[str, PaperTable] = {
    "flipflop": PaperTable(
        "flipflop", "Flip-Flop, in distribution and OOD", {"": {}}, ("absolute", "rope", "cope")
    ),
    "selective_copy": PaperTable(
        "selective_copy",
        "selective copy, in distribution, dense and sparse",
        {"": {}},
        ("absolute", "rope", "cope"),
    ),
    "counting": PaperTable(
        "counting",
        "counting with 1, 3 and 5 variables",
        {f"{n}-variable{'s' * (n > 1)}": {"num_variables": n} for n in (1, 3, 5)},
        ("absolute", "relative", "cope"),
    ),
    "lm": PaperTable(
        "lm",
        "byte-level language modelling of English and of code at T, 2T and 4T",
        {corpus: {"corpus": corpus} for corpus in BUILTIN_CORPORA},
        ("absolute", "sinusoidal", "rope", "relative", "cope", "cope+relative"),
    ),
}
"""The paper's tables, run by ``posenc seq compare --table NAME``. The paper's language
modelling rows (Wikitext-103) are absolute, relative, cope and cope+relative; ``lm`` adds the
other encodings and runs on the two built-in corpora."""


def compare_table(
    groups: Mapping[str, Sequence[RunConfig]], out: Path, jobs: int = 1, progress: bool = True
) -> dict[str, list[dict[str, Any]]]:
    """:func:`compare` each variant's configurations into ``out/<label>`` (``out`` itself for
    the single unlabelled variant), then, for several variants, write beside them ``runs.csv``,
    ``summary.csv`` and ``summary.md`` with the variants side by side. Returns the metrics of
    every run, by variant. Every variant's folder is checked before any training."""
    folders = {label: out / label if label else out for label in groups}
    for label, configs in groups.items():
        finished_runs(folders[label], configs)
    results = {
        label: compare(configs, folders[label], jobs=jobs, progress=progress)
        for label, configs in groups.items()
    }
    if len(groups) > 1:
        write_table(results, groups, out)
    return results


def write_table(
    results: Mapping[str, Sequence[dict[str, Any]]],
    groups: Mapping[str, Sequence[RunConfig]],
    out: Path,
) -> None:
    """The files of a table of several variants (one task, the configurations of each
    variant in ``groups``), variants side by side."""
    configs = {label: variant[0] for label, variant in groups.items()}
    tasks = {label: config.build_task() for label, config in configs.items()}
    params = {label: task.parameters() for label, task in tasks.items()}
    rows = {label: reporting.summary_rows(runs, params[label]) for label, runs in results.items()}
    first = next(iter(params.values()))
    shared = {
        key: value
        for key, value in first.items()
        if all(other.get(key) == value for other in params.values())
    }
    title = f"{_title(next(iter(configs.values())).task, shared)} by {', '.join(results)}"
    labels = [label for label, runs in results.items() for _ in runs]
    write_text(
        out / "runs.csv",
        reporting.runs_csv([run for runs in results.values() for run in runs], labels),
    )
    row_labels = [label for label, table in rows.items() for _ in table]
    write_text(
        out / "summary.csv",
        reporting.summary_csv([row for table in rows.values() for row in table], row_labels),
    )
    setting = shared_setting([config for variant in groups.values() for config in variant])
    write_text(
        out / "summary.md",
        reporting.summary_markdown(rows, next(iter(tasks.values())), title, setting),
    )
