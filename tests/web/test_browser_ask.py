"""The dashboard's ask box in a real browser (headless chromium): the answer streams in, its [n] link to the sources."""

from __future__ import annotations

from tests.ask.test_ask import ADA, QUESTION, client_of, store

from .browser import ARTIFACTS, needs_chromium, signed_in

pytestmark = needs_chromium


def test_an_answer_streams_into_the_ask_box_and_its_citations_link_to_the_sources(rig, live_server, user):
    from playwright.sync_api import expect

    rig.start(rpm=600, tpm=60_000, window=1.0, workers=1, concurrency=2)
    store(client_of(user), ADA)
    rig.simulator.configure(chat_piece_ms=60.0)  # a word every 60 ms: the answer takes a second or two to arrive
    screenshot = ARTIFACTS / "ask.png"

    with signed_in(live_server, user) as page:
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
    assert screenshot.stat().st_size > 10_000
