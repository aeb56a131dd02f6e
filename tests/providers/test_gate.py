"""pass_gate when the request is served: admitted and counted, vectors back, then settled.

The server's /stats and the limiter's Redis state are the judges, never the wall clock.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest

from providers import Waiting
from ratelimit import Limiter
from tests.providers.rig import DIMENSIONS, GateRig, tokens_of

TEXTS = ["the gate admits a group within the limit", "and sends it as one request"]


def test_a_group_within_the_limit_is_admitted_counted_and_served(rig: GateRig) -> None:
    limiter = rig.limiter(requests=100, tokens=10_000)
    tokens = tokens_of(TEXTS)

    passage = rig.pass_gate(limiter, TEXTS)

    assert passage.result is not None and passage.error is None
    assert (passage.rate_limited, passage.refusals, passage.retry_after, passage.requested) == (False, 0, 0.0, True)
    vectors = passage.result.vectors
    assert [v.shape for v in vectors] == [(DIMENSIONS,), (DIMENSIONS,)]
    assert all(v.dtype == np.float32 for v in vectors)
    assert np.allclose([np.linalg.norm(v) for v in vectors], 1.0, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])  # each input its own vector, in order
    assert passage.result.total_tokens == tokens
    usage = limiter.usage()
    assert (usage.requests_used, usage.tokens_used) == (1, tokens)
    server = rig.stats()
    assert (server["requests"], server["successes"], server["requests_admitted"]) == (1, 1, 1)
    assert server["tokens_admitted"] == server["usage_tokens"] == tokens

    assert passage.settle() is True
    usage = limiter.usage()
    assert (usage.requests_used, usage.tokens_used) == (1, tokens)  # the server counted what we did
    totals = limiter.history().totals
    # reconcile counts the admission from when the server counted it: its processing time and
    # what passed since the answer arrived, never nothing
    assert (totals.requests, totals.tokens, totals.served) == (1, tokens, 1)


@pytest.mark.parametrize("estimate", [500, 1], ids=["over", "under"])
def test_settle_replaces_the_callers_estimate_with_the_servers_usage(rig: GateRig, estimate: int) -> None:
    limiter = rig.limiter(requests=100, tokens=10_000)
    other = rig.limiter(requests=100, tokens=10_000)  # another worker's limiter on the same keys
    actual = tokens_of(TEXTS)
    assert actual not in (estimate, 0)

    passage = rig.pass_gate(limiter, TEXTS, tokens=estimate)

    assert passage.result is not None and passage.result.total_tokens == actual
    assert other.usage().tokens_used == estimate  # nothing learnt until the caller settles
    passage.settle()
    assert other.usage().tokens_used == actual
    totals = other.history().totals
    assert (totals.tokens_returned, totals.tokens_added) == (max(0, estimate - actual), max(0, actual - estimate))


def test_tokens_given_back_by_settle_admit_the_next_request(rig: GateRig) -> None:
    limiter = rig.limiter(requests=100, tokens=1000)
    actual = tokens_of(TEXTS)
    passage = rig.pass_gate(limiter, TEXTS, tokens=900)
    room = 1000 - actual

    refused = limiter.acquire(room)
    assert not refused.admitted and refused.reason == "tokens"
    passage.settle()
    assert limiter.acquire(room).admitted
    assert limiter.usage().tokens_used == 1000


def test_a_smaller_server_limit_from_the_headers_is_adopted_by_every_limiter(rig: GateRig) -> None:
    rig.serve(rpm=50, tpm=20_000)
    limiter = rig.limiter(requests=3000, tokens=1_000_000)
    other = rig.limiter(requests=3000, tokens=1_000_000)

    passage = rig.pass_gate(limiter, TEXTS)
    before = other.usage()
    passage.settle()
    after = other.usage()

    assert (before.requests_limit, before.tokens_limit) == (3000, 1_000_000)
    assert (after.requests_limit, after.tokens_limit) == (50, 20_000)
    assert (after.requests_used, after.tokens_used) == (1, tokens_of(TEXTS))


def test_what_the_server_counted_beyond_our_belief_is_consumed(rig: GateRig) -> None:
    """Another deployment on the same key spent some of the window: the headers say so, settle books it."""
    rig.serve(rpm=100, tpm=10_000)
    spent = ["someone else's request on the same account, one we never saw", "with a second input"]
    rig.spend(spent)
    limiter = rig.limiter(requests=100, tokens=10_000)

    passage = rig.pass_gate(limiter, TEXTS)
    assert limiter.usage().tokens_used == tokens_of(TEXTS)
    passage.settle()

    usage = limiter.usage()
    assert (usage.requests_used, usage.tokens_used) == (2, tokens_of(spent) + tokens_of(TEXTS))
    server = rig.stats()
    assert (server["requests_admitted"], server["tokens_admitted"]) == (usage.requests_used, usage.tokens_used)


def test_settle_is_best_effort_when_redis_cannot_answer(rig: GateRig, redis_url: str, caplog) -> None:
    """The response is paid for: a limiter that cannot learn from it is logged, never raised."""
    limiter = rig.limiter(requests=100, tokens=10_000)
    # The same keys through a client of its own, whose calls give up after 0.5 s (and one retry).
    with Limiter.from_url(redis_url, account=limiter.account, model=limiter.model, limits=limiter.limits) as fast:
        passage = rig.pass_gate(fast, TEXTS, tokens=500)
        rig.redis.execute_command("CLIENT", "PAUSE", 2500, "ALL")
        with caplog.at_level(logging.WARNING, logger="providers.gate"):
            learnt = passage.settle()

    assert learnt is False and passage.result is not None
    assert "could not learn from a served request" in caplog.text
    assert limiter.usage().tokens_used == 500  # once Redis answers again: the estimate stands


def test_a_crowd_at_the_gate_gets_exactly_the_limit_through(rig: GateRig) -> None:
    limit, crowd = 5, 16
    passages = []

    def caller(i: int) -> None:
        limiter = rig.limiter(requests=limit, tokens=100_000)
        passages.append(rig.pass_gate(limiter, [f"caller {i} at the gate"], waiting=Waiting(inline=0.0)))

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(crowd)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    served = [p for p in passages if p.result is not None]
    turned_away = [p for p in passages if p.result is None]
    assert (len(served), len(turned_away)) == (limit, crowd - limit)
    assert all(not p.requested and p.refusals == 1 and 50 < p.retry_after <= 60 for p in turned_away)
    server = rig.stats()
    assert (server["requests"], server["successes"], server["max_requests_in_window"]) == (limit, limit, limit)


def test_a_short_wait_for_the_limiter_is_slept_in_place_then_served(rig: GateRig) -> None:
    limiter = rig.limiter(requests=1, tokens=10_000, window=2.0)
    assert limiter.acquire(0).admitted  # full for 2 s: less than the wait slept in place

    passage = rig.pass_gate(limiter, TEXTS, waiting=Waiting(inline=10.0, most=10.0))

    assert passage.result is not None and passage.refusals >= 1
    assert passage.refusals == limiter.history().totals.refusals
    assert rig.stats()["requests"] == 1


def test_a_long_wait_for_the_limiter_is_handed_back_and_nothing_is_sent(rig: GateRig) -> None:
    limiter = rig.limiter(requests=1, tokens=10_000)
    assert limiter.acquire(0).admitted  # full for a whole 60 s window

    passage = rig.pass_gate(limiter, TEXTS)

    assert (passage.result, passage.error, passage.rate_limited, passage.requested) == (None, None, False, False)
    assert passage.refusals == 1 and 50 < passage.retry_after <= 60
    assert rig.stats()["requests"] == 0 and limiter.usage().requests_used == 1
