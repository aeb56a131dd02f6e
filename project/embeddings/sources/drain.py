"""A sync cycle: drain a source's change queue and backfills into its versions, a transaction per batch.

Each step is one transaction that takes up to :data:`BATCH_ROWS` queued changes
(``DELETE … RETURNING`` over ``FOR UPDATE SKIP LOCKED``), reads the rows' current texts and
applies them to every version (``rows.py``); then one that reads the next batch of a version's
backfill (a keyset scan in the id's order, its cursor committed with the batch). A process that
dies mid-step rolls its step back: the changes stay queued, the cursor where it was. Repeated
changes to a row collapse into one read of its text now, so the last text wins and is sent once.

The documents a cycle makes join one streaming job per version (two while a version backfills:
its backfill on its own lane, the changes on the sync lane), planned as each step commits
(``plan/enqueue.py:batch_enqueue``), exactly as ``tollgate run`` streams an ingest: paced,
laned and loaded in bulk by the job's expected size. The cycle holds each job's ingest lock and
ends the jobs' ingests when it ends; one cycle of a source runs at a time (an advisory lock).

Example::

    report = source_drain(source)  # None: another process is draining this source
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime

from django.db import ProgrammingError, connection, transaction
from django.utils import timezone
from psycopg import sql

from project.embeddings.jobs.ingesting import INGEST_LOCK, ingest_end
from project.embeddings.jobs.lifecycle import job_create, job_resume
from project.embeddings.locks import advisory_lock
from project.embeddings.models import (
    Document,
    EmbeddingJob,
    Lane,
    Source,
    SourceChange,
    SourceJob,
    SourceRow,
    SourceVersion,
    Status,
)
from project.embeddings.plan.enqueue import batch_enqueue, plan_held
from project.embeddings.sources.capture import BROKEN, TRUNCATE, source_table
from project.embeddings.sources.errors import SourceError
from project.embeddings.sources.purge import documents_delete, unmapped_documents
from project.embeddings.sources.rows import Applied, rows_apply
from project.embeddings.sources.tables import Table, quoted, row_texts, table_ids_after

__all__ = ["BATCH_ROWS", "SOURCE_LOCK", "CycleReport", "source_drain"]

BATCH_ROWS = 1000  # rows a step takes: an ingest batch's worth, a few hundred milliseconds of work
SOURCE_LOCK = 0x736F7572  # pg advisory lock (with the source's id): one cycle of a source at a time
BYTES_PER_TOKEN = 4  # a guess of a table's tokens from its bytes, for the backfill job's expected size


@dataclass
class CycleReport:
    changes: int = 0  # queued changes taken
    rows: int = 0  # distinct rows they named
    backfilled: int = 0  # rows read by backfills
    applied: Applied = field(default_factory=Applied)
    jobs: list[int] = field(default_factory=list)


def source_drain(
    source: Source, *, seconds: float | None = None, stop: threading.Event | None = None
) -> CycleReport | None:
    """Drain the source's queue and backfills until nothing is left (or ``seconds`` pass, or ``stop`` is set).

    Returns None when another process is draining this source. An error in a step (the table
    gone, a column renamed) rolls that step back and is raised as one :class:`SourceError`; the
    steps before stay, and their jobs go on.
    """
    with advisory_lock(SOURCE_LOCK, source.pk) as held:
        if not held:
            return None
        _resume_interrupted(source)
        cycle = _Cycle(source)
        deadline = None if seconds is None else time.monotonic() + seconds
        try:
            while not (stop is not None and stop.is_set()) and (deadline is None or time.monotonic() < deadline):
                if not cycle.step():
                    break
        except ProgrammingError as exc:  # the table or a column is gone or renamed
            reason = " ".join(str(exc).split())
            raise SourceError(
                f"source {source.name}: {reason} (`tollgate sources add --replace` follows a change)"
            ) from exc
        finally:
            cycle.close()
        return cycle.report


class _Cycle:
    """One drain of one source: its steps, and the jobs they opened (one per version and kind)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.table = source_table(source)
        self.report = CycleReport()
        self.jobs: dict[tuple[int, bool], EmbeddingJob] = {}
        self.held: dict[int, bool] = {}  # job id -> a batch of it was held for planning at the end
        self.locks = ExitStack()

    def step(self) -> bool:
        """One transaction of changes, then one of backfill; whether either found work."""
        return self._changes() | self._backfill()

    def _changes(self) -> bool:
        with transaction.atomic():
            taken = _claim(self.source.pk, BATCH_ROWS)
            if not taken:
                return False
            versions = _versions(self.source)
            markers = [(op, row_id) for row_id, op, _ in taken if op in (TRUNCATE, BROKEN)]
            if markers:
                _check_every_row(self.source, versions, markers)
            first: dict[str, datetime] = {}
            for row_id, op, at in taken:
                if row_id is not None and op not in (TRUNCATE, BROKEN):
                    first[row_id] = min(first.get(row_id, at), at)
            ids = sorted(first)
            texts = row_texts(self.table, ids)
            for version in versions:
                send = self._sender(version, in_hand=len(ids))
                self.report.applied.merge(
                    rows_apply(version, ids=ids, texts=texts, changed_at=first, on_documents=send)
                )
            self.report.changes += len(taken)
            self.report.rows += len(ids)
            return True

    def _backfill(self) -> bool:
        with transaction.atomic():
            version = (
                SourceVersion.objects.select_for_update(no_key=True)
                .select_related("source")
                .filter(source=self.source, backfilled_at__isnull=True)
                .order_by("number")
                .first()
            )
            if version is None:
                return False
            ids = table_ids_after(self.table, version.backfill_after, BATCH_ROWS)
            texts = row_texts(self.table, ids)
            send = self._sender(version, in_hand=len(ids), backfill=True)
            applied = rows_apply(version, ids=ids, texts=texts, changed_at=timezone.now(), on_documents=send)
            self.report.applied.merge(applied)
            self.report.backfilled += len(ids)
            update = {"backfill_after": ids[-1] if ids else version.backfill_after}
            if len(ids) < BATCH_ROWS:  # the scan reached the last row: rows mapped but gone are unmapped
                _unmap_missing(version, self.table)
                update["backfilled_at"] = timezone.now()
            SourceVersion.objects.filter(pk=version.pk).update(**update)
            return True

    def _sender(
        self, version: SourceVersion, *, in_hand: int, backfill: bool = False
    ) -> Callable[[list[Document]], None]:
        """What a batch of new documents is handed to: the cycle's job for this version and kind."""

        def send(documents: list[Document]) -> None:
            job = self._job(version, backfill=backfill, in_hand=in_hand)
            # a backfill is planned like `tollgate run`'s ingest; changes go out as each step commits
            self.held[job.pk] = batch_enqueue(job, documents, hold=backfill).held or self.held.get(job.pk, False)

        return send

    def _job(self, version: SourceVersion, *, backfill: bool, in_hand: int) -> EmbeddingJob:
        key = (version.pk, backfill)
        if key not in self.jobs:
            expected = _expected_tokens(self.table, backfill=backfill, source_id=self.source.pk, in_hand=in_hand)
            job = job_create(
                documents=[],
                model=version.model,
                dimensions=version.dimensions,
                owner=self.source.owner,
                ingesting=True,
                lane=version.lane if backfill else Lane.SYNC,
                expected_tokens=expected,
            )
            SourceJob.objects.create(version=version, job=job, backfill=backfill)
            # Held for the cycle's length: if this process dies, the sweep ends the job's ingest.
            self.locks.enter_context(advisory_lock(INGEST_LOCK, job.pk))
            self.jobs[key] = job
            self.report.jobs.append(job.pk)
        return self.jobs[key]

    def close(self) -> None:
        """End the ingests of the cycle's jobs: each completes once its work is stored."""
        try:
            for job in self.jobs.values():
                if not EmbeddingJob.objects.filter(pk=job.pk).exists():  # made in a step that rolled back
                    continue
                if self.held.get(job.pk):  # a short job: its groups are formed whole now
                    plan_held(job)
                ingest_end(job.pk)
        finally:
            self.locks.close()


def _resume_interrupted(source: Source) -> None:
    """Send again what a cycle whose process died had committed: the sweep failed its jobs (``ingests_gone``).

    Their documents' rows are mapped already, so a later cycle finds their texts unchanged and
    would never plan them; resuming the jobs plans exactly what they still lack.
    """
    failed = EmbeddingJob.objects.filter(source_job__version__source=source, status=Status.FAILED)
    for job_id in failed.values_list("pk", flat=True):
        job_resume(job_id=job_id)


def _claim(source_id: int, limit: int) -> list[tuple[str | None, str, datetime]]:
    """Take up to ``limit`` of the source's oldest queued changes: ``(row_id, op, created_at)`` each."""
    table = SourceChange._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE source_id = %s ORDER BY id LIMIT %s "
            "FOR UPDATE SKIP LOCKED) RETURNING row_id, op, created_at",
            [source_id, limit],
        )
        return cursor.fetchall()


def _versions(source: Source) -> list[SourceVersion]:
    """Every version of the source follows its changes: building, current, and retired until dropped."""
    return list(SourceVersion.objects.filter(source=source).select_related("source").order_by("number"))


def _check_every_row(source: Source, versions: list[SourceVersion], markers: list[tuple[str, str | None]]) -> None:
    """After a TRUNCATE, or a capture the trigger could not record: every version reads every row again.

    Unchanged texts cost nothing (their hashes match); rows gone are unmapped when the scan ends.
    """
    broken = [row_id for op, row_id in markers if op == BROKEN]
    if broken:
        Source.objects.filter(pk=source.pk).update(capture_error=broken[-1] or "the capture trigger failed")
    SourceVersion.objects.filter(pk__in=[v.pk for v in versions]).update(backfill_after=None, backfilled_at=None)


def _unmap_missing(version: SourceVersion, table: Table) -> None:
    """Unmap the version's rows that are no longer in the table (a TRUNCATE, a capture lost), and their documents."""
    query = sql.SQL(
        "DELETE FROM {rows} r WHERE r.version_id = %s AND NOT EXISTS "
        "(SELECT 1 FROM {table} t WHERE t.{id} = r.row_id::{type}) RETURNING r.document_id"
    ).format(
        rows=sql.Identifier(SourceRow._meta.db_table),
        table=table.identifier,
        id=sql.Identifier(table.id_column),
        type=sql.SQL(table.id_type),
    )
    with connection.cursor() as cursor:
        cursor.execute(quoted(query), [version.pk])
        documents = sorted({row[0] for row in cursor.fetchall()})
    if documents:
        documents_delete(unmapped_documents(version.collection, owner_id=version.source.owner_id, among=documents))


def _expected_tokens(table: Table, *, backfill: bool, source_id: int, in_hand: int) -> int:
    """About how many tokens the job will hold, at the table's bytes a row: the whole table's for a
    backfill, else the rows in hand and those still queued. Sizes its first batches (lane, pacing,
    bulk mode) as ``tollgate run``'s guess from file sizes does."""
    columns = sql.SQL(" + ").join(
        sql.SQL("coalesce(octet_length({}::text), 0)").format(sql.Identifier(c)) for c in table.text_columns
    )
    sample = sql.SQL("SELECT avg({}) FROM (SELECT * FROM {} LIMIT 1000) t").format(columns, table.identifier)
    with connection.cursor() as cursor:
        cursor.execute(quoted(sample))
        per_row = float(cursor.fetchone()[0] or 0)
        if backfill:
            rows = _table_rows(cursor, table)
        else:
            cursor.execute(f"SELECT count(*) FROM {SourceChange._meta.db_table} WHERE source_id = %s", [source_id])
            rows = cursor.fetchone()[0] + in_hand
    return round(rows * per_row / BYTES_PER_TOKEN)


def _table_rows(cursor, table: Table) -> int:
    """The table's rows as PostgreSQL's statistics have them; counted (up to a million) if never analyzed."""
    cursor.execute(
        "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass(%s)", [quoted(table.identifier)]
    )
    rows = cursor.fetchone()[0] or 0
    if rows == 0:
        cursor.execute(
            quoted(sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT 1000000) t").format(table.identifier))
        )
        rows = cursor.fetchone()[0]
    return rows
