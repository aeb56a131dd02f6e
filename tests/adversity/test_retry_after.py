"""No retry reaches the server before the wait it asked for, through real workers, over many requests.

A server of the test's own answers each input's first request with a 503 and its second with a
429, each asking for a wait (``Retry-After`` in seconds, ``retry-after-ms``, or an HTTP date),
and its third with vectors; it records every arrival on its own clock. ``tollgate run`` embeds
60 one-chunk groups through real Celery workers: 180 requests, each retry checked against the
moment the server allowed it.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from tests.adversity.cli import start_run, summary_of, write_texts
from tests.providers.scripted import Answer, ScriptedProvider

GROUPS = 60
WAITS_503 = ({"retry_after": 1.5}, {"retry_after_ms": 1200}, {"date": 2})
WAITS_429 = ({"retry_after": 1}, {"retry_after_ms": 800}, {"date": 2})


def test_no_retry_arrives_before_the_servers_retry_after(tmp_path: Path) -> None:
    waits = {503: itertools.cycle(WAITS_503), 429: itertools.cycle(WAITS_429)}

    def script(attempt: int, now: float) -> Answer:
        if attempt >= 2:
            return Answer()
        status = 503 if attempt == 0 else 429
        return Answer.refuse(status, now=now, **next(waits[status]))

    folder = tmp_path / "texts"
    folder.mkdir()
    write_texts(folder, GROUPS)
    env = {
        "TOLLGATE_RPM": "10000",
        "TOLLGATE_TPM": "1000000",
        "TOLLGATE_GROUP_TOKENS": "40",  # one chunk per group: one input per request
        "TOLLGATE_STALL_SECONDS": "4",
        "OPENAI_API_KEY": "k",
    }
    with ScriptedProvider(script) as server:
        env["OPENAI_BASE_URL"] = server.base_url
        run = start_run(folder, "--workers", "3", "--collection", "retry-after", env=env, log=tmp_path / "run.log")
        summary = summary_of(run, tmp_path / "run.log", timeout=240)

    assert summary["status"] == "completed" and summary["embedded"] == summary["chunks"] == GROUPS
    visits = server.by_input()
    assert len(visits) == GROUPS
    assert all([v.status for v in each] == [503, 429, 200] for each in visits.values())  # each paid once
    early = [(after.arrived - before.not_before, before.status) for before, after in server.early()]
    assert early == [], f"{len(early)} retries came back before the server allowed them (s early, status): {early}"
