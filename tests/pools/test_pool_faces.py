"""Every face shows a pool's deployments: the dashboard, GET /api/limits, tollgate status and /metrics; a job its deployments."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rich.console import Console

from project.embeddings.models import EmbeddingGroup, EmbeddingJob
from project.monitoring.status import status_snapshot
from project.monitoring.terminal import render
from project.pool_file import DeploymentSpec, pool_settings
from project.provider import provider_pool
from providers import AccountBlocked
from providers.pool import Pool, pool_gate
from tests.pools.conftest import CALM, WINDOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def pool_settings_on(settings, simulators):
    a, b = simulators
    for simulator in simulators:
        simulator.configure(rpm=1000, tpm=100_000, time_scale=60.0 / WINDOW, **CALM)
        simulator.reset_limits()
    b.configure(insufficient_quota=True)  # the second deployment's account is out of credit
    run = uuid.uuid4().hex[:8]
    specs = tuple(
        DeploymentSpec(name=name, kind="openai", base_url=sim.base_url, api_key_env=f"KEY_{name.upper()}",
                       api_key=f"sk-faces-{name}-{run}", model="text-embedding-3-small", dimensions=1536,
                       rpm=1000, tpm=tpm, window_seconds=WINDOW)  # fmt: skip
        for name, sim, tpm in (("east", a, 100_000), ("west", b, 50_000))
    )
    settings.TOLLGATE_POOL = specs
    settings.TOLLGATE_MODEL, settings.TOLLGATE_DIMENSIONS, settings.TOLLGATE_RPM, settings.TOLLGATE_TPM = pool_settings(
        specs, model="", window_seconds=WINDOW
    )
    settings.TOLLGATE_WINDOW_SECONDS = WINDOW
    settings.TOLLGATE_METRICS_TOKEN = "metrics-secret"
    pool = provider_pool()
    west = pool_gate(Pool([pool.member("west")]), texts=["faces west"], tokens=3)  # tried once: out
    assert isinstance(west.error, AccountBlocked)
    for i in range(4):
        assert pool_gate(pool, texts=[f"faces {i}"], tokens=3).deployment == "east"
    yield settings
    b.configure(insufficient_quota=False)


def test_status_and_the_api_show_each_deployments_window_breaker_and_share(pool_settings_on):
    user = get_user_model().objects.create_user("ada")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    body = api.get("/api/limits").json()
    east, west = body["deployments"]
    assert (east["name"], east["breaker"], east["tokens_used"], east["tokens_limit"], east["share"]) == (
        "east", "closed", 12, 100_000, 0.8,
    )  # fmt: skip
    # west's one refused request still counts in its window, as the provider counts it: 3 of the 15 tokens
    assert (west["name"], west["breaker"], west["blocked"], west["share"]) == ("west", "open", True, 0.2)
    assert west["breaker_reason"].startswith("the provider refused for lack of quota")
    assert round(east["capacity_share"], 3) == 0.667 and east["window_seconds"] == WINDOW
    snapshot = status_snapshot()
    limiter = snapshot["limiter"]
    assert [d["name"] for d in limiter["deployments"]] == ["east", "west"]
    assert limiter["deployments"][1]["breaker"] == "open"
    console = Console(record=True, width=200)
    console.print(render(snapshot))
    shown = console.export_text()
    assert "pool of 2 deployments (text-embedding-3-small)" in shown
    assert "east (openai, 6 s)" in shown
    assert re.search(r"open (600|59\d) s: the provider refused for lack of quota", shown)  # its wait, counting down


def test_metrics_and_the_dashboard_show_them_and_a_job_shows_its_deployments(pool_settings_on, client):
    metrics = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret").content.decode()
    assert 'tollgate_deployment_breaker_open{deployment="west",kind="openai",window_seconds="6"} 1.0' in metrics
    assert 'tollgate_deployment_tokens_used{deployment="east",kind="openai",window_seconds="6"} 12.0' in metrics
    assert 'tollgate_deployment_blocked{deployment="east",kind="openai",window_seconds="6"} 0.0' in metrics

    user = get_user_model().objects.create_user("grace", password="pw")
    client.force_login(user)
    page = client.get("/dashboard/limits").content.decode()
    assert 'data-name="east" data-breaker="closed"' in page and 'data-name="west" data-breaker="open"' in page
    assert "the provider refused for lack of quota" in page

    job = EmbeddingJob.objects.create(owner=user, model="text-embedding-3-small", dimensions=1536, status="running")
    for deployment, tokens in (("east", 100), ("east", 50), ("west", 70)):
        EmbeddingGroup.objects.create(job=job, chunk_ids=[1], tokens=tokens, state="done", deployment=deployment)
    live = client.get(f"/dashboard/jobs/{job.pk}/live").content.decode()
    assert "east: 2 groups, 150 tokens · west: 1 groups, 70 tokens" in live
    api = APIClient()
    api.force_authenticate(user)
    assert api.get(f"/api/jobs/{job.pk}").json()["deployments"] == {
        "east": {"groups": 2, "tokens": 150}, "west": {"groups": 1, "tokens": 70},
    }  # fmt: skip
    shown = next(j for j in status_snapshot()["jobs"] if j["id"] == job.pk)
    assert shown["deployments"]["west"] == {"groups": 1, "tokens": 70}
