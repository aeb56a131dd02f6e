"""Workers follow sources by themselves (no sync): a team's Django model, registered from its settings.

The team's app writes its table through the ORM only; tollgate's workers (their ticker, every
0.2 s here) make the source from the registration, backfill it and follow each write.
"""

from __future__ import annotations

import time

from django.db import models

from project.embeddings.models import Source, SourceRegistration, SourceRow
from project.embeddings.sources.contrib.apps import register_from_settings
from project.embeddings.sources.status import source_status


class TeamArticle(models.Model):
    """The team's model, over the test's table (its name is set by the test)."""

    title = models.TextField(null=True)
    body = models.TextField(null=True)
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True)

    class Meta:
        app_label = "embeddings"
        managed = False
        db_table = "set_by_the_test"


def caught_up(name: str, rows: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        source = Source.objects.filter(name=name).first()
        if source is not None:
            status = source_status(source)
            if status.rows == status.embedded == rows and status.pending == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"{name} not caught up: {source_status(source) if source else 'no source'}")


def test_workers_follow_a_django_model_registered_from_settings(rig, table, settings, monkeypatch):
    monkeypatch.setattr(TeamArticle._meta, "db_table", table.name)
    TeamArticle.objects.bulk_create([TeamArticle(title=f"Article {i}", body="written before") for i in range(5)])
    rig.start(rpm=600, tpm=200_000, window=1.0, workers=1, TOLLGATE_SOURCES_POLL_SECONDS=0.2)
    settings.TOLLGATE_SOURCES = {"articles": {"model": "embeddings.TeamArticle", "fields": ["title", "body"]}}

    assert register_from_settings() == ["articles"]  # what the team's `manage.py migrate` does
    caught_up("articles", 5)  # the workers made the source and read the rows written before it

    first = TeamArticle.objects.create(title="Fresh", body="saved by the ORM")
    rest = list(TeamArticle.objects.order_by("pk")[:2])
    for article in rest:
        article.body = "changed by bulk_update"
    TeamArticle.objects.bulk_update(rest, ["body"])
    TeamArticle.objects.filter(pk=first.pk).update(title="Fresher")
    caught_up("articles", 6)

    source = Source.objects.get(name="articles")
    held = dict(SourceRow.objects.filter(version__source=source).values_list("row_id", "document__text"))
    assert held[str(first.pk)] == "Fresher\n\nsaved by the ORM"
    assert held[str(rest[0].pk)] == "Article 0\n\nchanged by bulk_update"
    assert (source.table, list(source.text_columns)) == (table.name, ["title", "body"])
    assert SourceRegistration.objects.get(name="articles").applied_at is not None
    assert register_from_settings() == ["articles"]  # the same again changes nothing
    assert SourceRegistration.objects.get(name="articles").applied_at is not None
