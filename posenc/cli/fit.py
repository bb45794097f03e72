"""``posenc fit``: fit one image or 1D signal and write a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from posenc.cli.params import parse_key_values
from posenc.embeddings.base import AXIS_COMPOSITIONS, NORMALIZATIONS
from posenc.neural_fields.config import DTYPES, PROTOCOLS, SOLVERS, SPLITS, resolve_config
from posenc.neural_fields.models import MODEL_KINDS
from posenc.neural_fields.sparse import FIRST_LAYERS
from posenc.runfolder import check_output_folder, default_output_folder

# Bandwidth flags by parameter name; the basis "width" is set with --bandwidth because
# --width is the network's width.
BANDWIDTH_FLAGS = ("sigma", "scale", "p", "radius", "frequency", "length")

# Flag destination -> FitConfig field, for flags that map one to one.
CONFIG_FLAGS = (
    "split",
    "split_fraction",
    "embedding",
    "normalization",
    "model",
    "depth",
    "width",
    "sigmoid",
    "siren_omega",
    "first_layer",
    "solver",
    "steps",
    "lr",
    "weight_decay",
    "eval_every",
    "last_k",
    "seed",
    "device",
    "dtype",
    "gray",
)
# Flag destination -> embedding parameter.
EMBEDDING_FLAGS = ("num_centers", "num_frequencies", "compose", "periodic", "truncate")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fit`` sub-command."""
    parser = subparsers.add_parser(
        "fit",
        help="fit an image or a 1D signal with an embedding and a coordinate network",
        description="Fit an image or 1D signal; write reconstruction, error map, PSNR "
        "history and metrics.json (config, PSNRs, stable rank, distance preservation) "
        "into a run folder. Flags override the defaults or the chosen --protocol.",
    )
    parser.add_argument(
        "source", nargs="?", help="built-in image name, image file, or 1D signal spec"
    )
    parser.add_argument("--signal", help="1D signal spec, e.g. camera:row=200 (same as SOURCE)")
    parser.add_argument("--protocol", choices=list(PROTOCOLS), help="a paper's settings")
    _add_data_flags(parser)
    _add_embedding_flags(parser)
    _add_model_flags(parser)
    _add_run_flags(parser)
    parser.set_defaults(handler=run)


def _add_data_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--size", type=int, help="resize images to SIZE x SIZE (0: keep)")
    group.add_argument("--gray", action="store_true", default=None, help="fit grayscale")
    group.add_argument("--split", choices=SPLITS, help="train/test split")
    group.add_argument("--split-fraction", type=float, help="training fraction for 'random'")


def _add_embedding_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("embedding")
    group.add_argument("--embedding", help="embedding name (see `posenc embeddings`)")
    group.add_argument("--bandwidth", type=float, help="the embedding's bandwidth parameter")
    for name in BANDWIDTH_FLAGS:
        group.add_argument(f"--{name}", type=float, help=f"set the embedding's {name}")
    add_embedding_parameter_flags(group)
    group.add_argument("--normalization", choices=NORMALIZATIONS)


def add_embedding_parameter_flags(group: argparse._ArgumentGroup) -> None:
    """The flags of :data:`EMBEDDING_FLAGS` and ``--param KEY=VALUE``: embedding parameters
    other than the bandwidth, shared by ``fit`` and ``sweep``."""
    group.add_argument("--num-centers", type=int, help="centres per axis (shifted bases)")
    group.add_argument("--num-frequencies", type=int, help="frequencies (Fourier features)")
    group.add_argument("--compose", choices=(*AXIS_COMPOSITIONS, "isotropic"))
    group.add_argument("--periodic", action="store_true", default=None, help="wrap the basis")
    group.add_argument("--truncate", type=float, help="Gaussian cut-off in sigmas")
    group.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other embedding parameter (repeatable)",
    )


def _add_model_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model and solver")
    group.add_argument("--model", choices=MODEL_KINDS)
    group.add_argument("--depth", type=int, help="hidden layers")
    group.add_argument("--width", type=int, help="hidden units per layer")
    group.add_argument(
        "--sigmoid", action=argparse.BooleanOptionalAction, help="sigmoid on the output"
    )
    group.add_argument("--siren-omega", type=float, help="SIREN frequency omega_0")
    group.add_argument(
        "--first-layer",
        choices=FIRST_LAYERS,
        help="how the first layer meets the embedding: auto (default: fastest exact form), "
        "dense, lookup (axis-wise embeddings on grids), sparse (compact shifted bases)",
    )
    group.add_argument("--solver", choices=SOLVERS)
    group.add_argument("--steps", type=int)
    group.add_argument("--lr", type=float)
    group.add_argument("--weight-decay", type=float)
    group.add_argument("--eval-every", type=int, help="test PSNR every N steps")
    group.add_argument("--last-k", type=int, help="steps averaged for the *_last PSNRs")


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("run")
    group.add_argument("--seed", type=int)
    group.add_argument("--device", help="cpu (default) or cuda[:N]")
    group.add_argument("--dtype", choices=list(DTYPES))
    group.add_argument("--out", type=Path, help="run folder (default runs/fit-<time>-<name>)")
    group.add_argument("--checkpoint", action="store_true", help="also save checkpoint.pt")
    group.add_argument("--quiet", action="store_true", help="no progress bar")


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the user gave explicitly, as :func:`resolve_config` overrides."""
    if args.source and args.signal and args.source != args.signal:
        raise ValueError(
            f"give the signal once: SOURCE {args.source!r} or --signal {args.signal!r}"
        )
    overrides = {
        name: getattr(args, name) for name in CONFIG_FLAGS if getattr(args, name) is not None
    }
    if args.source or args.signal:
        overrides["signal"] = args.source or args.signal
    if args.size is not None:
        overrides["size"] = args.size or None
    params = {
        name: getattr(args, name) for name in EMBEDDING_FLAGS if getattr(args, name) is not None
    }
    params.update(
        {name: getattr(args, name) for name in BANDWIDTH_FLAGS if getattr(args, name) is not None}
    )
    params.update(parse_key_values(args.param))
    if args.bandwidth is not None:
        params["bandwidth"] = args.bandwidth
    if params:
        overrides["embedding_params"] = params
    return overrides


def run(args: argparse.Namespace) -> int:
    """Resolve the config, load the signal, fit, and write the run folder."""
    from posenc.neural_fields.fitting import fit, load_config_signal
    from posenc.neural_fields.output import save_fit

    config = resolve_config(args.protocol, **config_overrides(args))
    out_dir = args.out or default_output_folder("fit", config.embedding)
    check_output_folder(out_dir)
    signal = load_config_signal(config)
    result = fit(signal, config, progress=not args.quiet)
    save_fit(result, out_dir, checkpoint=args.checkpoint)
    print(
        f"{signal.name}: train PSNR {result.train_psnr:.2f} dB, test PSNR "
        f"{result.test_psnr:.2f} dB (mean of last {config.last_k}: {result.test_psnr_last:.2f}), "
        f"stable rank {result.stable_rank:.1f}, DP {result.distance_preservation:.4f}, "
        f"fit {result.timings['fit']:.2f} s"
    )
    print(f"wrote {out_dir}")
    return 0
