"""A dry run's estimate: what a job would really send (each distinct input once, none already stored)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from project.embeddings.models import Embedding
from project.embeddings.store.reuse import input_hash
from project.provider import group_tokens, limits
from providers import model_info
from providers.planning import Estimate, estimate_chunks

__all__ = ["estimate_sent", "stored_addresses"]


def estimate_sent(
    *, chunk_tokens: Sequence[int], chunk_hashes: Sequence[str], owner_id: int, model: str, dimensions: int,
    policy: str,
) -> Estimate:
    """A dry run's estimate of what would really be sent: each distinct input once, none already stored."""
    max_tokens = model_info(model).max_input_tokens
    addresses = [
        input_hash(digest, tokens, policy=policy, max_tokens=max_tokens)
        for digest, tokens in zip(chunk_hashes, chunk_tokens, strict=True)
    ]
    stored = stored_addresses(addresses=addresses, owner_id=owner_id, model=model, dimensions=dimensions)
    seen, sent = set(stored), []
    for address, tokens in zip(addresses, chunk_tokens, strict=True):
        if address not in seen:
            seen.add(address)
            sent.append(tokens)
    configured = estimate_chunks(limits=limits(), model=model, chunk_tokens=sent, configured=group_tokens())
    reused = sum(chunk_tokens) - sum(sent)
    return replace(
        configured,
        chunks=len(chunk_tokens),
        reused_chunks=len(chunk_tokens) - len(sent),
        reused_tokens=reused,
        saved_usd=round(reused / 1e6 * model_info(model).usd_per_million_tokens, 6),
    )


def stored_addresses(*, addresses: Sequence[str], owner_id: int, model: str, dimensions: int) -> set[str]:
    """Which of ``addresses`` already have a vector of ``owner_id`` (what a dry run would not send)."""
    stored = Embedding.objects.filter(
        input_hash__in=set(addresses), model=model, dimensions=dimensions, chunk__document__owner_id=owner_id
    )
    return set(stored.values_list("input_hash", flat=True).distinct())
