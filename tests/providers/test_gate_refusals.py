"""pass_gate when the server says no: a 429 (a cooldown every limiter sees), a 400, a 5xx.

Every refusal comes back as data in the passage, with exactly one request sent: the gate never
retries by itself, the caller decides (workers/embedding.py).
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from providers import AccountBlocked, InvalidInput, RequestTooLarge, Transient
from ratelimit import Limiter, Limits
from tests.providers.rig import MODEL, WINDOW, GateRig, tokens_of

TEXTS = ["a group the server will refuse"]
SLACK = 5.0  # seconds a loaded machine may take between two lines of a test


@pytest.mark.parametrize("kind", ["requests", "tokens"])
def test_a_429_sets_a_cooldown_of_the_servers_wait_that_every_limiter_sees(rig: GateRig, kind: str) -> None:
    """The server's limit is lower than ours and another deployment spent it: the server answers 429."""
    spent = ["another deployment's request on the same account"]
    rpm, tpm = (1, 100_000) if kind == "requests" else (100, tokens_of(spent) + tokens_of(TEXTS) - 1)
    rig.serve(rpm=rpm, tpm=tpm)
    limiter = rig.limiter(requests=100, tokens=100_000)
    started = time.monotonic()
    rig.spend(spent)

    passage = rig.pass_gate(limiter, TEXTS)
    elapsed = time.monotonic() - started

    assert passage.result is None and passage.error is None
    assert (passage.rate_limited, passage.requested, passage.refusals) == (True, True, 0)
    # The server's wait: until the spent request leaves its window, to the millisecond.
    assert WINDOW - elapsed - 0.001 <= passage.retry_after <= WINDOW
    server = rig.stats()
    assert (server["requests"], server["successes"], server["rate_limited"][kind]) == (2, 1, 1)

    # Every limiter of the account sees the cooldown, whatever limits it was configured with.
    wait = passage.retry_after + 0.001  # Redis keeps the cooldown in whole milliseconds, rounded up
    least = passage.retry_after - SLACK
    assert least < rig.redis.pttl(limiter.keys.cooldown) / 1000 <= wait
    other = rig.limiter(requests=100, tokens=100_000)
    assert least < other.usage().cooldown_seconds <= wait
    elsewhere = Limiter(rig.redis, account=rig.config.account(), model=MODEL, limits=Limits(7, 700, WINDOW))
    assert least < elsewhere.usage().cooldown_seconds <= wait
    # (Either may name another reason: the account's one window also holds our refused request,
    # which may leave it a little later, and the server's limit the 429 taught.)
    for each in (elsewhere, other):
        refused = each.acquire(1)
        assert not refused.admitted and least < refused.retry_after <= WINDOW
    # The 429's headers taught the shared belief the server's limit.
    usage = other.usage()
    assert (usage.requests_limit, usage.tokens_limit) == (rpm, min(tpm, 100_000))
    totals = other.history().totals
    assert (totals.throttled, totals.cooldowns) == (1, 1)

    # Meanwhile the gate sends nothing: "not now" from the shared limiter, not another 429.
    again = rig.pass_gate(other, TEXTS)
    assert (again.result, again.rate_limited, again.requested, again.refusals) == (None, False, False, 1)
    assert least < again.retry_after <= WINDOW
    assert rig.stats()["requests"] == 2


def test_a_429_cools_down_for_the_servers_wait_to_the_millisecond_not_a_whole_second(rig: GateRig) -> None:
    """``retry-after`` is the wait rounded up to whole seconds; ``retry-after-ms`` is the wait itself."""
    window = 20.5  # the server's wait is just under 20.5 s: its retry-after header says 21
    rig.serve(rpm=1, window=window)
    limiter = rig.limiter(requests=100, tokens=100_000, window=window)
    started = time.monotonic()
    rig.spend(["another deployment's request"])

    passage = rig.pass_gate(limiter, TEXTS)
    elapsed = time.monotonic() - started

    assert passage.rate_limited
    assert window - elapsed - 0.001 <= passage.retry_after <= window
    assert limiter.usage().cooldown_seconds <= window + 0.001


def test_an_empty_input_is_refused_once_and_never_retried(rig: GateRig) -> None:
    limiter = rig.limiter(requests=100, tokens=10_000)

    passage = rig.pass_gate(limiter, ["a fine input", ""], tokens=10)

    assert isinstance(passage.error, InvalidInput) and "'$.input' is invalid" in str(passage.error)
    assert (passage.result, passage.rate_limited, passage.retry_after, passage.requested) == (None, False, 0.0, True)
    server = rig.stats()
    assert (server["requests"], server["successes"], server["errors"]) == (1, 0, {"400": 1})
    assert server["requests_admitted"] == 1  # a failed request still takes a request slot
    usage = limiter.usage()
    assert (usage.requests_used, usage.cooldown_seconds) == (1, 0.0)


def test_an_input_over_the_context_length_is_invalid_input(rig: GateRig) -> None:
    text = "tollgate " * 9000
    tokens = tokens_of([text])
    assert tokens > 8192
    limiter = rig.limiter(requests=100, tokens=100_000)

    passage = rig.pass_gate(limiter, [text])

    assert isinstance(passage.error, InvalidInput)
    assert f"maximum context length is 8192 tokens, however you requested {tokens} tokens" in str(passage.error)
    assert (passage.result, passage.rate_limited, passage.retry_after) == (None, False, 0.0)
    server = rig.stats()
    assert (server["requests"], server["errors"]) == (1, {"400": 1})
    assert limiter.usage().cooldown_seconds == 0.0


def test_a_group_larger_than_the_servers_tpm_is_request_too_large_without_a_cooldown(rig: GateRig) -> None:
    """Not "not now": no wait makes it pass, so no worker is held back for it (the caller splits it)."""
    text = "tollgate " * 1500
    rig.serve(tpm=1000)
    limiter = rig.limiter(requests=100, tokens=100_000)  # believes the server allows far more

    passage = rig.pass_gate(limiter, [text])

    assert isinstance(passage.error, RequestTooLarge) and "Request too large" in str(passage.error)
    assert (passage.result, passage.rate_limited, passage.retry_after) == (None, False, 0.0)
    assert rig.stats()["rate_limited"]["tokens"] == 1 and rig.stats()["requests"] == 1
    assert limiter.usage().cooldown_seconds == 0.0
    assert limiter.acquire(1).admitted


def test_no_quota_is_account_blocked_without_a_cooldown(rig: GateRig) -> None:
    rig.serve(insufficient_quota=True)
    limiter = rig.limiter(requests=100, tokens=10_000)

    passage = rig.pass_gate(limiter, TEXTS)

    assert isinstance(passage.error, AccountBlocked) and "quota" in str(passage.error)
    assert (passage.rate_limited, passage.retry_after) == (False, 0.0)
    assert rig.stats()["rate_limited"]["insufficient_quota"] == 1
    assert limiter.usage().cooldown_seconds == 0.0


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_is_transient_with_no_wait_of_its_own(rig: GateRig, status: int) -> None:
    """The gate reports the failure; the backoff is the caller's (tests/workers: the backoff)."""
    rig.serve(**{f"error_{status}_rate": 1.0})
    limiter = rig.limiter(requests=100, tokens=10_000)
    tokens = tokens_of(TEXTS)

    passage = rig.pass_gate(limiter, TEXTS)

    assert isinstance(passage.error, Transient) and str(passage.error).startswith(f"HTTP {status}: ")
    assert (passage.result, passage.rate_limited, passage.retry_after, passage.requested) == (None, False, 0.0, True)
    server = rig.stats()
    assert (server["requests"], server["errors"]) == (1, {str(status): 1})
    # The server counted the request and its tokens before it failed; so does the limiter.
    usage = limiter.usage()
    assert (usage.requests_used, usage.tokens_used, usage.cooldown_seconds) == (1, tokens, 0.0)
    assert (server["requests_admitted"], server["tokens_admitted"]) == (1, tokens)


def test_a_dropped_connection_is_transient(rig: GateRig) -> None:
    rig.serve(drop_rate=1.0)
    passage = rig.pass_gate(rig.limiter(requests=100, tokens=10_000), TEXTS)

    assert isinstance(passage.error, Transient) and passage.error is not None
    assert str(passage.error).startswith("APIConnectionError")
    assert rig.stats()["faults"]["drop"] == 1 and rig.stats()["requests"] == 1


def test_a_request_past_the_timeout_is_transient(rig: GateRig) -> None:
    rig.serve(hang_rate=1.0, hang_seconds=1.0)
    impatient = dataclasses.replace(rig.config, timeout=0.3)
    with impatient.client() as client:
        rig.client = client
        passage = rig.pass_gate(rig.limiter(requests=100, tokens=10_000), TEXTS)

    assert isinstance(passage.error, Transient) and str(passage.error).startswith("APITimeoutError")
    assert rig.stats()["faults"]["hang"] == 1 and rig.stats()["requests"] == 1
    # The server still answers (and bills) the request the client gave up on; wait for it, so
    # the next test's stats start clean.
    deadline = time.monotonic() + 30
    while rig.stats()["successes"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rig.stats()["successes"] == 1
