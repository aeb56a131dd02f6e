"""What you see is true: one slow job, every face read at the same moment, in a real browser and beside it.

The simulator answers each request after ``LATENCY`` seconds (the first round later), so while the two worker threads
wait for their answers nothing moves: the moment lasts long enough to read the dashboard (in
headless Chromium), the API, ``tollgate status``'s snapshot, Celery's own ``inspect active``
(what Flower lists) and the database, and then to check nothing moved meanwhile. Every figure
must agree: tasks running, requests answered and in flight, tokens, and what the limiter
admitted. The ETA says it rests on the limit before an answer and on the job's pace after. After
the job: the totals agree with the limiter's, the charts show the job whole, and a search says
"searching…" while its query waits for the slow provider. Screenshots of the dashboard during
and after the job are saved under tests/web/artifacts/ (the README's are copies, in docs/).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from django.db import connection

from project.celery import EMBED_GROUP
from project.celery import app as celery_app
from project.embeddings.jobs.progress import job_progress
from project.embeddings.models import EmbeddingGroup, EmbeddingJob, GroupState
from project.monitoring.limiter import limiter_view
from project.monitoring.status import status_snapshot

from .browser import ARTIFACTS, TIMEOUT_MS, needs_chromium, signed_in
from .live_job import start_long_job

pytestmark = needs_chromium

FIRST_LATENCY = 12.0  # seconds the simulator takes to answer the first round (a cold worker's first claim is slow)
LATENCY = 6.0  # then: the moment every face is read in
SEARCH_LATENCY = 1.5  # seconds a search's query waits for its answer
THREADS = 2  # one worker, two threads: two requests in flight at a time
REFRESH = "([url, target]) => htmx.ajax('GET', url, {target: target, swap: 'innerHTML'})"  # a promise
PANELS = (["/dashboard/jobs", "#jobs"], ["/dashboard/workers", "#workers"], ["/dashboard/limits", "#limits"])
WIDTH_SHARE = "([chart, box]) => { const svg = document.querySelector(chart); return svg.getBoundingClientRect().width / svg.closest(box).clientWidth; }"


def closing(read):
    """``read`` run in another thread: its database connection is that thread's, closed after."""

    def run():
        try:
            return read()
        finally:
            connection.close()

    return run


def off_loop(read):
    """Run an ORM read in a thread of its own: Playwright's sync API keeps an event loop in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(closing(read)).result()


def truth(job_id: int) -> tuple[int, int, int, int]:
    """(requests answered, groups held by a worker, tokens stored) from the database, and requests the limiter admitted.

    A worker claims its group a moment before the gate admits its request: a moment is one only
    when none of these moved while the faces were read.
    """
    job = job_progress(EmbeddingJob.objects.get(pk=job_id)).job  # with its tallies not folded yet, as every face
    held = EmbeddingGroup.objects.filter(job_id=job_id, state=GroupState.CLAIMED).count()
    return job.requests, held, job.embedded_tokens, limiter_view(windows=1).history.totals.requests


def celery_running() -> int:
    """embed_group tasks Celery's workers say they run (``celery inspect active``, as Flower shows them)."""
    active = celery_app.control.inspect(timeout=1.5, limit=1).active() or {}  # the rig's one worker
    return sum(1 for tasks in active.values() for task in tasks if task["name"] == EMBED_GROUP)


def test_every_face_agrees_during_and_after_a_slow_job(rig, live_server, user, api):
    from playwright.sync_api import expect

    slow = ("--latency-ms", str(int(FIRST_LATENCY * 1000)))
    rig.start(rpm=600, tpm=60_000, window=60.0, workers=1, concurrency=THREADS, extra_args=slow, TOLLGATE_GROUP_TOKENS=800)
    seen_bases = set()

    with signed_in(live_server, user, height=1500) as page:
        job = off_loop(lambda: start_long_job(documents=6, owner=user))  # now: its first moment is seen too
        assert job.total_groups >= 3 * THREADS  # three rounds: one before any answer, two after
        row = page.locator(f"tr#job-{job.pk}")

        agreed, last = 0, None
        deadline = time.monotonic() + 120
        while agreed < 2 and time.monotonic() < deadline:  # a moment before the first answer, and one after
            before = off_loop(lambda: truth(job.pk))
            if before[1] != THREADS or before[0] == last:  # not two in flight, or a round already agreed
                time.sleep(0.2)
                continue
            with ThreadPoolExecutor(4) as pool:  # the faces beside the browser, read meanwhile
                reads = {
                    "api": pool.submit(closing(lambda: api.get(f"/api/jobs/{job.pk}").json())),
                    "limits": pool.submit(closing(lambda: api.get("/api/limits").json())),
                    "status": pool.submit(closing(status_snapshot)),
                    "flower": pool.submit(celery_running),
                }
                for panel in PANELS:
                    page.evaluate(REFRESH, panel)  # resolves once htmx swapped the fragment in
                seen = {
                    "dashboard": (
                        int(row.get_attribute("data-requests")),
                        int(row.get_attribute("data-in-flight")),
                        int(row.get_attribute("data-tokens")),
                    ),
                    "dashboard running": int(page.locator("#workers-summary").get_attribute("data-running")),
                    "dashboard admitted": int(page.locator("#gauge-requests").get_attribute("data-used")),
                    "eta basis": row.locator(".eta").get_attribute("data-basis"),
                }
                body, limits, snapshot, flower = (read.result() for read in reads.values())
            status_job = next(j for j in snapshot["jobs"] if j["id"] == job.pk)
            after = off_loop(lambda: truth(job.pk))
            if after != before:
                continue  # an answer came while the faces were read: not one moment, read the next
            done, flying, tokens, admitted = before
            assert seen["dashboard"] == (done, flying, tokens)
            assert (body["requests"]["done"], body["requests"]["in_flight"], body["tokens"]["done"]) == before[:3]
            assert (status_job["requests"], status_job["requests_in_flight"], status_job["tokens"]["done"]) == before[:3]
            assert seen["dashboard running"] == snapshot["workers"]["running"] == flower == flying == THREADS
            # the limiter admitted what was answered and what is in flight: all within its 60 s window
            assert limits["totals"]["requests"] == limits["requests"]["used"] == admitted == done + flying
            assert seen["dashboard admitted"] == done + flying
            basis = "limit" if done == 0 else "measured"
            assert seen["eta basis"] == body["eta_basis"] == status_job["eta_basis"] == basis
            seen_bases.add(basis)
            if agreed == 0:
                page.screenshot(path=str(ARTIFACTS / "dashboard-during-a-job.png"), full_page=True)
                rig.simulator.configure(latency_ms=LATENCY * 1000)  # the next rounds: quicker
            agreed, last = agreed + 1, done
        assert seen_bases == {"limit", "measured"}

        expect(row).to_have_attribute("data-status", "completed", timeout=120_000)
        final = off_loop(lambda: EmbeddingJob.objects.get(pk=job.pk))
        limits = off_loop(lambda: api.get("/api/limits").json()["totals"])
        assert final.requests == limits["requests"] and final.http_429 == limits["http_429"] == 0
        assert final.embedded_tokens == limits["tokens"] + limits["tokens_added"] - limits["tokens_returned"]
        assert final.limiter_waits == limits["waits"]
        expect(row.locator(".tokens")).to_have_text(f"{final.embedded_tokens:,} / {final.total_tokens:,}")
        expect(row.locator(".eta")).to_have_text("–")

        # the progress chart shows the finished job from its start to its end, and stays so
        page.evaluate(REFRESH, ["/dashboard/charts/progress", "#progress"])
        progress = page.locator("#chart-progress polyline.job")
        expect(progress).to_have_count(1)
        first_x = float(progress.get_attribute("points").split()[0].split(",")[0])
        last_x = float(progress.get_attribute("points").split()[-1].split(",")[0])
        plot = page.locator("#chart-progress rect.plot")
        left, width = float(plot.get_attribute("x")), float(plot.get_attribute("width"))
        assert (first_x, last_x) == (left, left + width)
        # charts take their card's width; the limit's, scaled to the job, say where the limit is
        for chart, box in (("#chart-progress", "section"), ("#chart-tokens", "figure"), ("#chart-requests", "figure")):
            assert page.evaluate(WIDTH_SHARE, [chart, box]) > 0.9, chart
        expect(page.locator("#chart-tokens-note")).to_contain_text("above this chart")
        labels = page.locator("#chart-tokens text.axis").all_text_contents()
        assert "now" in labels and not any(label.startswith("-0") for label in labels)
        page.screenshot(path=str(ARTIFACTS / "dashboard-after-a-job.png"), full_page=True)

        # a search's query waits for the provider (a shorter while now): the page says so meanwhile
        rig.simulator.configure(latency_ms=SEARCH_LATENCY * 1000)
        page.fill("#search-form input[name=q]", "gate0 toll0 road0 limit0")
        page.click("#search-form button[type=submit]")
        expect(page.locator("#searching")).to_be_visible()
        expect(page.locator("#search-form button")).to_be_disabled()
        expect(page.locator("#hits th").first).to_have_text("similarity", timeout=SEARCH_LATENCY * 1000 + TIMEOUT_MS)
        expect(page.locator("#searching")).to_be_hidden()
        page.fill("#search-form input[name=q]", "banana smoothie recipe with yoghurt")
        page.click("#search-form button[type=submit]")
        expect(page.locator("#no-match")).to_contain_text("No good match", timeout=SEARCH_LATENCY * 1000 + TIMEOUT_MS)

