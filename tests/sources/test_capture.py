"""Capture: whatever writes a source's table, each changed row is queued in the writer's own transaction.

Real PostgreSQL; the writes are plain SQL, COPY, and a Django model over the table (as a team's
web app writes it: ``save``, ``bulk_create``, ``bulk_update``, ``queryset.update()``), so
``post_save`` signals, which miss most of these, play no part.
"""

from __future__ import annotations

import io

import pytest
from django.db import DatabaseError, connection, models, transaction

from project.embeddings.models import Source, SourceChange, SourceVersion
from project.embeddings.sources.drain import source_drain
from project.embeddings.sources.errors import SourceError
from project.embeddings.sources.registry import source_add, source_remove


def test_each_write_queues_its_changed_rows_and_a_rolled_back_one_nothing(table):
    table.insert(("kept", "first body"), ("also kept", None))
    source_add(name="articles", table=table.name, text_columns=["title", "body"])
    assert table.queued() == []  # the rows already there are the first backfill's, not changes

    a, b = table.insert(("one", "new body"), ("two", None))  # one statement, two rows
    table.sql("UPDATE {t} SET body = 'changed' WHERE id = %s", [a])  # the text changed
    table.sql("UPDATE {t} SET title = title, price = 3 WHERE id IN (%s, %s)", [a, b])  # the text did not
    table.sql("DELETE FROM {t} WHERE id = %s", [b])
    with pytest.raises(DatabaseError), transaction.atomic():
        table.insert(("rolled back", "never committed"))
        table.sql("UPDATE {t} SET body = 'never' WHERE id = %s", [a])
        table.sql("SELECT 1/0")
    assert table.queued() == [(str(a), "I"), (str(b), "I"), (str(a), "U"), (str(b), "D")]


def test_copy_upserts_an_id_change_and_a_truncate_are_captured(table):
    source_add(name="articles", table=table.name, text_columns=["title", "body"])
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table.name} (id, title, body) FROM STDIN") as copy:
        copy.write(io.StringIO("10\tcopied\tby COPY\n11\talso\tcopied\n").read())
    table.sql(
        "INSERT INTO {t} (id, title, body) VALUES (10, 'copied', 'by COPY'), (12, 'upserted', 'new') "
        "ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body"
    )  # 10 is unchanged by its update: only 12 is queued
    table.sql("UPDATE {t} SET id = 13 WHERE id = 11")
    table.sql("TRUNCATE {t}")
    assert table.queued() == [("10", "I"), ("11", "I"), ("12", "I"), ("13", "U"), ("11", "U"), (None, "T")]


def test_a_django_model_over_the_table_is_captured_whatever_it_calls(table):
    source_add(name="articles", table=table.name, text_columns=["title", "body"])

    class Article(models.Model):
        title = models.TextField(null=True)
        body = models.TextField(null=True)
        price = models.DecimalField(max_digits=10, decimal_places=2, null=True)

        class Meta:
            app_label = "embeddings"
            managed = False
            db_table = table.name

    first = Article.objects.create(title="saved", body="by save()")
    more = Article.objects.bulk_create([Article(title=f"bulk {i}", body="created") for i in range(3)])
    for article in more:
        article.body = "updated in bulk"
    Article.objects.bulk_update(more, ["body"])
    Article.objects.filter(pk=first.pk).update(title="updated by a queryset")
    Article.objects.filter(pk=first.pk).update(price=9)  # not a text column: nothing
    Article.objects.filter(pk=more[0].pk).delete()
    ops = [op for _, op in table.queued()]
    assert ops == ["I", "I", "I", "I", "U", "U", "U", "U", "D"]


def test_writes_under_the_replica_role_are_captured_too(table):
    """Logical replication's apply and pg_restore write with ``session_replication_role = replica``."""
    source_add(name="articles", table=table.name, text_columns=["title"])
    with transaction.atomic():
        table.sql("SET LOCAL session_replication_role = replica")
        (row,) = table.insert(("replicated", None))
    assert table.queued() == [(str(row), "I")]


def test_a_text_column_renamed_never_fails_a_write_and_every_row_is_read_again(table):
    (row,) = table.insert(("title", "body"))
    source = source_add(name="articles", table=table.name, text_columns=["title", "body"])
    source_drain(source)  # the backfill
    table.sql("ALTER TABLE {t} RENAME COLUMN body TO content")

    table.sql("UPDATE {t} SET content = 'the write goes through' WHERE id = %s", [row])

    assert [op for _, op in table.queued()] == ["!"]
    with pytest.raises(SourceError, match='column "body" does not exist'):
        source_drain(source)  # the marker makes every row be read again, which needs the columns
    source.refresh_from_db()
    assert "body" in source.capture_error
    assert SourceVersion.objects.get(source=source).backfilled_at is None
    source_add(name="articles", table=table.name, text_columns=["title", "content"], replace=True)
    report = source_drain(Source.objects.get(name="articles"))
    assert report.backfilled == 1 and report.applied.changed == 1
    assert Source.objects.get(name="articles").capture_error == ""


def test_remove_drops_the_triggers_and_leaves_the_table_as_it_was(table):
    table.insert(("one", "row"))
    source = source_add(name="articles", table=table.name, text_columns=["title", "body"])
    source_drain(source)
    table.insert(("queued", "change"))

    source_remove(name="articles")

    assert table.sql("SELECT count(*) FROM {t}") == [(2,)]
    assert table.sql(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", [table.name]
    ) == [(0,)]
    assert table.sql("SELECT count(*) FROM pg_proc WHERE proname LIKE 'tollgate\\_source\\_%%'") == [(0,)]
    assert table.sql("SELECT to_regclass('tollgate_source_articles')") == [(None,)]
    assert not SourceChange.objects.exists() and not Source.objects.exists()
    table.insert(("after", "remove"))  # writes go on, captured by nothing


def test_a_table_that_cannot_be_a_source_is_refused_in_one_line(table):
    with pytest.raises(SourceError, match="no table"):
        source_add(name="articles", table="no_such_table", text_columns=["title"])
    with pytest.raises(SourceError, match="no column 'headline'"):
        source_add(name="articles", table=table.name, text_columns=["headline"])
    with pytest.raises(SourceError, match="lowercase"):
        source_add(name="Articles!", table=table.name, text_columns=["title"])
    source_add(name="articles", table=table.name, text_columns=["title"])
    with pytest.raises(SourceError, match="already a source"):
        source_add(name="articles", table=table.name, text_columns=["title"])
