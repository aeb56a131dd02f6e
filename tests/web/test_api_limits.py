"""GET /api/limits: the shared limiter's live window, as every worker fills it."""

from __future__ import annotations

import pytest

from project.provider import shared_limiter

pytestmark = pytest.mark.django_db


def test_limits_show_the_shared_window(api, provider):
    provider.OPENAI_API_KEY = "limits-test-key"  # keys of its own in the shared Redis
    provider.TOLLGATE_RPM, provider.TOLLGATE_TPM, provider.TOLLGATE_BULK_RESERVE = 100, 10_000, 0.05
    limiter = shared_limiter(provider.TOLLGATE_MODEL)
    assert limiter.acquire(2_500).admitted
    body = api.get("/api/limits").json()
    assert body["requests"] == {"used": 1, "limit": 100, "percent": 1.0}
    assert body["tokens"] == {"used": 2_500, "limit": 10_000, "percent": 25.0}
    assert (body["cooling_down"], body["window_seconds"], body["bulk_reserve"]) == (False, 60.0, 0.05)
    limiter.cooldown(5.0)
    body = api.get("/api/limits").json()
    assert body["cooling_down"] and 0 < body["cooldown_seconds"] <= 5.0


def test_limits_without_a_provider_are_a_503(api, settings):
    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""
    response = api.get("/api/limits")
    assert response.status_code == 503 and "OPENAI_API_KEY" in response.json()["detail"]


def test_the_openapi_schema_describes_every_endpoint(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/api/documents", "/api/jobs", "/api/jobs/{id}", "/api/jobs/{id}/failures", "/api/jobs/{id}/pause",
                 "/api/jobs/{id}/resume", "/api/jobs/{id}/cancel", "/api/search", "/api/limits"):  # fmt: skip
        assert path in paths, path
