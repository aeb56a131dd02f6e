"""The dashboard's sources panel in a real browser (headless chromium), updated in place by htmx.

A table of the user's is added as a source: the panel shows its rows pending with a lag; real
workers embed it and the same row, never reloaded, turns to every row embedded and no lag; a
migration to another model, held for its cutover, shows its version building, then complete and
waiting for ``migrate --cutover``; /metrics agrees at each step.
"""

from __future__ import annotations

from django.test import Client

from project.embeddings.sources.registry import source_add
from project.embeddings.sources.versions import version_create
from project.sources_run import catch_up
from tests.sources.conftest import table  # noqa: F401  (a fixture used by name)
from tests.sources.test_sync import words

from .browser import ARTIFACTS, needs_chromium, signed_in
from .test_browser_figures import off_loop
from .test_metrics import parse

pytestmark = needs_chromium

ROWS = 24


def metrics(staff) -> dict[str, float]:
    client = Client()
    client.force_login(staff)
    samples = parse(client.get("/metrics").content)
    name = (("name", "articles"),)
    found = {key: samples[f"tollgate_sources_{key}"][name] for key in ("rows", "embedded", "pending", "lag_seconds")}
    for labels, value in samples["tollgate_sources_version_progress"].items():
        found[f"v{dict(labels)['version']}"] = value
    return found


def test_the_sources_panel_follows_a_backfill_and_a_migration_without_reloading(rig, live_server, user, table, django_user_model):
    from playwright.sync_api import expect

    rig.start(rpm=600, tpm=200_000, window=1.0, workers=1, concurrency=2, TOLLGATE_SOURCES_POLL_SECONDS=0)
    staff = django_user_model.objects.create_user(username="grace", is_staff=True)
    table.insert(*[(f"Article {i}", f"About {words(i)}.") for i in range(ROWS)])
    source = source_add(name="articles", table=table.name, text_columns=["title", "body"], owner=user)
    screenshot = ARTIFACTS / "sources.png"

    with signed_in(live_server, user, height=1400) as page:
        row = page.locator("tr#source-articles")
        expect(row).to_have_attribute("data-rows", str(ROWS))
        expect(row).to_have_attribute("data-pending", str(ROWS))
        expect(row).to_have_attribute("data-embedded", "0")
        assert float(row.get_attribute("data-lag")) > 0
        seen = off_loop(lambda: metrics(staff))
        assert (seen["rows"], seen["embedded"], seen["pending"], seen["v1"]) == (ROWS, 0, ROWS, 0.0)
        assert seen["lag_seconds"] > 0
        page.evaluate("window.__notReloaded = true")  # gone if the page reloads

        off_loop(lambda: catch_up(source))  # the rig's workers embed every row
        expect(row).to_have_attribute("data-embedded", str(ROWS))
        expect(row).to_have_attribute("data-pending", "0")
        expect(row).to_have_attribute("data-lag", "0.0")
        expect(row.locator(".version")).to_have_count(1)
        seen = off_loop(lambda: metrics(staff))
        assert (seen["embedded"], seen["pending"], seen["lag_seconds"], seen["v1"]) == (ROWS, 0, 0, 1.0)

        off_loop(lambda: version_create(source, model="text-embedding-3-large", dimensions=1536, hold=True))
        building = row.locator('.version[data-version="2"]')
        expect(building).to_have_attribute("data-state", "building")
        expect(building).to_have_attribute("data-progress", "0.0")
        expect(building.locator("progress")).to_have_count(1)
        expect(row).to_have_attribute("data-pending", "0")  # searches read version 1, still whole

        off_loop(lambda: catch_up(source))
        expect(building).to_have_attribute("data-progress", "1.0")
        expect(building).to_contain_text("waiting for migrate --cutover")
        expect(row.locator('.version[data-version="1"]')).to_have_attribute("data-state", "current")
        assert page.evaluate("window.__notReloaded") is True  # htmx updated the panel in place
        seen = off_loop(lambda: metrics(staff))
        assert (seen["v1"], seen["v2"]) == (1.0, 1.0)
        page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot: {screenshot}")
