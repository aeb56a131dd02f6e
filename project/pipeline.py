"""The one-shot pipeline behind ``tollgate run`` and ``tollgate demo``.

Start what is missing (the simulator when no provider is configured, N workers), ingest while
the job embeds what each batch committed, watch the job with a progress bar, re-enqueue what a
lost worker forgot, summarise, and stop what it started. The database is the truth throughout.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import close_old_connections, connection
from tqdm import tqdm

from project.celery import app as celery_app
from project.embeddings.batches.lane import lane_choose
from project.embeddings.index.cover import job_index
from project.embeddings.ingest.documents import IngestOptions, IngestReport, TextInput, document_ingest, files_ingest
from project.embeddings.ingest.files import tokens_guess
from project.embeddings.ingest.streaming import job_ingest
from project.embeddings.jobs.cost import job_cost_usd, job_saved_usd
from project.embeddings.jobs.lifecycle import job_create
from project.embeddings.jobs.progress import job_batches
from project.embeddings.models import ACTIVE_STATUSES, EmbeddingJob, Lane, Status
from project.embeddings.owners import owner_named
from project.embeddings.plan.estimate import estimate_sent
from project.embeddings.plan.preflight import dimensions_check
from project.embeddings.plan.sweep import sweep_stalled
from project.embeddings.store.write import DATABASE_UNAVAILABLE
from project.launch import WorkerPool, simulator_args, start_beat, start_simulator, start_workers, wait_for_workers
from project.provider import chat_limits, is_configured, stall_seconds
from providers import CHAT_MODELS, encoding_for_model
from providers.inputs import SPLIT
from providers.planning import Estimate
from ratelimit import LimiterUnavailable

POLL_SECONDS = 0.25
SIMULATED_BATCH_SECONDS = 10  # a simulated batch ends in seconds (the real API takes up to 24 h)
SIMULATED_BATCH_POLL_SECONDS = 1  # and beat polls it as often
SIMULATED_CHAT_PIECE_MS = 15  # a simulated answer streams a word every 15 ms, so it is seen arriving
SIMULATOR_KEY = "tollgate-simulator"  # the simulator accepts any key; this one names it in logs


@dataclass(frozen=True)
class RunOptions:
    workers: int = 4
    concurrency: int | None = None
    collection: str = "default"
    long_input_policy: str = SPLIT
    whole_documents: bool = False
    dry_run: bool = False
    progress: bool = True
    owner: str | None = None  # a username; None: the system user (TOLLGATE_SYSTEM_USER)
    lane: str = Lane.SYNC  # sync, batch (the Batch API) or auto (batch for a large job without a short deadline)
    deadline_hours: float | None = None


@dataclass(frozen=True)
class Summary:
    job: int | None
    status: str
    lane: str
    documents: int
    chunks: int
    embedded: int
    failed: int
    tokens: int
    requests: int
    http_429: int
    limiter_waits: int
    wall_seconds: float
    tokens_per_minute: float  # per window of TOLLGATE_WINDOW_SECONDS, the limit's own unit
    tpm_utilization: float  # tokens sent / what the limit allowed over the busy span (see utilization)
    index: str = "live"  # "indexed": a backfill's bulk index builds ended before the run did
    reused_chunks: int = 0  # given a stored vector of the same input (or a copy in the job): no call
    reused_tokens: int = 0
    paid_tokens: int = 0  # what the provider billed
    cost_usd: float = 0.0  # paid_tokens at the model's price (providers/catalog.py), half on the batch lane
    saved_usd: float = 0.0  # reused_tokens at the same price, and the batch lane's discount
    batch_tokens: int = 0  # of paid_tokens, those paid on the batch lane
    batches: dict = field(default_factory=dict)  # the batch lane's batches by state
    workers_replaced: int = 0
    last_error: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@contextmanager
def simulated_provider() -> Iterator[str]:
    """Run the built-in simulator at the configured limits and point this process and its workers at it."""
    chat = chat_limits() if settings.TOLLGATE_CHAT_MODEL in CHAT_MODELS else None  # an unknown one is the ask's to say
    simulator = start_simulator(
        "--log-level", "warning", "--batch-seconds", str(SIMULATED_BATCH_SECONDS),
        "--chat-piece-ms", str(SIMULATED_CHAT_PIECE_MS),
        *simulator_args(rpm=settings.TOLLGATE_RPM, tpm=settings.TOLLGATE_TPM, window_seconds=settings.TOLLGATE_WINDOW_SECONDS,
                        chat_rpm=chat and chat.requests, chat_tpm=chat and chat.tokens),
    )
    saved = {name: os.environ.get(name) for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "TOLLGATE_BATCH_POLL_SECONDS")}
    os.environ.update(OPENAI_BASE_URL=simulator.base_url, OPENAI_API_KEY=SIMULATOR_KEY)
    os.environ.setdefault("TOLLGATE_BATCH_POLL_SECONDS", str(SIMULATED_BATCH_POLL_SECONDS))  # beat's, for a rehearsal
    settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = simulator.base_url, SIMULATOR_KEY
    try:
        yield simulator.base_url
    finally:
        simulator.stop()
        settings.OPENAI_BASE_URL = settings.OPENAI_API_KEY = ""
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def ingest_options(options: RunOptions) -> IngestOptions:
    return {
        "owner": owner_named(options.owner),
        "collection": options.collection,
        "whole_documents": options.whole_documents,
        "long_input_policy": options.long_input_policy,
        "dry_run": options.dry_run,
    }


def ingest(paths: Sequence[Path], texts: Sequence[TextInput], options: RunOptions) -> IngestReport:
    common = ingest_options(options)
    report = files_ingest(paths=paths, **common) if paths else IngestReport()
    if texts:
        report.merge(document_ingest(texts=texts, **common))
    return report


def run(
    paths: Sequence[Path] = (),
    *,
    texts: Sequence[TextInput] = (),
    options: RunOptions = RunOptions(),
    say: Callable[[str], None] = print,
    then: Callable[[EmbeddingJob], None] | None = None,
) -> Summary | Estimate:
    """Ingest and embed; return the summary once the job has ended (or the estimate, for a dry run).

    The job is made first and embeds while ingest runs: once the workers are up, ingest (in a
    thread of its own) sends each batch's groups as the batch commits, while this thread watches.
    ``then`` runs after the job ends while the provider (maybe the simulator) is still up.
    """
    started = time.monotonic()
    call_command("migrate", verbosity=0)
    owner = owner_named(options.owner)
    encoding_for_model(settings.TOLLGATE_MODEL)  # an unknown model is one line now, before any worker starts
    dimensions_check(settings.TOLLGATE_DIMENSIONS)  # before anything is started or sent
    if options.dry_run:
        report = ingest(paths, texts, options)
        return estimate_sent(
            chunk_tokens=report.chunk_tokens, chunk_hashes=report.chunk_hashes, owner_id=owner.pk,
            model=settings.TOLLGATE_MODEL, dimensions=settings.TOLLGATE_DIMENSIONS, policy=options.long_input_policy,
        )  # fmt: skip
    guess = tokens_guess(paths, [item.text for item in texts], model=settings.TOLLGATE_MODEL)
    lane = lane_choose(options.lane, tokens=guess, deadline_hours=options.deadline_hours)
    with ExitStack() as stack:
        if not is_configured():
            base_url = stack.enter_context(simulated_provider())
            say(f"no OPENAI_API_KEY or OPENAI_BASE_URL: using the built-in simulator at {base_url}")
        pool = start_workers(options.workers, concurrency=options.concurrency, log_dir=settings.TOLLGATE_HOME / "logs")
        say(f"started {options.workers} workers (logs in {settings.TOLLGATE_HOME / 'logs'})")
        stack.callback(pool.stop)
        wait_for_workers(celery_app, options.workers, pool=pool, say=say)  # then the job's busy span is the work's own
        if lane == Lane.BATCH:
            stack.enter_context(_beat())  # it polls the batches; no worker sleeps on one
        job = job_create(
            documents=[], long_input_policy=options.long_input_policy, owner=owner, ingesting=True, lane=lane,
            expected_tokens=guess,
        )  # fmt: skip
        stop = threading.Event()
        ingesting = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="ingest")).submit(
            _ingest_thread, job, paths, texts, stop, ingest_options(options)
        )
        stack.callback(stop.set)  # leaving early (Ctrl-C, say): ingest stops before its next batch commits
        job = watch_job(job.pk, progress=options.progress, pool=pool, say=say, ingest=ingesting)
        report = ingesting.result()  # an ingest that stopped midway raises its one-line IngestStopped here
        say(
            f"ingested {len(report.documents)} documents ({report.created} new), {report.chunks} new chunks"
            + (f"; {len(report.errors)} files could not be read" if report.errors else "")
        )
        index = watch_index(job, progress=options.progress)
        if then is not None:
            then(job)
    return _summary(job, len(report.documents), time.monotonic() - started, index=index, replaced=pool.replaced)


@contextmanager
def _beat() -> Iterator[None]:
    """Celery beat for the run's length: the batch lane's driver runs on its schedule."""
    home = settings.TOLLGATE_HOME
    beat = start_beat(schedule=home / "celerybeat-schedule", log_dir=home / "logs")
    try:
        yield
    finally:
        beat.stop()


def _ingest_thread(
    job: EmbeddingJob, paths: Sequence[Path], texts: Sequence[TextInput], stop: threading.Event, options: IngestOptions
) -> IngestReport:
    try:
        return job_ingest(job=job, paths=paths, texts=texts, stop=stop, **options)
    finally:
        connection.close()  # this thread's own connection


def watch_job(
    job_id: int,
    *,
    progress: bool,
    pool: WorkerPool | None = None,
    say: Callable[[str], None] = print,
    ingest: Future | None = None,
) -> EmbeddingJob:
    """Poll the job until it ends; re-enqueue groups whose lease ran out (a lost task); replace dead workers.

    While a streaming ``ingest`` runs the bar's total grows with it; an ingest that died
    without ending the job (its database gone) ends the watch too.
    """
    job = EmbeddingJob.objects.get(pk=job_id)
    bar = tqdm(total=job.total_chunks, unit="chunk", disable=not progress, dynamic_ncols=True)
    with bar:
        while True:
            try:
                job.refresh_from_db()
            except DATABASE_UNAVAILABLE:  # PostgreSQL restarting: look again shortly
                close_old_connections()
                time.sleep(POLL_SECONDS)
                continue
            bar.set_description("ingesting and embedding" if job.ingesting else "embedding", refresh=False)
            bar.total = job.total_chunks
            bar.update(job.embedded_chunks + job.failed_chunks - bar.n)
            if job.lane == Lane.BATCH:  # the batches by state: "1 in_progress, 2 uploaded"
                batches = ", ".join(f"{n} {state}" for state, n in job_batches(job).items()) or "forming"
                bar.set_postfix_str(f"tokens={job.embedded_tokens}, batches: {batches}", refresh=False)
            else:
                bar.set_postfix(tokens=job.embedded_tokens, http_429=job.http_429, waits=job.limiter_waits, refresh=False)
            if job.status not in ACTIVE_STATUSES:  # ended, or paused for a person
                return job
            for line in pool.replace_exited() if pool is not None else ():
                (bar.write if progress else say)(f"tollgate: {line}")
            if ingest is not None and ingest.done() and ingest.exception() is not None:
                return job
            with suppress(*DATABASE_UNAVAILABLE, LimiterUnavailable):
                sweep_stalled(stall_seconds(), job_id=job_id)
            time.sleep(POLL_SECONDS)


def watch_index(job: EmbeddingJob, *, progress: bool) -> str:
    """Wait while the workers build a completed backfill's last indexes, so the run ends searchable.

    Returns the job's index state. A paused or failed job is not waited for: its rows are found
    by exact scan, and beat builds their indexes. (A small job's rows are indexed as stored.)
    """
    state = job_index(job)
    if job.status != Status.COMPLETED or state.state in ("live", "indexed"):
        return state.state
    bar = tqdm(total=max(state.unindexed_rows, 1), unit="row", desc="indexing", disable=not progress, dynamic_ncols=True)
    with bar:
        while state.state not in ("live", "indexed"):
            done = sum(b.tuples_done for b in state.builds)
            bar.total = max(state.unindexed_rows, done, 1)
            bar.update(done - bar.n)
            bar.set_postfix_str(", ".join(b.phase for b in state.builds) or "waiting for a worker", refresh=False)
            time.sleep(POLL_SECONDS)
            state = job_index(job)
        bar.update(bar.total - bar.n)
    return state.state


def utilization(tokens: int, busy_seconds: float) -> float:
    """Tokens sent against what the limit allowed over ``busy_seconds``, as the provider sees it.

    A sliding window of W seconds admits at most one window's tokens at once and then the
    limit's rate, so over a busy span S it allows ``TPM * (1 + S / W)``: never exceeded, so the
    figure is at most 1 and agrees with an exact server's count. (Tokens per window over the
    span alone reads above 1 for a job shorter than a few windows.)
    """
    window = settings.TOLLGATE_WINDOW_SECONDS
    return tokens / (settings.TOLLGATE_TPM * (1 + max(busy_seconds, 0.0) / window))


def _summary(job: EmbeddingJob, documents: int, wall: float, *, index: str = "live", replaced: int = 0) -> Summary:
    busy = (job.finished_at - job.started_at).total_seconds() if job.finished_at and job.started_at else wall
    per_window = job.embedded_tokens / max(busy, 1e-9) * settings.TOLLGATE_WINDOW_SECONDS
    return Summary(
        job=job.pk,
        status=job.status,
        lane=job.lane,
        documents=documents,
        chunks=job.total_chunks,
        embedded=job.embedded_chunks,
        failed=job.failed_chunks,
        tokens=job.embedded_tokens,
        requests=job.requests,
        http_429=job.http_429,
        limiter_waits=job.limiter_waits,
        wall_seconds=round(wall, 3),
        tokens_per_minute=round(per_window, 1),
        tpm_utilization=round(utilization(job.embedded_tokens, busy), 4),
        index=index,
        reused_chunks=job.reused_chunks,
        reused_tokens=job.reused_tokens,
        paid_tokens=job.embedded_tokens,
        cost_usd=job_cost_usd(job),
        saved_usd=job_saved_usd(job),
        batch_tokens=job.batch_tokens,
        batches=job_batches(job),
        workers_replaced=replaced,
        last_error=job.last_error,
    )
