"""``posenc fit``: fit one image or 1D signal and write a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from posenc.cli.params import parse_key_values, parse_value
from posenc.cli.settings import (
    FIT_EMBEDDING_HELP,
    add_log_flag,
    add_setting_flags,
    given_settings,
)
from posenc.protocols import PROTOCOLS

EMBEDDING_OPTIONS = "embedding_options"
"""Where ``posenc.cli.main`` leaves the ``--NAME VALUE`` embedding parameters it took out."""
MANY_VALUES = False
"""``posenc fit`` takes one value per embedding parameter."""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``fit`` sub-command."""
    parser = subparsers.add_parser(
        "fit",
        help="fit an image or a 1D signal with an embedding and a coordinate network",
        description="Fit an image or 1D signal; write reconstruction, error map, PSNR "
        "history and metrics.json (config, PSNRs, stable rank, distance preservation) "
        "into a run folder. Flags override the defaults or the chosen --protocol.",
        epilog=FIT_EMBEDDING_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "source", nargs="?", help="built-in image name, image file, or 1D signal spec"
    )
    parser.add_argument("--signal", help="1D signal spec, e.g. camera:row=200 (same as SOURCE)")
    parser.add_argument(
        "--protocol", choices=list(PROTOCOLS), help="a paper's settings (default: none)"
    )
    groups = add_setting_flags(parser, exclude={"signal"})
    add_embedding_flags(groups["embedding"])
    run = groups["run"]
    run.add_argument("--out", type=Path, help="run folder (default runs/fit-<time>-<name>)")
    run.add_argument(
        "--checkpoint", action="store_true", help="also save checkpoint.pt (default: off)"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar (default: shown)")
    add_log_flag(run)
    parser.set_defaults(handler=run_fit)
    return parser


def add_embedding_flags(group: Any, *, bandwidth: bool = True) -> None:
    """``--param NAME=VALUE`` (shared by ``fit`` and ``sweep``) and, for one fit,
    ``--bandwidth``; every other embedding parameter is an option of its own name."""
    if bandwidth:
        group.add_argument(
            "--bandwidth",
            type=float,
            help="the embedding's bandwidth parameter, whatever its name (default: the "
            "embedding's)",
        )
    group.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an embedding parameter, the same as --NAME VALUE (repeatable; default: none)",
    )


def embedding_parameters(
    args: argparse.Namespace, options: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """The embedding parameters given as ``--NAME VALUE`` (``options``, by default every such
    option) and ``--param NAME=VALUE``; each takes one value."""
    options = getattr(args, EMBEDDING_OPTIONS, {}) if options is None else options
    for name, values in options.items():
        if len(values) != 1:
            raise ValueError(f"--{name.replace('_', '-')} takes one value, got {values}")
    params = {name: parse_value(values[0]) for name, values in options.items()}
    for name, value in parse_key_values(args.param).items():
        if name in params:
            raise ValueError(f"embedding parameter {name} is given twice")
        params[name] = value
    return params


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the user gave explicitly, as :func:`~posenc.config.resolve_config`
    overrides."""
    if args.source and args.signal and args.source != args.signal:
        raise ValueError(
            f"give the signal once: SOURCE {args.source!r} or --signal {args.signal!r}"
        )
    overrides = given_settings(args, exclude={"signal"})
    if args.source or args.signal:
        overrides["signal"] = args.source or args.signal
    params = embedding_parameters(args)
    if args.bandwidth is not None:
        params["bandwidth"] = args.bandwidth
    if params:
        overrides["embedding_params"] = params
    return overrides


def run_fit(args: argparse.Namespace) -> int:
    """Resolve the config, load the signal, fit, and write the run folder."""
    from posenc.config import resolve_config
    from posenc.files import default_output_folder, staged_folder
    from posenc.neural_fields import fit, load_config_signal, plan_fit
    from posenc.neural_fields.output import write_fit_files
    from posenc.neural_fields.pipeline import probe_config_signal
    from posenc.tracking import TrackingCallback, log_fit_record, tracked

    config = resolve_config(args.protocol, **config_overrides(args))
    out_dir = args.out or default_output_folder("fit", config.embedding)
    # Refuse what cannot fit from the signal's header alone, then claim the output location
    # (its staging folder), and only then load, fit and write.
    plan_fit(probe_config_signal(config), config)
    with (
        staged_folder(out_dir) as staging,
        tracked(args.log or (), out_dir, {"posenc.command": "fit"}) as trackers,
    ):
        for tracker in trackers:
            tracker.log_params(config.to_dict())
        callbacks = [TrackingCallback(trackers)] if trackers else []
        signal = load_config_signal(config)
        result = fit(signal, config, callbacks=callbacks, progress=not args.quiet)
        write_fit_files(result, staging, checkpoint=args.checkpoint)
        files = sorted(staging.iterdir())
        log_fit_record(trackers, result.metrics(), files, history=False, params=False)
    print(
        f"{signal.name}: train PSNR {result.train_psnr:.2f} dB, test PSNR "
        f"{result.test_psnr:.2f} dB ({result.last_steps_text}: {result.test_psnr_last:.2f}), "
        f"stable rank {result.stable_rank:.1f}, DP {result.distance_preservation:.4f}, "
        f"fit {result.timings['fit']:.2f} s"
    )
    print(f"wrote {out_dir}")
    return 0
