"""Following sources continuously: what a worker's ``tollgate.sources_follow`` task does each time it runs.

Every worker process sends the task every ``TOLLGATE_SOURCES_POLL_SECONDS`` while no copy of it
is waiting (``workers/sources.py``, ``wake.py``), so any fleet follows its sources with
no process of its own: ``tollgate up``, ``celery -A workers worker``, the compose file's workers. Each run drains every source
with queued changes or a backfill to read (``drain.py``; a source another process drains is
skipped), cuts over to versions that became complete, rewrites a source's SQL function when its
indexes changed, and now and then deletes the documents no row maps to any more.
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from project.embeddings.jobs.ingesting import ingests_gone
from project.embeddings.models import EmbeddingJob, Source, SourceChange, SourceState, SourceVersion, Status
from project.embeddings.sources.drain import source_drain
from project.embeddings.sources.errors import SourceError
from project.embeddings.sources.purge import documents_delete, unmapped_documents
from project.embeddings.sources.registrations import registrations_apply
from project.embeddings.sources.versions import versions_settle
from project.embeddings.sources.view import views_refresh
from project.embeddings.sources.wake import idle

__all__ = ["FOLLOW_SECONDS", "sources_follow", "sources_tidy", "sources_with_work"]

logger = logging.getLogger(__name__)

FOLLOW_SECONDS = 10.0  # a run drains for at most this long, then the next run goes on (a task is not a daemon)
TIDY_SECONDS = 60  # how often a source's unmapped documents are looked for across its whole collection


def sources_with_work() -> list[Source]:
    """Sources with changes queued, a backfill to read, a version building (it may be complete), or a job
    whose cycle died (the next cycle resumes it)."""
    queued = SourceChange.objects.filter(source_id=OuterRef("pk"))
    unread = SourceVersion.objects.filter(source=OuterRef("pk")).filter(
        Q(backfilled_at__isnull=True) | Q(state=SourceState.BUILDING)
    )
    interrupted = EmbeddingJob.objects.filter(source_job__version__source=OuterRef("pk"), status=Status.FAILED)
    return list(Source.objects.filter(Exists(queued) | Exists(unread) | Exists(interrupted)).order_by("pk"))


def sources_follow(*, seconds: float = FOLLOW_SECONDS) -> int:
    """Drain what every source has waiting, within ``seconds``; returns the queued changes taken."""
    registrations_apply()  # sources another program asked for (a team's Django app)
    if not Source.objects.exists():
        idle()
        return 0
    ingests_gone()  # a cycle whose worker died: its jobs fail here and resume in the next cycle
    deadline = time.monotonic() + seconds
    taken = 0
    for source in sources_with_work():
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            report = source_drain(source, seconds=left)
        except SourceError as exc:  # its table gone or changed: the others go on; status shows it
            logger.warning("%s", exc)
            continue
        taken += report.changes if report is not None else 0
        versions_settle(source)
    for source in Source.objects.all():
        views_refresh(source)  # a few milliseconds when its version and indexes are unchanged
        if cache.add(f"sources-tidy:{source.pk}", 1, timeout=TIDY_SECONDS):
            sources_tidy(source)
    return taken


def sources_tidy(source: Source) -> int:
    """Delete the documents of the source's versions that no row maps to and no unfinished job holds."""
    deleted = 0
    for version in SourceVersion.objects.filter(source=source):
        while ids := unmapped_documents(version.collection, owner_id=source.owner_id):
            with transaction.atomic():
                deleted += documents_delete(ids)
    return deleted
