"""Run and compare: train runs into folders, in parallel if asked, resuming finished ones.

``compare`` trains every (encoding, seed) pair of one task into ``OUT/<pe>-seed<s>/`` (each a
complete run folder, see :mod:`posenc.sequence.reporting`), skips pairs whose folder already
holds a finished run with the same configuration, then writes beside them ``runs.csv`` (one
row per run), ``summary.csv`` and ``summary.md`` (mean ± std over seeds beside the paper's
numbers), ``errors.png`` and ``learning_curves.png``.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from posenc.files import atomic_path, write_text
from posenc.report_page.comparison import write_comparison_report
from posenc.sequence import reporting
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
    write_comparison(runs, configs[0], out)
    return runs


def write_comparison(runs: Sequence[dict[str, Any]], config: RunConfig, out: Path) -> None:
    """The comparison files of ``runs`` (all of one task and task parameters)."""
    task = config.build_task()
    params = task.parameters()
    rows = reporting.summary_rows(runs, params)
    title = f"{config.task} ({', '.join(f'{k}={v}' for k, v in params.items())})"
    write_text(out / "runs.csv", reporting.runs_csv(runs))
    write_text(out / "summary.csv", reporting.summary_csv(rows))
    write_text(out / "summary.md", reporting.summary_markdown(rows, task.splits, title))
    with atomic_path(out / "errors.png") as path:
        reporting.plot_comparison_errors(rows, task.splits, title, path)
    with atomic_path(out / "learning_curves.png") as path:
        reporting.plot_comparison_curves(runs, task.splits, title, path)
    write_comparison_report(out, runs, rows, task.splits, title)
