"""Headless Chromium from Debian's `chromium` package: the page as a browser renders it, as
a PNG screenshot or as the DOM after rendering. Every run gets a new, empty profile and
switches off whatever would reach the network on its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bbws_infra.core.errors import OperationError

CHROMIUM = "/usr/bin/chromium"
WINDOW = "1400,1800"
TIMEOUT_S = 60
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")


def chromium() -> str:
    """The browser: BBWS_CHROMIUM when set (as for the docs' diagrams), Debian's Chromium, or
    a chromium or google-chrome on PATH (a GitHub runner has Chrome); one sentence naming the
    Debian package when there is none."""
    chosen = os.environ.get("BBWS_CHROMIUM")
    if chosen and Path(chosen).is_file():
        return chosen
    if Path(CHROMIUM).is_file():
        return CHROMIUM
    found = shutil.which("chromium") or shutil.which("google-chrome")
    if found:
        return found
    raise OperationError(f"--screenshot needs Chromium ({CHROMIUM}), which is not installed: "
                         "install the Debian package chromium (apt-get install chromium); "
                         "the page itself was written.")


def _run(page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="bbws-chromium-") as profile:
        command = [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra,
                   page.resolve().as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise OperationError(f"Chromium could not render {page} ({error}).") from None
    if done.returncode != 0:
        raise OperationError(f"Chromium could not render {page} (exit {done.returncode}).",
                             details=done.stderr[-2000:])
    return done


def screenshot(page: Path, png: Path, window: str = WINDOW) -> Path:
    """The page rendered to `png` at `window` (width,height in pixels)."""
    png.unlink(missing_ok=True)
    _run(page, f"--screenshot={png.resolve()}", f"--window-size={window}")
    if not png.is_file():
        raise OperationError(f"Chromium wrote no screenshot of {page} to {png}.")
    return png


def dump_dom(page: Path) -> str:
    """The page's DOM as the browser built it (what it shows, for tests)."""
    return _run(page, "--dump-dom").stdout
