"""Bulk mode's read side: how a search reads every segment exactly once, and where a job's rows stand.

Each ready index serves the segments it covers; the rows of segments no index covers yet are
found by their sign bits (``UnindexedVector``) and ranked exactly (``search/nearest.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from django.db import connection

from project.embeddings.models import LIVE_INDEX, LIVE_SEGMENT, Embedding, EmbeddingJob, IndexRange, Segment

__all__ = ["BuildProgress", "Cover", "JobIndex", "builds_running", "job_index", "search_cover"]


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
