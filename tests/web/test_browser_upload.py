"""The upload's outcomes, the API's pages and the work rate, in a real browser (headless chromium, Playwright).

35 files with a binary one, an empty one and one with a NUL byte: what can be stored is, and
each file's outcome is listed in place; a selection with nothing to store is kept for a second
try; a third upload past ``TOLLGATE_WORK_RATE`` says when to come back. The header's API link
opens a page, and its documentation renders from our own static files (this machine has no
internet). No worker is needed: the jobs are only started.
"""

from __future__ import annotations

from project.embeddings.models import Document

from .browser import ARTIFACTS, needs_chromium, signed_in

pytestmark = needs_chromium


def test_upload_outcomes_kept_selection_work_rate_and_api_pages(live_server, user, provider, tmp_path):
    from playwright.sync_api import expect

    provider.TOLLGATE_WORK_RATE = "2/hour"
    files = []
    for i in range(32):
        files.append(tmp_path / f"doc{i:02}.txt")
        files[-1].write_text(f"Document {i} is about toll gate number {i} on the road.")
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "nul.txt").write_bytes(b"A text with a\x00 NUL byte.")
    files += [tmp_path / "binary.bin", tmp_path / "empty.txt", tmp_path / "nul.txt"]

    with signed_in(live_server, user, height=1400) as page:
        picker = page.locator("#upload-form input[name=files]")

        picker.set_input_files([str(f) for f in files])
        page.click("#upload-form button[type=submit]")
        outcome = page.locator("#upload-outcome")
        expect(outcome).to_contain_text("33 new documents")
        expect(outcome).to_contain_text("33 stored · 1 refused · 1 skipped")
        expect(outcome.locator("tr.file")).to_have_count(35)
        expect(outcome.locator('tr[data-outcome="refused"]')).to_contain_text("binary.bin")
        expect(outcome.locator('tr[data-outcome="refused"]')).to_contain_text("not UTF-8 text")
        expect(outcome.locator('tr[data-outcome="skipped"]')).to_contain_text("empty")
        expect(outcome.locator("tr.file", has_text="nul.txt")).to_contain_text("removed 1 NUL byte(s)")
        assert page.evaluate("document.querySelector('#upload-form input[name=files]').files.length") == 0
        page.screenshot(path=str(ARTIFACTS / "upload-outcomes.png"), full_page=True)

        picker.set_input_files([str(tmp_path / "binary.bin")])
        page.click("#upload-form button[type=submit]")
        expect(outcome).to_contain_text("Nothing was stored: no file held text")
        files_kept = "document.querySelector('#upload-form input[name=files]').files"
        assert page.evaluate(f"{files_kept}.length") == 1  # the selection is kept, to change and send again
        assert page.evaluate(f"{files_kept}[0].name") == "binary.bin"

        picker.set_input_files([str(files[0])])
        page.click("#upload-form button[type=submit]")  # the third within the hour: past the work rate
        expect(page.locator("#upload-result")).to_contain_text("Too many searches and uploads for now")
        expect(page.locator("#upload-result")).to_contain_text("TOLLGATE_WORK_RATE")

        page.click("#api-link")
        page.wait_for_url(live_server.url + "/api/")
        expect(page.locator("#api-index")).to_contain_text("manage.py api_token")
        page.click("#api-docs")
        page.wait_for_url(live_server.url + "/api/docs/")
        expect(page.locator(".opblock").first).to_be_visible()  # Swagger UI drew the operations
        expect(page.locator(".opblock-summary-path", has_text="/api/documents").first).to_be_visible()
    assert Document.objects.filter(owner=user).count() == 33
