"""Limiter.history: every client's admissions, refusals, 429s and cooldowns per bucket, in Redis."""

from __future__ import annotations

import time

from ratelimit import Limiter
from ratelimit.limiter import HISTORY_SLICES


def test_admissions_and_refusals_of_every_client_are_counted(make_limiter, client) -> None:
    one = make_limiter(requests=3, tokens=1000, window_seconds=10)
    other_process = Limiter(client, account=one.account, model=one.model, limits=one.limits)
    assert one.acquire(tokens=100).admitted and other_process.acquire(tokens=250).admitted
    assert one.acquire(tokens=50).admitted
    assert not other_process.acquire(tokens=10).admitted  # the fourth request: refused
    history = one.history()
    assert len(history.buckets) == HISTORY_SLICES * 30 and history.bucket_seconds == 2.5
    last = history.buckets[-1]
    assert last.start <= history.at < last.start + history.bucket_seconds
    recent = history.buckets[-2:]  # a busy machine may take the four calls across a bucket's edge
    assert tuple(sum(getattr(b, name) for b in recent) for name in ("requests", "tokens", "refusals")) == (3, 400, 1)
    assert sum(b.requests for b in history.buckets[:-2]) == 0
    assert (history.totals.requests, history.totals.tokens, history.totals.refusals) == (3, 400, 1)
    assert history.per_window[-1].requests == 3 and history.per_window[-1].tokens == 400
    seen_by_other = other_process.history()
    assert (seen_by_other.buckets, seen_by_other.totals) == (history.buckets, history.totals)


def test_reconcile_books_the_usage_in_the_admissions_bucket(make_limiter) -> None:
    limiter = make_limiter(requests=10, tokens=1000, window_seconds=10)
    admitted = limiter.acquire(tokens=100)
    limiter.reconcile(100, 130, admission=admitted, served=0.25)
    second = limiter.acquire(tokens=100)
    limiter.reconcile(100, 60, admission=second)
    history = limiter.history()
    assert history.buckets[-1].tokens == 190
    totals = history.totals
    assert (totals.tokens, totals.tokens_added, totals.tokens_returned) == (200, 30, 40)
    assert (totals.served, totals.served_seconds) == (1, 0.25)


def test_429s_and_cooldowns_are_marked(make_limiter) -> None:
    limiter = make_limiter(requests=10, tokens=1000, window_seconds=10)
    limiter.cooldown(2.0)
    limiter.cooldown(0.5)  # a 429 that does not lengthen the cooldown
    bucket = limiter.history().buckets[-1]
    assert (bucket.throttled, bucket.cooldowns) == (2, 1)
    assert bucket.start + 1.9 < bucket.cooldown_until <= bucket.start + limiter.history().bucket_seconds + 2.0
    assert limiter.history().totals.throttled == 2


def test_old_buckets_leave_and_the_hash_expires(make_limiter, client) -> None:
    base = make_limiter(requests=1000, tokens=10**6, window_seconds=0.04)
    limiter = Limiter(client, account=base.account, model=base.model, limits=base.limits, history_windows=2)
    assert limiter.history().buckets[-1].requests == 0 and len(limiter.history().buckets) == 2 * HISTORY_SLICES
    for _ in range(30):
        limiter.acquire(tokens=1)
        time.sleep(0.01)
    fields = {f.decode() for f in client.hkeys(limiter.keys.history)}
    bucket_indexes = {f.split(":")[1] for f in fields if f.startswith("b:")}
    assert len(bucket_indexes) <= 2 * HISTORY_SLICES  # older buckets were deleted
    assert limiter.history().totals.requests == 30  # the totals stay
    assert 0 < client.pttl(limiter.keys.history) <= 80
    time.sleep(0.1)
    assert not client.exists(limiter.keys.history)


def test_the_history_key_shares_the_hash_tag(make_limiter) -> None:
    limiter = make_limiter(requests=1, tokens=1)
    assert limiter.keys.history.count("{") == 1 and f"{{{limiter.account}:{limiter.model}}}" in limiter.keys.history
