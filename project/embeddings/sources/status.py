"""What a source stands at, as every face shows it: rows, embedded, pending, lag, versions, a migration's progress.

Read from the database at once, never from counters: ``rows`` is the table's count; a row is
**embedded** (for a version) when every chunk of its text has that version's vector, **failed**
when a chunk of it was refused, and **pending** when it is queued, not yet read by the
version's backfill, or read and waiting for its vectors. The **lag** is the age of the oldest
pending change of the current version (0 when nothing is pending): how stale a search can be.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.db import ProgrammingError, connection, transaction
from django.utils import timezone
from psycopg import sql

from project.embeddings.models import (
    Chunk,
    Embedding,
    FailedChunk,
    Source,
    SourceChange,
    SourceRow,
    SourceState,
    SourceVersion,
)
from project.embeddings.owners import Viewer, visible
from project.embeddings.sources.capture import source_table
from project.embeddings.sources.tables import quoted
from project.embeddings.sources.versions import version_progress
from project.embeddings.sources.view import function_name, view_name

__all__ = ["SourceStatus", "VersionStatus", "source_status", "sources_statuses"]


@dataclass(frozen=True)
class VersionStatus:
    number: int
    model: str
    dimensions: int
    state: str
    lane: str
    rows: int  # rows it holds (those with text)
    embedded: int
    pending: int  # held, waiting for vectors; plus rows its backfill has yet to read
    failed: int
    unread: int  # rows its backfill has yet to read
    backfilled: bool
    complete: bool
    hold: bool
    created_at: datetime
    current_at: datetime | None
    oldest_pending: datetime | None = field(default=None, repr=False)

    @property
    def progress(self) -> float:
        """Its share of the rows embedded, read or not yet (a migration's progress)."""
        total = self.rows + self.unread
        return round(self.embedded / total, 4) if total else 1.0


@dataclass(frozen=True)
class SourceStatus:
    name: str
    table: str
    id_column: str
    text_columns: list[str]
    owner: str
    model: str  # the current version's
    dimensions: int
    rows: int  # the table's rows
    embedded: int  # of them, embedded in the current version
    pending: int  # changes queued (distinct rows) and the current version's pending rows
    failed: int
    queued: int  # changes in the queue
    lag_seconds: float
    versions: list[VersionStatus]
    view: str
    nearest: str
    capture_error: str = ""

    def as_dict(self) -> dict:
        data = asdict(self)
        for version, status in zip(data["versions"], self.versions, strict=True):
            version.pop("oldest_pending")
            version["progress"] = status.progress
            for name in ("created_at", "current_at"):
                version[name] = version[name].isoformat() if version[name] else None
        return data


def sources_statuses(*, viewer: Viewer = None) -> list[SourceStatus]:
    """Every source ``viewer`` may see, by name (None: every one, for the operator and /metrics)."""
    return [source_status(source) for source in visible(Source.objects.all(), viewer=viewer).order_by("name")]


def source_status(source: Source) -> SourceStatus:
    table = source_table(source)
    now = timezone.now()
    error = source.capture_error
    with connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute(quoted(sql.SQL("SELECT count(*) FROM {}").format(table.identifier)))
                rows = cursor.fetchone()[0]
        except ProgrammingError as exc:  # the table is gone or renamed: its versions are still shown
            rows, error = 0, " ".join(str(exc).split())
        cursor.execute(
            f"SELECT count(*), count(DISTINCT row_id), min(created_at) FROM {SourceChange._meta.db_table} "
            "WHERE source_id = %s",
            [source.pk],
        )
        queued, queued_rows, oldest_queued = cursor.fetchone()
    versions = [_version_status(version, table_rows=rows) for version in source.versions.order_by("number")]
    current = next((v for v in versions if v.state == SourceState.CURRENT), versions[0])
    oldest = min((t for t in (oldest_queued, current.oldest_pending) if t is not None), default=None)
    if current.unread:  # its backfill is under way: its rows wait since it began
        started = source.versions.get(number=current.number).created_at
        oldest = min(oldest or now, started)
    return SourceStatus(
        name=source.name,
        table=f"{source.schema}.{source.table}",
        id_column=source.id_column,
        text_columns=list(source.text_columns),
        owner=source.owner.get_username(),
        model=current.model,
        dimensions=current.dimensions,
        rows=rows,
        embedded=current.embedded,
        pending=queued_rows + current.pending,
        failed=current.failed,
        queued=queued,
        lag_seconds=round((now - oldest).total_seconds(), 3) if oldest is not None else 0.0,
        versions=versions,
        view=view_name(source),
        nearest=function_name(source),
        capture_error=error,
    )


def _version_status(version: SourceVersion, *, table_rows: int) -> VersionStatus:
    """One statement: the version's rows by state (embedded, failed, pending), and the oldest pending's change."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH held AS (
                SELECT r.document_id, count(*) AS rows, min(r.changed_at) AS changed_at
                FROM {SourceRow._meta.db_table} r WHERE r.version_id = %(version)s GROUP BY r.document_id
            ), documents AS (
                SELECT h.rows, h.changed_at,
                    EXISTS (SELECT 1 FROM {Chunk._meta.db_table} c WHERE c.document_id = h.document_id
                            AND EXISTS (SELECT 1 FROM {FailedChunk._meta.db_table} f WHERE f.chunk_id = c.id)
                            AND NOT EXISTS (SELECT 1 FROM {Embedding._meta.db_table} e
                                            WHERE e.chunk_id = c.id AND e.model = %(model)s)) AS failed,
                    EXISTS (SELECT 1 FROM {Chunk._meta.db_table} c WHERE c.document_id = h.document_id
                            AND NOT EXISTS (SELECT 1 FROM {Embedding._meta.db_table} e
                                            WHERE e.chunk_id = c.id AND e.model = %(model)s)) AS unembedded
                FROM held h
            )
            SELECT coalesce(sum(rows), 0)::bigint,
                   coalesce(sum(rows) FILTER (WHERE failed), 0)::bigint,
                   coalesce(sum(rows) FILTER (WHERE unembedded AND NOT failed), 0)::bigint,
                   min(changed_at) FILTER (WHERE unembedded AND NOT failed)
            FROM documents""",
            {"version": version.pk, "model": version.model},
        )
        held, failed, waiting, oldest = cursor.fetchone()
    unread = 0 if version.backfilled_at is not None else max(0, table_rows - held)
    progress = version_progress(version)
    return VersionStatus(
        number=version.number,
        model=version.model,
        dimensions=version.dimensions,
        state=version.state,
        lane=version.lane,
        rows=held,
        embedded=held - failed - waiting,
        pending=waiting + unread,
        failed=failed,
        unread=unread,
        backfilled=version.backfilled_at is not None,
        complete=progress.complete,
        hold=version.hold,
        created_at=version.created_at,
        current_at=version.current_at,
        oldest_pending=oldest,
    )
