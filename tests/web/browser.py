"""A real browser for the dashboard's tests: Debian's headless chromium, driven by Playwright, signed in.

Every browser test starts the same way (launch, a page of a given height, the login form, the
dashboard); :func:`signed_in` is that start, and closes the browser however the test ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TIMEOUT_MS = 30_000

needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} is not installed (apt-get install chromium)"
)


@contextmanager
def signed_in(live_server, user, *, height: int = 900) -> Iterator:
    """A page of the dashboard, 1280 wide, after ``user`` signed in through the login form.

    The page starts at the dashboard's address, so the test also sees that an anonymous visit
    is sent to the login form first.
    """
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": height})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(live_server.url + "/")
            assert "/login/" in page.url
            page.fill("input[name=username]", user.username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(live_server.url + "/")
            yield page
        finally:
            browser.close()
