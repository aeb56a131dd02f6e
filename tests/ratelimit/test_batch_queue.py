"""The Batch API's enqueued-token queue on the test run's real Redis, each test on an account of its own."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from project.embedded import EmbeddedRedis
from ratelimit import BatchQueue, LimiterUnavailable, NeverFits, QueueDecision
from ratelimit.keys import QueueKeys

MODEL = "text-embedding-3-small"


@pytest.fixture
def make_queue(client: redis.Redis) -> Callable[..., BatchQueue]:
    """``make_queue(limit_tokens=...)``: queues of one fresh account, as separate workers would build them."""
    account = f"queue-{uuid.uuid4().hex[:10]}"

    def make(*, limit_tokens: int = 1000, model: str = MODEL) -> BatchQueue:
        return BatchQueue(client, account=account, model=model, limit_tokens=limit_tokens)

    return make


def test_admits_while_the_tokens_fit_then_refuses_without_counting(make_queue) -> None:
    queue = make_queue(limit_tokens=1000)
    assert queue.admit("a", 600) == QueueDecision(admitted=True, in_use=600, limit=1000)
    assert queue.admit("b", 400) == QueueDecision(admitted=True, in_use=1000, limit=1000)
    assert queue.admit("c", 1) == QueueDecision(admitted=False, in_use=1000, limit=1000)
    usage = queue.usage()
    assert (usage.in_use, usage.batches, usage.limit, usage.configured) == (1000, 2, 1000, 1000)
    assert usage.lowered_until_ms is None


def test_admit_is_idempotent(make_queue) -> None:
    queue = make_queue(limit_tokens=1000)
    assert queue.admit("a", 700).admitted
    again = queue.admit("a", 700)  # a redelivered task asks again for the same batch
    assert again == QueueDecision(admitted=True, in_use=700, limit=1000)
    other_worker = make_queue(limit_tokens=1000)
    assert other_worker.admit("a", 700).admitted
    assert queue.usage().in_use == 700 and queue.usage().batches == 1
    assert not queue.admit("b", 301).admitted


def test_release_frees_the_tokens_and_is_idempotent(make_queue) -> None:
    queue = make_queue(limit_tokens=1000)
    assert queue.admit("a", 1000).admitted
    assert not queue.admit("b", 500).admitted
    queue.release("a")
    queue.release("a")
    queue.release("never-admitted")
    assert queue.usage().in_use == 0
    assert queue.admit("b", 500).admitted and queue.usage().in_use == 500


def test_a_batch_larger_than_the_limit_never_fits(make_queue) -> None:
    queue = make_queue(limit_tokens=1000)
    with pytest.raises(NeverFits) as caught:
        queue.admit("huge", 1001)
    assert (caught.value.limit, caught.value.requested) == (1000, 1001)
    assert queue.admit("fits", 1000).admitted  # the limit itself fits an empty queue
    with pytest.raises(ValueError):
        queue.admit("negative", -1)
    with pytest.raises(ValueError):
        queue.admit("", 1)


def test_refused_lowers_the_limit_to_what_the_others_hold_then_recovers(make_queue) -> None:
    queue = make_queue(limit_tokens=1000)
    assert queue.admit("a", 300).admitted
    assert queue.admit("b", 200).admitted  # the server refuses b: it knows batches we do not
    usage = queue.refused("b", hold_seconds=0.5)
    assert (usage.in_use, usage.limit, usage.configured, usage.batches) == (300, 300, 1000, 1)
    assert usage.lowered_until_ms is not None
    assert not queue.admit("c", 1).admitted  # nobody submits more while a refusal holds...
    queue.release("a")
    assert queue.admit("c", 300).admitted  # ...until something is released: it frees only its own room
    assert not queue.admit("d", 1).admitted
    time.sleep(0.6)
    assert queue.usage().limit == 1000 and queue.usage().lowered_until_ms is None
    assert queue.admit("d", 700).admitted


def test_a_refusal_never_raises_a_lower_belief_nor_shortens_its_hold(make_queue) -> None:
    queue = make_queue(limit_tokens=1000)
    assert queue.admit("a", 100).admitted and queue.admit("b", 500).admitted
    first = queue.refused("a", hold_seconds=30)  # others hold 500
    queue.release("b")
    assert queue.admit("c", 500).admitted and queue.admit("e", 0).admitted
    second = queue.refused("e", hold_seconds=0.1)  # others hold 500 again: the belief stays 500
    assert second.limit == first.limit == 500
    assert second.lowered_until_ms is not None and first.lowered_until_ms is not None
    assert second.lowered_until_ms >= first.lowered_until_ms - 5  # the 30 s hold, not 0.1 s
    assert queue.refused("c", hold_seconds=1).limit == 0  # none left in flight: nothing may be submitted
    assert not queue.admit("f", 1).admitted


def test_the_lowered_limit_is_shared_by_every_worker(make_queue) -> None:
    one, two = make_queue(limit_tokens=1000), make_queue(limit_tokens=1000)
    assert one.admit("a", 400).admitted and two.admit("b", 100).admitted
    two.refused("b", hold_seconds=30)
    decision = one.admit("c", 50)
    assert decision == QueueDecision(admitted=False, in_use=400, limit=400)


def test_refused_with_no_hold_only_drops_the_admission(make_queue) -> None:
    queue = make_queue(limit_tokens=1000)
    assert queue.admit("a", 400).admitted
    usage = queue.refused("a", hold_seconds=0)
    assert (usage.in_use, usage.limit, usage.lowered_until_ms) == (0, 1000, None)


def test_sync_replaces_the_admitted_set(make_queue, client: redis.Redis) -> None:
    queue = make_queue(limit_tokens=1000)
    assert queue.admit("lost-release", 600).admitted and queue.admit("kept", 100).admitted
    queue.sync({"kept": 100, "from-db": 250})
    usage = queue.usage()
    assert (usage.in_use, usage.batches) == (350, 2)
    assert queue.admit("from-db", 250) == QueueDecision(admitted=True, in_use=350, limit=1000)  # already counted
    client.delete(*queue.keys.all)  # Redis lost its data: the database's truth comes back
    assert queue.usage().in_use == 0
    queue.sync({"kept": 100, "from-db": 250})
    assert queue.usage().in_use == 350
    queue.sync({})
    assert queue.usage().in_use == 0 and queue.usage().batches == 0


def test_sync_keeps_a_lowered_belief(make_queue) -> None:
    queue = make_queue(limit_tokens=1000)
    assert queue.admit("a", 200).admitted and queue.admit("b", 300).admitted
    queue.refused("b", hold_seconds=30)
    queue.sync({"a": 200})
    assert queue.usage().limit == 200 and not queue.admit("c", 1).admitted


def test_keys_share_the_limiters_hash_tag_and_refuse_an_api_key() -> None:
    keys = QueueKeys.build(account="acct", model="m")
    assert all(key.count("{") == 1 and "{acct:m}" in key for key in keys.all)
    with pytest.raises(ValueError, match="API key"):
        QueueKeys.build(account="sk-" + "abcdefghijklmnop", model="m")
    with pytest.raises(ValueError):
        BatchQueue(None, account="sess-abcdefgh", model="m", limit_tokens=10)


def test_concurrent_workers_never_overfill_the_queue(redis_url: str, client: redis.Redis) -> None:
    """16 threads, each with its own connection, admit and release random sizes at once.

    A read-then-write admission would overfill: the admitted set is read directly from Redis
    while they run, and every refusal must have been a true one (the batch did not fit).
    """
    limit, threads, rounds = 10_000, 16, 60
    account = f"hammer-{uuid.uuid4().hex[:8]}"
    keys = QueueKeys.build(account=account, model=MODEL)
    decisions: list[tuple[int, QueueDecision]] = []
    lock, start = threading.Lock(), threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            with BatchQueue.from_url(redis_url, account=account, model=MODEL, limit_tokens=limit) as queue:
                start.wait()
                held: list[str] = []
                for n in range(rounds):
                    tokens = rng.randint(1, 3000)
                    key = f"w{seed}-{n}"
                    decision = queue.admit(key, tokens)
                    with lock:
                        decisions.append((tokens, decision))
                    if decision.admitted:
                        held.append(key)
                    if held and rng.random() < 0.5:
                        queue.release(held.pop(rng.randrange(len(held))))
                for key in held:
                    queue.release(key)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(seed,)) for seed in range(threads)]
    for worker in workers:
        worker.start()
    peak = 0
    start.wait()
    while any(worker.is_alive() for worker in workers):
        peak = max(peak, sum(int(v) for v in client.hvals(keys.admitted)))
    for worker in workers:
        worker.join()

    assert not errors, errors
    assert len(decisions) == threads * rounds
    admitted = [d for _, d in decisions if d.admitted]
    assert len(admitted) > threads * rounds // 4, "the queue admitted too little to prove anything"
    assert max(d.in_use for d in admitted) <= limit and peak <= limit
    assert max(d.in_use for d in admitted) > limit * 0.8  # it did fill up
    for tokens, decision in decisions:
        if not decision.admitted:
            assert decision.in_use + tokens > decision.limit  # refused only when it did not fit
    assert client.hlen(keys.admitted) == 0  # every admission was released


def test_redis_down_is_a_fast_clear_error_and_recovers(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    server.start()
    try:
        with BatchQueue.from_url(server.url, account="outage", model="m", limit_tokens=100) as queue:
            assert queue.admit("a", 10).admitted
            server.stop()
            for call in (lambda: queue.admit("b", 10), lambda: queue.release("a"), queue.usage,
                         lambda: queue.refused("a", hold_seconds=1), lambda: queue.sync({})):
                started = time.monotonic()
                with pytest.raises(LimiterUnavailable, match=f"127.0.0.1:{server.port}"):
                    call()
                assert time.monotonic() - started < 1.0
            server.start()
            assert queue.usage().in_use == 10  # the append-only file kept the admission
            assert queue.admit("b", 10).in_use == 20
    finally:
        server.stop()
