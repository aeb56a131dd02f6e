"""Writing ingest's rows with COPY: documents and their chunks, a batch at a time.

The ORM's ``bulk_create`` spends most of an ingest batch preparing values in Python (about
10 µs a value, seven values a row) and quoting them into SQL; COPY streams the rows through
psycopg's C adapters. The documents' ids are drawn from their sequence first, so the chunks
can point at them in the same pass, and the ``Document`` objects get their primary keys as if
saved.

Must run inside the caller's transaction: a batch is written whole or not at all.

Example::

    with transaction.atomic():
        documents_copy(documents)  # each gets its pk
        chunks_copy([(documents[0].pk, 0, "Hello.", 0, 2, "185f8d…")])
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from django.db import connection
from django.utils import timezone

from project.embeddings.models import Chunk, Document

__all__ = ["ChunkRow", "chunks_copy", "documents_copy"]

# (document_id, seq, text, start, token_count, content_hash)
ChunkRow = tuple[int, int, str, int, int, str]
_DOCUMENT_COLUMNS = ("id", "owner_id", "collection", "source", "text", "metadata", "content_hash", "created_at")
_CHUNK_COLUMNS = ("document_id", "seq", "text", "start", "token_count", "content_hash")


def documents_copy(documents: Sequence[Document]) -> None:
    """Insert unsaved documents; each gets its ``pk`` and ``created_at``."""
    if not documents:
        return
    table = Document._meta.db_table
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(documents)]
        )
        for document, (pk,) in zip(documents, cursor.fetchall(), strict=True):
            document.pk, document.created_at = pk, now
        with cursor.cursor.copy(f"COPY {table} ({', '.join(_DOCUMENT_COLUMNS)}) FROM STDIN") as copy:
            for d in documents:
                copy.write_row(
                    (d.pk, d.owner_id, d.collection, d.source, d.text, json.dumps(d.metadata), d.content_hash, now)
                )
    for document in documents:
        document._state.adding = False
        document._state.db = connection.alias


def chunks_copy(rows: Iterable[ChunkRow]) -> None:
    """Insert chunk rows (their ids come from the table's own default)."""
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {Chunk._meta.db_table} ({', '.join(_CHUNK_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
