from .bandwidths import auto_bandwidths, parse_bandwidths
from .best_runs import best_points, best_table
from .executors import make_executor
from .figures import (
    draw_figures,
    figure_psnr_vs_bandwidth,
    figure_psnr_vs_dp,
    figure_psnr_vs_stable_rank,
    figure_reconstructions,
    figure_sr_vs_dp,
    figure_stable_rank_vs_bandwidth,
)
from .frame import load_frame
from .jobs import Executor, Job, RunOutcome, RunTask, run_job
from .points import SweepPoint, load_points
from .runner import SweepSummary, export_results, run_sweep
from .spec import SweepRun, SweepSpec, resolve_sweep
from .store import ResultStore
from .sweep_file import load_sweep_file

__all__ = [
    "Executor",
    "Job",
    "ResultStore",
    "RunOutcome",
    "RunTask",
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
    "load_frame",
    "load_points",
    "load_sweep_file",
    "make_executor",
    "parse_bandwidths",
    "resolve_sweep",
    "run_job",
    "run_sweep",
]
