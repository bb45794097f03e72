"""``posenc sweep``: run a bandwidth sweep into a resumable results folder, then plot it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posenc.choices import ModelKind, options
from posenc.cli.fit import EMBEDDING_OPTIONS, add_embedding_flags, embedding_parameters
from posenc.cli.settings import (
    SWEEP_EMBEDDING_HELP,
    add_log_flag,
    add_setting_flags,
    given_settings,
)
from posenc.protocols import PROTOCOLS
from posenc.sweeps.sweep_file import DEFAULT_MAX_RUNS, SWEPT_FIELDS

if TYPE_CHECKING:
    from posenc.sweeps.runner import SweepSummary

MANY_VALUES = True
"""``posenc sweep`` takes several values for an embedding's bandwidth (``--sigma A B``)."""

DESCRIPTION = """\
Fit every combination of signals x embeddings x bandwidths x models x seeds and record each
run in FOLDER/results.sqlite (config, train/test PSNR, stable rank, distance preservation,
timings). Running the same sweep again resumes it: finished runs are kept, failed ones are
tried again. At the end the figures are drawn into FOLDER/figures and the results exported
to results.csv and results.json (re-draw them with `posenc plot FOLDER`).

Bandwidth values (--bandwidths, --sigma, ...): numbers, "A,B,C", "linspace:A:B:N",
"logspace:A:B:N" (10^A to 10^B), or "auto[:N]" (default; N = 12). "auto" spans underfit to
memorise for the N training samples (per axis for images) by log-spacing the predicted stable
rank from 2 to 4N and inverting each embedding's closed form: gaussian sigma = 1/(2 sqrt(pi)
SR), rff scale = SR/sqrt(2 pi) (matched to that sigma), triangle width = 2/(3 SR), sinc
width = 1/SR, impulse radius = 1/(2 SR). "suggest[:N]" asks the bandwidth oracle (see
`posenc suggest`) for each signal and model and sweeps N values (default 1: the suggestion)
log-spaced over one decade centred on it. --bandwidths NAME=VALUES sets one embedding's values
(e.g. sinc=logspace:-3:-1:8: a basis width, since --width is the network's width).

The sweep states its number of runs before it starts; one of more than --max-runs (default
1000) is refused until --max-runs (or max_runs in [run]) allows it. Every run is planned
first: one that cannot fit in memory refuses the sweep, naming the run and the flag to
change. Several `posenc sweep` processes on one folder share its runs (each run is claimed
before it is fitted; the claims of a process that dies are taken over). A damaged
results.sqlite is refused before anything is written; --repair moves it aside and keeps the
finished runs it still holds.

Runs that differ only in bandwidth and/or seed with a linear or MLP model are trained together
as one batched model (--no-batch: one by one). --jobs N spreads the work over N processes.
--config FILE reads the same settings from a TOML file (see posenc.sweeps.sweep_file); flags
override it. FOLDER/sweep.toml is the resolved sweep: `posenc sweep --config` runs it again.

--executor ray runs every job as a Ray task (needs the ray extra: pip install 'posenc[ray]'):
on a local Ray instance using every core, or on the cluster at --address HOST:PORT (started
with `ray start --head`; posenc must be installed on every node; for a cluster with token
authentication set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN, or copy the head's token to
~/.ray/auth_token). Batched groups are split
over the cluster's CPUs; --jobs N instead keeps at most N tasks running and splits them into
N parts. The results store stays on this machine, written as each task completes; a task
whose worker dies is retried twice, then its runs are recorded as failed.
"""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``sweep`` sub-command."""
    parser = subparsers.add_parser(
        "sweep",
        help="sweep bandwidths (and embeddings, models, signals, seeds); resumable",
        description=DESCRIPTION,
        epilog=SWEEP_EMBEDDING_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "sources", nargs="*", metavar="SOURCE", help="images or 1D signal specs to fit"
    )
    parser.add_argument(
        "--signal",
        nargs="+",
        action="extend",
        default=[],
        metavar="SPEC",
        help="more signals (e.g. camera:row=200)",
    )
    parser.add_argument("--config", type=Path, help="a sweep.toml file (default: none, flags only)")
    parser.add_argument(
        "--protocol", choices=list(PROTOCOLS), help="a paper's settings (default: none)"
    )
    _add_axis_flags(parser)
    groups = add_setting_flags(parser, exclude=SWEPT_FIELDS)
    add_embedding_flags(groups["embedding"], bandwidth=False)
    _add_run_flags(groups["run"])
    parser.set_defaults(handler=run)
    return parser


def _add_axis_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("swept axes")
    group.add_argument(
        "--embedding",
        nargs="+",
        action="extend",
        metavar="NAME",
        help="embeddings to sweep (default: the protocol's, or gaussian)",
    )
    group.add_argument(
        "--bandwidths",
        nargs="+",
        action="extend",
        metavar="VALUES",
        help="bandwidth values for every embedding, or NAME=VALUES for one (default auto)",
    )
    group.add_argument(
        "--model",
        nargs="+",
        action="extend",
        choices=options(ModelKind),
        metavar="KIND",
        help=f"models to sweep ({', '.join(options(ModelKind))}; default: the protocol's, or mlp)",
    )
    group.add_argument(
        "--seeds", nargs="+", action="extend", type=int, metavar="S", help="seeds (default 0)"
    )


def _add_run_flags(group: Any) -> None:
    group.add_argument("--out", type=Path, help="sweep folder (default runs/sweep-<sweep key>)")
    group.add_argument(
        "--jobs",
        type=int,
        help="worker processes (default 1); with --executor ray: tasks at once (default: all)",
    )
    group.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="run on this machine or as Ray tasks (local Ray, or --address) (default: local)",
    )
    group.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="an existing Ray cluster (with --executor ray; default: a local Ray instance)",
    )
    group.add_argument(
        "--batch",
        action=argparse.BooleanOptionalAction,
        help="train runs that differ only in bandwidth/seed together (default: true)",
    )
    group.add_argument(
        "--max-runs",
        type=int,
        metavar="N",
        help=f"refuse a sweep of more than N runs (default {DEFAULT_MAX_RUNS})",
    )
    group.add_argument(
        "--repair",
        action="store_true",
        help="move a damaged results.sqlite aside and keep its readable finished runs "
        "(default: refuse a damaged store)",
    )
    group.add_argument(
        "--dry-run", action="store_true", help="list the runs, run nothing (default: run)"
    )
    group.add_argument(
        "--no-plots", action="store_true", help="do not draw figures at the end (default: draw)"
    )
    group.add_argument("--quiet", action="store_true", help="no progress bars (default: shown)")
    add_log_flag(group)


def sweep_mapping(args: argparse.Namespace) -> tuple[dict[str, Any], str | None]:
    """The sweep as a ``sweep.toml`` mapping: ``--config``'s file, overridden by the flags;
    and the name to prefix errors with."""
    from posenc.sweeps.sweep_file import load_sweep_file

    mapping = load_sweep_file(args.config) if args.config else {}
    source = str(args.config) if args.config else None
    for table, values in _flag_mapping(args).items():
        merged = _table(mapping, table, source)
        if table == "embeddings":
            for name, own in values.items():
                merged[name] = {**_table(merged, name, source, f"embeddings.{name}"), **own}
        else:
            merged.update(values)
        mapping[table] = merged
    _apply_named_bandwidths(args, mapping)
    return mapping, source


def _table(mapping: dict[str, Any], key: str, source: str | None, name: str = "") -> dict:
    """A copy of the table ``mapping[key]`` (empty if absent) that flags are merged into."""
    table = mapping.get(key, {})
    if not isinstance(table, dict):
        raise ValueError(f"{source}: [{name or key}] must be a table")
    return dict(table)


def _flag_mapping(args: argparse.Namespace) -> dict[str, Any]:
    from posenc.embeddings import embedding_class
    from posenc.sweeps.bandwidths import parse_bandwidths

    sweep: dict[str, Any] = {}
    if args.sources or args.signal:
        sweep["signals"] = [*args.sources, *args.signal]
    for key, value in (
        ("embeddings", args.embedding),
        ("models", args.model),
        ("seeds", args.seeds),
        ("protocol", args.protocol),
    ):
        if value is not None:
            sweep[key] = value
    embeddings: dict[str, dict[str, Any]] = {}
    generic = []
    for item in args.bandwidths or []:
        name, equals, values = item.partition("=")
        if equals:
            embedding_class(name)  # an unknown name fails here, with a suggestion
            parse_bandwidths(values, f"--bandwidths {item!r}")
            embeddings.setdefault(name, {}).setdefault("bandwidths", []).append(values)
        else:
            parse_bandwidths(item, "--bandwidths")
            generic.append(item)
    if generic:
        sweep["bandwidths"] = generic
    fit = given_settings(args, exclude=SWEPT_FIELDS)
    params = embedding_parameters(args, _named_bandwidths(args, swept=False))
    run = {
        "out": str(args.out) if args.out else None,
        "jobs": args.jobs,
        "batch": args.batch,
        "log": args.log,
        "max_runs": args.max_runs,
    }
    tables = {
        "sweep": sweep,
        "fit": fit,
        "embedding_params": params,
        "embeddings": embeddings,
        "run": {key: value for key, value in run.items() if value is not None},
    }
    return {table: values for table, values in tables.items() if values}


def _named_bandwidths(args: argparse.Namespace, swept: bool) -> dict[str, list[str]]:
    """The ``--NAME VALUES`` options that name a registered embedding's bandwidth (``swept``)
    or, with ``swept=False``, the others (parameters given to every embedding that has them)."""
    from posenc.embeddings import EMBEDDINGS

    names = {cls.bandwidth_name for cls in EMBEDDINGS.values() if cls.bandwidth_name}
    options = getattr(args, EMBEDDING_OPTIONS, {})
    return {name: values for name, values in options.items() if (name in names) == swept}


def _apply_named_bandwidths(args: argparse.Namespace, mapping: dict[str, Any]) -> None:
    """``--sigma VALUES`` etc.: the values of each swept embedding with that bandwidth."""
    from posenc.embeddings import embedding_class
    from posenc.sweeps.bandwidths import parse_bandwidths
    from posenc.sweeps.spec import swept_embedding_names

    names = swept_embedding_names(mapping)
    for item in args.bandwidths or []:
        name, equals, _ = item.partition("=")
        if equals and name not in names:
            raise ValueError(
                f"--bandwidths {item}: {name} is not among the swept embeddings "
                f"({', '.join(names)})"
            )
    for flag, values in _named_bandwidths(args, swept=True).items():
        parse_bandwidths(values, f"--{flag}")
        takers = [name for name in names if embedding_class(name).bandwidth_name == flag]
        if not takers:
            raise ValueError(
                f"--{flag}: none of the swept embeddings ({', '.join(names)}) has a bandwidth "
                f"named {flag}"
            )
        named = {item.partition("=")[0] for item in args.bandwidths or [] if "=" in item}
        tables = mapping.setdefault("embeddings", {})
        for name in takers:
            if name in named:
                raise ValueError(f"--{flag} and --bandwidths {name}=... both set {name}'s values")
            tables[name] = {**tables.get(name, {}), "bandwidths": list(values)}


def run(args: argparse.Namespace) -> int:
    """Resolve and check the whole sweep, then run what is not done yet, then plot."""
    from posenc.sweeps.executors import make_executor
    from posenc.sweeps.figures import draw_figures
    from posenc.sweeps.runner import export_results, run_sweep
    from posenc.sweeps.spec import resolve_sweep
    from posenc.sweeps.sweep_file import split_run_options
    from posenc.tracking import TrackedGroup

    for flag, value in (("--jobs", args.jobs), ("--max-runs", args.max_runs)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be an integer >= 1, got {value}")
    if args.address is not None and args.executor != "ray":
        raise ValueError(f"--address {args.address}: needs --executor ray")
    mapping, source = sweep_mapping(args)
    options = split_run_options(mapping, source)
    spec = resolve_sweep(
        {k: v for k, v in mapping.items() if k != "run"},
        source,
        max_runs=options.get("max_runs", DEFAULT_MAX_RUNS),
    )
    runs = spec.runs()
    folder = Path(options["out"]) if "out" in options else Path("runs") / f"sweep-{spec.key[:8]}"
    jobs, batch = options.get("jobs"), options.get("batch", True)
    if args.dry_run:
        _print_plan(runs, folder, jobs, batch, _where(args, jobs))
        return 0
    executor = make_executor(
        jobs, batch, progress=not args.quiet, executor=args.executor, address=args.address
    )
    print(f"{folder}: a sweep of {len(runs)} runs on {_where(args, jobs)}", flush=True)
    tracking = TrackedGroup(options["log"], folder, spec.key) if options.get("log") else None
    try:
        summary = run_sweep(
            spec, folder, executor, progress=not args.quiet, repair=args.repair, tracking=tracking
        )
        _print_summary(folder, summary)
        if not args.no_plots and summary.already_finished + summary.finished:
            paths = draw_figures(folder) + export_results(folder)
            print(f"wrote {', '.join(str(path) for path in paths)}")
            if tracking is not None:
                tracking.log_files(paths)
    except BaseException:
        if tracking is not None:
            tracking.close(failed=True)
        raise
    if tracking is not None:
        tracking.close(failed=bool(summary.failed))
    if summary.failed:
        print(
            f"posenc sweep: {len(summary.failed)} run(s) failed (recorded with their errors in "
            f"{folder}/results.sqlite; running the sweep again retries them)",
            file=sys.stderr,
        )
        return 1
    return 0


def _print_summary(folder: Path, summary: SweepSummary) -> None:
    """What the sweep did: a repaired store, the runs' counts, the first failures, the best."""
    if summary.repair is not None and summary.repair.moved_to is not None:
        print(
            f"moved the damaged store to {summary.repair.moved_to}; kept "
            f"{summary.repair.recovered} finished run(s) from it"
        )
    others = f"; {summary.by_others} finished by other processes" if summary.by_others else ""
    print(
        f"{folder}: {summary.total} runs; {summary.already_finished} were already finished, "
        f"{summary.finished} finished now, {len(summary.failed)} failed{others}"
    )
    for label, error in summary.failed[:5]:
        print(f"  failed: {label}: {error}", file=sys.stderr)
    _print_best(folder)


def _where(args: argparse.Namespace, jobs: int | None) -> str:
    """Where the jobs run, as the dry run says it."""
    if args.executor == "local":
        return f"{jobs or 1} process(es)"
    cluster = f"the Ray cluster at {args.address}" if args.address else "a local Ray instance"
    if jobs is None:
        return f"{cluster} (batched groups split further over its CPUs)"
    return f"{cluster}, {jobs} task(s) at once"


def _print_plan(runs: list[Any], folder: Path, jobs: int | None, batch: bool, where: str) -> None:
    from posenc.sweeps.jobs import RunTask, plan_jobs
    from posenc.sweeps.store import STORE_NAME, ResultStore

    status: dict[str, str] = {}
    if (folder / STORE_NAME).exists():
        with ResultStore(folder / STORE_NAME, create=False) as store:
            status = {row["key"]: row["status"] for row in store.rows()}
            for key, claim in store.claims().items():
                if status.get(key) != "finished":
                    status[key] = f"running in {claim['host']}:{claim['pid']}"
    for index, run in enumerate(runs, start=1):
        print(f"{index:4d}  {run.key}  {status.get(run.key, 'to do'):8s}  {run.label}")
    pending = [RunTask(run.key, run.config) for run in runs if status.get(run.key) != "finished"]
    plan = plan_jobs(pending, parallel=jobs or 1) if batch else [(task,) for task in pending]
    batched = [len(job) for job in plan if len(job) > 1]
    print(
        f"{len(runs)} runs, {len(pending)} to do, in {len(plan)} jobs "
        f"({len(batched)} batched: {sum(batched)} runs) on {where} -> {folder}"
    )


def _print_best(folder: Path) -> None:
    from posenc.sweeps.points import load_points

    points = load_points(folder)
    for name in dict.fromkeys(point.embedding for point in points):
        best = max((p for p in points if p.embedding == name), key=lambda p: p.test_psnr)
        band = "" if best.bandwidth is None else f" {best.bandwidth_name}={best.bandwidth:.4g}"
        print(
            f"best {name}{band} ({best.facet}, seed {best.seed}): test {best.test_psnr:.2f} dB, "
            f"train {best.train_psnr:.2f} dB, SR {best.stable_rank:.1f}, "
            f"DP {best.distance_preservation:.4f}"
        )
