"""The actions of ``posenc seq`` (:mod:`posenc.cli.seq`), imported when the command runs.

- ``train``: one model on one task; writes a run folder (config.json, metrics.json, model.pt,
  learning_curves.png, cope_maps.png for CoPE).
- ``compare``: several encodings x seeds on one task; run folders plus runs.csv, summary.csv,
  summary.md (beside the paper's numbers), errors.png (bits_per_byte.png for lm),
  learning_curves.png and report.html. Finished runs are kept and skipped when the command is
  repeated. ``--table NAME`` runs one of the paper's tables (variants side by side in
  summary.md).
- ``analyze``: stable rank and distance preservation of position tables (fixed, freshly
  initialised, or from trained run folders); analysis.json, similarity.png, sr_dp.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from matplotlib.figure import Figure

from posenc.cli.params import parse_key_values
from posenc.cli.seq import ACTIONS, DESCRIPTION
from posenc.cli.settings import add_log_flag
from posenc.files import check_output_folder, default_output_folder, staged_folder, write_json
from posenc.sequence import experiments, tables
from posenc.sequence.corpus import BUILTIN_CORPORA
from posenc.sequence.encodings import SEQUENCE_ENCODINGS
from posenc.sequence.model import COPE_OPTIONS
from posenc.sequence.tasks import TASKS
from posenc.sequence.training import PRESETS, RunConfig, resolve_config, with_seed

GAUSSIAN_SR_TIMES_DP = 0.85612
"""SR * DP of the Gaussian shifted basis (P2, Proposition 2), drawn for reference."""

_MODEL_OPTIONS = ("layers", "width", "heads", "norm", "dropout", "max_position")
_TRAIN_OPTIONS = (
    "steps",
    "batch_size",
    "lr",
    "weight_decay",
    "warmup_steps",
    "train_size",
    "test_size",
    "eval_every",
    "device",
)


class _OneLineParser(argparse.ArgumentParser):
    """Reports a command-line mistake as one line and exit code 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``posenc seq`` with its ``train``, ``compare`` and ``analyze`` actions;
    each sets ``handler``."""
    parser = _OneLineParser(prog="posenc seq", description=DESCRIPTION)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=_OneLineParser)
    parser.set_defaults(handler=lambda args: _usage(parser))

    epilog = _task_parameters_help()
    train = actions.add_parser(
        "train",
        help=ACTIONS["train"],
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--task", required=True, help=f"one of {', '.join(TASKS)}")
    _add_run_options(train)
    train.add_argument("--pe", required=True, help=f"one of {', '.join(SEQUENCE_ENCODINGS)}")
    train.add_argument("--seed", type=int, default=0, help="seed of data and init (0)")
    train.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    train.add_argument(
        "--out", type=Path, help="run folder (default runs/seq-train-<time>-TASK-PE-seedS)"
    )
    add_log_flag(train)
    train.set_defaults(handler=run_train)

    compare = actions.add_parser(
        "compare",
        help=ACTIONS["compare"],
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    chosen = compare.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--task", help=f"one of {', '.join(TASKS)}")
    chosen.add_argument(
        "--table",
        choices=experiments.PAPER_TABLES,
        help="one of the paper's tables: "
        + "; ".join(f"{name}: {table.summary}" for name, table in experiments.PAPER_TABLES.items()),
    )
    _add_run_options(compare)
    compare.add_argument(
        "--pe", nargs="+", help="encodings to compare (required with --task; --table: its own)"
    )
    compare.add_argument("--seeds", type=int, default=3, help="seeds per encoding (3)")
    compare.add_argument("--seed", type=int, default=0, help="first seed (0)")
    compare.add_argument("--jobs", type=int, default=1, help="runs trained at once (1)")
    compare.add_argument(
        "--out",
        type=Path,
        help="comparison folder, resumed if it exists (runs/seq-compare-TASK, "
        "runs/seq-table-TABLE)",
    )
    compare.set_defaults(handler=run_compare)

    analyze = actions.add_parser("analyze", help=ACTIONS["analyze"])
    analyze.add_argument("--pe", nargs="*", default=[], help="fixed or freshly initialised")
    analyze.add_argument("--run", nargs="*", type=Path, default=[], help="trained run folders")
    analyze.add_argument("--length", type=int, default=512, help="positions (512)")
    analyze.add_argument("--width", type=int, default=64, help="model width (64)")
    analyze.add_argument("--heads", type=int, default=4, help="heads; rope uses width/heads (4)")
    analyze.add_argument("--layer", type=int, default=0, help="layer of per-layer tables (0)")
    analyze.add_argument("--seed", type=int, default=0, help="seed of fresh learned tables (0)")
    analyze.add_argument("--out", type=Path, help="output folder (runs/seq-analyze-<time>)")
    analyze.set_defaults(handler=run_analyze)
    return parser


def _task_parameters_help() -> str:
    lines = ["task parameters (--task-param KEY=VALUE; config.json shows every value used):"]
    for name, task in TASKS.items():
        lines.append(f"  {name}:")
        lines += [f"    {param:<20} {text}" for param, text in task.parameter_help.items()]
    return "\n".join(lines)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--corpus",
        help=f"lm corpus: {' | '.join(BUILTIN_CORPORA)} | PATH of a text file or folder "
        "(the preset's: stdlib-docs)",
    )
    parser.add_argument("--preset", default="small", help=f"{' | '.join(PRESETS)} (small)")
    parser.add_argument(
        "--task-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="task parameter (repeatable), e.g. num_instructions=64",
    )
    group = parser.add_argument_group("model (default: the preset's)")
    group.add_argument("--layers", type=int)
    group.add_argument("--width", type=int)
    group.add_argument("--heads", type=int)
    group.add_argument("--norm", help="pre | post")
    group.add_argument("--dropout", type=float)
    group.add_argument("--max-position", type=int, help="CoPE p_max and relative max distance")
    group = parser.add_argument_group(
        "CoPE variants of the official code (cope and cope+relative; default: the paper's CoPE)"
    )
    gates = group.add_mutually_exclusive_group()
    gates.add_argument(
        "--cope-gate-key",
        dest="cope_gates",
        action="store_const",
        const="separate_key",
        help="gates from a separate key projection: sigmoid(q.k'/sqrt(d))",
    )
    gates.add_argument(
        "--cope-value-gates",
        dest="cope_gates",
        action="store_const",
        const="value",
        help="gates from the values: sigmoid(q.v/sqrt(d))",
    )
    group.add_argument(
        "--cope-no-scale",
        dest="cope_scaled",
        action="store_const",
        const=False,
        help="do not divide the position term q.e[p] by sqrt(d)",
    )
    group.add_argument(
        "--cope-every", type=int, metavar="K", help="CoPE on every K-th layer only (1)"
    )
    group.add_argument(
        "--cope-shared-table",
        action="store_const",
        const=True,
        help="one CoPE position table shared by all layers",
    )
    group = parser.add_argument_group("training (default: the preset's)")
    group.add_argument("--steps", type=int)
    group.add_argument("--batch-size", type=int)
    group.add_argument("--lr", type=float)
    group.add_argument("--weight-decay", type=float)
    group.add_argument("--warmup-steps", type=int)
    group.add_argument("--train-size", type=int, help="fixed training set (default: fresh)")
    group.add_argument(
        "--test-size", type=int, help="test sequences per split (lm: windows of context T)"
    )
    group.add_argument("--eval-every", type=int, help="steps between learning-curve points")
    group.add_argument("--device", help="cpu | cuda | cuda:N")


def _chosen(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _task_params(args: argparse.Namespace, task: str) -> dict[str, Any]:
    """``--task-param`` values, with ``--corpus`` (lm only) as the ``corpus`` parameter."""
    params = parse_key_values(args.task_param, "--task-param")
    if args.corpus is not None:
        if task != "lm":
            raise ValueError(f"--corpus applies to --task lm, not to {task}")
        if "corpus" in params:
            raise ValueError("give the corpus once: --corpus or --task-param corpus=...")
        params["corpus"] = args.corpus
    return params


def _config(
    args: argparse.Namespace,
    task: str,
    pe: str,
    seed: int,
    task_params: dict[str, Any],
    cope_options: bool = True,
) -> RunConfig:
    """The run's configuration; the ``--cope-*`` options only if ``cope_options``."""
    model = _chosen(args, _MODEL_OPTIONS)
    if cope_options:
        model.update(_chosen(args, COPE_OPTIONS))
    return resolve_config(
        task,
        pe,
        preset=args.preset,
        task_params=task_params,
        model=model,
        train={**_chosen(args, _TRAIN_OPTIONS), "seed": seed},
    )


def run_train(args: argparse.Namespace) -> int:
    """Validate everything, train, then write the run folder."""
    config = _config(args, args.task, args.pe, args.seed, _task_params(args, args.task))
    out = args.out or default_output_folder("seq-train", f"{args.task}-{args.pe}-seed{args.seed}")
    check_output_folder(out)
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    from posenc.tracking import check_trackers, log_sequence_run

    trackers = check_trackers(args.log or ())
    metrics = experiments.run_and_save(config, out, threads=args.threads)
    log_sequence_run(trackers, out)
    if "bits_per_byte" in metrics["splits"][metrics["primary_ood"]]:
        task = config.build_task()
        results = ", ".join(
            f"{task.split_label(split)} {result['bits_per_byte']:.3f}"
            for split, result in metrics["splits"].items()
        )
        print(f"{args.task}/{args.pe} seed {args.seed}: bits per byte at {results} -> {out}")
    else:
        errors = ", ".join(
            f"{split} {100 * result['error']:.2f}%" for split, result in metrics["splits"].items()
        )
        print(f"{args.task}/{args.pe} seed {args.seed}: error {errors} -> {out}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """Validate every run, train the missing ones, write the comparison."""
    for name in ("seeds", "jobs"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.table is None and not args.pe:
        raise ValueError("give the encodings to compare: --pe NAME...")
    table = experiments.PAPER_TABLES[args.table] if args.table else None
    task = table.task if table else args.task
    encodings = args.pe or (table.encodings if table else ())
    if len(set(encodings)) != len(encodings):
        raise ValueError(f"--pe lists an encoding twice: {' '.join(encodings)}")
    cope_given = bool(_chosen(args, COPE_OPTIONS))
    if cope_given and not any(SEQUENCE_ENCODINGS[pe].contextual for pe in encodings):
        raise ValueError("the --cope-* options need a cope encoding among --pe")
    given = _task_params(args, task)
    variants = table.variants if table else {"": {}}
    for params in variants.values():
        fixed = sorted(set(params) & set(given))
        if fixed:
            raise ValueError(f"--table {args.table} sets {', '.join(fixed)} itself")
    groups = {
        label: [
            with_seed(
                _config(
                    args,
                    task,
                    pe,
                    args.seed,
                    {**params, **given},
                    cope_options=SEQUENCE_ENCODINGS[pe].contextual,
                ),
                seed,
            )
            for pe in encodings
            for seed in range(args.seed, args.seed + args.seeds)
        ]
        for label, params in variants.items()
    }
    name = f"seq-table-{args.table}" if table else f"seq-compare-{task}"
    out = args.out or Path("runs") / name
    experiments.compare_table(groups, out, jobs=args.jobs)
    print((out / "summary.md").read_text(), end="")
    print(f"-> {out}")
    return 0


def run_analyze(args: argparse.Namespace) -> int:
    """Measure each requested table, print a table, write JSON and plots."""
    if not args.pe and not args.run:
        raise ValueError("give --pe NAME... and/or --run FOLDER...")
    if args.length < 2:
        raise ValueError(f"--length must be >= 2, got {args.length}")
    if args.width < 1 or args.heads < 1:
        raise ValueError(f"--width and --heads must be >= 1, got {args.width} and {args.heads}")
    if args.width % args.heads:
        raise ValueError(f"--width {args.width} must be divisible by --heads {args.heads}")
    out = args.out or default_output_folder("seq-analyze")
    check_output_folder(out)
    measures = [
        tables.measure_table(
            pe,
            tables.fresh_table(pe, args.length, args.width, args.heads, args.seed),
            _fresh_source(pe, args),
        )
        for pe in args.pe
    ]
    for folder in args.run:
        pe, table = tables.trained_table(folder, args.layer)
        measures.append(tables.measure_table(pe, table, f"trained: {folder}"))
    with staged_folder(out) as staging:
        write_json(staging / "analysis.json", [m.as_dict() for m in measures])
        _plot_similarity(measures, staging / "similarity.png")
        _plot_sr_dp(measures, staging / "sr_dp.png")
    print(f"{'encoding':<13} {'rows x cols':>12} {'SR':>9} {'DP':>9}  source")
    for m in measures:
        shape = f"{m.rows} x {m.columns}"
        print(
            f"{m.pe:<13} {shape:>12} {m.stable_rank:9.3f} {m.distance_preservation:9.5f}  "
            f"{m.source}"
        )
    print(f"-> {out}")
    return 0


def _fresh_source(pe: str, args: argparse.Namespace) -> str:
    if SEQUENCE_ENCODINGS[pe].learned_table:
        return f"fresh init, seed {args.seed}"
    return "fixed"


def _plot_similarity(measures: list[tables.TableMeasure], path: Path) -> None:
    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.subplots()
    for m in measures:
        offsets = np.arange(m.rows) - m.rows // 2
        axes.plot(offsets, m.similarity, lw=1, label=f"{m.pe} ({m.source})")
    axes.axhline(0.1, color="k", ls=":", lw=1, label="DP threshold 0.1")
    axes.set(xlabel="position - centre", ylabel="cosine similarity to the centre row")
    axes.legend(fontsize=7)
    figure.savefig(path, dpi=110)


def _plot_sr_dp(measures: list[tables.TableMeasure], path: Path) -> None:
    figure = Figure(figsize=(5.5, 4.5), layout="constrained")
    axes = figure.subplots()
    for m in measures:
        axes.plot(m.distance_preservation, m.stable_rank, "o", label=f"{m.pe} ({m.source})")
    dp = np.logspace(-3.5, 0, 100)
    axes.plot(dp, GAUSSIAN_SR_TIMES_DP / dp, "k--", lw=1, label="Gaussian basis: SR*DP = 0.856")
    axes.set(xscale="log", yscale="log", xlabel="distance preservation", ylabel="stable rank")
    axes.legend(fontsize=7)
    figure.savefig(path, dpi=110)
