"""``posenc suggest``: the best bandwidth of each embedding for a signal, without a sweep."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from posenc.cli.fit import (
    add_embedding_flags,
    add_signal_arguments,
    embedding_parameters,
    given_signal,
    suggestion_line,
)
from posenc.cli.settings import FIT_EMBEDDING_HELP, add_setting_flags, given_settings

MANY_VALUES = False
"""``posenc suggest`` takes one value per embedding parameter (the bandwidth is searched)."""

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
of 2 to 4 N for N training samples per axis), refined around the best.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``suggest`` sub-command."""
    parser = subparsers.add_parser(
        "suggest",
        help="suggest each embedding's bandwidth for a signal, without a sweep",
        description=DESCRIPTION,
        epilog=FIT_EMBEDDING_HELP.replace("--bandwidth", "--range"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    add_signal_arguments(parser)
    groups = add_setting_flags(parser, exclude={"signal", "embedding"})
    embedding = groups["embedding"]
    embedding.add_argument(
        "--embedding",
        dest="embeddings",
        nargs="+",
        metavar="NAME",
        help="embeddings to suggest a bandwidth for (default: the settings' embedding)",
    )
    add_embedding_flags(embedding, bandwidth=False)
    search = parser.add_argument_group("search")
    search.add_argument(
        "--range",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        help="bandwidths to search (default: an auto sweep's range)",
    )
    search.add_argument(
        "--points",
        type=int,
        help="log-spaced candidates before the refinement (default: posenc.oracle.DEFAULT_POINTS)",
    )
    run = groups["run"]
    run.add_argument("--out", type=Path, help="run folder (default runs/suggest-<time>-<names>)")
    run.add_argument("--quiet", action="store_true", help="no progress bar (default: shown)")
    parser.set_defaults(handler=run_suggest)


def suggest_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (signal and embedding parameters included,
    the embeddings excluded), as :func:`~posenc.config.resolve_config` overrides."""
    return given_settings(args, exclude={"signal", "embedding"}) | given_signal(args)


def embedding_settings(names: list[str], params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per embedding, the given parameters it accepts; a parameter that none of ``names``
    accepts is an error naming it."""
    from posenc.embeddings import embedding_class

    accepted = {name: embedding_class(name).parameter_names() for name in names}
    unused = sorted(set(params) - set().union(*accepted.values()))
    if unused:
        raise ValueError(
            f"no embedding among {', '.join(names)} has the parameter(s) {', '.join(unused)}"
        )
    return {
        name: {key: value for key, value in params.items() if key in accepted[name]}
        for name in names
    }


def run_suggest(args: argparse.Namespace) -> int:
    """Resolve a config per embedding, suggest, print, and write the run folder."""
    from posenc.config import resolve_config
    from posenc.files import default_output_folder, staged_folder, write_json
    from posenc.neural_fields import load_config_signal
    from posenc.oracle import suggest_bandwidth
    from posenc.oracle.plots import figure_suggestion
    from posenc.plotting import save_figure

    overrides = suggest_overrides(args)
    base = resolve_config(args.protocol, **overrides)
    names = list(dict.fromkeys(args.embeddings or [base.embedding]))
    params = embedding_settings(names, embedding_parameters(args))
    configs = [
        resolve_config(args.protocol, **overrides, embedding=name, embedding_params=params[name])
        for name in names
    ]
    out = args.out or default_output_folder("suggest", "-".join(names))
    signal = load_config_signal(base)
    with staged_folder(out) as staging:
        suggestions = []
        for config in configs:
            suggestion = suggest_bandwidth(
                signal,
                config,
                bandwidth_range=tuple(args.range) if args.range else None,
                **({} if args.points is None else {"points": args.points}),
                progress=not args.quiet,
            )
            suggestions.append(suggestion)
            print(suggestion_line(suggestion))
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
    print(f"wrote {out}")
    return 0
