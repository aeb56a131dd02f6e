"""A job's counters without a queue: workers append tallies, which are folded into the job's row in batches.

A row that every group's transaction updates is a queue every worker stands in: with four
workers storing groups of short texts, most of a group's time went to waiting for the job's
row and the open segment's row (``Lock:tuple`` in ``pg_stat_activity``; docs/OPERATIONS.md,
"Filling the limit"). A :class:`~project.embeddings.models.JobTally` row is appended instead,
which no other worker ever waits for, and :func:`fold` moves the tallies into the job's row
(and the segments' row counts) in one statement: at most every ``FOLD_SECONDS`` per process
while a job runs (:func:`fold_soon`), and always before the job may complete
(``status.finish_if_done``), so the counters are exact once a job ends and at most a fraction of
a second behind while it runs. :func:`unfolded` reads what is not folded yet, for the checks
that must count everything (completion, closing a segment).

Example::

    add(job.pk, requests=1, http_429=1)  # a 429
    fold(job.pk)  # the job's row now counts it
"""

from __future__ import annotations

import copy
import time

from django.db import connection, transaction

from project.embeddings.models import EmbeddingJob, JobTally, Segment

__all__ = ["COUNTERS", "FOLD_SECONDS", "add", "add_sql", "fold", "fold_soon", "fold_stale", "segment_rows", "unfolded", "with_unfolded"]

# The job counters a tally carries (each the job's column of the same name).
COUNTERS = (
    "embedded_chunks",
    "embedded_tokens",
    "batch_tokens",
    "reused_chunks",
    "reused_tokens",
    "groups_done",
    "requests",
    "http_429",
    "limiter_waits",
)
FOLD_SECONDS = 0.5  # a running job's row is at most about this far behind its tallies

_TALLY = JobTally._meta.db_table
_JOB = EmbeddingJob._meta.db_table
_SEGMENT = Segment._meta.db_table
_last_fold: dict[int, float] = {}  # job id -> when this process last folded it (monotonic)


def add_sql() -> str:
    """``INSERT`` of one tally with named parameters ``job``, ``segment``, ``rows`` and each of ``COUNTERS``."""
    columns = ("job_id", "segment", "rows", *COUNTERS, "created_at")
    values = ("%(job)s", "%(segment)s", "%(rows)s", *(f"%({name})s" for name in COUNTERS), "now()")
    return f"INSERT INTO {_TALLY} ({', '.join(columns)}) VALUES ({', '.join(values)})"


def add(job_id: int, *, segment: int = 0, rows: int = 0, **counts: int) -> None:
    """Append a tally: ``counts`` by counter name (``COUNTERS``), ``rows`` stored into ``segment``."""
    unknown = set(counts) - set(COUNTERS)
    if unknown:
        raise ValueError(f"not a job counter: {', '.join(sorted(unknown))}")
    if not rows and not any(counts.values()):
        return
    params = {"job": job_id, "segment": segment, "rows": rows, **dict.fromkeys(COUNTERS, 0), **counts}
    with connection.cursor() as cursor:
        cursor.execute(add_sql(), params)


def fold(job_id: int, *, wait: bool = True) -> bool:
    """Move the job's tallies into its row and its segments' row counts, in one statement.

    The job's row is locked first, as every other writer of it does (a plan, a completion), so
    a fold inside their transaction takes nothing more and two of them never wait on each other
    in turn. ``wait=False`` returns False at once when another holds the row (a fold, a plan).
    Each tally is deleted by exactly one fold (``DELETE … RETURNING``): none is counted twice.
    """
    sums = ", ".join(f"coalesce(sum({name}), 0) AS {name}" for name in COUNTERS)
    moves = ", ".join(f"{name} = j.{name} + s.{name}" for name in COUNTERS)
    with transaction.atomic(), connection.cursor() as cursor:
        skip = "" if wait else " SKIP LOCKED"
        cursor.execute(f"SELECT 1 FROM {_JOB} WHERE id = %s FOR NO KEY UPDATE{skip}", [job_id])
        if cursor.fetchone() is None:  # gone, or (not waiting) locked by another
            return False
        cursor.execute(
            f"""
            WITH moved AS (DELETE FROM {_TALLY} WHERE job_id = %(job)s RETURNING *),
            segments AS (
                UPDATE {_SEGMENT} AS seg SET rows = seg.rows + m.rows
                FROM (SELECT segment, sum(rows) AS rows FROM moved WHERE segment <> 0 GROUP BY segment) AS m
                WHERE seg.id = m.segment
            ),
            s AS (SELECT count(*) AS n, max(created_at) AS last, {sums} FROM moved)
            UPDATE {_JOB} AS j SET {moves},
                progressed_at = CASE WHEN s.embedded_chunks + s.reused_chunks > 0
                    THEN greatest(j.progressed_at, s.last) ELSE j.progressed_at END
            FROM s WHERE j.id = %(job)s AND s.n > 0
            """,
            {"job": job_id},
        )
    _last_fold[job_id] = time.monotonic()
    return True


def fold_soon(job_id: int) -> None:
    """Fold the job's tallies if this process has not for ``FOLD_SECONDS`` (and no other process is)."""
    if time.monotonic() - _last_fold.get(job_id, 0.0) < FOLD_SECONDS:
        return
    _last_fold[job_id] = time.monotonic()
    fold(job_id, wait=False)


def fold_stale() -> list[int]:
    """Fold every job whose tallies wait longer than ``FOLD_SECONDS`` (run by the sweep); returns their ids."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT job_id FROM {_TALLY} WHERE created_at < now() - %s * interval '1 second'",
            [FOLD_SECONDS],
        )
        stale = [job_id for (job_id,) in cursor.fetchall()]
    return [job_id for job_id in stale if fold(job_id, wait=False)]


def with_unfolded(job: EmbeddingJob) -> EmbeddingJob:
    """A copy of ``job`` with its tallies not folded yet added to its counters, for a reader's figures."""
    live = copy.copy(job)
    for name, value in unfolded(job.pk).items():
        setattr(live, name, getattr(job, name) + value)
    return live


def unfolded(job_id: int) -> dict[str, int]:
    """The job's tallies not folded yet, summed by counter."""
    sums = ", ".join(f"coalesce(sum({name}), 0)" for name in COUNTERS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sums} FROM {_TALLY} WHERE job_id = %s", [job_id])
        return dict(zip(COUNTERS, (int(value) for value in cursor.fetchone()), strict=True))


def segment_rows(segment: int) -> int:
    """Rows stored into a bulk segment: its row's count and the tallies not folded into it yet."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT coalesce((SELECT rows FROM {_SEGMENT} WHERE id = %(s)s), 0)"
            f" + coalesce((SELECT sum(rows) FROM {_TALLY} WHERE segment = %(s)s), 0)",
            {"s": segment},
        )
        return int(cursor.fetchone()[0])
