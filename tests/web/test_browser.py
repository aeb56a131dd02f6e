"""A real browser (Debian's headless chromium, driven by Playwright) against a live server and real workers.

Log in, upload a text file, watch the job reach 100% without reloading the page, search the
file's text and see it first; a screenshot is saved under tests/web/artifacts/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from project.embeddings.models import Chunk

from .conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TEXT = (
    "Every worker asks the toll gate for one request and its tokens before it calls the provider, "
    "so the whole pool stays under the limit of the account."
)
TIMEOUT_MS = 30_000

pytestmark = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} is not installed (apt-get install chromium)")


def test_upload_watch_and_search_in_a_browser(rig, live_server, user, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    rig.start(rpm=600, tpm=60_000, window=1.0, workers=1, concurrency=2)
    upload = tmp_path / "gate.txt"
    upload.write_text(TEXT)
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "dashboard.png"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(live_server.url + "/")
            assert "/login/" in page.url
            page.fill("input[name=username]", user.username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(live_server.url + "/")

            page.set_input_files("#upload-form input[name=files]", str(upload))
            page.click("#upload-form button[type=submit]")
            expect(page.locator("#upload-outcome")).to_contain_text("1 chunk to embed")
            page.evaluate("window.__notReloaded = true")  # gone if the page reloads
            job = page.locator("tr.job").first
            expect(job).to_have_attribute("data-status", "completed")
            expect(job.locator(".percent")).to_have_text("100.0%")
            assert page.evaluate("window.__notReloaded") is True  # htmx updated the page in place

            # the file is one short chunk, and the simulator's vectors match exact text (checked below)
            page.fill("#search-form input[name=q]", TEXT)
            page.click("#search-form button[type=submit]")
            first = page.locator("#hits tr.hit").first
            expect(first.locator(".text")).to_have_text(TEXT)
            expect(first.locator(".sim")).to_have_text("1.0000")
            expect(page.locator("#gauge-tokens")).to_contain_text("Tokens admitted in the last 1 s")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert Chunk.objects.get(document__source="gate.txt").text == TEXT  # the ORM, outside Playwright's event loop
    print(f"screenshot: {screenshot}")
    assert screenshot.stat().st_size > 10_000
