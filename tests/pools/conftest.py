"""Pools against real parts: simulators over HTTP through the openai SDK (Azure's route too), and this test process's Redis.

Two simulators for the folder's gate tests, each one deployment (or several Azure deployments,
one per path). Each test builds its pool on keys of its own, so neither the simulators' windows
nor the limiters' and breakers' Redis keys remember another test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from project.launch import Simulator, simulator_args, start_simulator
from providers import ProviderConfig
from providers.pool import Deployment, Member, Pool
from ratelimit import Breaker, BreakerPolicy, Limiter, Limits

MODEL, DIMENSIONS = "text-embedding-3-small", 1536
WINDOW = 6.0  # seconds: the simulators' and the limiters'
CALM = {"error_500_rate": 0.0, "error_503_rate": 0.0, "drop_rate": 0.0, "insufficient_quota": False, "latency_ms": 0.0}
FAST_BREAKER = BreakerPolicy(failures=2, open_seconds=0.5, max_open_seconds=2.0, blocked_seconds=60.0, probe_seconds=5.0)


@pytest.fixture(scope="package")
def simulators() -> Iterator[tuple[Simulator, Simulator]]:
    with (
        start_simulator(*simulator_args(rpm=1000, tpm=100_000, window_seconds=WINDOW), "--seed", "1") as a,
        start_simulator(*simulator_args(rpm=1000, tpm=100_000, window_seconds=WINDOW), "--seed", "2") as b,
    ):
        yield a, b


@dataclass
class PoolRig:
    simulators: tuple[Simulator, Simulator]
    redis: redis.Redis
    keys: dict[str, str] = field(default_factory=dict)

    def deployment(
        self, name: str, simulator: Simulator, *, rpm: int = 1000, tpm: int = 100_000, azure: bool = False,
        key: str | None = None, **options: Any,
    ) -> Deployment:  # fmt: skip
        """A deployment on ``simulator`` with a key of this test's own (``key`` to send another)."""
        self.keys.setdefault(name, f"test-{name}-{uuid.uuid4().hex[:12]}")
        common = {"model": MODEL, "dimensions": DIMENSIONS, "api_key": key or self.keys[name], "timeout": 5.0}
        if azure:
            config = ProviderConfig(**common, azure_endpoint=simulator.root_url, azure_api_version="2024-10-21",
                                    azure_deployment=name)  # fmt: skip
        else:
            config = ProviderConfig(**common, base_url=simulator.base_url)
        return Deployment(name, config, Limits(requests=rpm, tokens=tpm, window_seconds=WINDOW), **options)

    def pool(self, *deployments: Deployment, policy: BreakerPolicy = FAST_BREAKER, burst: float | None = None) -> Pool:
        members = []
        for deployment in deployments:
            account = deployment.config.account()
            limiter = Limiter(self.redis, account=account, model=MODEL, limits=deployment.limits, burst=burst)
            members.append(Member(deployment, limiter, Breaker(self.redis, account=account, model=MODEL, policy=policy)))
        return Pool(members)


@pytest.fixture
def pools(simulators, redis_url: str) -> Iterator[PoolRig]:
    for simulator in simulators:
        simulator.configure(rpm=1000, tpm=100_000, time_scale=60.0 / WINDOW, **CALM)
        simulator.reset_limits()
        simulator.reset_stats()
    connection = redis.Redis.from_url(redis_url)
    yield PoolRig(simulators, connection)
    connection.close()


from tests.pipeline.conftest import without_vector_index  # noqa: E402, F401  (a fixture the fleet's tests use)
from tests.pools.fleet import Fleet  # noqa: E402


@pytest.fixture
def fleet(settings, monkeypatch, without_vector_index, tmp_path) -> Iterator[Fleet]:  # noqa: F811
    fleet = Fleet(settings, monkeypatch, tmp_path)
    try:
        yield fleet
    finally:
        fleet.close()
