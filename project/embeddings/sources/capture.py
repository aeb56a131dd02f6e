"""Capture: statement triggers on the user's table write each changed row's id into the change queue.

Four triggers (``AFTER INSERT | UPDATE | DELETE | TRUNCATE … FOR EACH STATEMENT``) call one
function per source. The INSERT, UPDATE and DELETE triggers read the statement's transition
tables, so one ``INSERT … SELECT`` records every row the statement changed, in the writer's
own transaction: a rolled-back write records nothing, and whatever writes the table (the ORM,
``bulk_update``, ``queryset.update()``, raw SQL, a migration, ``COPY``) is captured. An UPDATE
records only the rows whose text columns changed (compared as text) or whose id changed; a
TRUNCATE records one marker (``row_id`` NULL) and the sync checks every row again. Statement
triggers cost the writer one statement per statement, where row triggers cost one per row
(measured: docs/OPERATIONS.md, "Sources", bench/sources_capture.py).

The triggers are ``ENABLE ALWAYS``: they fire under ``session_replication_role = replica`` too
(logical replication's apply, ``pg_restore`` without ``--disable-triggers``). The function is
``SECURITY DEFINER`` (it runs as tollgate's role), so the table's writers need no grant on the
queue. A schema change that breaks the function (a text column renamed or dropped) never fails
the user's write: the function records a ``!`` marker with the error instead, which makes the
sync check every row again and shows the error on the source (``Source.capture_error``).

Example::

    capture_install(source)  # in the transaction that creates the source
    capture_drop(source)     # the user's table is left as it was
"""

from __future__ import annotations

from django.db import connection
from psycopg import sql

from project.embeddings.models import Source, SourceChange
from project.embeddings.sources.tables import Table, quoted

__all__ = ["BROKEN", "TRUNCATE", "capture_drop", "capture_install", "source_table", "tollgate_schema"]

# The queue's op codes: what changed, and the two markers that make the sync check every row.
INSERT, UPDATE, DELETE, TRUNCATE, BROKEN = "I", "U", "D", "T", "!"
EVENTS = ("insert", "update", "delete", "truncate")


def source_table(source: Source) -> Table:
    return Table(source.schema, source.table, source.id_column, source.id_type, tuple(source.text_columns))


def function_name(source: Source) -> sql.Identifier:
    """In tollgate's own schema, beside the queue: the user's schema is left as it was."""
    return sql.Identifier(tollgate_schema(), f"tollgate_source_{source.pk}_capture")


def trigger_name(source: Source, event: str) -> sql.Identifier:
    return sql.Identifier(f"tollgate_source_{source.pk}_{event}")


def tollgate_schema() -> str:
    """The schema tollgate's tables live in (the connection's current schema)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return cursor.fetchone()[0]


def _queue() -> sql.Identifier:
    return sql.Identifier(tollgate_schema(), SourceChange._meta.db_table)


def _function(source: Source, table: Table) -> sql.Composed:
    """The capture function: one ``INSERT … SELECT`` per statement, from the transition tables."""
    ident = sql.Identifier(table.id_column)
    changed = sql.SQL(" OR ").join(
        sql.SQL("o.{c}::text IS DISTINCT FROM n.{c}::text").format(c=sql.Identifier(column))
        for column in table.text_columns
    )
    values = sql.SQL("INSERT INTO {queue} (source_id, row_id, op, created_at) ").format(queue=_queue())
    source_id = sql.Literal(source.pk)
    return sql.SQL(
        """CREATE OR REPLACE FUNCTION {function}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $capture$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {values} SELECT {source}, n.{id}::text, 'I', clock_timestamp() FROM new_rows n;
    ELSIF TG_OP = 'UPDATE' THEN
        {values} SELECT {source}, coalesce(n.{id}, o.{id})::text, 'U', clock_timestamp()
        FROM new_rows n FULL JOIN old_rows o ON o.{id} = n.{id}
        WHERE n.{id} IS NULL OR o.{id} IS NULL OR {changed};
    ELSIF TG_OP = 'DELETE' THEN
        {values} SELECT {source}, o.{id}::text, 'D', clock_timestamp() FROM old_rows o;
    ELSE
        {values} VALUES ({source}, NULL, 'T', clock_timestamp());
    END IF;
    RETURN NULL;
EXCEPTION WHEN undefined_column OR undefined_function OR datatype_mismatch OR undefined_table THEN
    {values} VALUES ({source}, SQLERRM, '!', clock_timestamp());
    RETURN NULL;
END
$capture$"""
    ).format(function=function_name(source), values=values, source=source_id, id=ident, changed=changed)


def _triggers(source: Source, table: Table) -> list[sql.Composed]:
    referencing = {
        "insert": "REFERENCING NEW TABLE AS new_rows",
        "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "delete": "REFERENCING OLD TABLE AS old_rows",
        "truncate": "",
    }
    create = sql.SQL(
        "CREATE TRIGGER {name} AFTER {event} ON {table} {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
    )
    statements = []
    for event in EVENTS:
        name = trigger_name(source, event)
        statements.append(
            create.format(
                name=name,
                event=sql.SQL(event.upper()),
                table=table.identifier,
                referencing=sql.SQL(referencing[event]),
                function=function_name(source),
            )
        )
        statements.append(sql.SQL("ALTER TABLE {} ENABLE ALWAYS TRIGGER {}").format(table.identifier, name))
    return statements


def capture_install(source: Source) -> None:
    """Create the source's capture function and triggers (again, replacing them, after a change of columns)."""
    table = source_table(source)
    with connection.cursor() as cursor:
        cursor.execute(quoted(_function(source, table)))
        for event in EVENTS:
            cursor.execute(
                quoted(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(trigger_name(source, event), table.identifier))
            )
        for statement in _triggers(source, table):
            cursor.execute(quoted(statement))


def capture_drop(source: Source) -> None:
    """Drop the source's triggers and function; the table itself is left as it was (gone already is fine)."""
    table = source_table(source)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [quoted(table.identifier)])
        if cursor.fetchone()[0]:
            for event in EVENTS:
                cursor.execute(
                    quoted(
                        sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(trigger_name(source, event), table.identifier)
                    )
                )
        cursor.execute(quoted(sql.SQL("DROP FUNCTION IF EXISTS {}()").format(function_name(source))))
