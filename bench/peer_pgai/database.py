"""pgai's side of the database: its own schema, the corpus as rows, the vectorizer, and what it wrote.

Everything of a run is in ``SCHEMA`` (the source table, pgai's queue tables and embeddings
table) plus one row of pgai's catalog (``ai.vectorizer``), which :func:`drop_run` removes with
``ai.drop_vectorizer`` so no trigger or queue is left behind.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

SCHEMA = "peer_pgai"
VECTORIZER = "peer_pgai_documents"
_SOURCE = sql.SQL("{}.documents").format(sql.Identifier(SCHEMA))
_STORE = sql.SQL("{}.documents_embedding_store").format(sql.Identifier(SCHEMA))


def drop_run(conn: psycopg.Connection) -> None:
    """The vectorizer (its trigger, queues and embeddings) and the schema, left by this run or an earlier one."""
    (catalog,) = conn.execute("select to_regclass('ai.vectorizer') is not null").fetchone()
    if catalog:
        ids = conn.execute("select id from ai.vectorizer where name = %s", [VECTORIZER]).fetchall()
        for (vectorizer_id,) in ids:
            conn.execute("select ai.drop_vectorizer(%s, drop_all => true)", [vectorizer_id])
    conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(SCHEMA)))


def load_documents(conn: psycopg.Connection, texts: Sequence[str]) -> None:
    """``SCHEMA.documents (id, text)``, ids from 1 in the corpus's order, by COPY."""
    conn.execute(sql.SQL("create schema {}").format(sql.Identifier(SCHEMA)))
    conn.execute(sql.SQL("create table {} (id bigint primary key, text text not null)").format(_SOURCE))
    with conn.cursor().copy(sql.SQL("copy {} (id, text) from stdin").format(_SOURCE)) as copy:
        for number, text in enumerate(texts, 1):
            copy.write_row((number, text))


def create_vectorizer(conn: psycopg.Connection, *, base_url: str, model: str, dimensions: int) -> tuple[int, str]:
    """The vectorizer over ``SCHEMA.documents`` (existing rows queued); returns its id and the indexing pgai chose."""
    (vectorizer_id,) = conn.execute(
        """select ai.create_vectorizer(
               %(source)s::regclass, name => %(name)s, queue_schema => %(schema)s,
               loading => ai.loading_column('text'),
               embedding => ai.embedding_openai(%(model)s, %(dimensions)s, base_url => %(base_url)s),
               chunking => ai.chunking_none(),
               formatting => ai.formatting_python_template('$chunk'))""",
        {
            "source": f"{SCHEMA}.documents",
            "name": VECTORIZER,
            "schema": SCHEMA,
            "model": model,
            "dimensions": dimensions,
            "base_url": base_url,
        },
    ).fetchone()
    (indexing,) = conn.execute(
        "select config->'indexing'->>'implementation' from ai.vectorizer where id = %s", [vectorizer_id]
    ).fetchone()
    return vectorizer_id, indexing


def embedded(conn: psycopg.Connection) -> tuple[int, int]:
    """Documents with an embedding, and rows in pgai's embeddings table (one chunk each: the same unless doubled)."""
    return conn.execute(sql.SQL("select count(distinct id), count(*) from {}").format(_STORE)).fetchone()


def vectorizer_errors(conn: psycopg.Connection, vectorizer_id: int) -> list[str]:
    """What pgai recorded in ``ai.vectorizer_errors`` for the run, one line per distinct error."""
    rows = conn.execute(
        "select message, details->>'error_reason', count(*) from ai.vectorizer_errors where id = %s"
        " group by 1, 2 order by 3 desc",
        [vectorizer_id],
    ).fetchall()
    return [f"ai.vectorizer_errors: {message}: {reason} (x{times})" for message, reason, times in rows]
