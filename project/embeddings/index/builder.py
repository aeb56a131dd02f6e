"""Bulk mode's maintainer: each closed segment indexed in one HNSW build, and indexes merged when nothing loads.

PostgreSQL inserts into an HNSW index row by row many times slower than binary COPY into an
unindexed table, and one bulk build is several times faster than that upkeep (the figures:
docs/OPERATIONS.md, "Bulk mode"). So a backfill loads into segments (``segments.py``) and
:func:`maintain` builds an HNSW index over each closed one alone
(``CREATE INDEX CONCURRENTLY … WHERE segment BETWEEN lo AND hi``) while the job goes on loading
the next: the build overlaps the load, so every vector is indexed soon after the last is stored.
When no backfill is loading, the newest indexes are merged into one wider range (an LSM's tiered
merge), so a search reads a handful of indexes. What a new index replaces (the sign bits of its
segments, the narrower indexes a merge retires) goes a grace later (``STALE_COVER_SECONDS``),
since a search reads its cover (``cover.py``) and then its rows in two statements.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from project.embeddings.locks import advisory_lock
from project.embeddings.models import (
    ACTIVE_STATUSES,
    HNSW_OPTIONS,
    Embedding,
    IndexRange,
    Segment,
    UnindexedVector,
    index_supported,
    vector_opclass,
)

__all__ = ["RANGE_PREFIX", "STALE_COVER_SECONDS", "maintain"]

logger = logging.getLogger(__name__)

RANGE_PREFIX = "embedding_hnsw_"  # + "lo_hi"; the live index is models.LIVE_INDEX
LOCK_KEY = 0x746F6C6C  # pg advisory lock: one maintainer at a time (index builds on one table queue anyway)
MERGE_RATIO = 4  # an older index is merged with the newer ones once they hold at least 1/4 of its rows
GRAPH_BYTES_PER_DIMENSION = 4  # float32 in the in-memory graph (halfvec: 2; the estimate errs high)
GRAPH_BYTES_PER_ROW = 600  # neighbour lists (m=16: 32 on layer 0) and bookkeeping, per element
# A search reads its cover, then its rows, in two statements: what a new index replaces is kept
# this long after, so a search that read the cover before still finds every row, through the
# parts it planned. The gap is milliseconds; the next maintain after the grace (beat's) tidies.
STALE_COVER_SECONDS = 60.0


def maintain() -> list[IndexRange] | None:
    """Close the segments of ended jobs, index every closed segment, then merge when nothing loads.

    Runs in a Celery worker (beat asks every sweep, a full segment or an ended job at once).
    Returns the indexes it built, or None when another maintainer holds the lock: the caller
    asks again later, since what it was asked for may have come after that one looked.
    """
    if not index_supported():
        return []
    built: list[IndexRange] = []
    with advisory_lock(LOCK_KEY) as held:
        if not held:
            return None
        _forget_interrupted_builds()
        _forget_replaced()
        _close_ended_segments()
        for lo, hi in _unindexed_runs():
            built.append(_build(lo, hi, workers=_build_workers()))
        if not Segment.objects.filter(state=Segment.State.OPEN).exists():
            run = _merge_candidates()
            if run:
                built.append(_build(run[0].lo, run[-1].hi, workers=_build_workers()))
                _retire(run)
        _forget_replaced()
    return built


def _close_ended_segments() -> None:
    """Open segments whose job is no longer active (completed, paused, cancelled, gone) are closed."""
    ended = Segment.objects.filter(state=Segment.State.OPEN).exclude(job__status__in=ACTIVE_STATUSES)
    ended.update(state=Segment.State.CLOSED, closed_at=timezone.now())


def _covered() -> list[IndexRange]:
    return list(IndexRange.objects.filter(state=IndexRange.State.READY).order_by("lo"))


def _unindexed_runs() -> list[tuple[int, int]]:
    """Runs of consecutive closed segments no ready index covers (an open segment breaks a run)."""
    ranges = _covered()
    runs: list[tuple[int, int]] = []
    for number, state in Segment.objects.order_by("pk").values_list("pk", "state"):
        if any(r.lo <= number <= r.hi for r in ranges):
            continue
        if state == Segment.State.OPEN:
            runs.append((-1, -1))  # a break
            continue
        if runs and runs[-1][1] == number - 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return [run for run in runs if run[0] >= 0]


def _merge_candidates() -> list[IndexRange]:
    """The newest indexes that together hold at least 1/MERGE_RATIO of the next older one's rows."""
    ranges = _covered()
    if len(ranges) < 2:
        return []
    tail = [ranges[-1]]
    for older in reversed(ranges[:-1]):
        if older.rows > MERGE_RATIO * sum(r.rows for r in tail):
            break
        tail.insert(0, older)
    return tail if len(tail) >= 2 else []


def _build_workers() -> int:
    """Parallel maintenance workers for the next build: none while a backfill still loads.

    A build beside loading has the time the next segment takes to fill, and its leader alone
    keeps up; with a parallel worker too it took both cores of a 2-core host for seconds at a
    time, and the workers that keep the provider's window full fell behind (utilization 0.93
    at 20,000 chunks in bench/throughput.py). The build after the last row, which everything
    waits for, and merges get ``TOLLGATE_INDEX_WORKERS``.
    """
    loading = Segment.objects.filter(state=Segment.State.OPEN).exists()
    return 0 if loading else settings.TOLLGATE_INDEX_WORKERS


def _graph_memory_mb(rows: int) -> int:
    per_row = settings.TOLLGATE_DIMENSIONS * GRAPH_BYTES_PER_DIMENSION + GRAPH_BYTES_PER_ROW
    needed = int(rows * per_row * 1.25 / 2**20) + 64
    return max(64, min(settings.TOLLGATE_INDEX_MEMORY_MB, needed))


def _build(lo: int, hi: int, *, workers: int) -> IndexRange:
    """One ``CREATE INDEX CONCURRENTLY`` over segments ``lo``..``hi`` (``workers``: parallel ones beside
    the leader); searches use it once it is ready."""
    table = Embedding._meta.db_table
    name = f"{RANGE_PREFIX}{lo}_{hi}"
    rows = Embedding.objects.filter(segment__gte=lo, segment__lte=hi).count()
    index = IndexRange.objects.create(lo=lo, hi=hi, name=name, rows=rows)
    options = ", ".join(f"{key} = {value}" for key, value in HNSW_OPTIONS.items())
    started = time.monotonic()
    with connection.cursor() as cursor:
        _parallel_workers(cursor, table)
        cursor.execute(f"SET maintenance_work_mem = '{_graph_memory_mb(rows)}MB'")
        cursor.execute(f"SET max_parallel_maintenance_workers = {int(workers)}")
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")  # one an emptied table left behind
        try:
            cursor.execute(
                f"CREATE INDEX CONCURRENTLY {name} ON {table} USING hnsw (vector {vector_opclass()}) "
                f"WITH ({options}) WHERE segment >= {int(lo)} AND segment <= {int(hi)}"
            )
        finally:
            cursor.execute("RESET maintenance_work_mem")
            cursor.execute("RESET max_parallel_maintenance_workers")
    index.state = IndexRange.State.READY
    index.build_seconds = round(time.monotonic() - started, 3)
    index.changed_at = timezone.now()
    index.save(update_fields=["state", "build_seconds", "changed_at"])
    logger.info("indexed segments %s..%s: %s rows in %.1f s", lo, hi, rows, index.build_seconds)
    return index


def _settled() -> Q:
    """Index rows whose state changed at least ``STALE_COVER_SECONDS`` ago (or before that was recorded)."""
    cutoff = timezone.now() - timedelta(seconds=STALE_COVER_SECONDS)
    return Q(changed_at__isnull=True) | Q(changed_at__lte=cutoff)


def _forget_replaced() -> None:
    """What ready indexes replaced a grace ago: the sign bits of their segments, the indexes a merge retired."""
    _forget_indexed_bits()
    for index in IndexRange.objects.filter(_settled(), state=IndexRange.State.RETIRED):
        _drop(index)


def _forget_indexed_bits() -> None:
    """Delete the sign bits (``UnindexedVector``) of rows an index has covered for a grace, or whose segment is gone.

    Only rows named so are deleted, never "all but the unindexed": a segment opened since this
    looked would lose the bits its first rows were given, and a search would miss them. Within
    the grace, a search that read its cover just before the index was ready still scans them.
    """
    ready = IndexRange.objects.filter(_settled(), state=IndexRange.State.READY)
    covered = ready.filter(lo__lte=OuterRef("segment"), hi__gte=OuterRef("segment"))
    kept = Segment.objects.filter(pk=OuterRef("segment"))
    UnindexedVector.objects.filter(Exists(covered) | ~Exists(kept)).delete()


def _parallel_workers(cursor: object, table: str) -> None:
    """Let the build use its parallel workers: the table's own size would say none.

    PostgreSQL plans a build's workers from the heap's size, and vectors too large to be kept in
    the row (``models.vector_inline``) live in TOAST, so the heap looks small; the table's
    ``parallel_workers`` setting overrides that estimate.
    """
    wanted = f"parallel_workers={int(settings.TOLLGATE_INDEX_WORKERS)}"
    cursor.execute("SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = %s::regclass", [table])
    if wanted not in cursor.fetchone()[0]:
        cursor.execute(f"ALTER TABLE {table} SET ({wanted})")


def _retire(replaced: list[IndexRange]) -> None:
    """Retire the indexes a merge replaced: new searches read the wider one, and a later maintain
    drops them once a search that read its cover before can no longer plan with them."""
    retired = IndexRange.objects.filter(pk__in=[r.pk for r in replaced])
    retired.update(state=IndexRange.State.RETIRED, changed_at=timezone.now())


def _drop(index: IndexRange) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index.name}")
    index.delete()


def _forget_interrupted_builds() -> None:
    """A build whose maintainer died left an invalid index (or none) and a row: drop both, build again.

    Indexes of ours that no row names (their rows were deleted, as an emptied table's are)
    are dropped too: each would otherwise be maintained for segment numbers no longer in use.
    """
    for index in IndexRange.objects.filter(state=IndexRange.State.BUILDING):
        _drop(index)
    known = set(IndexRange.objects.values_list("name", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname LIKE %s",
            [Embedding._meta.db_table, f"{RANGE_PREFIX}%"],
        )
        orphans = [name for (name,) in cursor.fetchall() if name not in known]
        for name in orphans:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


