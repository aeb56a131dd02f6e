"""The batch lane's batches: each remote step recorded before and after it happens."""

from __future__ import annotations

from django.db import models

from .jobs import EmbeddingJob


class Batch(models.Model):
    """One Batch API batch: its JSONL file and the provider's batch, recorded before and after each step.

    ``state`` says which remote step is next or under way (``batches/``): a driver that dies
    between a step and its record finds the file or batch again by ``key`` (the file's name, the
    batch's metadata) instead of making a second one. Its groups are the lines; a line's
    ``custom_id`` is the group's id.
    """

    class State(models.TextChoices):
        PREPARING = "preparing"  # its groups are chosen; the file is not uploaded yet
        UPLOADING = "uploading"  # the upload may have happened: look for the file by name first
        UPLOADED = "uploaded"  # the file is there; waiting for room in the enqueued-token limit
        CREATING = "creating"  # admitted; the batch may have been created: look for it by key first
        SUBMITTED = "submitted"  # the provider runs it; beat polls it
        FINISHED = "finished"  # final at the provider (its room given back); its results are being stored
        DONE = "done"  # its results are stored, its failed lines recorded, what did not run sent on
        FAILED = "failed"  # the provider refused it (validation); its groups failed or went back

    job = models.ForeignKey(EmbeddingJob, on_delete=models.CASCADE, related_name="batches")
    key = models.CharField(max_length=64, unique=True, help_text="Names its file and tags its batch.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PREPARING, db_index=True)
    remote_status = models.CharField(max_length=20, blank=True, default="", help_text="The provider's status.")
    file_id = models.CharField(max_length=100, blank=True, default="")
    batch_id = models.CharField(max_length=100, blank=True, default="")
    output_file_id = models.CharField(max_length=100, blank=True, default="")
    error_file_id = models.CharField(max_length=100, blank=True, default="")
    requests = models.PositiveIntegerField(default=0)
    inputs = models.PositiveIntegerField(default=0)
    tokens = models.PositiveBigIntegerField(default=0, help_text="Tokens it enqueues (each input counted once).")
    completed = models.PositiveIntegerField(default=0, help_text="Lines done, as the provider counts them.")
    failed = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    store_sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When a task to store its results was last sent (batches.batch_store)."
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return f"batch {self.pk} of job {self.job_id} ({self.state})"


BatchState = Batch.State
UNFINISHED_BATCH_STATES = frozenset(set(BatchState) - {BatchState.DONE, BatchState.FAILED})
