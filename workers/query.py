"""Embedding a search query now, in the caller's process, through the same shared limit.

Interactive work asks the limiter with no reserve, so the share a backfill leaves free
(``TOLLGATE_BULK_RESERVE``) is there for it.
"""

from __future__ import annotations

import time

from project.tokenization import count_tokens

from .config import provider_config, shared_limiter
from .errors import RateLimited
from .providers import client_for, embed

QUERY_TIMEOUT = 30.0  # seconds a query may wait for the limit before giving up


def embed_query(text: str, *, model: str | None = None, timeout: float = QUERY_TIMEOUT) -> list[float]:
    """The query's vector; waits for the shared limit, raises a ProviderError on failure."""
    config = provider_config(model)
    limiter = shared_limiter(config.model)
    tokens = count_tokens([text], config.model)[0]
    deadline = time.monotonic() + timeout
    while True:
        decision = limiter.acquire(tokens)
        if decision.admitted:
            try:
                result = embed(client_for(config), config, [text])
            except RateLimited as exc:
                limiter.cooldown(exc.retry_after)
                if time.monotonic() + exc.retry_after > deadline:
                    raise
                time.sleep(exc.retry_after)
                continue
            limiter.reconcile(tokens, result.total_tokens, admission=decision)
            limiter.observe(result.headers)
            return result.vectors[0]
        if time.monotonic() + decision.retry_after > deadline:
            raise RateLimited("the shared limit is busy", retry_after=decision.retry_after, headers={})
        time.sleep(decision.retry_after)
