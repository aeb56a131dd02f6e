"""The pool's gate: each group to the deployment that admits it soonest, a refused key taken out, a failing one broken.

Real simulators over HTTP (the openai SDK, Azure's client too) and real Redis; what each
deployment served is read from its simulator's own ``/stats``.
"""

from __future__ import annotations

import time

from project.launch import simulator_args, start_simulator
from providers import AccountBlocked, Transient
from providers.pool import pool_gate
from ratelimit import Breaker
from tests.pools.conftest import MODEL, WINDOW

TEXT = "the toll gate admits one more car"  # 7 tokens


def throttled(simulator) -> int:
    """429s the simulator answered for its limits (not for quota)."""
    limited = simulator.stats(per_input=False)["rate_limited"]
    return limited["requests"] + limited["tokens"]


def send(pool, count: int, *, tokens: int = 7):
    return [pool_gate(pool, texts=[f"{TEXT} {i}"], tokens=tokens, pace=False) for i in range(count)]


def test_groups_go_where_there_is_room_and_no_window_holds_more_than_its_limit(pools):
    a, b = pools.simulators
    for simulator, rpm in ((a, 5), (b, 1000)):
        simulator.configure(rpm=rpm)
    pool = pools.pool(pools.deployment("small", a, rpm=5), pools.deployment("large", b, rpm=1000))
    passages = send(pool, 30)
    assert all(p.result is not None for p in passages)
    by_name = [p.deployment for p in passages]
    assert by_name.count("small") == 5  # its whole window, no more: the rest went where there was room
    assert by_name.count("large") == 25
    assert throttled(a) == throttled(b) == 0
    assert a.stats(per_input=False)["max_requests_in_window"] == 5


def test_a_deployments_401_takes_it_out_with_the_reason_and_the_request_goes_to_another(pools):
    _, b = pools.simulators
    with start_simulator(*simulator_args(rpm=1000, tpm=100_000, window_seconds=WINDOW), "--api-key", "sk-right-key") as a:
        # revoked first (by priority), so the first request meets its 401 and goes on to good
        pool = pools.pool(pools.deployment("revoked", a, key="sk-wrong-key"), pools.deployment("good", b, priority=1))
        passages = send(pool, 6)
        assert a.stats(per_input=False)["errors"] == {"401": 1}  # tried once, then left out
    assert [p.deployment for p in passages] == ["good"] * 6
    assert all(p.result is not None and p.error is None for p in passages)
    state = pool.member("revoked").breaker.state()
    assert state.blocked and state.state == "open" and state.wait > 50
    assert state.reason.startswith("the provider rejected the credentials (401): Incorrect API key provided: [redacted]")
    assert "sk-wrong-key" not in state.reason  # the key never shows


def test_a_deployment_out_of_quota_is_taken_out_too(pools):
    a, b = pools.simulators
    pool = pools.pool(pools.deployment("broke", a), pools.deployment("good", b, priority=1))  # broke tried first
    a.configure(insufficient_quota=True)  # every request to a: the account is out of credit
    passages = send(pool, 6)
    assert [p.deployment for p in passages] == ["good"] * 6
    assert all(p.result is not None and p.error is None for p in passages)
    state = pool.member("broke").breaker.state()
    assert state.blocked and state.state == "open"
    assert "lack of quota" in state.reason
    assert a.stats(per_input=False)["rate_limited"].get("insufficient_quota", 0) == 1  # tried once, then left out


def test_when_every_deployment_is_out_the_refusal_names_each(pools):
    a, b = pools.simulators
    for simulator in (a, b):
        simulator.configure(insufficient_quota=True)
    pool = pools.pool(pools.deployment("one", a), pools.deployment("two", b))
    passage = pool_gate(pool, texts=[TEXT], tokens=7)
    assert isinstance(passage.error, AccountBlocked)
    assert str(passage.error).startswith("every deployment of the pool is out: one: the provider refused for lack")
    assert "; two: the provider refused for lack of quota" in str(passage.error)


def test_a_deployment_answering_5xx_is_opened_by_its_breaker_then_probed_back_in(pools):
    a, b = pools.simulators
    pool = pools.pool(pools.deployment("flaky", a, priority=0), pools.deployment("spare", b, priority=1))
    a.configure(error_503_rate=1.0)
    first = send(pool, 2)  # priority 0 first: two failures in a row open it
    assert all(isinstance(p.error, Transient) and p.failover and p.deployment == "flaky" for p in first)
    assert pool.member("flaky").breaker.state().state == "open"
    meanwhile = send(pool, 5)
    assert [p.deployment for p in meanwhile] == ["spare"] * 5  # open: nothing is sent to it
    a.configure(error_503_rate=0.0)
    time.sleep(0.6)  # its open time ends: the next request probes it, and its answer closes it
    probe = send(pool, 1)[0]
    assert (probe.deployment, probe.result is not None) == ("flaky", True)
    assert pool.member("flaky").breaker.state().state == "closed"
    assert [p.deployment for p in send(pool, 3)] == ["flaky"] * 3


def test_one_probe_at_a_time_and_a_failed_probe_opens_it_for_longer(pools, redis_url):
    a, b = pools.simulators
    pool = pools.pool(pools.deployment("flaky", a, priority=0), pools.deployment("spare", b, priority=1))
    a.configure(error_503_rate=1.0)
    send(pool, 2)
    time.sleep(0.6)
    breaker = pool.member("flaky").breaker
    other = Breaker(pools.redis, account=pool.member("flaky").config.account(), model=MODEL, policy=breaker.policy)
    assert other.may_send().probing  # one caller gets the probe ...
    assert not breaker.may_send().allowed  # ... and no other, while it has not answered
    state = other.report("fail", reason="HTTP 503")
    assert (state.state, state.opens) == ("open", 2)
    assert 0.9 < state.wait <= 1.0  # twice the first open time


def test_an_azure_deployment_is_called_through_its_own_path_with_its_key_header(pools):
    a, b = pools.simulators
    pool = pools.pool(pools.deployment("eastus", a, azure=True, rpm=3), pools.deployment("westeu", a, azure=True, rpm=3))
    passages = send(pool, 6)
    assert sorted(p.deployment for p in passages) == ["eastus"] * 3 + ["westeu"] * 3  # each deployment its own limit
    assert all(p.result is not None and len(p.result.vectors[0]) == 1536 for p in passages)
    assert throttled(a) == 0


def test_an_azure_429_without_a_type_is_read_for_its_wait_and_cools_that_deployment_only(pools):
    a, b = pools.simulators
    a.configure(rpm=2)  # the server allows less than the pool file says
    pool = pools.pool(pools.deployment("eastus", a, azure=True, rpm=50, priority=0), pools.deployment("spare", b, priority=1))
    passages = send(pool, 3)
    assert [p.deployment for p in passages[:2]] == ["eastus", "eastus"]
    limited = passages[2]
    assert limited.rate_limited and limited.error is None
    # Azure's "Please retry after N seconds." and Retry-After in whole seconds (no retry-after-ms): the window is 6 s
    assert limited.retry_after in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
    assert pool.member("eastus").limiter.usage().cooldown_seconds > 0
    assert pool.member("spare").limiter.usage().cooldown_seconds == 0
    assert [p.deployment for p in send(pool, 2)] == ["spare", "spare"]  # routed around the cooldown


def test_the_simulators_azure_route_answers_as_azure_does(pools):
    import json
    import urllib.error
    import urllib.request

    with start_simulator(*simulator_args(rpm=1, tpm=100_000, window_seconds=WINDOW), "--api-key", "sk-right") as sim:
        url = f"{sim.root_url}/openai/deployments/embed-small/embeddings?api-version=2024-10-21"

        def post(key: str) -> tuple[int, dict, dict]:
            body = json.dumps({"input": ["hello"], "model": "embed-small"}).encode()
            request = urllib.request.Request(url, data=body, headers={"api-key": key, "content-type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, dict(response.headers), json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, dict(error.headers), json.loads(error.read())

        status, _, body = post("sk-wrong")
        assert status == 401 and body == {"error": {"code": "401", "message": body["error"]["message"]}}
        assert body["error"]["message"].startswith("Access denied due to invalid subscription key")
        status, _, body = post("sk-right")
        assert status == 200 and body["model"] == "text-embedding-3-small"  # a deployment named after no model
        status, headers, body = post("sk-right")  # the window's one request is spent
        assert status == 429 and set(body["error"]) == {"code", "message"} and body["error"]["code"] == "429"
        assert "Please retry after 6 seconds." in body["error"]["message"]
        assert headers["retry-after"] == "6" and "retry-after-ms" not in {h.lower() for h in headers}
