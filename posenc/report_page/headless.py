"""The report pages in headless Chromium, offline: for screenshots and browser tests.

Chromium is Debian's (``apt-get install chromium``) or the binary ``POSENC_CHROMIUM`` names;
Playwright (``pip install playwright``) drives it. The browser starts with a fresh profile
and every network feature off, and refuses any request that is not for a local file or a
``data:`` URI, recording it: a page that needs the network shows up in
:attr:`OfflineBrowser.refused`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""Headless, no GPU, and no connection of the browser's own (updates, sync, QUIC)."""


def chromium_path() -> str | None:
    """``POSENC_CHROMIUM``, else the ``chromium`` on the PATH; ``None`` if it is no file."""
    path = os.environ.get("POSENC_CHROMIUM") or shutil.which("chromium")
    return path if path and Path(path).is_file() else None


@dataclass
class OfflineBrowser:
    """A Playwright browser context that loads local pages only; :meth:`open` records each
    page's console errors and uncaught exceptions in :attr:`errors`, and every request
    refused for leaving the machine in :attr:`refused`."""

    context: Any
    errors: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def open(self, path: Path) -> Any:
        """A new page showing the file ``path``, loaded; the records start empty."""
        self.errors.clear()
        self.refused.clear()
        page = self.context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.goto(path.resolve().as_uri(), wait_until="load")
        return page

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def route(self, route: Any) -> None:
        """Let local files and ``data:`` URIs through; refuse and record anything else."""
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            self.refused.append(url)
            route.abort()


@contextmanager
def offline_chromium(
    profile: Path, size: tuple[int, int], executable: str | None = None
) -> Iterator[OfflineBrowser]:
    """Headless Chromium (``executable``, default :func:`chromium_path`) with the fresh
    profile folder ``profile`` and a window of ``size`` (width, height) pixels, closed on
    exit. Raises ``FileNotFoundError`` where no Chromium is found."""
    from playwright.sync_api import sync_playwright

    executable = executable or chromium_path()
    if executable is None:
        raise FileNotFoundError(
            "Chromium not found: apt-get install chromium, or set POSENC_CHROMIUM"
        )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=list(CHROMIUM_FLAGS),
            viewport={"width": size[0], "height": size[1]},
        )
        browser = OfflineBrowser(context)
        context.route("**/*", browser.route)
        try:
            yield browser
        finally:
            context.close()
