"""Bulk mode's bookkeeping: the segments a backfill loads into, and the HNSW indexes built over them."""

from __future__ import annotations

from django.db import models

from .jobs import EmbeddingJob


class Segment(models.Model):
    """Rows a bulk job loaded without index maintenance; open while the job writes into it.

    A closed segment is searched exactly until an :class:`IndexRange` covering it is ready.
    """

    class State(models.TextChoices):
        OPEN = "open"
        CLOSED = "closed"

    job = models.ForeignKey(EmbeddingJob, null=True, on_delete=models.SET_NULL, related_name="segments")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    rows = models.PositiveBigIntegerField(default=0, help_text="Rows stored into it, counted as they commit.")
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"segment {self.pk} ({self.state})"


class IndexRange(models.Model):
    """One HNSW index over the rows of segments ``lo``..``hi``, built in bulk (CREATE INDEX CONCURRENTLY)."""

    class State(models.TextChoices):
        BUILDING = "building"
        READY = "ready"
        RETIRED = "retired"  # a wider range replaced it; its index is dropped a grace later

    lo = models.PositiveIntegerField()
    hi = models.PositiveIntegerField()
    name = models.CharField(max_length=63, unique=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.BUILDING)
    rows = models.PositiveBigIntegerField(default=0, help_text="Rows the build found.")
    build_seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When it became ready or was retired: what it replaced (sign bits, narrower indexes) goes a
    # grace after (index/builder.py: STALE_COVER_SECONDS), since a search may still read by the cover before.
    changed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} [{self.lo}, {self.hi}] ({self.state})"
