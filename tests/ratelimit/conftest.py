"""Limiters on the test run's shared Redis, each test on keys of its own."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from ratelimit import Limiter, Limits

_accounts = itertools.count()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


@pytest.fixture
def make_limiter(client: redis.Redis) -> Callable[..., Limiter]:
    """Build limiters on a fresh account: ``make_limiter(requests=..., tokens=..., window_seconds=..., burst=None)``."""
    account = f"test{next(_accounts)}-{uuid.uuid4().hex[:8]}"

    def make(*, model: str = "text-embedding-3-small", burst: float | None = None, **limits: object) -> Limiter:
        return Limiter(client, account=account, model=model, limits=Limits(**limits), burst=burst)  # type: ignore[arg-type]

    return make
