"""In-process tests of the pieces with arithmetic in them: limits, durations, vectors, stats."""

from __future__ import annotations

import math
import threading

import pytest

from simulator.config import TIERS, SimulatorConfig
from simulator.errors import ConfigError
from simulator.headers import go_duration, retry_headers
from simulator.limits import BucketLimiter, Limits, SlidingWindowLimiter
from simulator.stats import Stats
from simulator.vectors import embed


def test_sliding_window_admits_exactly_the_limit_and_says_when_a_slot_frees():
    limiter = SlidingWindowLimiter(Limits(rpm=3, tpm=None, window_seconds=10))
    for t in (0.0, 1.0, 2.0):
        assert limiter.acquire("k", now=t).allowed
    refused = limiter.acquire("k", now=5.0)
    assert not refused.allowed
    assert refused.refusal is not None
    assert (refused.refusal.kind, refused.refusal.limit, refused.refusal.used) == ("requests", 3, 3)
    assert refused.refusal.retry_after == pytest.approx(5.0)  # the request at t=0 expires at t=10
    assert not limiter.acquire("k", now=9.999).allowed
    assert limiter.acquire("k", now=10.0).allowed
    assert limiter.acquire("other", now=10.0).allowed  # limits are per key


def test_sliding_window_tokens_wait_until_enough_tokens_expire():
    limiter = SlidingWindowLimiter(Limits(rpm=None, tpm=100, window_seconds=60))
    assert limiter.acquire("k", tokens=40, now=0.0).allowed
    assert limiter.acquire("k", tokens=40, now=10.0).allowed
    decision = limiter.acquire("k", tokens=70, now=20.0)
    assert decision.refusal is not None and decision.refusal.kind == "tokens"
    assert decision.refusal.retry_after == pytest.approx(50.0)  # needs both earlier requests gone
    assert decision.usage.remaining_tokens == 20
    assert limiter.acquire("k", tokens=20, now=20.0).allowed  # a refusal burnt nothing


def test_a_token_refusal_does_not_take_a_request_slot():
    limiter = SlidingWindowLimiter(Limits(rpm=2, tpm=10, window_seconds=60))
    assert not limiter.acquire("k", tokens=11, now=0.0).allowed
    assert limiter.acquire("k", tokens=5, now=0.0).allowed
    assert limiter.acquire("k", tokens=5, now=0.0).allowed


def test_daily_limit_is_separate_from_the_minute():
    limiter = SlidingWindowLimiter(Limits(rpm=10, tpm=None, rpd=2, window_seconds=1, day_seconds=100))
    assert limiter.acquire("k", now=0.0).allowed
    assert limiter.acquire("k", now=5.0).allowed
    decision = limiter.acquire("k", now=10.0)
    assert decision.refusal is not None and decision.refusal.period == "day"
    assert decision.refusal.retry_after == pytest.approx(90.0)


def test_bucket_refills_continuously():
    limiter = BucketLimiter(Limits(rpm=10, tpm=1000, window_seconds=10))  # one request per second
    for _ in range(10):
        assert limiter.acquire("k", tokens=1, now=0.0).allowed
    decision = limiter.acquire("k", tokens=1, now=0.0)
    assert decision.refusal is not None and decision.refusal.retry_after == pytest.approx(1.0)
    assert limiter.acquire("k", tokens=1, now=1.0).allowed
    assert limiter.usage("k", now=1.0).reset_requests == pytest.approx(10.0)


@pytest.mark.parametrize("limiter_class", [SlidingWindowLimiter, BucketLimiter])
def test_concurrent_acquires_admit_exactly_the_limit(limiter_class):
    limiter = limiter_class(Limits(rpm=37, tpm=None, window_seconds=3600))
    admitted = []
    barrier = threading.Barrier(100)

    def worker():
        barrier.wait()
        admitted.append(limiter.acquire("k").allowed)

    threads = [threading.Thread(target=worker) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(admitted) == 37


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.02, "20ms"), (0.0201, "21ms"), (1, "1s"), (1.5, "1.5s"), (14.981, "14.981s"),
     (360, "6m0s"), (90.5, "1m30.5s"), (3600, "1h0m0s")],
)
def test_go_durations(seconds, text):
    assert go_duration(seconds) == text


def test_retry_headers_round_up():
    assert retry_headers(0.0201) == {"retry-after": "1", "retry-after-ms": "21"}
    assert retry_headers(2.5) == {"retry-after": "3", "retry-after-ms": "2500"}
    assert retry_headers(math.inf) == {}


def test_exact_vectors_are_deterministic_unit_and_nearly_orthogonal():
    a = embed(b"the cat sat", model="text-embedding-3-small", dimensions=1536, kind="exact")
    b = embed(b"the cat sat", model="text-embedding-3-small", dimensions=1536, kind="exact")
    c = embed(b"the cat sat.", model="text-embedding-3-small", dimensions=1536, kind="exact")
    other_model = embed(b"the cat sat", model="text-embedding-3-large", dimensions=1536, kind="exact")
    assert list(a) == list(b)
    assert math.fsum(x * x for x in a) == pytest.approx(1.0, abs=1e-5)
    assert abs(math.fsum(x * y for x, y in zip(a, c))) < 0.15
    assert abs(math.fsum(x * y for x, y in zip(a, other_model))) < 0.15


@pytest.mark.parametrize("kind", ["semantic", "exact"])
def test_shortened_vectors_are_the_renormalized_prefix(kind):
    text = b"a text with several words in it, and word pairs too"
    full = embed(text, model="text-embedding-3-small", dimensions=1536, kind=kind)
    for k in (1, 7, 256, 1000):
        short = embed(text, model="text-embedding-3-small", dimensions=k, kind=kind)
        norm = math.sqrt(math.fsum(x * x for x in full[:k]))
        assert [round(x / norm, 5) for x in full[:k]] == [round(x, 5) for x in short]


def test_stats_keep_the_exact_sliding_maximum():
    stats = Stats(window_seconds=10, day_seconds=100, track_day=True)
    # A start time that offsets add to exactly: with the monotonic clock's own value,
    # (start + 30) - start can round to 29.99999… and land in second 29.
    stats.started = base = 1_000.0
    for offset, tokens in [(0, 5), (1, 5), (9, 5), (10, 1), (10.5, 1), (30, 100)]:
        stats.record_admission("g", tokens, base + offset)
    snapshot = stats.snapshot()
    assert snapshot["max_requests_in_window"] == 4  # (0.5, 10.5] holds 1, 9, 10, 10.5
    assert snapshot["max_tokens_in_window"] == 100
    assert snapshot["max_requests_in_day"] == 6
    assert snapshot["tokens_admitted"] == 117
    assert [s["tokens"] for s in snapshot["timeline"]][:2] == [5, 5]
    assert len(snapshot["timeline"]) == 31


def test_tier_presets_and_overrides():
    assert SimulatorConfig.for_tier("free").rpd == 2_000
    tier3 = SimulatorConfig.for_tier("3")
    assert (tier3.rpm, tier3.tpm, tier3.rpd) == (5_000, 5_000_000, None)
    assert SimulatorConfig.for_tier("5", tpm=123).tpm == 123
    assert set(TIERS) == {"free", "1", "2", "3", "4", "5"}
    scaled = SimulatorConfig.for_tier("1", time_scale=10)
    assert (scaled.window_seconds, scaled.day_seconds) == (6.0, 8640.0)
    with pytest.raises(ConfigError):
        SimulatorConfig.for_tier("6")
    with pytest.raises(ConfigError):
        SimulatorConfig.for_tier("1", algorithm="leaky")
