"""Deleting a source's documents with everything that hangs on them, in a few statements, not row by row.

Django's ``delete()`` collects every chunk, embedding and membership into Python first; a
version of 100,000 rows holds several times that. Here each table is one ``DELETE … USING``
over the documents' ids (the foreign keys are checked at commit, so the order is free).

A document is deleted only when no work can still be stored for it: no job holding it is
queued, running or paused. A worker storing the vectors of a chunk deleted under it would fail
its whole group at commit (the chunk's foreign key) and send the group again, paying for its
other chunks twice; so a row's old text stays, unmapped and unsearched, until its job has ended.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from project.embeddings.jobs.lifecycle import job_cancel
from project.embeddings.models import (
    ENDED_STATUSES,
    Chunk,
    Document,
    Embedding,
    EmbeddingJob,
    FailedChunk,
    SourceRow,
    SourceVersion,
    Status,
    UnindexedVector,
)

__all__ = ["documents_delete", "unmapped_documents", "version_purge"]

UNFINISHED = (Status.QUEUED, Status.RUNNING, Status.PAUSED)
PURGE_DOCUMENTS = 5_000  # documents deleted per round when a version goes


def unmapped_documents(
    collection: str, *, owner_id: int, among: Sequence[int] | None = None, limit: int = 10_000
) -> list[int]:
    """Documents of ``collection`` (those of ``among``, if given) no source row maps to and no unfinished
    job holds: safe to delete."""
    only = "AND d.id = ANY(%s)" if among is not None else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT d.id FROM {Document._meta.db_table} d
            WHERE d.collection = %s AND d.owner_id = %s {only}
              AND NOT EXISTS (SELECT 1 FROM {SourceRow._meta.db_table} r WHERE r.document_id = d.id)
              AND NOT EXISTS (
                  SELECT 1 FROM {EmbeddingJob.documents.through._meta.db_table} jd
                  JOIN {EmbeddingJob._meta.db_table} j ON j.id = jd.embeddingjob_id
                  WHERE jd.document_id = d.id AND j.status = ANY(%s))
            LIMIT %s""",
            [collection, owner_id, *([list(among)] if among is not None else []), list(UNFINISHED), limit],
        )
        return [row[0] for row in cursor.fetchall()]


def documents_delete(ids: Sequence[int]) -> int:
    """Delete these documents, their chunks, vectors, failures, memberships and source rows; returns how many.

    Must run inside a transaction (the foreign keys are deferred to its commit). The chunks are
    locked first: a store committing a vector for one of them meanwhile (a cancelled job's last
    answer) waits, then fails on its foreign key, instead of leaving a row this delete missed.
    """
    if not ids:
        return 0
    chunks = f"SELECT id FROM {Chunk._meta.db_table} WHERE document_id = ANY(%(ids)s)"
    statements = [
        f"SELECT 1 FROM {Chunk._meta.db_table} WHERE document_id = ANY(%(ids)s) FOR UPDATE",
        f"DELETE FROM {UnindexedVector._meta.db_table} WHERE embedding_id IN "
        f"(SELECT id FROM {Embedding._meta.db_table} WHERE chunk_id IN ({chunks}))",
        f"DELETE FROM {Embedding._meta.db_table} WHERE chunk_id IN ({chunks})",
        f"DELETE FROM {FailedChunk._meta.db_table} WHERE chunk_id IN ({chunks})",
        f"DELETE FROM {Chunk._meta.db_table} WHERE document_id = ANY(%(ids)s)",
        f"DELETE FROM {EmbeddingJob.documents.through._meta.db_table} WHERE document_id = ANY(%(ids)s)",
        f"DELETE FROM {SourceRow._meta.db_table} WHERE document_id = ANY(%(ids)s)",
    ]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement, {"ids": list(ids)})
        cursor.execute(f"DELETE FROM {Document._meta.db_table} WHERE id = ANY(%(ids)s)", {"ids": list(ids)})
        return cursor.rowcount


def version_purge(version: SourceVersion) -> int:
    """Cancel the version's unfinished jobs and delete its rows and documents (chunks, vectors); returns documents.

    Its jobs stay, cancelled or ended, as the record of what was paid.
    """
    jobs = EmbeddingJob.objects.filter(source_job__version=version).exclude(status__in=ENDED_STATUSES)
    for job_id in jobs.values_list("pk", flat=True):
        job_cancel(job_id=job_id)
    deleted = 0
    documents = Document.objects.filter(owner_id=version.source.owner_id, collection=version.collection)
    while ids := list(documents.values_list("pk", flat=True)[:PURGE_DOCUMENTS]):
        deleted += documents_delete(ids)
    return deleted
