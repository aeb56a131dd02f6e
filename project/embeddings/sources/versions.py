"""A source's versions: a new model embedded beside the current one, the cutover, the way back, the drop.

``migrate`` makes a version that backfills beside the current one (on the batch lane, at half
price, when asked) and follows every change meanwhile, like the others. Searches read the
current version until the new one is complete (:func:`version_progress`: its backfill has read
the last row, every job of it has completed, and its rows are indexed); then it becomes current
(:func:`versions_settle`, run after each sync), or waits for :func:`version_cutover` when asked
to hold. The old version is retired, not deleted: it still follows changes, so a cutover back to
it is exact and instant, until :func:`version_drop` deletes it.

A version's vectors are rows of the embedding table keyed by (chunk, model): each version has
documents and chunks of its own (chunked with its model's encoding), so two versions never
share a key, whatever their models. Their dimensions must be the vector column's (the column
is sized when the table is first migrated): a version of other dimensions would need a table
or column of its own, which the write path does not have (docs/ARCHITECTURE.md, "Sources").
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Func, Max

from project.embeddings.index.cover import job_index
from project.embeddings.models import (
    ENDED_STATUSES,
    Chunk,
    EmbeddingJob,
    Lane,
    Source,
    SourceState,
    SourceVersion,
    Status,
)
from project.embeddings.plan.preflight import vector_column_dimensions
from project.embeddings.sources.errors import SourceError
from project.embeddings.sources.purge import version_purge
from project.embeddings.sources.view import views_refresh
from providers import encoding_for_model, model_info


class ClockTimestamp(Func):
    """PostgreSQL's ``clock_timestamp()``: the time now, not the transaction's start (``now()``)."""

    function = "clock_timestamp"
    template = "clock_timestamp()"


__all__ = [
    "Progress",
    "dimensions_storable",
    "version_create",
    "version_cutover",
    "version_drop",
    "version_progress",
    "versions_settle",
]


def dimensions_storable(dimensions: int) -> None:
    """:class:`SourceError` unless the vector column holds vectors of ``dimensions``."""
    column = vector_column_dimensions()
    if column is not None and column != dimensions:
        raise SourceError(
            f"the vector column holds {column}-dimension vectors, not {dimensions}: a version must have the "
            f"column's dimensions (ask a text-embedding-3 model for {column} with --dimensions {column})",
        )


def version_create(
    source: Source, *, model: str, dimensions: int | None = None, lane: str = Lane.SYNC, hold: bool = False
) -> SourceVersion:
    """A new version of ``source``, building beside the current one (its backfill is the next sync's work)."""
    encoding_for_model(model)  # an unknown model is one line now
    dimensions = dimensions or settings.TOLLGATE_DIMENSIONS
    if dimensions > model_info(model).native_dimensions:
        raise SourceError(f"{model} makes vectors of at most {model_info(model).native_dimensions} dimensions")
    dimensions_storable(dimensions)
    with transaction.atomic():
        versions = SourceVersion.objects.select_for_update().filter(source=source)
        building = versions.filter(state=SourceState.BUILDING).first()
        if building is not None:
            raise SourceError(
                f"{source.name} is already migrating to v{building.number} ({building.model}): "
                f"wait for it, or `tollgate sources drop-version {source.name} {building.number}`"
            )
        last = Source.objects.select_for_update().values_list("last_version", flat=True).get(pk=source.pk)
        number = max(versions.aggregate(last=Max("number"))["last"] or 0, last) + 1
        Source.objects.filter(pk=source.pk).update(last_version=number)
        return SourceVersion.objects.create(
            source=source, number=number, model=model, dimensions=dimensions, lane=lane, hold=hold
        )


@dataclass(frozen=True)
class Progress:
    """How far a version is from being complete (what a cutover waits for)."""

    backfilled: bool
    jobs: int  # jobs it sent
    unfinished: int  # of them, queued, running or paused
    failed: int  # failed or cancelled: its rows are not all embedded
    indexing: int  # completed, but a bulk index build still to come

    @property
    def complete(self) -> bool:
        return self.backfilled and not (self.unfinished or self.failed or self.indexing)


def version_progress(version: SourceVersion) -> Progress:
    jobs = list(EmbeddingJob.objects.filter(source_job__version=version))
    ended = [job for job in jobs if job.status in ENDED_STATUSES]
    return Progress(
        backfilled=version.backfilled_at is not None,
        jobs=len(jobs),
        unfinished=len(jobs) - len(ended),
        failed=sum(1 for job in ended if job.status != Status.COMPLETED and _unembedded(job)),
        indexing=sum(1 for job in ended if job.load_segment and job_index(job).state not in ("live", "indexed")),
    )


def _unembedded(job: EmbeddingJob) -> bool:
    """Whether a failed or cancelled job left chunks its documents still hold without a vector."""
    return Chunk.objects.filter(document__jobs=job).exclude(embeddings__model=job.model).exists()


def version_cutover(source: Source, *, number: int | None = None, force: bool = False) -> SourceVersion:
    """Make version ``number`` (default: the one building) current; the current one is retired, not deleted.

    A building version must be complete (``force`` skips the check); a retired one always is,
    having followed every change since: a cutover back to it is the rollback.
    """
    with transaction.atomic():
        versions = {v.number: v for v in SourceVersion.objects.select_for_update().filter(source=source)}
        if number is None:
            building = [v for v in versions.values() if v.state == SourceState.BUILDING]
            if not building:
                raise SourceError(f"{source.name} has no version building: name one to cut over to")
            number = building[0].number
        target = versions.get(number)
        if target is None:
            raise SourceError(f"{source.name} has no version {number} (it has {', '.join(map(str, sorted(versions)))})")
        if target.state == SourceState.CURRENT:
            return target
        if target.state == SourceState.BUILDING and not force:
            progress = version_progress(target)
            if not progress.complete:
                raise SourceError(f"{source.name} v{number} is not complete yet: {_describe(progress)}")
        now = ClockTimestamp()  # the moment of the switch, just before it commits
        SourceVersion.objects.filter(source=source, state=SourceState.CURRENT).update(
            state=SourceState.RETIRED, retired_at=now
        )
        SourceVersion.objects.filter(pk=target.pk).update(state=SourceState.CURRENT, current_at=now, hold=False)
    views_refresh(source, force=True)  # its SQL face follows (the old version's rows stay meanwhile)
    target.refresh_from_db()
    return target


def _describe(progress: Progress) -> str:
    if not progress.backfilled:
        return "its backfill has not read every row (run `tollgate sources sync`)"
    if progress.unfinished:
        return f"{progress.unfinished} of its jobs are still running"
    if progress.failed:
        return f"{progress.failed} of its jobs failed (`tollgate resume JOB` sends what they lack)"
    return "its last rows are being indexed"


def versions_settle(source: Source) -> list[SourceVersion]:
    """Cut over to each building version that is complete and not held; returns those made current."""
    made = []
    for version in SourceVersion.objects.filter(source=source, state=SourceState.BUILDING, hold=False):
        if version_progress(version).complete:
            made.append(version_cutover(source, number=version.number))
    return made


def version_drop(source: Source, *, number: int) -> int:
    """Delete a version that is not current (its vectors, rows and documents); returns the documents deleted."""
    with transaction.atomic():
        version = SourceVersion.objects.select_for_update().filter(source=source, number=number).first()
        if version is None:
            raise SourceError(f"{source.name} has no version {number}")
        if version.state == SourceState.CURRENT:
            raise SourceError(f"v{number} is {source.name}'s current version: cut over to another before dropping it")
        deleted = version_purge(version)
        version.delete()
    return deleted
