"""The dashboard's live panels: the shared limit's chart from Redis's history, progress, workers."""

from __future__ import annotations

import re

import pytest
from django.test import Client

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
    assert len(points) == 20 * 4  # a point per bucket over 20 windows
    ys = [float(p.split(",")[1]) for p in points]
    assert min(ys) < max(ys)  # the latest window holds 6,000 tokens, the earlier ones none
    assert "limit 10k" in tokens and 'class="mark throttled"' not in tokens
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
