"""Starting again after Redis lost the window: conservative for a restart, fast for a new key."""

import logging
import time
from pathlib import Path

from project.embedded import EmbeddedRedis
from ratelimit import Limiter, Limits


def forget(client, limiter: Limiter) -> None:
    """What a Redis restarted without persistence does to the limiter's keys."""
    client.delete(*limiter.keys.all)


def test_a_brand_new_key_admits_the_whole_limit_at_once(make_limiter) -> None:
    limiter = make_limiter(requests=10, tokens=1000, window_seconds=10)
    assert limiter.acquire(tokens=1000).admitted


def test_a_lost_window_is_assumed_full_for_one_window(make_limiter, client, caplog) -> None:
    window = 0.5
    limiter = make_limiter(requests=10, tokens=1000, window_seconds=window)
    assert limiter.acquire(tokens=900).admitted
    forget(client, limiter)

    with caplog.at_level(logging.WARNING, logger="ratelimit"):
        refused = limiter.acquire(tokens=10)
    assert not refused.admitted and refused.reason == "restart"
    assert window - 0.05 < refused.retry_after <= window
    assert any("Redis lost the window" in r.getMessage() for r in caplog.records)
    usage = limiter.usage()
    assert (usage.requests_used, usage.tokens_used) == (10, 1000)  # the phantom: the whole limit

    later = limiter.acquire(tokens=10)
    assert not later.admitted and later.reason != "restart"  # one phantom, not one per call
    assert limiter.usage().tokens_used == 1000
    time.sleep(refused.retry_after + 0.02)
    assert limiter.acquire(tokens=1000).admitted


def test_a_client_that_remembers_corrects_one_that_does_not(make_limiter, client) -> None:
    limiter = make_limiter(requests=10, tokens=1000, window_seconds=5)
    assert limiter.acquire(tokens=100).admitted
    forget(client, limiter)
    newcomer = Limiter(client, account=limiter.account, model=limiter.model, limits=limiter.limits)
    assert newcomer.acquire(tokens=100).admitted  # no memory: it cannot know

    refused = limiter.acquire(tokens=100)  # it saw the window before the state's new start

    assert not refused.admitted and refused.reason == "restart"
    assert limiter.usage().tokens_used == 1100
    assert newcomer.acquire(tokens=1).reason != "restart"
    assert limiter.usage().tokens_used == 1100


def test_a_window_that_expired_while_idle_is_not_a_loss(make_limiter) -> None:
    limiter = make_limiter(requests=10, tokens=1000, window_seconds=0.2)
    assert limiter.acquire(tokens=1000).admitted
    time.sleep(0.45)  # the keys expire a window (+100 ms) after the last write

    assert limiter.acquire(tokens=1000).admitted


def test_a_restart_without_persistence_holds_the_limit(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    server.start()
    # A window far longer than a stop and start take on a loaded machine: a restart slower
    # than the window is, rightly, a window that expired (CI once took over 2 s).
    window = 30
    limits = Limits(requests=100, tokens=1000, window_seconds=window)
    try:
        with Limiter.from_url(server.url, account="restart", model="m", limits=limits) as limiter:
            assert limiter.acquire(tokens=800).admitted
            server.stop()
            (server.data_dir / "appendonly.aof").unlink()
            server.start()

            refused = limiter.acquire(tokens=300)

            assert not refused.admitted and refused.reason == "restart"
            assert window - 5 < refused.retry_after <= window
    finally:
        server.stop()
