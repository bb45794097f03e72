"""Progress bars: shown by default where someone is watching, silenced with ``progress=False``.

Every long-running function of the Python API takes ``progress: bool | None = None``: ``True``
and ``False`` decide; ``None`` shows the bars when someone is watching, that is when the
standard error is a terminal or the code runs in a Jupyter kernel (where the bar is a widget
if ``ipywidgets`` is installed, else text). In scripts whose output goes to a file or a pipe
the default is silence, so logs hold no carriage-return noise.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from tqdm import std

StepReport = Callable[[int], None]
"""Told how many training steps were taken since it was last called."""


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (an IPython kernel app is running)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def show_progress(progress: bool | None) -> bool:
    """``progress`` when given; by default whether someone is watching (module docstring)."""
    if progress is not None:
        return bool(progress)
    stream = sys.stderr
    return in_notebook() or bool(stream is not None and stream.isatty())


def progress_bar(progress: bool | None = None, **options: Any) -> std.tqdm:
    """A tqdm bar on the standard error (a widget in a notebook), disabled unless
    :func:`show_progress`; ``options`` are tqdm's (``total``, ``desc``, ``unit``, ...)."""
    bar_class: type[std.tqdm] = std.tqdm
    if in_notebook():
        try:
            from ipywidgets import FloatProgress  # noqa: F401  (the widget the bar needs)
            from tqdm.notebook import tqdm as notebook_bar

            bar_class = notebook_bar
        except ImportError:
            pass
    return bar_class(disable=not show_progress(progress), file=sys.stderr, **options)
