"""What a bench cell starts from: a fresh install's state, and a corpus of one shape written once per run.

Shared by ``bench/shapes.py`` and ``bench/pool.py`` (benches run as scripts import each other's
helpers from here, never from one another).
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import say
from bench.shapes_corpus import write_corpus

__all__ = ["corpus_for", "reset_state"]


def corpus_for(size: int, tokens: int, cache: Path) -> Path:
    """A folder of documents of about ``size`` tokens, ``tokens`` in all (written once per run)."""
    folder = cache / f"docs-{size}-{tokens}"
    if not folder.exists():
        started = time.monotonic()
        corpus = write_corpus(folder, tokens=size, total_tokens=tokens)
        say(f"  corpus: {corpus.files} documents of ~{size} tokens, {corpus.tokens:,} tokens "
            f"({corpus.duplicates} exact duplicates) in {time.monotonic() - started:.1f} s")  # fmt: skip
    return folder


def reset_state(redis_url: str) -> None:
    """Empty tables, no bulk indexes, an empty Redis: each cell starts as a fresh install does."""
    import redis
    from django.db import connection

    from project.embeddings.index.builder import RANGE_PREFIX
    from project.embeddings.models import Embedding

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE embeddings_document, embeddings_embeddingjob, embeddings_segment, embeddings_indexrange,"
            " embeddings_unindexedvector, embeddings_jobtally CASCADE"
        )
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname LIKE %s",
            [Embedding._meta.db_table, f"{RANGE_PREFIX}%"],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
    redis.Redis.from_url(redis_url).flushdb()
