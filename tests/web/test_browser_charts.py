"""The live charts in a real browser (headless chromium, Playwright), while real workers run a job.

The shared limit's chart and the progress chart exist, have points, and change in place (no
page reload) as the job runs; the job's own page draws its chart, which ends at 100%. Screenshots are saved
under tests/web/artifacts/.
"""

from __future__ import annotations

from project.embeddings.models import EmbeddingJob

from .browser import ARTIFACTS, needs_chromium, signed_in
from .live_job import start_long_job

pytestmark = needs_chromium

COUNT = "(selector) => Number(document.querySelector(selector)?.dataset.count || 0)"
GROWN = "([selector, before]) => Number(document.querySelector(selector)?.dataset.count || 0) > before"


def test_charts_have_points_and_update_without_a_reload(rig, live_server, user):
    from playwright.sync_api import expect

    rig.start(rpm=600, tpm=3_000, window=1.0, workers=1, concurrency=2)
    job = start_long_job(owner=user)  # the ORM before Playwright's event loop starts

    with signed_in(live_server, user, height=1400) as page:
        page.evaluate("window.__notReloaded = true")  # gone if the page reloads

        tokens = page.locator("#chart-tokens polyline.admitted")
        expect(tokens).to_have_count(1)
        first = tokens.get_attribute("points")
        assert len(first.split()) >= 8  # a point per bucket (of 4 a window) from at least two windows back
        expect(tokens).not_to_have_attribute("points", first)  # htmx swapped in a newer history
        expect(page.locator("#chart-tokens line.rule.limit")).to_have_count(1)

        progress = "#chart-progress polyline.job"
        expect(page.locator(progress)).to_have_count(1)
        before = page.evaluate(COUNT, progress)
        assert before >= 1
        page.wait_for_function(GROWN, arg=[progress, before])  # more samples as the job moves
        expect(page.locator("#workers-summary")).to_have_attribute("data-online", "1")
        assert page.evaluate("window.__notReloaded") is True
        page.screenshot(path=str(ARTIFACTS / "dashboard-charts.png"), full_page=True)

        page.click(f"tr#job-{job.pk} a")
        page.wait_for_url(f"{live_server.url}/jobs/{job.pk}/")
        page.evaluate("window.__notReloaded = true")
        chart = "#chart-job polyline.job"
        expect(page.locator(chart)).to_have_count(1)
        expect(page.locator(f"#job-{job.pk}")).to_have_attribute("data-status", "completed", timeout=120_000)
        expect(page.locator(f"#job-{job.pk} .percent")).to_have_text("100.0%")
        assert page.evaluate(COUNT, chart) >= 2  # from its start to its end
        last_y = page.locator(chart).get_attribute("points").split()[-1].split(",")[1]
        assert last_y == page.locator("#chart-job line.rule.done").get_attribute("y1")  # the line ends at 100%
        assert page.evaluate("window.__notReloaded") is True
        page.screenshot(path=str(ARTIFACTS / "job-page.png"), full_page=True)
    assert EmbeddingJob.objects.get(pk=job.pk).status == "completed"
