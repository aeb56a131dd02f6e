"""A job through a pool of deployments, with real Celery workers: each window kept, a deployment killed mid-run.

The simulators count what they served for each distinct input (the sha256 of its text, the
chunk's ``content_hash``), so "nothing lost, nothing paid twice" is read from the servers' side,
the killed one's as it stood when it could serve nothing more.
"""

from __future__ import annotations

import time
from collections import Counter

from project.embeddings.models import Chunk, Embedding, EmbeddingGroup, EmbeddingJob
from tests.pipeline.helpers import ingest
from tests.pools.fleet import Spec

COMPLETED = EmbeddingJob.Status.COMPLETED
POOL = [Spec("a", rpm=600, tpm=4_000, window=1.0), Spec("b", rpm=600, tpm=4_000, window=1.0),
        Spec("c", rpm=600, tpm=6_000, window=2.0, azure=True)]  # fmt: skip


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def throttled(stats) -> int:
    return stats["rate_limited"]["requests"] + stats["rate_limited"]["tokens"]


def test_a_deployment_killed_mid_run_loses_nothing_and_nothing_is_paid_twice(fleet):
    # groups of a fifth of the smallest window, as the planner makes for real windows (a group of half a
    # 1-s window with 100 ms of latency draws 429s on a single provider too: the lead's issue, not the pool's)
    fleet.start(POOL, workers=3, latency_ms=50, TOLLGATE_REQUEST_TIMEOUT=5.0, TOLLGATE_BREAKER_SECONDS=1.0,
                TOLLGATE_GROUP_TOKENS=800)  # fmt: skip
    documents = ingest(1000)
    hashes = set(Chunk.objects.filter(document__in=documents).values_list("content_hash", flat=True))
    job = fleet.begin(documents)
    a = fleet.simulators["a"]
    wait_until(lambda: a.stats(per_input=False)["successes"] >= 3)
    a.configure(latency_ms=60_000)  # from now on it serves nothing: what it was sending finishes first
    time.sleep(0.5)
    before_death = a.stats()
    fleet.kill("a")  # requests sent to it since then are cut mid-request

    job = fleet.finish(job)

    assert job.status == COMPLETED, job.last_error
    assert job.embedded_chunks == job.total_chunks == 1000 and job.failed_chunks == 0
    assert Embedding.objects.filter(chunk__document__in=documents).count() == 1000  # nothing lost
    served = fleet.served() + Counter(before_death["inputs"]["per_input"])
    assert set(served) == hashes and set(served.values()) == {1}  # each input paid exactly once, over the pool
    by_deployment = Counter(EmbeddingGroup.objects.filter(job=job, state="done").values_list("deployment", flat=True))
    assert by_deployment["a"] == before_death["successes"]  # every answer the dead one gave was stored
    assert by_deployment["b"] > 0 and by_deployment["c"] > 0 and set(by_deployment) == {"a", "b", "c"}
    for spec in POOL[1:]:  # the survivors: never over their limits, never a 429
        stats = fleet.simulators[spec.name].stats(per_input=False)
        assert throttled(stats) == 0, (spec.name, stats["rate_limited"], stats["max_tokens_in_window"], stats["groups"])
        assert stats["max_tokens_in_window"] <= spec.tpm and stats["max_requests_in_window"] <= spec.rpm
