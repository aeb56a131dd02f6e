"""What a backfill will take at the configured limits, before a single API call (``--dry-run``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from .catalog import model_info
from .config import group_budget, limits
from .packing import Item, pack


@dataclass(frozen=True)
class Estimate:
    chunks: int
    tokens: int
    requests: int
    minutes_at_limits: float  # real minutes, at TOLLGATE_RPM/TPM per TOLLGATE_WINDOW_SECONDS
    usd: float

    def as_dict(self) -> dict:
        return asdict(self)


def estimate(*, model: str, tokens: int, requests: int, chunks: int) -> Estimate:
    configured = limits()
    windows = max(tokens / configured.tokens, requests / configured.requests)
    return Estimate(
        chunks=chunks,
        tokens=tokens,
        requests=requests,
        minutes_at_limits=round(windows * configured.window_seconds / 60, 2),
        usd=round(tokens / 1e6 * model_info(model).usd_per_million_tokens, 4),
    )


def estimate_chunks(*, model: str, chunk_tokens: Sequence[int]) -> Estimate:
    """The estimate for chunks of these sizes, packed the way the producer packs them."""
    groups = pack((Item(index, 1, tokens) for index, tokens in enumerate(chunk_tokens)), budget=group_budget())
    return estimate(model=model, tokens=sum(chunk_tokens), requests=len(groups), chunks=len(chunk_tokens))
