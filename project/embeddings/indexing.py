"""Bulk mode: a backfill loads its rows outside the live HNSW index, and each segment is indexed in one build.

Why (measured on 2 cores, 1,536 dimensions, docs/OPERATIONS.md "Bulk mode"): PostgreSQL inserts
into an HNSW index row by row at about 280 rows/s, while binary COPY into an unindexed table
runs at about 25,000 rows/s and one bulk build (``CREATE INDEX``, the graph in
``maintenance_work_mem``, a parallel worker) at about 800 rows/s. A Tier-5 account at 512-token
chunks needs about 330 rows/s: maintained row by row, PostgreSQL would be the ceiling.

So a job of at least ``TOLLGATE_BULK_MIN_CHUNKS`` chunks writes into an open **segment** (a
number in ``Embedding.segment``), which no index covers. When the segment holds
``TOLLGATE_SEGMENT_ROWS`` rows and as many as the job's earlier segments together (so sizes
double, up to four times the setting, and a search reads few indexes), or its job ends, it is closed, and :func:`maintain` builds an
HNSW index over it alone (``CREATE INDEX CONCURRENTLY … WHERE segment BETWEEN lo AND hi``),
while the job goes on loading the next one: the build overlaps the load, so every vector is
indexed soon after the last is stored. When no backfill is loading, the newest indexes are
merged into one wider range (an LSM's tiered merge), so a search reads a handful of indexes.

Searches stay correct throughout (:func:`search_cover`): each ready index serves the segments
it covers, and the rows of segments no index covers yet are found by their sign bits
(``UnindexedVector``, 192 bytes a row instead of 6 KB, kept by a trigger until a grace after
the segment's index is ready) and ranked exactly, then the parts are merged by distance. Small
and interactive jobs write segment 0, the live index, and are searchable at once.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from project.celery import INDEX_MAINTAIN, app

from project.embeddings.locks import advisory_lock
from project.embeddings.models import (
    ACTIVE_STATUSES,
    HNSW_OPTIONS,
    LIVE_INDEX,
    LIVE_SEGMENT,
    Embedding,
    EmbeddingJob,
    IndexRange,
    Segment,
    UnindexedVector,
    index_supported,
    vector_opclass,
)

logger = logging.getLogger(__name__)

RANGE_PREFIX = "embedding_hnsw_"  # + "lo_hi"; the live index is models.LIVE_INDEX
LOCK_KEY = 0x746F6C6C  # pg advisory lock: one maintainer at a time (index builds on one table queue anyway)
MAX_SEGMENT_GROWTH = 4  # a segment holds at most this many times TOLLGATE_SEGMENT_ROWS
MERGE_RATIO = 4  # an older index is merged with the newer ones once they hold at least 1/4 of its rows
GRAPH_BYTES_PER_DIMENSION = 4  # float32 in the in-memory graph (halfvec: 2; the estimate errs high)
GRAPH_BYTES_PER_ROW = 600  # neighbour lists (m=16: 32 on layer 0) and bookkeeping, per element
# A search reads its cover (search_cover), then its rows, in two statements: what a new index
# replaces (the sign bits of its segments, the narrower indexes a merge retires) is kept this
# long after, so a search that read the cover before still finds every row, through the parts it
# planned. The gap is milliseconds; the next maintain after the grace (beat's, each sweep) tidies.
STALE_COVER_SECONDS = 60.0


@dataclass(frozen=True)
class Cover:
    """How a search reads every segment exactly once: index ranges, and segments scanned exactly.

    ``live``: whether the live index may hold the rows searched. ``models``: the model of each
    segment's job (None: the job was deleted), from which :meth:`for_model` keeps only what may
    hold one model's rows.
    """

    ranges: tuple[tuple[int, int], ...]
    exact: tuple[int, ...]
    live: bool = True
    models: dict[int, str | None] = field(default_factory=dict, compare=False, repr=False)
    # Rows of each range's index (its build's count) and of the live index (PostgreSQL's estimate).
    rows: dict[tuple[int, int], int] = field(default_factory=dict, compare=False, repr=False)
    live_rows: int = field(default=0, compare=False, repr=False)

    @property
    def live_only(self) -> bool:
        return not self.ranges and not self.exact

    def for_model(self, model: str, *, live: bool = True) -> Cover:
        """The indexes and segments that may hold ``model``'s rows.

        A search reads no index of another model's segments: an HNSW scan filtered to a model
        its index does not hold finds nothing until it has read ``hnsw.max_scan_tuples`` of it,
        and a search of one model beside another's loading backfill (six segment indexes) took
        465-694 ms instead of 2-5 (bench/search.py's ``other_model``). A range with a segment of
        unknown model, or none known, is read.
        """

        def may_hold(lo: int, hi: int) -> bool:
            owners = [owner for number, owner in self.models.items() if lo <= number <= hi]
            return not owners or any(owner in (model, None) for owner in owners)

        return dataclasses.replace(
            self,
            ranges=tuple(r for r in self.ranges if may_hold(*r)),
            exact=tuple(s for s in self.exact if may_hold(s, s)),
            live=self.live and live,
        )

    def largest_share(self) -> float:
        """The largest index's share of the rows the search's indexes hold (equal shares if unknown)."""
        sizes = [self.rows.get(r, 0) for r in self.ranges] + [self.live_rows if self.live else 0]
        return max(sizes) / sum(sizes) if sum(sizes) else 1 / max(1, len(self.ranges))

    @property
    def exact_model_unknown(self) -> bool:
        """Whether a segment scanned exactly has no known model, so its rows' model must be checked."""
        return any(self.models.get(s) is None for s in self.exact)


@dataclass(frozen=True)
class BuildProgress:
    """An index build as ``pg_stat_progress_create_index`` reports it."""

    name: str
    lo: int
    hi: int
    rows: int
    phase: str
    tuples_done: int
    tuples_total: int

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.tuples_done / self.tuples_total, 1) if self.tuples_total else None


# --- the load side: which segment a job writes ---------------------------------------------------


def bulk_wanted(chunks: int, *, interactive: bool) -> bool:
    """Whether a job writing ``chunks`` new rows should load outside the live index."""
    return index_supported() and not interactive and chunks >= settings.TOLLGATE_BULK_MIN_CHUNKS


def segment_open(number: int) -> bool:
    """Whether ``number`` is a bulk segment a job is still loading."""
    return number != LIVE_SEGMENT and Segment.objects.filter(pk=number, state=Segment.State.OPEN).exists()


def job_segment_open(job_id: int) -> int:
    """Give the job an open segment to load into (its current one if still open); returns its number."""
    with transaction.atomic():
        job = EmbeddingJob.objects.select_for_update().get(pk=job_id)
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


def segment_count(segment: int, rows: int) -> None:
    """Count rows stored into a bulk segment (in the storing transaction): a counter, not a count(*) per group."""
    if segment != LIVE_SEGMENT and rows:
        Segment.objects.filter(pk=segment).update(rows=F("rows") + rows)


def segment_filled(job_id: int, segment: int) -> bool:
    """After a store: close ``segment`` once it holds a segment's rows, open the next, ask for a build.

    Only one caller wins the conditional UPDATE that closes it; rows a late task still writes
    into a closed segment are found exactly until its index is built, and kept by it after.
    """
    if segment == LIVE_SEGMENT:
        return False
    rows = Segment.objects.filter(pk=segment).values_list("rows", flat=True).first() or 0
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
    return row["total_chunks"] - row["embedded_chunks"] - row["failed_chunks"] <= tail


def _earlier_rows(job_id: int, segment: int) -> int:
    """Rows of the job's segments before ``segment``: each segment is at least as large as those together.

    Segments double (5k, 5k, 10k, 20k, then 20k each: at most MAX_SEGMENT_GROWTH times the
    setting), so a backfill leaves few indexes for a search to read until they merge (7 for
    100,000 rows, not 20), while the open segment a search scans exactly, and the build after
    the last row, stay bounded.
    """
    earlier = Segment.objects.filter(job_id=job_id, pk__lt=segment).aggregate(rows=Sum("rows"))
    return earlier["rows"] or 0


def maintain_soon() -> None:
    """Ask a worker to build what is waiting (after the current transaction commits)."""
    transaction.on_commit(lambda: app.send_task(INDEX_MAINTAIN))


# --- the maintainer: builds and merges ------------------------------------------------------------


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


# --- the read side ---------------------------------------------------------------------------------


def search_cover(model: str | None = None) -> Cover:
    """The widest ready indexes that do not overlap, and the bulk segments none of them covers.

    Given ``model``, only those that may hold its rows, and whether the live index holds any
    (:meth:`Cover.for_model`).
    """
    live = (
        f"UNION ALL (SELECT 'live', NULL, NULL, model, NULL FROM {Embedding._meta.db_table} "
        f"WHERE segment = {LIVE_SEGMENT} AND model = %s LIMIT 1)"  # embedding_live_model
        if model is not None
        else ""
    )
    with connection.cursor() as cursor:  # one round trip: every search reads this first
        cursor.execute(
            f"SELECT 'range', lo, hi, NULL, rows FROM {IndexRange._meta.db_table} WHERE state = %s "
            f"UNION ALL SELECT 'segment', s.id, NULL, j.model, NULL FROM {Segment._meta.db_table} AS s "
            f"LEFT JOIN {EmbeddingJob._meta.db_table} AS j ON j.id = s.job_id "
            f"UNION ALL SELECT 'live rows', NULL, NULL, NULL, greatest(reltuples, 0)::bigint FROM pg_class "
            f"WHERE oid = to_regclass(%s) {live}",
            [IndexRange.State.READY, LIVE_INDEX] + ([model] if model is not None else []),
        )
        rows = cursor.fetchall()
    chosen: list[tuple[int, int]] = []
    ready = {(lo, hi): count for kind, lo, hi, _, count in rows if kind == "range"}
    for lo, hi in sorted(ready, key=lambda r: (r[0] - r[1], r[0])):
        if all(hi < c_lo or lo > c_hi for c_lo, c_hi in chosen):
            chosen.append((lo, hi))
    models = {number: owner for kind, number, _, owner, _ in rows if kind == "segment"}
    exact = tuple(s for s in sorted(models) if not any(lo <= s <= hi for lo, hi in chosen))
    cover = Cover(
        ranges=tuple(sorted(chosen)), exact=exact, models=models, rows={r: ready[r] for r in chosen},
        live_rows=next((count for kind, *_, count in rows if kind == "live rows"), 0),
    )  # fmt: skip
    return cover if model is None else cover.for_model(model, live=any(kind == "live" for kind, *_ in rows))


@dataclass(frozen=True)
class JobIndex:
    """Where a job's rows stand in the index, for the job's page, the API and ``tollgate run``."""

    state: str  # "live": indexed as stored; "loading", "building", "indexed": a backfill's segments
    unindexed_rows: int  # stored rows a search still finds by exact scan
    builds: tuple[BuildProgress, ...]


def job_index(job: EmbeddingJob) -> JobIndex:
    """The job's segments: still loading, waiting for or in a bulk build, or all indexed."""
    segments = list(Segment.objects.filter(job=job).values_list("pk", "state"))
    if not segments:
        return JobIndex("live", 0, ())
    cover = search_cover()
    exact = [number for number, _ in segments if number in cover.exact]
    unindexed = Embedding.objects.filter(segment__in=exact).count() if exact else 0
    numbers = {number for number, _ in segments}
    builds = tuple(b for b in builds_running() if any(b.lo <= n <= b.hi for n in numbers))
    if any(state == Segment.State.OPEN for _, state in segments):
        state = "loading"
    elif exact:
        state = "building"
    else:
        state = "indexed"  # a merge may still be building: searches use the segment indexes meanwhile
    return JobIndex(state, unindexed, builds)


def builds_running() -> list[BuildProgress]:
    """Index builds in progress, from ``pg_stat_progress_create_index``."""
    names = {r.name: r for r in IndexRange.objects.filter(state=IndexRange.State.BUILDING)}
    if not names:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, p.phase, p.tuples_done, p.tuples_total FROM pg_stat_progress_create_index p "
            "JOIN pg_class c ON c.oid = p.index_relid WHERE c.relname = ANY(%s)",
            [list(names)],
        )
        found = {name: (phase, done, total) for name, phase, done, total in cursor.fetchall()}
    progress = []
    for name, index in names.items():
        phase, done, total = found.get(name, ("waiting to start", 0, 0))
        progress.append(BuildProgress(name, index.lo, index.hi, index.rows, phase, done, total))
    return progress
