"""The one-shot sync behind ``tollgate sources sync`` and ``migrate``: catch a source up, then stop.

Like ``tollgate run`` (``pipeline.py``): start what is missing (the simulator when no provider
is configured, N workers; beat when a version backfills on the batch lane), drain the source's
changes and backfills in a thread while this one watches the jobs they send (a progress bar,
the sweep, dead workers replaced), drain again what came meanwhile, wait for a backfill's last
index builds, cut over to a version that became complete, and stop what it started. The
workers it starts do not follow sources themselves: this process drains, as one streaming job
per version, so a backfill is paced and loaded like ``tollgate run``'s. Workers started any
other way go on following while it runs (a drain of one source runs in one process at a time).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.management import call_command
from django.db import close_old_connections, connection
from django.db.models import Sum
from tqdm import tqdm

from project.celery import app as celery_app
from project.embeddings.groups.life import database_now
from project.embeddings.jobs.cost import job_cost_usd
from project.embeddings.models import ACTIVE_STATUSES, EmbeddingJob, Lane, Source, SourceChange, SourceVersion, Status
from project.embeddings.plan.sweep import sweep_stalled
from project.embeddings.sources.drain import CycleReport, source_drain
from project.embeddings.sources.follow import sources_tidy
from project.embeddings.sources.status import source_status
from project.embeddings.sources.versions import versions_settle
from project.embeddings.sources.view import views_refresh
from project.embeddings.store.write import DATABASE_UNAVAILABLE
from project.launch import WorkerPool, start_beat, start_workers, wait_for_workers
from project.pipeline import POLL_SECONDS, simulated_provider, utilization, watch_index
from project.provider import is_configured, stall_seconds
from ratelimit import LimiterUnavailable

__all__ = ["SyncOptions", "SyncSummary", "catch_up", "sync"]


@dataclass(frozen=True)
class SyncOptions:
    workers: int = 4
    concurrency: int | None = None
    progress: bool = True


@dataclass
class SyncSummary:
    source: str
    status: str  # "caught up", or "paused" when a job waits for a person (its last_error says why)
    rows: int
    embedded: int
    pending: int
    failed: int
    model: str
    versions: list[dict]
    changes: int  # queued changes drained
    backfilled: int  # rows read by backfills
    changed_rows: int  # rows whose text was new to a version
    unchanged_rows: int  # rows read whose text the version held already: free
    jobs: list[int]
    paid_tokens: int
    requests: int
    http_429: int
    reused_chunks: int
    cost_usd: float
    wall_seconds: float
    busy_seconds: float  # the jobs' first start to their last end
    tpm_utilization: float  # as `tollgate run` counts it, over the busy span
    made_current: list[int] = field(default_factory=list)  # versions cut over to
    workers_replaced: int = 0
    last_error: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def sync(source: Source, *, options: SyncOptions = SyncOptions(), say: Callable[[str], None] = print) -> SyncSummary:
    """Start what is missing, catch ``source`` up, stop what was started; the summary once it has."""
    started = time.monotonic()
    call_command("migrate", verbosity=0)
    # Before any worker starts: a follow task already waiting (a new version's wake-up) may open
    # the source's jobs as soon as the first worker is up, and they are this sync's to watch.
    since = database_now()
    with ExitStack() as stack:
        if not is_configured():
            base_url = stack.enter_context(simulated_provider())
            say(f"no OPENAI_API_KEY or OPENAI_BASE_URL: using the built-in simulator at {base_url}")
        pool = start_workers(
            options.workers,
            concurrency=options.concurrency,
            env={"TOLLGATE_SOURCES_POLL_SECONDS": "0"},  # this process drains
            log_dir=settings.TOLLGATE_HOME / "logs",
        )
        say(f"started {options.workers} workers (logs in {settings.TOLLGATE_HOME / 'logs'})")
        stack.callback(pool.stop)
        wait_for_workers(celery_app, options.workers, pool=pool, say=say)
        if SourceVersion.objects.filter(source=source, lane=Lane.BATCH, backfilled_at__isnull=True).exists():
            home = settings.TOLLGATE_HOME
            beat = start_beat(schedule=home / "celerybeat-schedule", log_dir=home / "logs")
            stack.callback(beat.stop)
        return catch_up(source, progress=options.progress, pool=pool, say=say, started=started, since=since)


def catch_up(
    source: Source,
    *,
    progress: bool = False,
    pool: WorkerPool | None = None,
    say: Callable[[str], None] = print,
    started: float | None = None,
    since: datetime | None = None,
) -> SyncSummary:
    """Drain and watch until the source has nothing queued, every backfill read and every job of it ended.

    Needs workers running (any: these, ``tollgate up``'s, another host's). The jobs watched,
    indexed and summed are those made since ``since`` (the database's time; default now).
    """
    started = time.monotonic() if started is None else started
    since = database_now() if since is None else since
    reports: list[CycleReport] = []
    bar = tqdm(total=0, unit="chunk", desc=f"syncing {source.name}", disable=not progress, dynamic_ncols=True)
    with bar, ThreadPoolExecutor(1, thread_name_prefix="drain") as executor:
        while True:
            draining = executor.submit(_drain_thread, source)
            _watch(source, since, draining, bar=bar, pool=pool, say=say)
            report = draining.result()
            if report is None:  # another process drains it: its jobs are watched the same
                time.sleep(POLL_SECONDS)
            else:
                reports.append(report)
            if _paused(source, since) or (report is not None and not _has_work(source)):
                break
    jobs = list(EmbeddingJob.objects.filter(source_job__version__source=source, created_at__gte=since))
    for job in jobs:
        if job.status == Status.COMPLETED and job.source_job.backfill:
            watch_index(job, progress=progress)  # ends searchable: a backfill's last segments indexed
    made = [version.number for version in versions_settle(source)]
    views_refresh(source)
    sources_tidy(source)
    return _summary(source, reports, jobs, made, time.monotonic() - started, pool)


def _has_work(source: Source) -> bool:
    """Changes queued, a version's backfill not read to its end, or a job of a cycle that died to resume."""
    queued = SourceChange.objects.filter(source_id=source.pk).exists()
    interrupted = EmbeddingJob.objects.filter(source_job__version__source=source, status=Status.FAILED).exists()
    return queued or interrupted or SourceVersion.objects.filter(source=source, backfilled_at__isnull=True).exists()


def _drain_thread(source: Source) -> CycleReport | None:
    try:
        return source_drain(source)
    finally:
        connection.close()  # this thread's own connection


def _paused(source: Source, since) -> bool:
    return EmbeddingJob.objects.filter(
        source_job__version__source=source, created_at__gte=since, status=Status.PAUSED
    ).exists()


def _watch(
    source: Source,
    since,
    draining: Future,
    *,
    bar: tqdm,
    pool: WorkerPool | None,
    say: Callable[[str], None],
) -> None:
    """Until the drain has ended and every job it (or a follower) sent since ``since`` has ended or paused."""
    while True:
        try:
            jobs = EmbeddingJob.objects.filter(source_job__version__source=source, created_at__gte=since)
            totals = jobs.aggregate(total=Sum("total_chunks"), embedded=Sum("embedded_chunks"))
            bar.total = totals["total"] or 0
            bar.update((totals["embedded"] or 0) - bar.n)
            active = list(jobs.filter(status__in=ACTIVE_STATUSES).values_list("pk", flat=True))
            for job_id in active:
                with suppress(*DATABASE_UNAVAILABLE, LimiterUnavailable):
                    sweep_stalled(stall_seconds(), job_id=job_id)
        except DATABASE_UNAVAILABLE:  # PostgreSQL restarting: look again shortly
            close_old_connections()
            time.sleep(POLL_SECONDS)
            continue
        for line in pool.replace_exited() if pool is not None else ():
            (say if bar.disable else bar.write)(f"tollgate: {line}")
        if draining.done() and (draining.exception() is not None or not active):
            return
        time.sleep(POLL_SECONDS)


def _summary(
    source: Source,
    reports: list[CycleReport],
    jobs: list[EmbeddingJob],
    made: list[int],
    wall: float,
    pool: WorkerPool | None,
) -> SyncSummary:
    status = source_status(source)
    paid = sum(job.embedded_tokens for job in jobs)
    spans = [(job.started_at, job.finished_at) for job in jobs if job.started_at and job.finished_at]
    busy = (max(end for _, end in spans) - min(start for start, _ in spans)).total_seconds() if spans else 0.0
    paused = [job for job in jobs if job.status == Status.PAUSED]
    return SyncSummary(
        source=source.name,
        status="paused" if paused else "caught up",
        rows=status.rows,
        embedded=status.embedded,
        pending=status.pending,
        failed=status.failed,
        model=status.model,
        versions=status.as_dict()["versions"],
        changes=sum(report.changes for report in reports),
        backfilled=sum(report.backfilled for report in reports),
        changed_rows=sum(report.applied.changed for report in reports),
        unchanged_rows=sum(report.applied.unchanged for report in reports),
        jobs=[job.pk for job in jobs],
        paid_tokens=paid,
        requests=sum(job.requests for job in jobs),
        http_429=sum(job.http_429 for job in jobs),
        reused_chunks=sum(job.reused_chunks for job in jobs),
        cost_usd=round(sum(job_cost_usd(job) for job in jobs), 6),
        wall_seconds=round(wall, 3),
        busy_seconds=round(busy, 3),
        tpm_utilization=round(utilization(paid, busy), 4) if busy else 0.0,
        made_current=made,
        workers_replaced=pool.replaced if pool is not None else 0,
        last_error=paused[0].last_error if paused else "",
    )
