"""``posenc experiment``: the papers' experiments, one command each, in quick or full mode.

Every experiment is a function of :mod:`posenc.analysis` (listed in :data:`EXPERIMENTS`); this
module imports it only when the command runs, so ``posenc --help`` stays fast. Quick mode (the
default) runs tiny settings in seconds; ``--full`` runs the papers' axes; ``--set KEY=VALUE``
changes any setting. Subnormal floats are flushed to zero for speed (see :func:`run`). The
run folder appears whole or not at all (see
:mod:`posenc.files`): ``config.json``, ``results.json``, ``results.csv``, ``tables.md`` and
the figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posenc.cli.params import parse_key_values
from posenc.files import check_output_folder, default_output_folder, staged_folder


@dataclass(frozen=True)
class ExperimentEntry:
    """Where an experiment lives: its module, settings class and run function."""

    module: str
    settings: str
    runner: str
    summary: str

    def load(self) -> tuple[Any, Any, Any]:
        """``(settings class, QUICK settings, run function)``, imported now."""
        module = importlib.import_module(self.module)
        return getattr(module, self.settings), module.QUICK, getattr(module, self.runner)


EXPERIMENTS: dict[str, ExperimentEntry] = {
    "layer-rank": ExperimentEntry(
        "posenc.analysis.layer_rank",
        "LayerRankSettings",
        "run_layer_rank",
        "stable rank of each hidden layer during training, image rows against noise (P1)",
    ),
    "stride": ExperimentEntry(
        "posenc.analysis.stride",
        "StrideSettings",
        "run_stride",
        "test PSNR against training stride and bandwidth of shifted bases, with SR (P1)",
    ),
    "embedding-size": ExperimentEntry(
        "posenc.analysis.embedding_size",
        "EmbeddingSizeSettings",
        "run_embedding_size",
        "Gaussian against RFF for embedding sizes 100..1000, mean and spread over seeds (P1)",
    ),
    "p3-table": ExperimentEntry(
        "posenc.analysis.p3_table",
        "P3TableSettings",
        "run_p3_table",
        "P3's Table 1 on natural and rendered text images, plus shifted bases",
    ),
    "p1-2d-bandwidths": ExperimentEntry(
        "posenc.analysis.p1_bandwidths",
        "P1BandwidthSettings",
        "run_p1_bandwidths",
        "P1's 2D protocol at sigma 0.07, 0.003 and 0.001 on built-in images",
    ),
    "sr-dp-scatter": ExperimentEntry(
        "posenc.analysis.p1_scatter",
        "P1ScatterSettings",
        "run_p1_scatter",
        "P1's SR-DP scatter (random bandwidths) beside the matched-bandwidth version",
    ),
}
"""Every experiment by its command name."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``experiment`` sub-command."""
    listing = "\n".join(f"  {name:18s} {entry.summary}" for name, entry in EXPERIMENTS.items())
    parser = subparsers.add_parser(
        "experiment",
        help="run one of the papers' experiments (quick by default, --full for the papers')",
        description="Run one of the papers' experiments and write its run folder: config.json, "
        "results.json, results.csv (one row per fit), tables.md (mean ± std beside the "
        "papers' numbers) and the figure.\n\nexperiments:\n" + listing,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("name", choices=list(EXPERIMENTS), metavar="NAME", help="experiment")
    parser.add_argument(
        "--full", action="store_true", help="the papers' settings (default: quick, seconds)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one setting, e.g. --set rows=158,329 --set steps=500 (repeatable; "
        "a tuple takes comma-separated values); --help-settings lists them",
    )
    parser.add_argument("--device", help="cpu | cuda | cuda:N (default: the settings')")
    parser.add_argument("--out", type=Path, help="output folder (runs/experiment-<time>-NAME)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--help-settings", action="store_true", help="list the settings with their values, exit"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Resolve the settings, run the experiment, write and print its results."""
    entry = EXPERIMENTS[args.name]
    settings_class, quick, runner = entry.load()
    settings = settings_class() if args.full else quick
    settings = _apply_overrides(settings, args)
    if args.help_settings:
        for field in dataclasses.fields(settings):
            print(f"{field.name} = {getattr(settings, field.name)!r}")
        return 0
    out = args.out or default_output_folder("experiment", args.name)
    check_output_folder(out)
    import torch

    from posenc.analysis.reproduction import write_result

    # Gaussian features far from their centres are subnormal in float32 (about 4 % of them
    # for P3's Gaussian at 128 x 128), which makes CPU matrix products several times slower;
    # flushing them to zero changes every feature by less than 1.2e-38.
    torch.set_flush_denormal(True)

    result = runner(settings, progress=not args.quiet)
    mode = {"mode": "full" if args.full else "quick", "overrides": list(args.overrides)}
    with staged_folder(out) as staging:
        write_result(result, staging, extra_config=mode)
    for table in result.tables():
        print(table, end="\n\n")
    print(f"wrote {out}", file=sys.stderr)
    print(out)
    return 0


def _apply_overrides(settings: Any, args: argparse.Namespace) -> Any:
    from posenc.analysis.reproduction import override_settings

    overrides = parse_key_values(args.overrides, "--set")
    if args.device is not None:
        if not any(field.name == "device" for field in dataclasses.fields(settings)):
            raise ValueError(f"experiment {args.name!r} runs no fits; --device does not apply")
        overrides["device"] = args.device
    return override_settings(settings, overrides)
