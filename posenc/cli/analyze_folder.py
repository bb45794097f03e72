"""What ``posenc analyze`` computes and writes (its parser is :mod:`posenc.cli.analyze`).

The run validates every input, computes everything in a staging folder and renames it to the
output folder at the end, so an error or an interrupt never leaves a half-written result.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from posenc import __version__
from posenc.analysis import (
    PlotData,
    basis_functions,
    render,
    render_basis,
    similarity_curve,
    similarity_vs_displacement,
    stable_rank_dp_scatter,
    stable_rank_vs_samples,
    summarize,
)
from posenc.analysis.construction import analysis_parameters
from posenc.analysis.experiments import check_scatter_arguments
from posenc.analysis.measure import working_matrix_shape
from posenc.analysis.metrics import require_matrix_fits
from posenc.cli.params import parse_value
from posenc.embeddings import (
    EMBEDDINGS,
    Embedding,
    embedding_class,
    make_embedding,
)
from posenc.files import (
    check_output_folder,
    default_output_folder,
    staged_folder,
    write_json,
)
from posenc.plotting import save_figure

MANAGED_PARAMETERS = {
    "in_dim": "the analysis is 1D",
    "num_centers": "use --dim",
    "num_frequencies": "use --dim (D/2 frequencies)",
    "periodic": "use --no-periodic",
    "normalization": "SR and DP do not depend on it",
    "dtype": "the analysis runs in float64",
}


@dataclass(frozen=True)
class Analysed:
    """One embedding at one bandwidth, with its label and the parameters that built it."""

    label: str
    embedding: Embedding
    params: dict[str, Any]


def run(args: argparse.Namespace) -> int:
    """Validate everything, compute into a staging folder, rename it into place."""
    if not args.embedding and not args.scatter:
        raise ValueError("nothing to analyse: give --embedding NAME [NAME ...] and/or --scatter")
    _check_positive("--dim", args.dim, minimum=2)
    points = args.dim if args.points is None else args.points
    _check_positive("--points", points, minimum=2)
    if not math.isfinite(args.threshold):
        raise ValueError(f"--threshold must be a finite number, got {args.threshold!r}")
    samples = parse_samples(args.samples) if args.embedding else []
    analysed = resolve_embeddings(args) if args.embedding else []
    _check_memory(analysed, samples, points)
    if args.scatter:
        check_scatter_arguments(args.scatter_dims, args.scatter_bandwidths, args.sigma_range)
    out = _output_folder(args.out)
    config = _config(args, analysed, samples, points, out)

    with staged_folder(out) as staging:
        results = _compute(args, analysed, samples, points, staging)
        write_json(staging / "config.json", config)
        write_json(staging / "results.json", results)
    _print_summary(results.get("summary", []))
    print(out)
    return 0


# ------------------------------------------------------------------------ resolution
def parse_samples(spec: str) -> list[int]:
    """``"A:B"``, ``"A:B:STEP"`` (inclusive) or ``"1,2,5"``, mixed freely; sorted, unique."""
    counts: set[int] = set()
    for item in spec.split(","):
        parts = item.strip().split(":")
        try:
            numbers = [int(part) for part in parts]
        except ValueError:
            raise ValueError(
                f"--samples {spec!r}: {item.strip()!r} is not an integer or a range A:B[:STEP]"
            ) from None
        if len(numbers) > 3 or min(numbers) < 1:
            raise ValueError(f"--samples {spec!r}: need integers >= 1 as N, A:B or A:B:STEP")
        # N alone, A:B (step 1) or A:B:STEP
        start, stop, step = (*numbers, 1)[:3] if len(numbers) > 1 else (numbers[0],) * 2 + (1,)
        if stop < start:
            raise ValueError(f"--samples {spec!r}: range {item.strip()!r} ends before it starts")
        counts.update(range(start, stop + 1, step))
    return sorted(counts)


def resolve_embeddings(args: argparse.Namespace) -> list[Analysed]:
    """Every (embedding, bandwidth) to analyse, built now so any bad value fails early."""
    names = list(args.embedding)
    for name in names:
        embedding_class(name)  # unknown names fail here, with a suggestion
    if len(set(names)) != len(names):
        raise ValueError(f"--embedding lists a name twice: {' '.join(names)}")
    bandwidth_names = {cls.bandwidth_name for cls in EMBEDDINGS.values() if cls.bandwidth_name}
    options = getattr(args, "embedding_options", {})
    own = {
        name: [_number(f"--{name}", value) for value in values]
        for name, values in options.items()
        if name in bandwidth_names
    }
    others = [
        _single(name, values) for name, values in options.items() if name not in bandwidth_names
    ]
    extra = _parse_params([*args.param, *others], names)
    for flag in own:
        if not any(embedding_class(n).bandwidth_name == flag for n in names):
            raise ValueError(
                f"--{flag} applies to none of the selected embeddings ({', '.join(names)})"
            )
    analysed: list[Any] = []
    for name in names:
        cls = embedding_class(name)
        values = _bandwidths(name, cls.bandwidth_name, args.bandwidth, own)
        for value in values:
            size = analysis_parameters(name, args.dim, not args.no_periodic, args.seed)
            params = {**size, **extra[name]}
            if value is not None and cls.bandwidth_name is not None:
                params[cls.bandwidth_name] = value
            embedding = make_embedding(name, normalization="none", dtype=torch.float64, **params)
            label = _label(embedding, with_bandwidth=value is not None)
            if any(item.label == label for item in analysed):
                raise ValueError(f"{label} is requested twice")
            analysed.append(Analysed(label, embedding, params))
    return analysed


def _bandwidths(
    name: str, bandwidth_name: str | None, generic: list[float] | None, own: dict[str, list[float]]
) -> list[float | None]:
    specific = own.get(bandwidth_name) if bandwidth_name else None
    if generic and specific:
        raise ValueError(f"give --bandwidth or --{bandwidth_name} for {name}, not both")
    values = specific or generic
    if values and bandwidth_name is None:
        raise ValueError(f"embedding {name!r} has no bandwidth parameter to set")
    return list(values) if values else [None]


def _number(flag: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{flag}: {text!r} is not a number") from None


def _single(name: str, values: Sequence[str]) -> str:
    """``--NAME VALUE`` as the ``NAME=VALUE`` of ``--param``."""
    if len(values) != 1:
        raise ValueError(f"--{name.replace('_', '-')} takes one value, got {list(values)}")
    return f"{name}={values[0]}"


def _parse_params(items: Sequence[str], names: Sequence[str]) -> dict[str, dict[str, Any]]:
    per_embedding: dict[str, dict[str, Any]] = {name: {} for name in names}
    for item in items:
        key, separator, text = item.partition("=")
        key = key.strip()
        if not separator or not key:
            raise ValueError(f"--param {item!r}: expected KEY=VALUE")
        if key in MANAGED_PARAMETERS:
            raise ValueError(f"--param {key}: not settable here ({MANAGED_PARAMETERS[key]})")
        takers = [name for name in names if key in _accepted(embedding_class(name))]
        if not takers:
            raise ValueError(
                f"--param {key}: none of the selected embeddings ({', '.join(names)}) has it"
            )
        for name in takers:
            per_embedding[name][key] = parse_value(text.strip())
    return per_embedding


def _accepted(cls: type[Embedding]) -> set[str]:
    return cls.parameter_names()


def _label(embedding: Embedding, with_bandwidth: bool) -> str:
    if with_bandwidth and embedding.bandwidth_name is not None:
        return f"{embedding.name} {embedding.bandwidth_name}={embedding.bandwidth:g}"
    return embedding.name


def _check_positive(flag: str, value: int, minimum: int = 1) -> None:
    if value < minimum:
        raise ValueError(f"{flag} must be an integer >= {minimum}, got {value}")


def _check_memory(analysed: Iterable[Analysed], samples: Sequence[int], points: int) -> None:
    for item in analysed:
        for count in sorted({points, *samples[-1:]}):
            rows, cols = working_matrix_shape(item.embedding, count)
            require_matrix_fits(rows, cols, f"{item.label} on {count} points")


def _output_folder(requested: Path | None) -> Path:
    out = requested or default_output_folder("analyze")
    check_output_folder(out)
    return out


def _config(
    args: argparse.Namespace,
    analysed: Sequence[Analysed],
    samples: Sequence[int],
    points: int,
    out: Path,
) -> dict[str, Any]:
    arguments = {
        key: (str(value) if isinstance(value, Path) else value)
        for key, value in vars(args).items()
        if key != "handler"
    }
    return {
        "posenc_version": __version__,
        "command": "analyze",
        "argv": sys.argv[1:],
        "arguments": arguments,
        "out": str(out),
        "samples": list(samples),
        "points": points,
        "embeddings": [
            {"label": a.label, "name": a.embedding.name, "params": a.params} for a in analysed
        ],
    }


# -------------------------------------------------------------------------- compute
def _compute(
    args: argparse.Namespace,
    analysed: Sequence[Analysed],
    samples: Sequence[int],
    points: int,
    folder: Path,
) -> dict[str, Any]:
    plots: list[PlotData] = []
    results: dict[str, Any] = {}
    progress = not args.no_progress
    if analysed:
        embeddings = {a.label: a.embedding for a in analysed}
        curves = {label: similarity_curve(emb, points) for label, emb in embeddings.items()}
        results["summary"] = [
            summarize(label, emb, points, args.threshold, curves[label])
            for label, emb in embeddings.items()
        ]
        plots.append(stable_rank_vs_samples(embeddings, samples, progress))
        plots.append(
            similarity_vs_displacement(embeddings, points, threshold=args.threshold, curves=curves)
        )
        bases = [basis_functions(emb, label) for label, emb in embeddings.items()]
        results["basis"] = {basis.name: basis.to_dict() for basis in bases}
        for basis in bases:
            save_figure(render_basis(basis), folder / f"{_file_stem(basis.name)}.png")
    if args.scatter:
        plots.append(
            stable_rank_dp_scatter(
                list(args.scatter_dims),
                args.scatter_bandwidths,
                tuple(args.sigma_range),
                args.seed,
                progress,
            )
        )
    for plot in plots:
        save_figure(render(plot), folder / f"{plot.name}.png")
    results["figures"] = {plot.name: plot.to_dict() for plot in plots}
    _write_csv(folder / "results.csv", results.get("summary", []))
    _write_csv(folder / "plotted.csv", [row for plot in plots for row in plot.rows()])
    return results


def _file_stem(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name.replace("=", "-"))


def _write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _print_summary(summary: Sequence[dict[str, Any]]) -> None:
    for row in summary:
        theory = ""
        if row["theory_stable_rank"] is not None:
            theory = (
                f"  (theory SR {row['theory_stable_rank']:.4g}, "
                f"DP {row['theory_distance_preservation']:.4g})"
            )
        print(
            f"{row['label']}: SR {row['stable_rank']:.4g}, DP {row['distance_preservation']:.4g}, "
            f"SR*DP {row['sr_x_dp']:.4g} [{row['method']}, N={row['num_samples']}]{theory}"
        )
