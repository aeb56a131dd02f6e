import time
from pathlib import Path

import pytest

from project.embedded import EmbeddedRedis
from ratelimit import Limiter, LimiterUnavailable, Limits, RateLimitError

LIMITS = Limits(requests=100, tokens=10_000, window_seconds=10)


def test_redis_down_is_a_fast_clear_error_and_recovers(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    server.start()
    try:
        with Limiter.from_url(server.url, account="outage", model="m", limits=LIMITS) as limiter:
            assert limiter.acquire(tokens=10).admitted
            server.stop()
            started = time.monotonic()
            with pytest.raises(LimiterUnavailable, match=f"127.0.0.1:{server.port}") as caught:
                limiter.acquire(tokens=10)
            assert time.monotonic() - started < 1.0
            assert isinstance(caught.value, RateLimitError) and caught.value.address == f"127.0.0.1:{server.port}"
            server.start()
            assert limiter.acquire(tokens=10).admitted
            assert limiter.usage().requests_used == 2  # the append-only file kept the window
    finally:
        server.stop()


def test_the_error_never_shows_credentials(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)  # never started: nothing listens on its port
    url = f"redis://tollgate:s3cret-pass@127.0.0.1:{server.port}/0"
    with Limiter.from_url(url, account="outage", model="m", limits=LIMITS) as limiter:
        started = time.monotonic()
        with pytest.raises(LimiterUnavailable) as caught:
            limiter.usage()
        assert time.monotonic() - started < 1.0
    assert "s3cret" not in str(caught.value) and f"127.0.0.1:{server.port}" in str(caught.value)
