"""A wait the server imposed is a floor for the group's next attempt, never shortened by the worker.

A 5xx's ``Retry-After`` (a server of the test's own answers it) and a cooldown after a 429 (set
in the shared limiter) each come back as the group's retry, at least that long from now, and
timed on no clock that runs behind this host's.
"""

from __future__ import annotations

from project.provider import shared_limiter
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
    limiter.cooldown(3.0)  # another worker met a 429 with Retry-After: 3

    outcome = embed_group_once(group.pk, holder="task-a")

    assert outcome.retry_in is not None and outcome.retry_in >= limiter.usage().cooldown_seconds > 2.0
    assert outcome.clock_offset >= 0.0
    assert provider.served() == {}
