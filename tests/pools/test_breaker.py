"""A deployment's circuit breaker, shared through Redis (ratelimit/breaker.py): when it opens, for how long, one probe."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from ratelimit import Breaker, BreakerPolicy

POLICY = BreakerPolicy(failures=3, open_seconds=0.2, max_open_seconds=0.5, blocked_seconds=30.0, probe_seconds=1.0)


@pytest.fixture
def breakers(redis_url):
    client = redis.Redis.from_url(redis_url)
    account = f"breaker-{uuid.uuid4().hex[:10]}"
    yield lambda: Breaker(client, account=account, model="text-embedding-3-small", policy=POLICY)
    client.close()


def test_failures_in_a_row_open_it_and_a_success_between_them_starts_the_count_again(breakers):
    one, other = breakers(), breakers()  # two processes' handles on one deployment
    one.report("fail", reason="HTTP 503")
    one.report("fail", reason="HTTP 503")
    assert other.report("ok").state == "closed"
    one.report("fail", reason="HTTP 503")
    one.report("fail", reason="HTTP 503")
    state = other.report("fail", reason="HTTP 502: bad gateway")
    assert (state.state, state.opens, state.reason, state.blocked) == ("open", 1, "HTTP 502: bad gateway", False)
    assert 0.1 < state.wait <= 0.2
    assert not one.may_send().allowed  # a process that saw failures asks every time: it sees it open at once


def test_each_failed_probe_doubles_the_open_time_up_to_the_longest_and_a_good_one_closes_it(breakers):
    breaker = breakers()
    for _ in range(3):
        breaker.report("fail")
    waits = []
    for _ in range(3):
        time.sleep(breaker.state().wait + 0.01)
        assert breaker.may_send().probing
        waits.append(breaker.report("fail", reason="timeout").wait)
    assert [round(w, 1) for w in waits] == [0.4, 0.5, 0.5]  # 0.2 doubled, then the longest
    time.sleep(0.51)
    assert breaker.may_send().probing
    assert breaker.report("ok").state == "closed" and breaker.may_send().allowed


def test_one_probe_at_a_time_and_an_unused_probe_is_given_back(breakers):
    first, second = breakers(), breakers()
    for _ in range(3):
        first.report("fail")
    time.sleep(0.21)
    assert first.may_send().probing
    waiting = second.may_send()
    assert not waiting.allowed and waiting.state == "half-open" and 0.9 < waiting.wait <= 1.0
    first.report("release")  # its limiter said "not now": the probe goes to the next caller
    assert second.may_send().probing


def test_a_refused_key_blocks_it_at_once_for_the_blocked_time(breakers):
    breaker = breakers()
    state = breaker.report("block", reason="the provider rejected the credentials (401): Access denied")
    assert (state.state, state.blocked, state.opens) == ("open", True, 1)
    assert 29 < state.wait <= 30
    assert breaker.state().reason.startswith("the provider rejected the credentials (401)")
