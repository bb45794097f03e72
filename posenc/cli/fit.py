"""``posenc fit``: fit one image or 1D signal and write a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posenc.cli.params import parse_key_values, parse_value
from posenc.cli.settings import (
    FIT_EMBEDDING_HELP,
    add_log_flag,
    add_setting_flags,
    given_settings,
)
from posenc.protocols import PROTOCOLS

if TYPE_CHECKING:
    from posenc.config import FitConfig
    from posenc.oracle import Suggestion

EMBEDDING_OPTIONS = "embedding_options"
"""Where ``posenc.cli.main`` leaves the ``--NAME VALUE`` embedding parameters it took out."""
MANY_VALUES = False
"""``posenc fit`` takes one value per embedding parameter."""
SUGGEST_HELP = """
  --NAME suggest        the bandwidth oracle's suggestion for this signal and fit (as
                        `posenc suggest` finds it), fitted and recorded in metrics.json under
                        "oracle": --sigma suggest, --scale suggest, --bandwidth suggest, ..."""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``fit`` sub-command."""
    parser = subparsers.add_parser(
        "fit",
        help="fit an image or a 1D signal with an embedding and a coordinate network",
        description="Fit an image or 1D signal; write reconstruction, error map, PSNR "
        "history and metrics.json (config, PSNRs, stable rank, distance preservation) "
        "into a run folder. Flags override the defaults or the chosen --protocol.",
        epilog=FIT_EMBEDDING_HELP + SUGGEST_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    add_signal_arguments(parser)
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


def add_signal_arguments(parser: argparse.ArgumentParser) -> None:
    """``SOURCE`` (or ``--signal``) and ``--protocol``: what one fit of one signal starts
    from (``fit`` and ``suggest``); :func:`given_signal` reads them back."""
    parser.add_argument(
        "source", nargs="?", help="built-in image name, image file, or 1D signal spec"
    )
    parser.add_argument("--signal", help="1D signal spec, e.g. camera:row=200 (same as SOURCE)")
    parser.add_argument(
        "--protocol", choices=list(PROTOCOLS), help="a paper's settings (default: none)"
    )


def given_signal(args: argparse.Namespace) -> dict[str, str]:
    """``{"signal": ...}`` if SOURCE or ``--signal`` was given (once), else nothing."""
    if args.source and args.signal and args.source != args.signal:
        raise ValueError(
            f"give the signal once: SOURCE {args.source!r} or --signal {args.signal!r}"
        )
    return {"signal": args.source or args.signal} if args.source or args.signal else {}


def add_embedding_flags(group: Any, *, bandwidth: bool = True) -> None:
    """``--param NAME=VALUE`` (shared by ``fit`` and ``sweep``) and, for one fit,
    ``--bandwidth``; every other embedding parameter is an option of its own name."""
    if bandwidth:
        group.add_argument(
            "--bandwidth",
            type=_bandwidth_value,
            help="the embedding's bandwidth parameter, whatever its name, or 'suggest': the "
            "bandwidth oracle's suggestion, found before the fit and recorded in metrics.json "
            "(the same as --sigma suggest, --scale suggest, ...; default: the embedding's)",
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


def _bandwidth_value(text: str) -> float | str:
    """``--bandwidth``'s value: a number or the word ``suggest``."""
    from posenc.sweeps.bandwidths import SUGGEST, is_suggest

    if is_suggest(text):
        return SUGGEST
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number or {SUGGEST!r}, got {text!r}"
        ) from None


def take_suggestion_request(embedding: str, params: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """``params`` without a bandwidth given as ``suggest``, and whether one was.

    The word may stand for ``embedding``'s bandwidth parameter (``--sigma suggest``) or the
    generic ``bandwidth``; for any other parameter, or an embedding without a bandwidth, it
    is a ``ValueError`` naming the flag."""
    from posenc.embeddings import describe_embedding
    from posenc.sweeps.bandwidths import SUGGEST, is_suggest

    for name, value in params.items():
        if isinstance(value, str) and value.strip().startswith(f"{SUGGEST}:"):
            raise ValueError(
                f"--{name.replace('_', '-')} {value}: a fit takes one bandwidth; "
                f"'{SUGGEST}:N' sweeps N values around the suggestion (posenc sweep)"
            )
    asked = [name for name, value in params.items() if is_suggest(value)]
    if not asked:
        return params, False
    bandwidth = describe_embedding(embedding).bandwidth_name
    for name in asked:
        flag = "--" + name.replace("_", "-")
        if bandwidth is None:
            raise ValueError(
                f"{flag} {SUGGEST}: embedding {embedding!r} has no bandwidth to suggest"
            )
        if name not in (bandwidth, "bandwidth"):
            raise ValueError(
                f"{flag} {SUGGEST}: only the bandwidth ({bandwidth}) of {embedding!r} can be "
                "suggested"
            )
    if len(asked) > 1:
        raise ValueError(f"give either --bandwidth or --{bandwidth}, not both")
    return {name: value for name, value in params.items() if name not in asked}, True


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the user gave explicitly, as :func:`~posenc.config.resolve_config`
    overrides."""
    overrides = given_settings(args, exclude={"signal"}) | given_signal(args)
    params = embedding_parameters(args)
    if args.bandwidth is not None:
        params["bandwidth"] = args.bandwidth
    if params:
        overrides["embedding_params"] = params
    return overrides


def resolve_fit_config(args: argparse.Namespace) -> tuple[FitConfig, Suggestion | None]:
    """The fit's config; with a bandwidth given as ``suggest``, the config at the oracle's
    suggestion (found from the training samples, before anything is written) and the
    suggestion."""
    from posenc.config import resolve_config
    from posenc.neural_fields import load_config_signal
    from posenc.oracle import suggest_bandwidth

    overrides = config_overrides(args)
    params = overrides.get("embedding_params", {})
    embedding = resolve_config(args.protocol, **overrides_without(overrides, params)).embedding
    params, asked = take_suggestion_request(embedding, params)
    config = resolve_config(args.protocol, **{**overrides, "embedding_params": params})
    if not asked:
        return config, None
    suggestion = suggest_bandwidth(load_config_signal(config), config, progress=not args.quiet)
    return suggestion.config, suggestion


def overrides_without(overrides: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` with only the embedding parameters that hold no ``suggest`` (nor
    ``suggest:N``): enough to resolve which embedding the fit uses."""
    from posenc.sweeps.bandwidths import SUGGEST

    kept = {
        name: value
        for name, value in params.items()
        if not (isinstance(value, str) and value.strip().startswith(SUGGEST))
    }
    return {**overrides, "embedding_params": kept}


def suggestion_line(suggestion: Suggestion) -> str:
    """What the oracle suggested, in one line."""
    return (
        f"{suggestion.embedding}: {suggestion.bandwidth_name} = {suggestion.bandwidth:.4g}, "
        f"predicted test PSNR {suggestion.predicted_psnr:.2f} dB "
        f"({suggestion.timings['total']:.2f} s)"
    )


def run_fit(args: argparse.Namespace) -> int:
    """Resolve the config, load the signal, fit, and write the run folder."""
    from posenc.files import default_output_folder, staged_folder
    from posenc.neural_fields import fit, load_config_signal, plan_fit
    from posenc.neural_fields.output import write_fit_files
    from posenc.neural_fields.pipeline import probe_config_signal
    from posenc.tracking import TrackingCallback, log_fit_record, tracked

    config, suggestion = resolve_fit_config(args)
    out_dir = args.out or default_output_folder("fit", config.embedding)
    # Refuse what cannot fit from the signal's header alone, then claim the output location
    # (its staging folder), and only then load, fit and write.
    plan_fit(probe_config_signal(config), config)
    oracle = {"oracle": suggestion.answer()} if suggestion else {}
    with (
        staged_folder(out_dir) as staging,
        tracked(args.log or (), out_dir, {"posenc.command": "fit"}) as trackers,
    ):
        for tracker in trackers:
            tracker.log_params(config.to_dict())
        callbacks = [TrackingCallback(trackers)] if trackers else []
        signal = load_config_signal(config)
        result = fit(signal, config, callbacks=callbacks, progress=not args.quiet)
        write_fit_files(result, staging, checkpoint=args.checkpoint, extra_metrics=oracle)
        files = sorted(staging.iterdir())
        log_fit_record(trackers, result.metrics(), files, history=False, params=False)
    if suggestion:
        print(suggestion_line(suggestion))
    print(
        f"{signal.name}: train PSNR {result.train_psnr:.2f} dB, test PSNR "
        f"{result.test_psnr:.2f} dB ({result.last_steps_text}: {result.test_psnr_last:.2f}), "
        f"stable rank {result.stable_rank:.1f}, DP {result.distance_preservation:.4f}, "
        f"fit {result.timings['fit']:.2f} s"
    )
    print(f"wrote {out_dir}")
    return 0
