"""Headless Chromium, found and started one way everywhere (PDF printing, page screenshots).

The flags keep it off the network: no background requests, no component updates, no QUIC, a
fresh profile each time (this workplace and CI have no internet).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["BROWSERS", "HEADLESS_FLAGS", "find_browser", "run_headless"]

BROWSERS = ("chromium", "chromium-browser")
HEADLESS_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)


def find_browser() -> str | None:
    """Path of ``chromium`` or ``chromium-browser`` on PATH, or None."""
    return next((b for b in map(shutil.which, BROWSERS) if b), None)


def run_headless(browser: str, page: str | Path, *args: str, timeout_s: float = 120.0,
                 profile: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run headless Chromium on ``page`` (a path or URL) with extra ``args`` (e.g. ``--screenshot=F``)."""
    url = Path(page).resolve().as_uri() if not str(page).startswith(("http://", "https://", "file:")) else str(page)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [browser, *HEADLESS_FLAGS, f"--user-data-dir={profile or tmp}", *args, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
