"""Fault injection and quota errors, switched on and off at run time through /admin/config."""

from __future__ import annotations

import openai
import pytest

from project.launch import start_simulator

SMALL = "text-embedding-3-small"


@pytest.fixture(scope="module")
def sim():
    with start_simulator("--tier", "5", "--seed", "7") as process:
        yield process


@pytest.fixture
def client(sim):
    sim.configure(error_500_rate=0, error_503_rate=0, hang_rate=0, drop_rate=0, insufficient_quota=False)
    with openai.OpenAI(base_url=sim.base_url, api_key="sk-any", max_retries=0, timeout=5) as client:
        yield client


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors(sim, client, status):
    sim.configure(**{f"error_{status}_rate": 1.0})
    with pytest.raises(openai.InternalServerError) as caught:
        client.embeddings.create(model=SMALL, input="x")
    assert caught.value.status_code == status
    assert sim.stats()["errors"][str(status)] >= 1
    sim.configure(**{f"error_{status}_rate": 0.0})
    assert client.embeddings.create(model=SMALL, input="x").data


def test_a_503_burst_mid_run(sim, client):
    sim.configure(error_503_rate=0.5)
    outcomes = []
    for i in range(40):
        try:
            client.embeddings.create(model=SMALL, input=f"x{i}")
            outcomes.append("ok")
        except openai.InternalServerError:
            outcomes.append("503")
    assert 5 < outcomes.count("503") < 35


def test_a_hang_outlasts_the_client_timeout(sim, client):
    sim.configure(hang_rate=1.0, hang_seconds=3)
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.3).embeddings.create(model=SMALL, input="x")
    assert sim.stats()["faults"]["hang"] >= 1


def test_a_dropped_connection(sim, client):
    sim.configure(drop_rate=1.0)
    with pytest.raises(openai.APIConnectionError) as caught:
        client.embeddings.create(model=SMALL, input="x")
    assert not isinstance(caught.value, openai.APITimeoutError)
    assert sim.stats()["faults"]["drop"] >= 1


def test_insufficient_quota(sim, client):
    sim.configure(insufficient_quota=True)
    with pytest.raises(openai.RateLimitError) as caught:
        client.embeddings.create(model=SMALL, input="x")
    assert caught.value.code == "insufficient_quota" and caught.value.type == "insufficient_quota"
    assert sim.stats()["rate_limited"]["insufficient_quota"] >= 1


def test_latency_knob(sim, client):
    sim.configure(latency_ms=150)
    raw = client.embeddings.with_raw_response.create(model=SMALL, input="slow")
    assert int(raw.headers["openai-processing-ms"]) >= 150
    sim.configure(latency_ms=0)


def test_admin_config_refuses_nonsense(sim):
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as caught:
        sim.configure(error_503_rate=2.0)
    assert caught.value.code == 400
    caught.value.close()
    with pytest.raises(urllib.error.HTTPError) as caught:
        sim.configure(no_such_knob=1)
    caught.value.close()
    assert sim.configure(latency_jitter_ms=5)["knobs"]["latency_jitter_ms"] == 5
