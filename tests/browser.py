"""One headless Chromium page for the tests that check HTML in a real browser."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; never `playwright install`
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SKIP_REASON = "needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)"
# Payloads a report must show as text, never run.
SCRIPT_ANSWER = "<script>window.pwned=1</script>"
IMG_ANSWER = '<img src=x onerror="window.pwned=1">'


@contextlib.contextmanager
def open_page(url: str, profile: Path) -> Iterator[Any]:
    """The page at ``url`` once its cases are drawn; ``page.errors`` collects its script
    errors."""
    if not CHROMIUM.exists():
        pytest.skip(SKIP_REASON)
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            page.wait_for_selector("section.case")
            page.errors = errors
            yield page
        finally:
            context.close()
