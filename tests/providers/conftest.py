"""The gate against real parts: the simulator over HTTP through the openai SDK, and this test process's Redis.

One simulator for the folder. Each test sets the server's limits and knobs it needs, counts the
server's stats from zero and calls with an API key of its own: the simulator keeps every key's
limits apart, and the limiter's keys are the account's fingerprint (key and URL), so neither
side remembers another test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from project.launch import Simulator, simulator_args, start_simulator
from providers import ProviderConfig
from tests.providers.rig import DIMENSIONS, MODEL, WINDOW, GateRig


@pytest.fixture(scope="package")
def simulator() -> Iterator[Simulator]:
    with start_simulator(*simulator_args(rpm=3000, tpm=1_000_000, window_seconds=WINDOW), "--seed", "5") as sim:
        yield sim


@pytest.fixture
def rig(simulator: Simulator, redis_url: str) -> Iterator[GateRig]:
    key = f"test-{uuid.uuid4().hex}"
    config = ProviderConfig(model=MODEL, dimensions=DIMENSIONS, api_key=key, base_url=simulator.base_url, timeout=10)
    connection = redis.Redis.from_url(redis_url)
    with config.client() as client:
        rig = GateRig(simulator, config, client, connection)
        rig.serve()
        yield rig
    connection.close()
