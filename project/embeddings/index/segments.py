"""Bulk mode's load side: which segment a job's rows go to, and when a segment closes for its build.

A job of at least ``TOLLGATE_BULK_MIN_CHUNKS`` chunks writes into an open **segment** (a number
in ``Embedding.segment``) that no index covers; small and interactive jobs write segment 0, the
live index, and are searchable at once. When a segment holds ``TOLLGATE_SEGMENT_ROWS`` rows and
as many as the job's earlier segments together (so sizes double, up to ``MAX_SEGMENT_GROWTH``
times the setting, and a search reads few indexes), or its job ends, it is closed and the
maintainer (``builder.py``) indexes it while the job loads the next.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from project.celery import INDEX_MAINTAIN, app
from project.embeddings.jobs import tally
from project.embeddings.models import ACTIVE_STATUSES, LIVE_SEGMENT, EmbeddingJob, Segment, index_supported

__all__ = [
    "bulk_wanted",
    "job_segment_live",
    "job_segment_open",
    "maintain_soon",
    "segment_filled",
    "segment_open",
    "store_segment",
]

MAX_SEGMENT_GROWTH = 4  # a segment holds at most this many times TOLLGATE_SEGMENT_ROWS


def bulk_wanted(chunks: int, *, interactive: bool) -> bool:
    """Whether a job writing ``chunks`` new rows should load outside the live index."""
    return index_supported() and not interactive and chunks >= settings.TOLLGATE_BULK_MIN_CHUNKS


def segment_open(number: int) -> bool:
    """Whether ``number`` is a bulk segment a job is still loading."""
    return number != LIVE_SEGMENT and Segment.objects.filter(pk=number, state=Segment.State.OPEN).exists()


def job_segment_open(job_id: int) -> int:
    """Give the job an open segment to load into (its current one if still open); returns its number."""
    with transaction.atomic():
        job = EmbeddingJob.objects.select_for_update(no_key=True).get(pk=job_id)
        if segment_open(job.load_segment):
            return job.load_segment
        segment = Segment.objects.create(job=job)
        EmbeddingJob.objects.filter(pk=job_id).update(load_segment=segment.pk)
        return segment.pk


def job_segment_live(job_id: int) -> None:
    """The job's further rows go to the live index (a resume with little left, say)."""
    EmbeddingJob.objects.filter(pk=job_id).update(load_segment=LIVE_SEGMENT)


def store_segment(job_id: int) -> int:
    """The segment the job's next rows go to: read in the storing transaction, so never a stale one."""
    return EmbeddingJob.objects.filter(pk=job_id).values_list("load_segment", flat=True).first() or LIVE_SEGMENT


def segment_filled(job_id: int, segment: int) -> bool:
    """After a store: close ``segment`` once it holds a segment's rows, open the next, ask for a build.

    Only one caller wins the conditional UPDATE that closes it; rows a late task still writes
    into a closed segment are found exactly until its index is built, and kept by it after.
    """
    if segment == LIVE_SEGMENT:
        return False
    rows = tally.segment_rows(segment)
    least = settings.TOLLGATE_SEGMENT_ROWS
    if rows < least:
        return False
    if rows < min(_earlier_rows(job_id, segment), MAX_SEGMENT_GROWTH * least) and not _near_the_end(job_id, least):
        return False
    if not Segment.objects.filter(pk=segment, state=Segment.State.OPEN).update(
        state=Segment.State.CLOSED, closed_at=timezone.now()
    ):
        return False
    if EmbeddingJob.objects.filter(pk=job_id, status__in=ACTIVE_STATUSES, load_segment=segment).exists():
        job_segment_open(job_id)
    maintain_soon()
    return True


def _near_the_end(job_id: int, tail: int) -> bool:
    """At most ``tail`` rows are left to load: the segment closes now, so the index built after the
    job's last row (the wait until every vector is searchable) covers at most those, not up to
    four segments' worth. A job still ingesting does not know its end yet.
    """
    job = EmbeddingJob.objects.filter(pk=job_id).values("total_chunks", "embedded_chunks", "failed_chunks", "ingesting")
    row = job.first()
    if row is None or row["ingesting"]:
        return False
    embedded = row["embedded_chunks"] + tally.unfolded(job_id)["embedded_chunks"]
    return row["total_chunks"] - embedded - row["failed_chunks"] <= tail


def _earlier_rows(job_id: int, segment: int) -> int:
    """Rows of the job's segments before ``segment``: each segment is at least as large as those together.

    Segments double (5k, 5k, 10k, 20k, then 20k each: at most MAX_SEGMENT_GROWTH times the
    setting), so a backfill leaves few indexes for a search to read until they merge (7 for
    100,000 rows, not 20), while the open segment a search scans exactly, and the build after
    the last row, stay bounded.
    """
    earlier = Segment.objects.filter(job_id=job_id, pk__lt=segment).values_list("pk", flat=True)
    return sum(tally.segment_rows(number) for number in earlier)


def maintain_soon() -> None:
    """Ask a worker to build what is waiting (after the current transaction commits)."""
    transaction.on_commit(lambda: app.send_task(INDEX_MAINTAIN))


