"""The dashboard's ask box in a real browser (headless chromium): the answer streams in, its [n] link to the sources."""

from __future__ import annotations

import os

import pytest

from tests.ask.test_ask import ADA, QUESTION, client_of, store

from .conftest import PASSWORD
from .test_browser import ARGS, ARTIFACTS, CHROMIUM, TIMEOUT_MS

pytestmark = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} is not installed (apt-get install chromium)")


def test_an_answer_streams_into_the_ask_box_and_its_citations_link_to_the_sources(rig, live_server, user):
    from playwright.sync_api import expect, sync_playwright

    rig.start(rpm=600, tpm=60_000, window=1.0, workers=1, concurrency=2)
    store(client_of(user), ADA)
    rig.simulator.configure(chat_piece_ms=60.0)  # a word every 60 ms: the answer takes a second or two to arrive
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "ask.png"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(live_server.url + "/")
            page.fill("input[name=username]", user.username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(live_server.url + "/")

            page.fill("#ask-form input[name=question]", QUESTION)
            page.click("#ask-form button[type=submit]")
            # part of the answer is on the page while the rest is still being written
            page.wait_for_function(
                "() => document.getElementById('ask-answer').textContent.length > 0"
                " && !document.getElementById('asking').hidden"
            )
            partial = page.locator("#ask-answer").text_content()
            expect(page.locator("#asking")).to_be_hidden()
            whole = page.locator("#ask-answer").text_content()
            assert len(partial) < len(whole) and whole.startswith(partial)
            assert "one limit shared by the whole pool. [1]" in whole

            cite = page.locator("#ask-answer a.cite").first
            expect(cite).to_have_attribute("href", "#ask-source-1")
            expect(page.locator("#ask-source-1")).to_contain_text("gate.txt")
            expect(page.locator("#ask-source-1")).to_have_class("cited")
            expect(page.locator("#ask-usage")).to_contain_text("gpt-4o-mini:")
            cite.click()
            assert page.evaluate("location.hash") == "#ask-source-1"
            page.screenshot(path=str(screenshot), full_page=True)

            page.fill("#ask-form input[name=question]", "   ")
            page.click("#ask-form button[type=submit]")
            expect(page.locator("#ask-error")).to_have_text("the question is empty: ask something")
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000
