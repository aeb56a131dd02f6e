"""A source's SQL face: a view to JOIN the user's table with its vectors, and a function for its nearest rows.

``tollgate_source_<name>`` has one row per chunk of the current version: ``id`` (the table's own
id, in its own type), ``chunk_seq``, ``chunk``, ``embedding`` and ``changed_at``. A user joins it
with the table::

    SELECT a.title, v.chunk FROM articles a JOIN tollgate_source_articles v USING (id) WHERE a.id = 7;

Nearest rows by distance are ``tollgate_source_<name>_nearest(query vector, k)``: ``id``,
``distance``, ``chunk_seq``, ``chunk``, nearest first, read through the HNSW indexes::

    SELECT a.*, n.distance FROM tollgate_source_articles_nearest('[...]', 10) n JOIN articles a USING (id)
    ORDER BY n.distance;

A view alone cannot be read through the indexes: a backfill's rows are indexed in bulk, by
segment ranges (``index/``), each index partial on its range, and PostgreSQL (18) does not merge
several partial indexes' ordered scans under an ``ORDER BY … LIMIT`` over a ``UNION ALL`` (it
sorts every row). So the function has one part per index that may hold the version's model
(``index/cover.py``), each ordered by its index, and one exact part for the rows of segments no
index covered when it was written: correct whenever it runs, and refreshed
(:func:`views_refresh`) when the version or the indexes change.
"""

from __future__ import annotations

from django.db import ProgrammingError, connection, transaction
from psycopg import sql

from project.embeddings.index.cover import search_cover
from project.embeddings.models import LIVE_SEGMENT, Chunk, Embedding, Source, SourceRow, SourceState, SourceVersion
from project.embeddings.sources.capture import tollgate_schema
from project.embeddings.sources.tables import quoted

__all__ = ["function_name", "view_name", "views_drop", "views_refresh"]

# Each refresh writes this signature into the function's comment, so an unchanged one is not rewritten.
_SIGNATURE = "tollgate cover: "


def view_name(source: Source) -> str:
    return f"tollgate_source_{source.name}"


def function_name(source: Source) -> str:
    return f"tollgate_source_{source.name}_nearest"


def views_drop(source: Source) -> None:
    schema = tollgate_schema()
    with connection.cursor() as cursor:
        cursor.execute(quoted(sql.SQL("DROP VIEW IF EXISTS {}").format(sql.Identifier(schema, view_name(source)))))
        cursor.execute(
            quoted(
                sql.SQL("DROP FUNCTION IF EXISTS {}(vector, integer)").format(
                    sql.Identifier(schema, function_name(source))
                )
            )
        )


def views_refresh(source: Source, *, force: bool = False) -> bool:
    """Write the source's view and nearest function for its current version and today's indexes.

    Returns whether they were written (an unchanged version and cover leaves them be, unless ``force``).
    """
    version = SourceVersion.objects.filter(source=source, state=SourceState.CURRENT).first()
    if version is None:
        return False
    cover = search_cover(version.model)
    signature = f"{_SIGNATURE}v{version.pk} {version.model} live={cover.live} ranges={list(cover.ranges)}"
    schema = tollgate_schema()
    function = sql.Identifier(schema, function_name(source))
    if not force and _comment(schema, function_name(source)) == signature:
        return False
    view = sql.Identifier(schema, view_name(source))
    create_view = sql.SQL("CREATE OR REPLACE VIEW {} AS {}").format(view, _view_query(source, version))
    create_function = _function(source, version, function, cover)
    # Replaced in place, in one transaction: a user's query never finds them missing, it waits for
    # the new definition. Columns of another type (`sources add --replace` with another id) are
    # dropped and made again, in the same transaction.
    with transaction.atomic(), connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute(quoted(create_view))
                cursor.execute(quoted(create_function))
        except ProgrammingError:
            cursor.execute(quoted(sql.SQL("DROP VIEW IF EXISTS {}").format(view)))
            cursor.execute(quoted(create_view))
            cursor.execute(quoted(sql.SQL("DROP FUNCTION IF EXISTS {}(vector, integer)").format(function)))
            cursor.execute(quoted(create_function))
        cursor.execute(
            quoted(sql.SQL("COMMENT ON FUNCTION {}(vector, integer) IS {}").format(function, sql.Literal(signature)))
        )
    return True


def _comment(schema: str, name: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT obj_description(p.oid, 'pg_proc') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = %s AND p.proname = %s",
            [schema, name],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _joined(source: Source, version: SourceVersion) -> sql.Composed:
    """The version's vectors with their chunks and rows: the FROM and WHERE every part shares."""
    return sql.SQL(
        "FROM {embedding} e JOIN {chunk} c ON c.id = e.chunk_id "
        "JOIN {rows} r ON r.document_id = c.document_id AND r.version_id = {version} "
        "WHERE e.model = {model} AND e.dimensions = {dimensions}"
    ).format(
        embedding=sql.Identifier(Embedding._meta.db_table),
        chunk=sql.Identifier(Chunk._meta.db_table),
        rows=sql.Identifier(SourceRow._meta.db_table),
        version=sql.Literal(version.pk),
        model=sql.Literal(version.model),
        dimensions=sql.Literal(version.dimensions),
    )


def _view_query(source: Source, version: SourceVersion) -> sql.Composed:
    return sql.SQL(
        "SELECT r.row_id::{type} AS id, c.seq AS chunk_seq, c.text AS chunk, e.vector AS embedding, r.changed_at {joined}"
    ).format(type=sql.SQL(source.id_type), joined=_joined(source, version))


def _function(source: Source, version: SourceVersion, function: sql.Identifier, cover) -> sql.Composed:
    """One part per index that may hold the model (each ordered by it), one exact part for the rest."""
    covered = ([f"e.segment = {LIVE_SEGMENT}"] if cover.live else []) + [
        f"e.segment >= {int(lo)} AND e.segment <= {int(hi)}" for lo, hi in cover.ranges
    ]
    rest = " AND ".join(f"NOT ({condition})" for condition in covered) or "TRUE"
    select = sql.SQL(
        "SELECT r.row_id::{type} AS id, (e.vector <=> query)::double precision AS distance, c.seq AS chunk_seq, "
        "c.text AS chunk {joined}"
    ).format(type=sql.SQL(source.id_type), joined=_joined(source, version))
    parts = [
        sql.SQL("({} AND {} ORDER BY e.vector <=> query LIMIT k)").format(select, sql.SQL(condition))
        for condition in (*covered, rest)
    ]
    return sql.SQL(
        "CREATE OR REPLACE FUNCTION {function}(query vector, k integer DEFAULT 10) "
        "RETURNS TABLE (id {type}, distance double precision, chunk_seq integer, chunk text) "
        "LANGUAGE sql STABLE SET hnsw.iterative_scan = 'relaxed_order' AS $nearest$ "
        "SELECT p.id, p.distance, p.chunk_seq, p.chunk FROM ({parts}) AS p ORDER BY p.distance LIMIT k $nearest$"
    ).format(function=function, type=sql.SQL(source.id_type), parts=sql.SQL(" UNION ALL ").join(parts))
