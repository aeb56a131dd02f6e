"""The server's wait on a refusal, read through the real SDK from a server of the test's own.

``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms`` on a 429, and on a 5xx too: the
caller must not send the same request again before it. Each test checks the wait against the
moment the server allowed, on the server's clock (the same host's here).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from project.embedded import EmbeddedRedis
from providers import ProviderConfig, ProviderError, RateLimited, Transient, pass_gate
from providers.client import embed
from ratelimit import Limiter, Limits
from tests.providers.scripted import Answer, ScriptedProvider

MODEL = "text-embedding-3-small"
WAITS = {  # how the server says it, and the wait it means (from the moment it answers)
    "seconds": {"retry_after": 3},
    "milliseconds": {"retry_after_ms": 1500},
    "http-date": {"date": 4},
}


def refused(status: int, how: dict) -> tuple[ProviderError, float, float]:
    """Send one request that the server refuses; the error, when it arrived, and when the server allows it again."""
    with ScriptedProvider(lambda attempt, now: Answer.refuse(status, now=now, **how)) as server:
        config = ProviderConfig(model=MODEL, dimensions=1536, api_key="k", base_url=server.base_url, timeout=10)
        with config.client() as client, pytest.raises(ProviderError) as caught:
            embed(client, config, ["one input"])
        received = time.time()
        (visit,) = server.visits
    return caught.value, received, visit.not_before


@pytest.mark.parametrize("status", [500, 503])
@pytest.mark.parametrize("how", WAITS.values(), ids=WAITS.keys())
def test_a_5xx_carries_the_wait_its_server_asked_for(status: int, how: dict) -> None:
    error, received, not_before = refused(status, how)

    assert isinstance(error, Transient)
    assert received + error.retry_after >= not_before  # back no sooner than the server allows
    assert error.retry_after <= not_before - received + 1.1  # an HTTP date is read against the response's Date (whole seconds)


def test_a_5xx_without_a_wait_leaves_it_to_the_callers_backoff() -> None:
    error, _, _ = refused(503, {})
    assert isinstance(error, Transient) and error.retry_after == 0


@pytest.mark.parametrize("how", WAITS.values(), ids=WAITS.keys())
def test_a_429_waits_for_the_servers_wait_however_it_is_said(how: dict) -> None:
    error, received, not_before = refused(429, how)

    assert isinstance(error, RateLimited)
    assert received + error.retry_after >= not_before
    assert error.retry_after <= not_before - received + 1.1


def test_a_429_met_while_redis_is_gone_still_hands_back_the_servers_wait(tmp_path: Path) -> None:
    """The cooldown cannot be set: the caller still learns the server's wait, and nothing is raised."""
    redis_server = EmbeddedRedis(tmp_path)
    redis_server.start()

    def script(attempt: int, now: float) -> Answer:
        redis_server.stop()  # Redis goes away while the request is at the server
        return Answer.refuse(429, now=now, retry_after=2)

    try:
        with ScriptedProvider(script) as server, Limiter.from_url(
            redis_server.url, account="gone", model=MODEL, limits=Limits(requests=100, tokens=10_000)
        ) as limiter:
            config = ProviderConfig(model=MODEL, dimensions=1536, api_key="k", base_url=server.base_url, timeout=10)
            with config.client() as client:
                passage = pass_gate(limiter=limiter, client=client, config=config, texts=["one input"], tokens=2)
    finally:
        redis_server.stop()

    assert passage.rate_limited and passage.result is None and passage.error is None
    assert passage.retry_after == 2.0
