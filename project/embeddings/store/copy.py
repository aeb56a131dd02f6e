"""Writing vectors: binary COPY into a temporary table, then one INSERT … ON CONFLICT DO NOTHING.

A row of 1,536 float32 values is 6 KB in PostgreSQL's binary format; as text (what the ORM's
``bulk_create`` sends) it is about 30 KB of decimal digits that Python formats and PostgreSQL
parses again. COPY moves the arrays as they came off the wire (``providers.client.as_float32``),
and the single INSERT from the temporary table keeps "exactly once per (chunk, model)": a
redelivered task's rows conflict and are dropped, and ``rowcount`` says how many were new,
exactly, without locking anything but the unique index entries themselves.

Example::

    with transaction.atomic():
        new = vectors_store(model="text-embedding-3-small", dimensions=1536, vectors={7: array})
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from django.db import connection
from pgvector.psycopg import register_vector

from project.embeddings.models import LIVE_SEGMENT, Embedding, vector_inline, vector_type

__all__ = ["vectors_store"]

INCOMING = "tollgate_incoming_vectors"  # per connection; emptied at each commit
INCOMING_INLINE = "tollgate_incoming_inline"  # the same, for vectors that fit in the row (no TOAST)


def vectors_store(
    *,
    model: str,
    dimensions: int,
    vectors: Mapping[int, np.ndarray],
    input_hashes: Mapping[int, str] | None = None,
    segment: int = LIVE_SEGMENT,
) -> int:
    """Store each chunk's vector unless it already has one for ``model``; returns how many are new.

    ``input_hashes`` gives each chunk's content address (``store.reuse.input_hash``), so later copies
    of the same input reuse the vector; a chunk without one is stored unaddressed. ``segment`` 0
    is the live index; a backfill passes its bulk segment (``index/``).
    Must run inside a transaction (the temporary table is emptied on commit).
    """
    if not vectors:
        return 0
    connection.ensure_connection()
    raw = connection.connection
    incoming = _prepare(raw, dimensions)
    table = Embedding._meta.db_table
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {incoming} (chunk_id, input_hash, vector) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "text", "vector"])
            hashes = input_hashes or {}
            for chunk_id, vector in vectors.items():
                copy.write_row((chunk_id, hashes.get(chunk_id, ""), vector))
        cursor.execute(
            f"INSERT INTO {table} (chunk_id, model, dimensions, input_hash, vector, segment, created_at) "
            f"SELECT chunk_id, %s, %s, input_hash, vector::{vector_type()}, %s, now() FROM {incoming} "
            "ON CONFLICT (chunk_id, model) DO NOTHING",
            [model, dimensions, segment],
        )
        return cursor.rowcount


def _prepare(raw: object, dimensions: int) -> str:
    """pgvector's psycopg types (once per connection), and the temporary table; returns its name.

    The table is made in the caller's transaction, so a rollback takes it away again: it is
    asked for every time (``IF NOT EXISTS`` costs a catalog lookup), never remembered. Vectors
    that fit in a row go to a table that keeps them there (``models.vector_inline``), the
    others to one that keeps them in TOAST: one connection may serve jobs of both sizes.
    """
    if not getattr(raw, "_tollgate_vector_types", False):
        register_vector(raw)
        raw._tollgate_vector_types = True
    inline = vector_inline("vector", dimensions)
    name, storage = (INCOMING_INLINE, " STORAGE PLAIN") if inline else (INCOMING, "")
    with raw.cursor() as cursor:  # one round trip: two statements and no parameters, sent as a simple query
        cursor.execute(
            "SET LOCAL client_min_messages = warning; "  # no NOTICE when the table exists
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} "
            f"(chunk_id bigint NOT NULL, input_hash text NOT NULL, vector vector{storage} NOT NULL) "
            "ON COMMIT DELETE ROWS"
        )
    return name
