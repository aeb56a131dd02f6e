"""embed_within: a person waits, so the gate waits up to a timeout, then says how long the limit is busy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from providers import EmbedResult, InvalidInput, RateLimited, embed_within
from ratelimit import Limiter, NeverFits
from tests.providers.rig import DIMENSIONS, GateRig, tokens_of

QUERY = ["where does the gate wait for a search"]


def embed(
    rig: GateRig, limiter: Limiter, texts: Sequence[str], *, tokens: int | None = None, timeout: float
) -> EmbedResult:
    estimate = tokens_of(texts) if tokens is None else tokens
    return embed_within(
        limiter=limiter, client=rig.client, config=rig.config, texts=texts, tokens=estimate, timeout=timeout
    )


def test_a_full_shared_limit_past_the_timeout_is_rate_limited_and_nothing_is_sent(rig: GateRig) -> None:
    limiter = rig.limiter(requests=2, tokens=10_000)
    assert limiter.acquire(0).admitted and limiter.acquire(0).admitted  # other callers filled the window

    with pytest.raises(RateLimited) as caught:
        embed(rig, limiter, QUERY, timeout=5.0)

    assert str(caught.value).startswith("the shared rate limit is busy for")
    assert 50 < caught.value.retry_after <= 60 and caught.value.headers == {}
    assert rig.stats()["requests"] == 0
    assert limiter.history().totals.refusals == 1  # asked once, no waiting in place for a long wait


def test_a_short_wait_for_the_shared_limit_is_waited_then_served_and_settled(rig: GateRig) -> None:
    limiter = rig.limiter(requests=1, tokens=10_000, window=2.0)
    assert limiter.acquire(0).admitted  # the window is full for two seconds

    result = embed(rig, limiter, QUERY, tokens=500, timeout=20.0)

    assert [v.shape for v in result.vectors] == [(DIMENSIONS,)]
    assert np.isclose(np.linalg.norm(result.vectors[0]), 1.0, atol=1e-5)
    server = rig.stats()
    assert (server["requests"], server["successes"]) == (1, 1)
    totals = limiter.history().totals
    assert totals.requests == 2 and totals.refusals >= 1
    assert totals.tokens_returned == 500 - tokens_of(QUERY)  # settled: the estimate became the usage


def test_a_server_429_past_the_timeout_is_the_providers_rate_limit(rig: GateRig) -> None:
    rig.serve(rpm=1)
    rig.spend(["another deployment's request"])
    limiter = rig.limiter(requests=100, tokens=10_000)

    with pytest.raises(RateLimited) as caught:
        embed(rig, limiter, QUERY, timeout=5.0)

    assert str(caught.value).startswith("the provider's rate limit is busy for")
    assert 50 < caught.value.retry_after <= 60
    server = rig.stats()
    assert (server["requests"], server["rate_limited"]["requests"]) == (2, 1)  # one attempt of ours
    assert limiter.usage().cooldown_seconds > 50


def test_a_server_429_within_the_timeout_is_waited_out_once(rig: GateRig) -> None:
    window = 3.0  # the 429 needs our request at the server within it
    rig.serve(rpm=1, window=window)
    rig.spend(["another deployment's request"])
    limiter = rig.limiter(requests=100, tokens=10_000, window=window)

    result = embed(rig, limiter, QUERY, timeout=20.0)

    assert len(result.vectors) == 1
    server = rig.stats()
    assert (server["requests"], server["successes"], server["rate_limited"]["requests"]) == (3, 2, 1)
    assert limiter.history().totals.throttled == 1


def test_the_providers_refusal_is_raised_as_it_came(rig: GateRig) -> None:
    limiter = rig.limiter(requests=100, tokens=10_000)

    with pytest.raises(InvalidInput):
        embed(rig, limiter, [""], tokens=1, timeout=5.0)

    assert rig.stats()["requests"] == 1


def test_a_text_the_limit_can_never_admit_raises_never_fits_and_nothing_is_sent(rig: GateRig) -> None:
    limiter = rig.limiter(requests=100, tokens=100)

    with pytest.raises(NeverFits):
        embed(rig, limiter, QUERY, tokens=101, timeout=5.0)

    assert rig.stats()["requests"] == 0 and limiter.usage().requests_used == 0
