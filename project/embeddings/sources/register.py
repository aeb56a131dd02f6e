"""Registering a table (or a Django model's) as a source from another program that shares the database.

Only Django's database connection is used, never tollgate's models or settings: a team's own
Django project calls :func:`register_model` (from code, a data migration, or its settings through
``contrib/``) and tollgate's workers make the source within a poll (``registrations.py``): the
same capture as ``tollgate sources add``. Any other program can write the same row with SQL::

    INSERT INTO embeddings_sourceregistration (name, "table", text_columns, id_column, model)
    VALUES ('articles', 'blog_article', ARRAY['title', 'body'], '', '')
    ON CONFLICT (name) DO UPDATE SET "table" = EXCLUDED."table", text_columns = EXCLUDED.text_columns,
        id_column = EXCLUDED.id_column, model = EXCLUDED.model, applied_at = NULL;

Example::

    from blog.models import Article
    register_model(Article, fields=["title", "body"])  # the source "blog_article"
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, models

__all__ = ["REGISTRATIONS", "register_model", "register_table"]

REGISTRATIONS = "embeddings_sourceregistration"  # tollgate's table: the contract with other programs


def register_model(
    model: type[models.Model],
    *,
    fields: Sequence[str],
    name: str | None = None,
    id_field: str | None = None,
    embedding_model: str = "",
    using: str = "default",
) -> str:
    """Ask tollgate to keep ``model``'s table embedded: ``fields``' columns make the text. Returns the source's name.

    ``name`` defaults to the table's name; ``id_field`` to the primary key; ``embedding_model`` to
    tollgate's ``TOLLGATE_MODEL``. Registering again with the same fields changes nothing.
    """
    meta = model._meta
    columns = [meta.get_field(field).column for field in fields]
    id_column = meta.get_field(id_field).column if id_field else meta.pk.column
    return register_table(
        name or meta.db_table, table=meta.db_table, text_columns=columns, id_column=id_column,
        embedding_model=embedding_model, using=using,
    )  # fmt: skip


def register_table(
    name: str,
    *,
    table: str,
    text_columns: Sequence[str],
    id_column: str = "",
    embedding_model: str = "",
    using: str = "default",
) -> str:
    """Ask tollgate to keep ``table`` embedded as source ``name`` (see :func:`register_model`)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            f'INSERT INTO {REGISTRATIONS} (name, "table", text_columns, id_column, model, error) '
            "VALUES (%s, %s, %s, %s, %s, '') ON CONFLICT (name) DO UPDATE "
            'SET "table" = EXCLUDED."table", text_columns = EXCLUDED.text_columns, id_column = EXCLUDED.id_column, '
            "model = EXCLUDED.model, registered_at = now(), applied_at = NULL, error = '' "
            f'WHERE ({REGISTRATIONS}."table", {REGISTRATIONS}.text_columns, {REGISTRATIONS}.id_column, '
            f"{REGISTRATIONS}.model) IS DISTINCT FROM "
            '(EXCLUDED."table", EXCLUDED.text_columns, EXCLUDED.id_column, EXCLUDED.model)',
            [name, table, list(text_columns), id_column or "", embedding_model or ""],
        )
    return name
