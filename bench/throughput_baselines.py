"""The two ways people embed without a shared limiter, for the throughput bench to compare.

Both call the provider straight through the openai SDK with its own retries off (so every
429 is visible) and store rows the way tollgate's workers do (``bulk_create`` with
``ignore_conflicts`` on the unique (chunk, model)), so lost and duplicate rows compare.

- :func:`sleepy_loop`: one process, one request at a time; on a 429 it sleeps a whole window
  and tries again (the tutorial way).
- ``bench/throughput_naive.py``: Celery workers with ``rate_limit`` and ``autoretry_for``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import openai

from project.embeddings.models import Chunk, Embedding


def client(base_url: str, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)


def embed_and_store(api: openai.OpenAI, chunk_ids: Sequence[int], *, model: str, dimensions: int) -> int:
    """One request for the chunks' texts, one ``bulk_create``; a 429 propagates as ``RateLimitError``."""
    texts = dict(Chunk.objects.filter(pk__in=chunk_ids).values_list("pk", "text"))
    ids = [pk for pk in chunk_ids if pk in texts]
    response = api.embeddings.create(input=[texts[pk] for pk in ids], model=model, dimensions=dimensions)
    vectors = sorted(response.data, key=lambda item: item.index)
    Embedding.objects.bulk_create(
        [Embedding(chunk_id=pk, model=model, dimensions=dimensions, vector=v.embedding) for pk, v in zip(ids, vectors)],
        ignore_conflicts=True,
    )
    return response.usage.total_tokens


@dataclass
class LoopResult:
    requests: int = 0
    http_429: int = 0
    tokens: int = 0
    seconds_asleep: float = 0.0


def sleepy_loop(
    api: openai.OpenAI, groups: Sequence[Sequence[int]], *, model: str, dimensions: int, window_seconds: float
) -> LoopResult:
    """Embed ``groups`` in order from this one process: on ``RateLimitError``, ``time.sleep(window)``."""
    result = LoopResult()
    for group in groups:
        while True:
            result.requests += 1
            try:
                result.tokens += embed_and_store(api, group, model=model, dimensions=dimensions)
                break
            except openai.RateLimitError:
                result.http_429 += 1
                result.seconds_asleep += window_seconds
                time.sleep(window_seconds)
    return result
