"""Command-line flags generated from the fit config's one declaration (:mod:`posenc.config`).

Every field of :class:`~posenc.config.FitConfig` that has a flag becomes ``--field-name`` in
its group, typed and checked by the declaration and showing its default; :func:`given_settings`
reads back what the user set explicitly. ``posenc fit`` and ``posenc sweep`` share them.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection
from typing import Any

from posenc.choices import TrackerKind, options
from posenc.config import SettingInfo, settings

FIT_EMBEDDING_HELP = """\
embedding parameters:
  --NAME VALUE          any parameter of the embedding, e.g. --sigma 0.004, --num-centers 512,
                        --compose separable, --periodic (true without a value), --no-periodic;
                        `posenc embeddings NAME` lists them with their defaults; the basis
                        `width` is --param width=VALUE or --bandwidth (--width: the network's)"""

SWEEP_EMBEDDING_HELP = """\
embedding parameters:
  --NAME VALUES ...     values of a bandwidth parameter, for every swept embedding with that
                        bandwidth (e.g. --sigma logspace:-4:-1:24, --scale 4 16)
  --NAME VALUE          any other parameter, for every swept embedding that has it, e.g.
                        --num-centers 512, --compose separable, --periodic, --no-periodic;
                        `posenc embeddings NAME` lists them with their defaults"""


def add_setting_flags(
    parser: argparse.ArgumentParser, *, exclude: Collection[str] = ()
) -> dict[str, Any]:
    """Add a flag for every config field with one (but ``exclude``), grouped as declared;
    return the argument groups by name so that commands can add their own flags to them."""
    groups: dict[str, Any] = {}
    for info in settings():
        if not info.setting.cli or info.name in exclude:
            continue
        if info.setting.group not in groups:
            groups[info.setting.group] = parser.add_argument_group(info.setting.group)
        _add_flag(groups[info.setting.group], info)
    return groups


def _add_flag(group: Any, info: SettingInfo) -> None:
    flag = "--" + info.name.replace("_", "-")
    text = f"{info.setting.help} (default: {info.shown_default})"
    if info.kind is bool:
        group.add_argument(flag, action=argparse.BooleanOptionalAction, help=text)
    elif info.choices:
        group.add_argument(flag, choices=info.choices, help=text)
    else:
        metavar = info.name.split("_")[-1].upper()
        group.add_argument(flag, type=info.kind, metavar=metavar, help=text)


def add_log_flag(group: Any) -> None:
    """``--log TRACKER ...``: also log the run(s) to TensorBoard and/or MLflow
    (:mod:`posenc.tracking`)."""
    group.add_argument(
        "--log",
        nargs="+",
        action="extend",
        choices=options(TrackerKind),
        metavar="TRACKER",
        help="also log to tensorboard (event files in tensorboard/ beside the output folder) "
        "and/or mlflow (its local store, or $MLFLOW_TRACKING_URI); needs the extra "
        "posenc[tensorboard] or posenc[mlflow] (default: neither)",
    )


def given_settings(args: argparse.Namespace, *, exclude: Collection[str] = ()) -> dict[str, Any]:
    """The config fields set on the command line; an optional number given as 0 means
    ``None`` (``--size 0``: keep the image's size)."""
    given = {}
    for info in settings():
        value = getattr(args, info.name, None)
        if not info.setting.cli or info.name in exclude or value is None:
            continue
        given[info.name] = None if info.optional and value == 0 else value
    return given
