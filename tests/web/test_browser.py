"""A real browser (Debian's headless chromium, driven by Playwright) against a live server and real workers.

Log in, upload a text file, watch the job reach 100% without reloading the page, search the
file's text and see it first; a screenshot is saved under tests/web/artifacts/.
"""

from __future__ import annotations

from project.embeddings.models import Chunk

from .browser import ARTIFACTS, needs_chromium, signed_in

TEXT = (
    "Every worker asks the toll gate for one request and its tokens before it calls the provider, "
    "so the whole pool stays under the limit of the account."
)

pytestmark = needs_chromium


def test_upload_watch_and_search_in_a_browser(rig, live_server, user, tmp_path):
    from playwright.sync_api import expect

    rig.start(rpm=600, tpm=60_000, window=1.0, workers=1, concurrency=2)
    upload = tmp_path / "gate.txt"
    upload.write_text(TEXT)
    screenshot = ARTIFACTS / "dashboard.png"

    with signed_in(live_server, user) as page:
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
    assert Chunk.objects.get(document__source="gate.txt").text == TEXT  # the ORM, outside Playwright's event loop
    print(f"screenshot: {screenshot}")
    assert screenshot.stat().st_size > 10_000
