"""Sources: a user's own table kept embedded, its versions (one per model), its rows, and the change queue.

A source's rows become documents of a collection per version (``SourceVersion.collection``), so
they ride the pipeline like any upload: chunking, reuse by content address, groups, the gate,
bulk mode, the write path, search. A row maps to the document of its text (``SourceRow``); rows
with the same text share one document, as an owner's documents always do.

Changes are captured by statement triggers on the user's table (``sources/capture.py``) that
write one ``SourceChange`` per changed row in the writer's own transaction: a rolled-back
write leaves none, and nothing that writes the table can bypass them.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now

from ..owners import system_owner_id
from .documents import Document
from .jobs import EmbeddingJob, Lane


class Source(models.Model):
    """A table (any, in tollgate's database) whose rows are kept embedded: which columns make the text, which the id."""

    name = models.CharField(max_length=40, unique=True)
    schema = models.CharField(max_length=63, help_text="The table's schema.")
    table = models.CharField(max_length=63, help_text="The table's name, unquoted.")
    id_column = models.CharField(max_length=63)
    id_type = models.CharField(max_length=100, help_text="The id column's type, as PostgreSQL formats it.")
    text_columns = ArrayField(models.CharField(max_length=63), help_text="Joined, NULLs skipped, into a row's text.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sources", default=system_owner_id
    )
    capture_error = models.TextField(
        blank=True, help_text="What the capture trigger met that it could not record (a column renamed or dropped)."
    )
    last_version = models.PositiveIntegerField(default=1, help_text="Versions are numbered on, never reused.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.schema}.{self.table})"


class SourceVersion(models.Model):
    """One model's embeddings of a source: built beside the current one, searched once it is current.

    ``backfill_after`` is the backfill's keyset cursor (the last row id read, in the id's own
    order): a backfill interrupted anywhere goes on from there. A version is complete once its
    backfill has read the last row and every job it sent has ended; then it may become current.
    """

    class State(models.TextChoices):
        BUILDING = "building"  # backfilling beside the current version; follows changes too
        CURRENT = "current"  # what searches read
        RETIRED = "retired"  # was current; still follows changes, so a cutover back is exact, until dropped

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    model = models.CharField(max_length=100)
    dimensions = models.PositiveIntegerField()
    lane = models.CharField(max_length=10, choices=Lane.choices, default=Lane.SYNC, help_text="The backfill's lane.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.BUILDING)
    hold = models.BooleanField(default=False, help_text="Complete, it waits for `sources cutover` instead.")
    backfill_after = models.TextField(null=True, blank=True, help_text="The last row id the backfill read.")
    backfilled_at = models.DateTimeField(null=True, blank=True, help_text="When the backfill read the last row.")
    created_at = models.DateTimeField(auto_now_add=True)
    current_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "number"], name="source_version_unique_number"),
            models.UniqueConstraint(
                fields=["source"], condition=models.Q(state="current"), name="source_version_one_current"
            ),
        ]

    @property
    def collection(self) -> str:
        return version_collection(self.source_id, self.number)

    def __str__(self) -> str:
        return f"v{self.number} {self.model} ({self.state})"


def version_collection(source_id: int, number: int) -> str:
    """The collection a version's documents live in (by id: a source removed and added again starts afresh)."""
    return f"source:{source_id}:v{number}"


SourceState = SourceVersion.State


class SourceRow(models.Model):
    """A row of the user's table as one version holds it: the document of its text.

    ``changed_at``: when the change this text came from was captured (the freshness figures).
    """

    version = models.ForeignKey(SourceVersion, on_delete=models.CASCADE, related_name="rows", db_index=False)
    row_id = models.TextField(help_text="The row's id, as text.")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="source_rows")
    changed_at = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "row_id"], name="source_row_unique")]

    def __str__(self) -> str:
        return f"row {self.row_id} of {self.version_id}"


class SourceChange(models.Model):
    """The change queue: one row per changed row of a source's table, written by its triggers.

    ``op``: ``I``nsert, ``U``pdate, ``D``elete, or one of two markers after which every row is
    checked again: ``T``runcate (``row_id`` NULL), and ``!``, a capture the trigger could not
    record (a text column renamed or dropped; ``row_id`` holds the error). Not foreign keys: the
    trigger's insert is the writer's cost, kept to one index.
    """

    id = models.BigAutoField(primary_key=True)
    source_id = models.BigIntegerField()
    row_id = models.TextField(null=True)
    op = models.CharField(max_length=1)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        indexes = [models.Index(fields=["source_id", "id"], name="source_change_queue")]

    def __str__(self) -> str:
        return f"{self.op} {self.row_id} of source {self.source_id}"


class SourceJob(models.Model):
    """A job a sync made for a version: ``backfill`` when it carried the version's backfill."""

    version = models.ForeignKey(SourceVersion, on_delete=models.CASCADE, related_name="jobs")
    job = models.OneToOneField(EmbeddingJob, on_delete=models.CASCADE, related_name="source_job")
    backfill = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"job {self.job_id} of {self.version_id}"


class SourceRegistration(models.Model):
    """A source asked for by another program sharing the database (a team's Django app, any SQL client).

    Written with plain SQL (``sources/register.py``, no tollgate import needed); tollgate's
    workers make the source within a poll (``sources/registrations.py``): its capture, then its
    backfill, which reads every row written before the capture existed. ``applied_at`` NULL: to do
    (again, after a change of its columns); ``error``: why it could not be made.
    """

    name = models.CharField(max_length=40, unique=True)
    table = models.CharField(max_length=200, help_text="[schema.]table")
    text_columns = ArrayField(models.CharField(max_length=63))
    id_column = models.CharField(max_length=63, blank=True, default="")
    model = models.CharField(max_length=100, blank=True, default="", help_text="'' : TOLLGATE_MODEL")
    registered_at = models.DateTimeField(db_default=Now())
    applied_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return f"registration of {self.name} ({self.table})"
