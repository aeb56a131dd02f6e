"""A wait the server imposed is a floor for the group's next attempt, never shortened by the worker.

A 5xx's ``Retry-After`` (a server of the test's own answers it) and a cooldown after a 429 (set
in the shared limiter) each come back as the group's retry, at least that long from now, and
timed on no clock that runs behind this host's.
"""

from __future__ import annotations

import time

from project.provider import shared_limiter
from providers.gate import Waiting
from tests.providers.scripted import Answer, ScriptedProvider
from workers.embedding import embed_group_once

TEXTS = [f"Server wait {i}: the road is closed for a while." for i in range(3)]


def test_a_5xx_comes_back_no_sooner_than_its_retry_after(provider) -> None:
    with ScriptedProvider(lambda attempt, now: Answer.refuse(503, now=now, retry_after=5)) as server:
        provider.settings.OPENAI_BASE_URL = server.base_url
        job, (group,) = provider.job(TEXTS)

        outcome = embed_group_once(group.pk, holder="task-a")

    assert [visit.status for visit in server.visits] == [503]
    assert outcome.retry_in is not None and outcome.retry_in >= 5.0  # not the 1 s backoff of a first failure
    assert outcome.next_attempt == 1  # a failure all the same: it uses up an attempt
    assert outcome.clock_offset >= 0.0


def test_a_cooldown_is_waited_out_whole_never_returned_early(provider) -> None:
    job, (group,) = provider.job(TEXTS)
    limiter = shared_limiter(job.model)
    limiter.cooldown(Waiting().most + 3.0)  # another worker met a 429 with a long Retry-After

    outcome = embed_group_once(group.pk, holder="task-a")

    assert outcome.retry_in is not None and outcome.retry_in >= limiter.usage().cooldown_seconds > Waiting().most
    assert outcome.clock_offset >= 0.0
    assert provider.served() == {}


def test_a_short_cooldown_is_slept_out_in_place_then_sent(provider) -> None:
    job, (group,) = provider.job(TEXTS)
    limiter = shared_limiter(job.model)
    limiter.cooldown(1.5)
    ends = time.monotonic() + limiter.usage().cooldown_seconds

    outcome = embed_group_once(group.pk, holder="task-a")

    assert outcome.retry_in is None and time.monotonic() >= ends  # sent, and not before the cooldown ended
    assert len(provider.served()) == len(TEXTS)
