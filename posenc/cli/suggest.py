"""``posenc suggest``: the best bandwidth of each embedding for a signal, without a sweep."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from posenc.cli.fit import BANDWIDTH_FLAGS, add_embedding_parameter_flags, config_overrides
from posenc.embeddings.base import NORMALIZATIONS
from posenc.neural_fields.config import DTYPES, PROTOCOLS, SOLVERS, SPLITS, resolve_config
from posenc.neural_fields.models import MODEL_KINDS
from posenc.runfolder import default_output_folder, staged_folder, write_json

DESCRIPTION = """\
Predict, for each embedding, the bandwidth (sigma, scale, width, ...) at which a fit of
SOURCE with the given settings tests best, from the training samples alone and without
training: the oracle predicts the test PSNR of every candidate bandwidth in closed form
(see posenc.oracle) and suggests the best. Prints per embedding the suggested bandwidth,
the predicted test PSNR and the seconds taken; writes a run folder with suggest.json (every
candidate's prediction), config.json (the settings, per embedding at its suggestion) and
one figure per embedding (predicted PSNR against bandwidth, the suggestion marked, stable
rank on a second axis).

Fit settings are fit's flags (or --protocol); the candidates are --points values
log-spaced over --range LOW HIGH (default: the range of an `auto` sweep, from a stable rank
of 2 to 4 N for N training samples per axis).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``suggest`` sub-command."""
    parser = subparsers.add_parser(
        "suggest",
        help="suggest each embedding's bandwidth for a signal, without a sweep",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "source", nargs="?", help="built-in image name, image file, or 1D signal spec"
    )
    parser.add_argument("--signal", help="1D signal spec, e.g. camera:row=200 (same as SOURCE)")
    parser.add_argument("--protocol", choices=list(PROTOCOLS), help="a paper's settings")
    parser.add_argument(
        "--embedding",
        dest="embeddings",
        nargs="+",
        metavar="NAME",
        help="embeddings to suggest a bandwidth for (default: the setting's embedding)",
    )
    parser.add_argument(
        "--range",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        help="bandwidths to search (default: an auto sweep's range)",
    )
    parser.add_argument("--points", type=int, default=24, help="candidates (default 24)")
    _add_fit_flags(parser)
    parser.set_defaults(
        handler=run, embedding=None, bandwidth=None, **dict.fromkeys(BANDWIDTH_FLAGS)
    )


def _add_fit_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("fit settings (as posenc fit)")
    group.add_argument("--size", type=int, help="resize images to SIZE x SIZE (0: keep)")
    group.add_argument("--gray", action="store_true", default=None, help="fit grayscale")
    group.add_argument("--split", choices=SPLITS, help="train/test split")
    group.add_argument("--split-fraction", type=float, help="training fraction for 'random'")
    add_embedding_parameter_flags(group)
    group.add_argument("--normalization", choices=NORMALIZATIONS)
    group.add_argument("--model", choices=MODEL_KINDS)
    group.add_argument("--depth", type=int, help="hidden layers")
    group.add_argument("--width", type=int, help="hidden units per layer")
    group.add_argument("--sigmoid", action=argparse.BooleanOptionalAction)
    group.add_argument("--siren-omega", type=float)
    group.add_argument("--first-layer", help=argparse.SUPPRESS)
    group.add_argument("--solver", choices=SOLVERS)
    group.add_argument("--steps", type=int)
    group.add_argument("--lr", type=float)
    group.add_argument("--weight-decay", type=float)
    group.add_argument("--eval-every", type=int, help=argparse.SUPPRESS)
    group.add_argument("--last-k", type=int, help="steps averaged for the reported PSNR")
    group.add_argument("--seed", type=int)
    group.add_argument("--device", help=argparse.SUPPRESS)
    group.add_argument("--dtype", choices=list(DTYPES), help=argparse.SUPPRESS)
    group.add_argument("--out", type=Path, help="run folder (default runs/suggest-<time>)")
    group.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Resolve a config per embedding, suggest, print, and write the run folder."""
    from posenc.analysis.plotting import save_figure
    from posenc.neural_fields.fitting import load_config_signal
    from posenc.oracle import suggest_bandwidth
    from posenc.oracle.plots import figure_suggestion

    overrides = config_overrides(args)
    base = resolve_config(args.protocol, **overrides)
    names = args.embeddings or [base.embedding]
    configs = [resolve_config(args.protocol, **{**overrides, "embedding": name}) for name in names]
    out = args.out or default_output_folder("suggest", "-".join(names))
    signal = load_config_signal(base)
    suggestions = []
    for config in configs:
        suggestion = suggest_bandwidth(
            signal,
            config,
            bandwidth_range=tuple(args.range) if args.range else None,
            points=args.points,
            progress=not args.quiet,
        )
        suggestions.append(suggestion)
        print(
            f"{config.embedding}: {suggestion.bandwidth_name} = {suggestion.bandwidth:.4g}, "
            f"predicted test PSNR {suggestion.predicted_psnr:.2f} dB "
            f"({suggestion.timings['total']:.2f} s)"
        )
    with staged_folder(out) as staging:
        write_json(
            staging / "suggest.json",
            {"signal": signal.name, "suggestions": [s.to_dict() for s in suggestions]},
        )
        write_json(
            staging / "config.json",
            {
                "settings": base.to_dict(),
                "suggested": {s.embedding: s.config.to_dict() for s in suggestions},
            },
        )
        for suggestion in suggestions:
            save_figure(
                figure_suggestion(suggestion), staging / f"curve_{suggestion.embedding}.png"
            )
    print(f"wrote {out}", file=sys.stdout)
    return 0
