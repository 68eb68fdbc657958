"""A headless Chromium for the static site (its browser test and ``scripts/site_screenshot.py``), driven by
Playwright's Python package (the ``dev`` extra) on the system's Chromium: Debian's ``chromium`` (``make browser``
installs it), or the executable named by ``MTBENCH_CHROMIUM``. Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mtbench.errors import MtbenchError

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM_ENV = "MTBENCH_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
INSTALL_HINT = "install it with 'make browser' (Debian's chromium package and the dev extra's playwright)"


def find_chromium() -> str | None:
    """The Chromium executable: ``$MTBENCH_CHROMIUM`` when set (and executable), else the first of
    ``chromium`` / ``chromium-browser`` on PATH; None when there is none."""
    env = os.environ.get(CHROMIUM_ENV)
    if env:
        return shutil.which(env)
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def missing() -> str | None:
    """Why no headless browser can be started (one line), or None when Playwright and Chromium are both there."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return f"the Python package playwright is not installed; {INSTALL_HINT}"
    if find_chromium() is None:
        env = os.environ.get(CHROMIUM_ENV)
        where = f"${CHROMIUM_ENV}={env} is not an executable" if env else f"no {' or '.join(CHROMIUM_NAMES)} on PATH"
        return f"Chromium not found ({where}); {INSTALL_HINT}"
    return None


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium (Playwright ``Browser``), closed on exit; MtbenchError (one line) when it cannot start."""
    why = missing()
    if why:
        raise MtbenchError(why)
    from playwright.sync_api import Error, sync_playwright

    exe = find_chromium()
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=exe, headless=True)
        except Error as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise MtbenchError(f"{exe}: Chromium did not start: {first}") from None
        try:
            yield browser
        finally:
            browser.close()


def file_url(path: Path | str) -> str:
    """The file:// URL of a local file."""
    return Path(path).resolve().as_uri()


def screenshot(site: Path | str, out: Path | str, width: int = 1280, page: str = "index.html") -> Path:
    """A full-page PNG of ``page`` of the static site in ``site``, ``width`` CSS pixels wide, written to ``out``
    (its folder is created). MtbenchError (one line) when the page is missing or no browser can start."""
    src = Path(site) / page
    if not src.is_file():
        raise MtbenchError(f"{src}: missing; generate the site with 'mtbench leaderboard --site {site}'")
    if width < 200:
        raise MtbenchError(f"--width {width}: too narrow (at least 200 pixels)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": width, "height": 800})
        tab.goto(file_url(src), wait_until="load")
        tab.screenshot(path=str(out), full_page=True)
    return out
