"""Bandwidth sweeps: a specification, a resumable SQLite results store, executors, figures.

>>> from posenc.sweeps import make_executor, resolve_sweep, run_sweep
>>> spec = resolve_sweep({
...     "sweep": {"signals": ["camera:row=200"], "embeddings": ["gaussian"],
...               "bandwidths": "logspace:-4:-1:24", "models": ["linear"]},
...     "fit": {"sigmoid": False},
... })
>>> len(spec.runs())
24
>>> summary = run_sweep(spec, "runs/row200", make_executor())  # doctest: +SKIP
>>> draw_figures("runs/row200")  # doctest: +SKIP

- :mod:`~posenc.sweeps.spec`: the sweep as a TOML-shaped mapping, ``auto`` bandwidths from
  theory, every run resolved to a validated :class:`~posenc.neural_fields.FitConfig`;
- :mod:`~posenc.sweeps.store`: one row per finished or failed run, insert-once, WAL;
- :mod:`~posenc.sweeps.executors`: sequential, process pool, batched (an interface a
  distributed engine can implement);
- :mod:`~posenc.sweeps.runner`: the driver, which resumes and writes the store;
- :mod:`~posenc.sweeps.plots`: the figures, drawn from the store.
"""

from posenc.sweeps.executors import (
    BatchedExecutor,
    Executor,
    Job,
    ProcessPoolExecutor,
    RunOutcome,
    RunTask,
    SequentialExecutor,
    make_executor,
    plan_jobs,
    run_job,
)
from posenc.sweeps.plots import (
    SweepPoint,
    best_points,
    best_table,
    draw_figures,
    figure_psnr_vs_bandwidth,
    figure_psnr_vs_dp,
    figure_psnr_vs_stable_rank,
    figure_reconstructions,
    figure_sr_vs_dp,
    figure_stable_rank_vs_bandwidth,
    load_points,
)
from posenc.sweeps.runner import SweepSummary, export_results, prepare_folder, run_sweep
from posenc.sweeps.spec import (
    AUTO_BANDWIDTH_RULES,
    SweepRun,
    SweepSpec,
    auto_bandwidths,
    load_sweep_file,
    parse_bandwidths,
    resolve_sweep,
    run_key,
)
from posenc.sweeps.store import FAILED, FINISHED, ResultStore, RunRecord

__all__ = [
    "AUTO_BANDWIDTH_RULES",
    "FAILED",
    "FINISHED",
    "BatchedExecutor",
    "Executor",
    "Job",
    "ProcessPoolExecutor",
    "ResultStore",
    "RunOutcome",
    "RunRecord",
    "RunTask",
    "SequentialExecutor",
    "SweepPoint",
    "SweepRun",
    "SweepSpec",
    "SweepSummary",
    "auto_bandwidths",
    "best_points",
    "best_table",
    "draw_figures",
    "export_results",
    "figure_psnr_vs_bandwidth",
    "figure_psnr_vs_dp",
    "figure_psnr_vs_stable_rank",
    "figure_reconstructions",
    "figure_sr_vs_dp",
    "figure_stable_rank_vs_bandwidth",
    "load_points",
    "load_sweep_file",
    "make_executor",
    "parse_bandwidths",
    "plan_jobs",
    "prepare_folder",
    "resolve_sweep",
    "run_job",
    "run_key",
    "run_sweep",
]
