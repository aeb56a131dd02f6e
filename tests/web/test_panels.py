"""The dashboard's live panels: the shared limit's chart from Redis's history, progress, workers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from project.dashboard.charts import progress_chart
from project.embeddings.models import EmbeddingJob
from project.monitoring.models import JobSample
from project.monitoring.timeline import job_timeline
from project.provider import shared_limiter

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_limit_chart_draws_admissions_429s_and_cooldowns(browser, provider):
    provider.OPENAI_API_KEY = "panels-chart-key"
    provider.TOLLGATE_RPM, provider.TOLLGATE_TPM, provider.TOLLGATE_BURST = 100, 10_000, 0
    limiter = shared_limiter(provider.TOLLGATE_MODEL)
    for _ in range(3):
        assert limiter.acquire(2_000).admitted
    html = browser.get("/dashboard/charts/limits").content.decode()
    assert 'id="chart-requests"' in html and 'id="chart-tokens"' in html
    tokens = re.search(r'id="chart-tokens".*?</svg>', html, re.S).group(0)
    points = re.search(r'class="line admitted" points="([^"]+)"', tokens).group(1).split()
    assert 2 * 4 <= len(points) <= 2 * 4 + 1  # a point per bucket from two windows back (nothing was admitted before)
    ys = [float(p.split(",")[1]) for p in points]
    assert min(ys) < max(ys)  # the latest window holds 6,000 tokens, the earlier ones none
    assert "limit 10,000 per 60 s window" in tokens and 'class="mark throttled"' not in tokens
    limiter.cooldown(3.0)  # what the gate does after a real 429
    html = browser.get("/dashboard/charts/limits").content.decode()
    assert 'class="mark throttled"' in html and 'class="band cooldown"' in html and "1 429s" in html


def test_the_limit_chart_without_a_provider_says_why(browser, settings):
    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""
    html = browser.get("/dashboard/charts/limits").content.decode()
    assert "<svg" not in html and "OPENAI_API_KEY" in html


def test_the_workers_panel_answers_without_workers(browser):
    html = browser.get("/dashboard/workers").content.decode()
    assert 'data-online="0"' in html and "No worker answered" in html
    assert 'data-lane="bulk"' in html and 'data-lane="interactive"' in html
    assert "Flower" in html


def test_a_job_far_below_the_limit_fills_the_chart_and_the_limit_is_said_in_words(browser, provider):
    provider.OPENAI_API_KEY = "panels-small-job-key"
    provider.TOLLGATE_RPM, provider.TOLLGATE_TPM, provider.TOLLGATE_BURST = 3_000, 1_000_000, 0
    limiter = shared_limiter(provider.TOLLGATE_MODEL)
    for _ in range(3):
        assert limiter.acquire(400).admitted  # 1,200 tokens: 0.12% of the limit
    html = browser.get("/dashboard/charts/limits").content.decode()
    tokens = re.search(r'id="chart-tokens".*?</svg>', html, re.S).group(0)
    assert 'class="rule limit"' not in tokens  # the limit is far off this scale
    assert "The limit, 1,000,000 per 60 s window, is 833× the highest point: above this chart." in html
    plot = re.search(r'<rect class="plot" x="[^"]+" y="([^"]+)" width="[^"]+" height="([^"]+)"', tokens)
    top, height = (float(y) for y in plot.groups())
    ys = [float(p.split(",")[1]) for p in re.search(r'class="line admitted" points="([^"]+)"', tokens).group(1).split()]
    assert min(ys) < top + 0.3 * height  # the highest window reaches the upper part of the plot, not a flat line
    labels = re.findall(r'<text class="axis"[^>]*>([^<]+)</text>', tokens)
    assert "now" in labels and not any(label.startswith(("-0", "−0")) for label in labels)


def test_the_progress_chart_shows_a_finished_job_from_its_start_to_its_end(user):
    job = EmbeddingJob.objects.create(
        model="text-embedding-3-small", dimensions=1536, total_chunks=10, owner=user, status="completed", embedded_chunks=10
    )
    start = timezone.now() - timedelta(minutes=10)
    for seconds, done in ((0, 0), (5, 4), (10, 10)):
        counters = {"embedded_chunks": done, "embedded_tokens": done, "requests": done}
        at = start + timedelta(seconds=seconds)
        JobSample.objects.create(job=job, at=at, status="running", failed_chunks=0, http_429=0, limiter_waits=0, **counters)
    chart = progress_chart([job_timeline(job)], now=timezone.now())  # ten minutes after it ended
    xs = [float(point.split(",")[0]) for point in chart.lines[0].points.split()]
    assert (xs[0], xs[-1]) == (chart.left, chart.right)  # the whole width, however long ago it ended
    assert "over 10 s" in chart.title
