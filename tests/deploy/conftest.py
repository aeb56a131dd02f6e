"""Deployment rehearsals: services and workers as separate processes (and hosts), started by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.tokenization import prime_tiktoken_cache
from tests.deploy.hosts import Processes


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    prime_tiktoken_cache()  # workers and the simulator cannot download tiktoken's file here
    processes = Processes(tmp_path / "logs")
    try:
        yield processes
    finally:
        processes.stop()

