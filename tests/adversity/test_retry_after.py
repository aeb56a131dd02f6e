"""No retry reaches the server before the wait it asked for, through real workers, over many requests.

A server of the test's own answers each input's first request with a 503, and one in five
inputs' second with a 429, each asking for a wait (``Retry-After`` in seconds, ``retry-after-ms``,
or an HTTP date); every other request gets vectors. It records every arrival on its own clock.
``tollgate run`` embeds 80 one-chunk groups through real Celery workers: 176 requests,
each retry checked against the moment the server allowed it. (Every 429 makes every worker
wait: a 429 for each input would make the test a minute of cooldowns.)
"""

from __future__ import annotations

import itertools
from pathlib import Path

from tests.adversity.cli import start_run, summary_of, write_texts
from tests.providers.scripted import Answer, ScriptedProvider

GROUPS = 80
WAITS_503 = ({"retry_after": 2.5}, {"retry_after_ms": 2000}, {"date": 3})  # a first backoff is 0.5-1 s
WAITS_429 = ({"retry_after": 1}, {"retry_after_ms": 400}, {"date": 2})


def test_no_retry_arrives_before_the_servers_retry_after(tmp_path: Path) -> None:
    waits = {503: itertools.cycle(WAITS_503), 429: itertools.cycle(WAITS_429)}
    second = itertools.cycle([429, 200, 200, 200, 200])

    def script(attempt: int, now: float) -> Answer:
        status = 503 if attempt == 0 else next(second) if attempt == 1 else 200
        return Answer.refuse(status, now=now, **next(waits[status])) if status != 200 else Answer()

    folder = tmp_path / "texts"
    folder.mkdir()
    write_texts(folder, GROUPS)
    env = {
        "TOLLGATE_RPM": "10000",
        "TOLLGATE_TPM": "1000000",
        "TOLLGATE_GROUP_TOKENS": "40",  # one chunk per group: one input per request
        "TOLLGATE_STALL_SECONDS": "4",
        "CELERY_WORKER_CONCURRENCY": "8",  # threads enough that a retry never queues behind first attempts
        "OPENAI_API_KEY": "k",
    }
    with ScriptedProvider(script) as server:
        env["OPENAI_BASE_URL"] = server.base_url
        run = start_run(folder, "--workers", "2", "--collection", "retry-after", env=env, log=tmp_path / "run.log")
        summary = summary_of(run, tmp_path / "run.log", timeout=240)

    assert summary["status"] == "completed" and summary["embedded"] == summary["chunks"] == GROUPS
    visits = server.by_input()
    assert len(visits) == GROUPS
    assert all([v.status for v in each] in ([503, 429, 200], [503, 200]) for each in visits.values())  # paid once
    statuses = [visit.status for visit in server.visits]
    assert statuses.count(429) >= GROUPS // 5 and len(statuses) >= 176
    early = [(after.arrived - before.not_before, before.status) for before, after in server.early()]
    assert early == [], f"{len(early)} retries came back before the server allowed them (s early, status): {early}"
