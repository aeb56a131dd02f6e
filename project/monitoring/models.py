"""JobSample: a job's counters as they were at a moment, the points of its progress chart.

Why the database writes them (a trigger, see ``migrations/0001_initial.py``) rather than a
sampler or a line in each worker's counter update:

- **The truth, atomically.** A sample is taken in the same transaction as the counter UPDATE
  that moved the job, so it can never disagree with the job's row, whichever process moved it
  (a worker storing a group, one failing a chunk, a person pausing the job, a sweep).
- **Nothing to run, nothing to forget.** A sampler would be one more process (beat is not part
  of ``tollgate run``) that samples idle jobs too and misses the last step; a call in each
  writer would have to be repeated in every writer, present and future.
- **Cheap and bounded.** At most one sample per job per second (plus one at every status
  change, so a chart always ends where the job did), checked by an index lookup under the job
  row's lock, which the counter UPDATE holds anyway; rows go with their job (cascade).
"""

from __future__ import annotations

from django.db import models

from project.embeddings.models import EmbeddingJob

SAMPLE_SECONDS = 1  # at most one sample per job per second (the trigger's interval); keep in step


class JobSample(models.Model):
    job = models.ForeignKey(EmbeddingJob, on_delete=models.CASCADE, related_name="samples", db_index=False)
    at = models.DateTimeField(help_text="The database's clock when the job's counters changed.")
    status = models.CharField(max_length=20)
    embedded_chunks = models.PositiveIntegerField()
    failed_chunks = models.PositiveIntegerField()
    embedded_tokens = models.PositiveBigIntegerField()
    requests = models.PositiveIntegerField()
    http_429 = models.PositiveIntegerField()
    limiter_waits = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["job", "at"], name="jobsample_job_at")]

    def __str__(self) -> str:
        return f"job {self.job_id} at {self.at:%H:%M:%S}: {self.embedded_tokens} tokens"
