"""GET /metrics: for staff or the metrics token, parsed by Prometheus' own parser, and true to /api/limits."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token

from project.embeddings.models import EmbeddingJob
from project.pipeline import watch_job

from .live_job import start_long_job

pytestmark = pytest.mark.django_db


def parse(body: bytes) -> dict[str, dict[tuple, float]]:
    """{sample name: {labels as sorted pairs: value}}."""
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(username="grace", is_staff=True)


def test_metrics_answer_only_staff_or_the_metrics_token(client, user, staff, settings, provider):
    """Every owner's totals are in the metrics: a user who is not staff gets a 403, whatever they send."""
    settings.TOLLGATE_METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Token not-a-token").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200
    mine = Token.objects.create(user=user).key
    for scheme in ("Token", "Bearer"):
        refused = client.get("/metrics", HTTP_AUTHORIZATION=f"{scheme} {mine}")
        assert refused.status_code == 403 and "staff" in refused.content.decode(), scheme
    session = Client()
    session.force_login(user)
    assert session.get("/metrics").status_code == 403
    theirs = Token.objects.create(user=staff).key
    for scheme in ("Token", "Bearer"):  # the README's "Bearer <an API token>" works for a staff user's token
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"{scheme} {theirs}").status_code == 200, scheme
    session.force_login(staff)
    assert session.get("/metrics").status_code == 200
    settings.TOLLGATE_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401  # no token set: none accepted
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 401


def test_metrics_parse_and_count_jobs_by_status(client, staff, provider):
    provider.OPENAI_API_KEY = "metrics-parse-key"
    EmbeddingJob.objects.create(model="text-embedding-3-small", dimensions=1536, status="paused", embedded_tokens=70)
    EmbeddingJob.objects.create(model="text-embedding-3-small", dimensions=1536, status="completed", embedded_tokens=30)
    client.force_login(staff)
    response = client.get("/metrics")
    assert response["Content-Type"].startswith("text/plain")
    samples = parse(response.content)
    jobs = {dict(labels)["status"]: value for labels, value in samples["tollgate_jobs"].items()}
    assert jobs == {"queued": 0, "running": 0, "paused": 1, "completed": 1, "failed": 0, "cancelled": 0}
    assert samples["tollgate_tokens_embedded_total"][()] == 100
    assert set(dict(k)["lane"] for k in samples["tollgate_queue_depth"]) == {"bulk", "interactive"}
    up = {dict(labels)["source"]: value for labels, value in samples["tollgate_source_up"].items()}
    assert up == {"limiter": 1, "database": 1, "broker": 1}
    models = {dict(labels)["model"]: dict(labels) for labels in samples["tollgate_limiter_requests_limit"]}
    assert models["text-embedding-3-small"]["window_seconds"] == "60"
    assert "gpt-4o-mini" in models  # the chat model's limit beside the embeddings'
    assert "metrics-parse-key" not in response.content.decode()  # a fingerprint, never the key


def test_limiter_figures_match_the_api_during_a_run(rig, api, staff):
    rig.start(rpm=600, tpm=3_000, window=1.0, workers=2, concurrency=2)
    job = start_long_job(documents=20)  # about 12,000 tokens: four windows of the limit, read in the first
    scraper = Client()
    scraper.force_login(staff)
    deadline = time.monotonic() + 60
    while EmbeddingJob.objects.get(pk=job.pk).requests < 3 and time.monotonic() < deadline:
        time.sleep(0.1)

    def limits() -> dict:
        return api.get("/api/limits").json()

    before = limits()
    metrics = parse(scraper.get("/metrics").content)
    after, last = limits(), limits()
    assert EmbeddingJob.objects.get(pk=job.pk).status == "running"  # the figures were read during the run

    def metric(name: str) -> float:
        (labels, value), *others = [(dict(k), v) for k, v in metrics[name].items() if dict(k)["model"] == job.model]
        assert not others and labels["window_seconds"] == f"{before['window_seconds']:g}"
        return value

    for kind in ("requests", "tokens"):
        assert metric(f"tollgate_limiter_{kind}_limit") == before[kind]["limit"] == after[kind]["limit"]
    admitted = metric("tollgate_limiter_admitted_requests_total")
    admitted_tokens = metric("tollgate_limiter_admitted_tokens_total")
    assert 0 < before["totals"]["requests"] <= admitted <= after["totals"]["requests"]
    assert before["totals"]["tokens"] <= admitted_tokens <= after["totals"]["tokens"]
    # Each read takes the history's totals, then the window. So the window the metrics saw holds at
    # most what the first read's window held plus what was admitted (or added by a response's
    # usage) up to the next read, and at least what the next window held less what was admitted
    # up to the read after it.
    def grown(totals: dict) -> dict:
        return {"requests": totals["requests"], "tokens": totals["tokens"] + totals["tokens_added"]}

    seen = {"requests": admitted, "tokens": admitted_tokens + metric("tollgate_limiter_tokens_added_total")}
    for kind in ("requests", "tokens"):
        used = metric(f"tollgate_limiter_{kind}_used")
        assert used <= before[kind]["used"] + grown(after["totals"])[kind] - grown(before["totals"])[kind], kind
        assert used >= after[kind]["used"] - (grown(last["totals"])[kind] - seen[kind]), kind
    assert metric("tollgate_limiter_http_429_total") == last["totals"]["http_429"] == 0
    assert watch_job(job.pk, progress=False).status == "completed"
    final = parse(scraper.get("/metrics").content)
    assert final["tollgate_chunks_embedded_total"][()] == EmbeddingJob.objects.get(pk=job.pk).embedded_chunks > 0
