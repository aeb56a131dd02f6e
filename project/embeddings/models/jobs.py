"""Jobs: what a user asked to embed, with its counters, and the chunks that failed."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from providers.inputs import POLICIES

from ..owners import system_owner_id
from .documents import Chunk, Document
from .vectors import LIVE_SEGMENT


class Lane(models.TextChoices):
    """How a job's requests reach the provider: one at a time under the limit, or through the Batch API."""

    SYNC = "sync"
    BATCH = "batch"


class EmbeddingJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        PAUSED = "paused"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="embedding_jobs", default=system_owner_id
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    model = models.CharField(max_length=100)
    dimensions = models.PositiveIntegerField()
    long_input_policy = models.CharField(
        max_length=20, choices=[(policy, policy.capitalize()) for policy in POLICIES], default=POLICIES[0]
    )
    documents = models.ManyToManyField(Document, blank=True, related_name="jobs")
    lane = models.CharField(max_length=10, choices=Lane.choices, default=Lane.SYNC)

    total_chunks = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)
    total_groups = models.PositiveIntegerField(default=0)
    ingesting = models.BooleanField(
        default=False, help_text="Its ingest is still adding chunks (and totals): it cannot complete yet."
    )
    expected_tokens = models.PositiveBigIntegerField(
        default=0, help_text="A streaming ingest's guess of the whole job (file sizes): paced and loaded as that."
    )

    embedded_chunks = models.PositiveIntegerField(default=0)
    failed_chunks = models.PositiveIntegerField(default=0)
    embedded_tokens = models.PositiveBigIntegerField(default=0)
    groups_done = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    http_429 = models.PositiveIntegerField(default=0)
    limiter_waits = models.PositiveIntegerField(default=0)
    # Chunks (and their tokens) that got a stored vector of the same input: no call, nothing paid.
    reused_chunks = models.PositiveIntegerField(default=0)
    reused_tokens = models.PositiveBigIntegerField(default=0)
    # Of embedded_tokens, those paid on the batch lane (at the Batch API's half price).
    batch_tokens = models.PositiveBigIntegerField(default=0)
    idempotency_key = models.CharField(max_length=200, blank=True, default="")

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progressed_at = models.DateTimeField(null=True, blank=True, help_text="Last time a group was stored or failed.")
    last_error = models.TextField(blank=True)
    load_segment = models.PositiveIntegerField(
        default=LIVE_SEGMENT, help_text="Where the job's rows go: 0 (the live index) or its open bulk segment."
    )

    class Meta:
        constraints = [
            # per owner: a retried POST with the same Idempotency-Key finds the job it made
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="job_unique_owner_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.status})"


Status = EmbeddingJob.Status
# Tasks of an active job call the provider; an ended job is done with; a stopped one waits for a person.
ACTIVE_STATUSES = frozenset({Status.QUEUED, Status.RUNNING})
ENDED_STATUSES = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
RESUMABLE_STATUSES = frozenset({Status.PAUSED, Status.FAILED})


class FailedChunk(models.Model):
    """A chunk that can never be embedded as it is (the API rejected it), with the reason."""

    job = models.ForeignKey(EmbeddingJob, on_delete=models.CASCADE, related_name="failures")
    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="failures")
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "chunk"], name="failed_chunk_unique")]

    def __str__(self) -> str:
        return f"{self.chunk_id}: {self.reason[:60]}"


class JobTally(models.Model):
    """One piece of a job's progress (a group stored, a wait, a 429), added without touching the job's row.

    Every group's store used to move the job's counters (and its segment's row count) in its
    own transaction, so every worker queued on those two rows in turn. Workers append a tally
    instead, which locks nothing another worker needs, and the tallies are folded into the
    job's and the segment's rows in batches (``jobs/tally.py``): at most a few times a second,
    and exactly before the job may complete.
    """

    # No foreign-key constraint: its check would take a share lock on the job's row at each
    # commit, and wait behind whoever holds that row (a streaming ingest's batch, a fold).
    job = models.ForeignKey(EmbeddingJob, on_delete=models.CASCADE, related_name="tallies", db_constraint=False)
    segment = models.PositiveIntegerField(default=LIVE_SEGMENT, help_text="The bulk segment ``rows`` went to.")
    rows = models.PositiveIntegerField(default=0, help_text="Embedding rows stored into ``segment``.")
    embedded_chunks = models.PositiveIntegerField(default=0)
    embedded_tokens = models.PositiveBigIntegerField(default=0)
    batch_tokens = models.PositiveBigIntegerField(default=0)
    reused_chunks = models.PositiveIntegerField(default=0)
    reused_tokens = models.PositiveBigIntegerField(default=0)
    groups_done = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    http_429 = models.PositiveIntegerField(default=0)
    limiter_waits = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["segment"], name="job_tally_segment")]

    def __str__(self) -> str:
        return f"tally {self.pk} of job {self.job_id}"
