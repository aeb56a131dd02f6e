"""Content-addressed reuse: a vector is keyed by (hash of the exact input sent, model, dimensions).

A chunk within the model's input limit is sent as it is, so its address is its own
``content_hash``; a longer one is sent through the job's long-input policy, so its address is
the hash of the policy and the text (``input_hash``; the same formula in SQL, ``INPUT_HASH_SQL``).
Before a chunk is sent, :func:`reuse_stored` copies the vector of any stored chunk with the same
address (one ``INSERT … SELECT``, no call): across documents, collections and jobs.

Reuse stays within one owner. Documents are already deduplicated per owner
(``Document``'s constraint), so an upload never learns that another owner holds the same text;
a reuse across owners would leak exactly that, through a job's ``reused_chunks`` and through
timing (a reused chunk is done at once). The price is paying once per owner, not once overall.

Example::

    with transaction.atomic():
        reused = reuse_stored(job)  # Reused(chunks=12, tokens=3400)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection

from project.embeddings.jobs import tally
from project.embeddings.models import Chunk, Document, Embedding, EmbeddingJob, FailedChunk
from providers import model_info

__all__ = ["INPUT_HASH_SQL", "Reused", "input_hash", "reuse_pending", "reuse_stored"]


@dataclass(frozen=True)
class Reused:
    chunks: int = 0
    tokens: int = 0


def input_hash(content_hash: str, token_count: int, *, policy: str, max_tokens: int) -> str:
    """The address of what a chunk sends: its own hash, or (longer than the model accepts) policy + text."""
    if token_count <= max_tokens:
        return content_hash
    return hashlib.sha256(f"{policy}:{content_hash}".encode()).hexdigest()


# input_hash in SQL, over a chunk aliased ``c``; parameters: max_tokens, policy
INPUT_HASH_SQL = (
    "CASE WHEN c.token_count <= %(max_tokens)s THEN c.content_hash "
    "ELSE encode(sha256(convert_to(%(policy)s || ':' || c.content_hash, 'UTF8')), 'hex') END"
)


def reuse_stored(job: EmbeddingJob, *, chunk_ids: Sequence[int] | None = None) -> Reused:
    """Give the job's pending chunks (those of ``chunk_ids``, when given) the stored vector of their input.

    Only vectors of the job's owner are read, for the job's model and dimensions. Counts the
    copies on the job (``reused_chunks``, ``reused_tokens``, and as embedded: a tally); the INSERT's
    ``ON CONFLICT DO NOTHING`` and ``RETURNING`` make the count exact when two processes race.
    """
    if chunk_ids is not None and not chunk_ids:
        return Reused()
    select = (
        "SELECT count(*), coalesce(sum(p.token_count), 0), coalesce(max(i.segment), 0) "
        "FROM inserted i JOIN pending p ON p.id = i.chunk_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(*_reuse_sql(job, chunk_ids, select=select))
        chunks, tokens, segment = cursor.fetchone()
    return _count(job, chunks, int(tokens), segment)


def reuse_pending(job: EmbeddingJob, chunk_ids: Sequence[int]) -> tuple[Reused, list[tuple[int, str, int, str]]]:
    """:func:`reuse_stored` for a group's chunks, and in the same statement what is left to send.

    Returns what was reused, and the chunks still without a vector or a failure, in their
    documents' order: ``(id, text, token_count, content_hash)`` each. One round trip where a
    worker used to make two before every call.
    """
    if not chunk_ids:
        return Reused(), []
    select = (
        "SELECT p.id, p.text, p.token_count, p.content_hash, i.chunk_id IS NOT NULL, i.segment "
        "FROM pending p LEFT JOIN inserted i ON i.chunk_id = p.id ORDER BY p.document_id, p.seq"
    )
    with connection.cursor() as cursor:
        cursor.execute(*_reuse_sql(job, chunk_ids, select=select, columns="c.document_id, c.seq, c.text, "))
        rows = cursor.fetchall()
    reused = [row for row in rows if row[4]]
    segment = max((row[5] for row in reused), default=0)
    counted = _count(job, len(reused), sum(row[2] for row in reused), segment)
    return counted, [(pk, text, tokens, digest) for pk, text, tokens, digest, was_reused, _ in rows if not was_reused]


def _count(job: EmbeddingJob, chunks: int, tokens: int, segment: int) -> Reused:
    if chunks:
        tally.add(job.pk, segment=segment, rows=chunks, reused_chunks=chunks, reused_tokens=tokens, embedded_chunks=chunks)
    return Reused(chunks, tokens)


def _reuse_sql(
    job: EmbeddingJob, chunk_ids: Sequence[int] | None, *, select: str, columns: str = ""
) -> tuple[str, dict]:
    """The reuse statement: the pending chunks (``columns`` more of each), the copies inserted, then ``select``."""
    names = {
        "chunk": Chunk._meta.db_table,
        "document": Document._meta.db_table,
        "embedding": Embedding._meta.db_table,
        "failed": FailedChunk._meta.db_table,
        "job_documents": EmbeddingJob.documents.through._meta.db_table,
        "job": EmbeddingJob._meta.db_table,
    }
    if chunk_ids is None:  # a whole job: the planner's choice (an anti-join over many rows)
        still = f"""
              AND NOT EXISTS (SELECT 1 FROM {names["embedding"]} e WHERE e.chunk_id = c.id AND e.model = %(model)s)
              AND NOT EXISTS (SELECT 1 FROM {names["failed"]} f WHERE f.chunk_id = c.id AND f.job_id = %(job)s)"""
    else:  # a group's few chunks: one index probe each, never a scan however stale the statistics
        still = f"""
              AND c.id = ANY(%(chunk_ids)s)
              AND (SELECT count(*) FROM (SELECT 1 FROM {names["embedding"]} e
                   WHERE e.chunk_id = c.id AND e.model = %(model)s LIMIT 1) AS done) = 0
              AND (SELECT count(*) FROM (SELECT 1 FROM {names["failed"]} f
                   WHERE f.chunk_id = c.id AND f.job_id = %(job)s LIMIT 1) AS gave_up) = 0"""
    sql = f"""
        WITH pending AS (
            SELECT c.id, {columns}c.token_count, c.content_hash, {INPUT_HASH_SQL} AS input_hash
            FROM {names["chunk"]} c
            JOIN {names["job_documents"]} jd ON jd.document_id = c.document_id AND jd.embeddingjob_id = %(job)s
            WHERE TRUE {still}
        ), inserted AS (
            INSERT INTO {names["embedding"]} (chunk_id, model, dimensions, input_hash, vector, segment, created_at)
            SELECT p.id, %(model)s, %(dimensions)s, p.input_hash, source.vector,
                   (SELECT load_segment FROM {names["job"]} WHERE id = %(job)s), now()
            FROM pending p
            CROSS JOIN LATERAL (  -- one index lookup per pending chunk, however stale the table's statistics
                SELECT e.vector FROM {names["embedding"]} e
                JOIN {names["chunk"]} sc ON sc.id = e.chunk_id
                JOIN {names["document"]} sd ON sd.id = sc.document_id AND sd.owner_id = %(owner)s
                WHERE e.input_hash = p.input_hash AND e.model = %(model)s AND e.dimensions = %(dimensions)s
                ORDER BY e.id LIMIT 1
            ) AS source
            ON CONFLICT (chunk_id, model) DO NOTHING
            RETURNING chunk_id, segment
        )
        {select}
    """
    params = {
        "job": job.pk,
        "model": job.model,
        "dimensions": job.dimensions,
        "owner": job.owner_id,
        "policy": job.long_input_policy,
        "max_tokens": model_info(job.model).max_input_tokens,
        "chunk_ids": list(chunk_ids or []),
    }
    return sql, params
