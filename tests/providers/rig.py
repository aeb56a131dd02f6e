"""A test's account on the simulator and the limiters of it: what the gate's tests share (fixtures in conftest.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import openai
import redis

from project.launch import Simulator
from providers import Passage, ProviderConfig, count_tokens, pass_gate
from ratelimit import Limiter, Limits

MODEL = "text-embedding-3-small"
DIMENSIONS = 1536
WINDOW = 60.0  # seconds, the server's and the limiter's: nothing a test admits leaves either while it runs
CALM = {  # every fault off: a test turns on the one it is about
    "error_500_rate": 0.0,
    "error_503_rate": 0.0,
    "hang_rate": 0.0,
    "hang_seconds": 30.0,
    "drop_rate": 0.0,
    "insufficient_quota": False,
    "latency_ms": 0.0,
    "chat_refusal": False,
    "chat_content_filter": False,
    "chat_context_tokens": 0,
}


@dataclass
class GateRig:
    """One test's account on the simulator, its SDK client and the Redis its limiters share."""

    simulator: Simulator
    config: ProviderConfig
    client: openai.OpenAI
    redis: redis.Redis

    def serve(
        self, *, rpm: int = 3000, tpm: int = 1_000_000, window: float = WINDOW, chat_rpm: int = 500,
        chat_tpm: int = 200_000, **knobs: Any,
    ) -> None:
        """The server's limits per ``window`` seconds (the chat models' too) and its knobs; every key starts
        with a full allowance."""
        self.simulator.configure(rpm=rpm, tpm=tpm, chat_rpm=chat_rpm, chat_tpm=chat_tpm, time_scale=60.0 / window,
                                 **{**CALM, **knobs})  # fmt: skip
        self.simulator.reset_limits()
        self.simulator.reset_stats()

    def limiter(self, *, requests: int, tokens: int, window: float = WINDOW) -> Limiter:
        """A limiter of this account; every one built with the same limits shares the same Redis keys."""
        limits = Limits(requests=requests, tokens=tokens, window_seconds=window)
        return Limiter(self.redis, account=self.config.account(), model=MODEL, limits=limits)

    def pass_gate(
        self, limiter: Limiter, texts: Sequence[str], *, tokens: int | None = None, **options: Any
    ) -> Passage:
        """Through the gate; ``tokens`` is the caller's estimate, tiktoken's count by default."""
        estimate = tokens_of(texts) if tokens is None else tokens
        return pass_gate(
            limiter=limiter, client=self.client, config=self.config, texts=texts, tokens=estimate, **options
        )

    def spend(self, texts: Sequence[str]) -> None:
        """A request with this key that no limiter of ours saw: another deployment sharing the account."""
        self.client.embeddings.create(model=MODEL, input=list(texts), dimensions=DIMENSIONS)

    def stats(self) -> dict[str, Any]:
        """The server's ground truth since :meth:`serve` (one key per test, so all of it is this test's)."""
        return self.simulator.stats()


def tokens_of(texts: Sequence[str]) -> int:
    return sum(count_tokens(list(texts), MODEL))
