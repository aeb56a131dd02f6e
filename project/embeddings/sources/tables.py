"""The user's table as PostgreSQL describes it: does it exist, its id column and type, its text columns.

Also the one place a source's table is read: its rows' texts by id, and its ids in order (the
backfill's keyset scan). Every identifier is quoted by psycopg, never formatted in by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection
from psycopg import sql

from project.embeddings.sources.errors import SourceError

__all__ = ["Table", "quoted", "row_texts", "table_describe", "table_ids_after", "text_of"]

# A row's columns are joined into its text with this between them (NULLs skipped).
TEXT_SEPARATOR = "\n\n"
KINDS = {"r": "table", "p": "partitioned table"}


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    id_column: str
    id_type: str
    text_columns: tuple[str, ...]

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


def quoted(composed: sql.Composable) -> str:
    """A psycopg composition as the SQL text Django's cursor takes."""
    connection.ensure_connection()
    return composed.as_string(connection.connection)


def table_describe(table: str, text_columns: Sequence[str], id_column: str | None = None) -> Table:
    """Find ``table`` (``name`` or ``schema.name``, as the search path resolves it) and check the columns.

    The id defaults to the primary key, which must then be a single column. Raises
    :class:`SourceError` naming what is missing.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.oid, n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = to_regclass(%s)",
            [table],
        )
        found = cursor.fetchone()
        if found is None:
            raise SourceError(f"there is no table {table!r} in tollgate's database")
        oid, schema, name, kind = found
        if kind not in KINDS:
            raise SourceError(f"{schema}.{name} is not a table (a source must be a table or a partitioned table)")
        cursor.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [oid],
        )
        columns = dict(cursor.fetchall())
        cursor.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = %s AND i.indisprimary",
            [oid],
        )
        primary = [row[0] for row in cursor.fetchall()]
    if id_column is None:
        if len(primary) != 1:
            why = "has no primary key" if not primary else f"has a primary key of {len(primary)} columns"
            raise SourceError(f"{schema}.{name} {why}: name a unique column with --id")
        id_column = primary[0]
    missing = [column for column in (id_column, *text_columns) if column not in columns]
    if missing:
        raise SourceError(f"{schema}.{name} has no column {missing[0]!r} (it has: {', '.join(columns)})")
    if not text_columns:
        raise SourceError("name at least one text column (--text COL[,COL...])")
    return Table(schema, name, id_column, columns[id_column], tuple(text_columns))


def text_of(values: Sequence[str | None]) -> str:
    """A row's text: its text columns joined, NULLs skipped."""
    return TEXT_SEPARATOR.join(value for value in values if value is not None)


def row_texts(table: Table, ids: Sequence[str]) -> dict[str, str]:
    """The current text of each row of ``ids`` that exists (id as text → text)."""
    if not ids:
        return {}
    query = sql.SQL("SELECT {id}::text, {columns} FROM {table} WHERE {id} = ANY(%s::{type}[])").format(
        id=sql.Identifier(table.id_column),
        columns=sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in table.text_columns),
        table=table.identifier,
        type=sql.SQL(table.id_type),
    )
    with connection.cursor() as cursor:
        cursor.execute(quoted(query), [list(ids)])
        return {row[0]: text_of(row[1:]) for row in cursor.fetchall()}


def table_ids_after(table: Table, after: str | None, limit: int) -> list[str]:
    """Up to ``limit`` ids past ``after`` in the id's own order (the backfill's keyset scan), as text."""
    where = sql.SQL("")
    if after is not None:
        where = sql.SQL("WHERE {id} > %s::{type}").format(
            id=sql.Identifier(table.id_column), type=sql.SQL(table.id_type)
        )
    # ORDER BY the column, qualified: a bare name would order by the output column, its text
    query = sql.SQL("SELECT t.{id}::text AS row_id FROM {table} t {where} ORDER BY t.{id} LIMIT %s").format(
        id=sql.Identifier(table.id_column), table=table.identifier, where=where
    )
    with connection.cursor() as cursor:
        cursor.execute(quoted(query), ([after] if after is not None else []) + [limit])
        return [row[0] for row in cursor.fetchall()]
