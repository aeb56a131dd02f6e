"""Writes: texts and files become Document and Chunk rows (HackSoft style: ``<entity>_<action>``).

Bad input never stops the batch: an empty file is skipped, a binary file is an error naming
it, NUL bytes are removed; every such event is in the returned report, and logged.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, Unpack

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from project.splitter import Piece, split_text
from project.tokenization import encoding_for_model
from workers.catalog import model_info
from workers.estimate import Estimate, estimate_chunks
from workers.jobs import pause
from workers.producer import Plan, job_enqueue

from .models import Chunk, Document, EmbeddingJob, FailedChunk
from .sources import NotTextError, clean_text, decode_bytes, expand_paths

logger = logging.getLogger(__name__)

BULK_BATCH = 1000


@dataclass(frozen=True)
class TextInput:
    text: str
    source: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass
class IngestReport:
    documents: list[Document] = field(default_factory=list)  # new and already-known ones
    created: int = 0
    duplicates: int = 0
    chunks: int = 0
    tokens: int = 0
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    chunk_tokens: list[int] = field(default_factory=list)  # filled by a dry run only

    def merge(self, other: IngestReport) -> None:
        self.documents += other.documents
        self.created += other.created
        self.duplicates += other.duplicates
        self.chunks += other.chunks
        self.tokens += other.tokens
        self.skipped += other.skipped
        self.errors += other.errors
        self.warnings += other.warnings
        self.chunk_tokens += other.chunk_tokens

    def estimate(self, model: str | None = None) -> Estimate:
        """Tokens, requests, time at the configured limits and cost of embedding what a dry run saw."""
        return estimate_chunks(model=model or settings.TOLLGATE_MODEL, chunk_tokens=self.chunk_tokens)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def document_ingest(
    *,
    texts: Iterable[TextInput],
    collection: str = "default",
    model: str | None = None,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    whole_documents: bool = False,
    long_input_policy: str = EmbeddingJob.LongInputPolicy.SPLIT,
    dry_run: bool = False,
) -> IngestReport:
    """Store texts as documents split into token-bounded chunks; known content is reused.

    ``whole_documents`` embeds each document as one input: with the ``split`` policy it is cut
    only where the model's input limit forces it; with ``truncate``/``average`` it stays one
    chunk and the job applies the policy.

    Example::

        report = document_ingest(texts=[TextInput("Hello.", source="greeting.txt")])
        report.documents[0].chunks.count()  # 1
    """
    model = model or settings.TOLLGATE_MODEL
    encoding = encoding_for_model(model)
    size = chunk_size or settings.TOLLGATE_CHUNK_SIZE
    overlap = settings.TOLLGATE_CHUNK_OVERLAP if chunk_overlap is None else chunk_overlap
    if whole_documents:  # "split": as many chunks as the model's input limit needs, no overlap
        size, overlap = model_info(model).max_input_tokens, 0
    report = IngestReport()
    for item in texts:
        cleaned = clean_text(item.text, item.source or "text")
        report.warnings += cleaned.warnings
        if not cleaned.text.strip():
            report.skipped.append(f"{cleaned.source}: empty, skipped")
            continue
        digest = content_hash(cleaned.text)
        existing = Document.objects.filter(collection=collection, content_hash=digest).first()
        if existing is not None:
            report.documents.append(existing)
            report.duplicates += 1
            continue
        if whole_documents and long_input_policy != EmbeddingJob.LongInputPolicy.SPLIT:
            # one chunk per document; the job's truncate/average policy handles its length
            pieces = [Piece(cleaned.text, 0, len(cleaned.text), len(encoding.encode_ordinary(cleaned.text)))]
        else:
            pieces = [
                piece
                for piece in split_text(cleaned.text, encoding=encoding, chunk_size=size, chunk_overlap=overlap)
                if piece.text.strip()  # a long run of whitespace carries nothing to embed
            ]
        if dry_run:
            report.created += 1
            report.chunks += len(pieces)
            report.tokens += sum(piece.token_count for piece in pieces)
            report.chunk_tokens += [piece.token_count for piece in pieces]
            continue
        with transaction.atomic():
            document = Document.objects.create(
                collection=collection, source=item.source, text=cleaned.text, metadata=item.metadata, content_hash=digest
            )
            Chunk.objects.bulk_create(
                (
                    Chunk(
                        document=document,
                        seq=seq,
                        text=piece.text,
                        start=piece.start,
                        token_count=piece.token_count,
                        content_hash=content_hash(piece.text),
                    )
                    for seq, piece in enumerate(pieces)
                ),
                batch_size=BULK_BATCH,
            )
        report.documents.append(document)
        report.created += 1
        report.chunks += len(pieces)
        report.tokens += sum(piece.token_count for piece in pieces)
    for line in report.skipped + report.warnings:
        logger.warning(line)
    return report


class IngestOptions(TypedDict, total=False):
    """The options of :func:`document_ingest` that :func:`files_ingest` passes through."""

    collection: str
    model: str | None
    chunk_size: int | None
    chunk_overlap: int | None
    whole_documents: bool
    long_input_policy: str
    dry_run: bool


def files_ingest(*, paths: Sequence[Path], **options: Unpack[IngestOptions]) -> IngestReport:
    """Read files (directories recursively) and ingest them; unreadable files are reported."""
    report = IngestReport()
    report.merge(document_ingest(texts=_read_files(paths, report), **options))
    return report


def _read_files(paths: Sequence[Path], report: IngestReport) -> Iterator[TextInput]:
    """One file at a time, so a large corpus never sits in memory whole."""
    for path in expand_paths(paths):
        try:
            source = decode_bytes(path.read_bytes(), str(path))
        except (NotTextError, OSError) as exc:
            message = str(exc) if isinstance(exc, NotTextError) else f"{path}: {exc.strerror or exc}"
            report.errors.append(message)
            logger.error(message)
        else:
            report.warnings += source.warnings
            for line in source.warnings:
                logger.warning(line)
            yield TextInput(source.text, source.source)


def job_create(
    *,
    documents: Sequence[Document],
    model: str | None = None,
    dimensions: int | None = None,
    long_input_policy: str = EmbeddingJob.LongInputPolicy.SPLIT,
) -> EmbeddingJob:
    """A queued job over ``documents``; :func:`job_start` sends its work to the workers."""
    model = model or settings.TOLLGATE_MODEL
    encoding_for_model(model)  # an unknown model is a configuration error now, not in a worker
    job = EmbeddingJob.objects.create(
        model=model, dimensions=dimensions or settings.TOLLGATE_DIMENSIONS, long_input_policy=long_input_policy
    )
    job.documents.set(documents)
    return job


def job_start(*, job: EmbeddingJob) -> Plan:
    """Enqueue every chunk of the job that has no embedding yet (again, after a lost broker)."""
    return job_enqueue(job)


def job_resume(*, job_id: int, retry_failed: bool = False) -> Plan:
    """Continue a paused job, or re-enqueue what a lost worker or broker forgot; the database is the truth.

    ``retry_failed`` forgets the job's failed chunks first (after a long provider outage, say),
    so they are tried again; a completed job with failures reopens for them.
    """
    job = EmbeddingJob.objects.get(pk=job_id)
    if retry_failed:
        with transaction.atomic():
            forgotten, _ = FailedChunk.objects.filter(job=job).delete()
            EmbeddingJob.objects.filter(pk=job_id).update(failed_chunks=F("failed_chunks") - forgotten)
        job.refresh_from_db()
        if forgotten and job.status == EmbeddingJob.Status.COMPLETED:
            job.status = EmbeddingJob.Status.RUNNING
    if job.status in (EmbeddingJob.Status.COMPLETED, EmbeddingJob.Status.CANCELLED):
        return Plan(groups=[], chunks=0, tokens=0, inputs=0)
    return job_enqueue(job)


def job_pause(*, job_id: int, reason: str = "paused by a user") -> None:
    pause(job_id, reason)


def job_cancel(*, job_id: int) -> None:
    EmbeddingJob.objects.filter(pk=job_id).exclude(status=EmbeddingJob.Status.COMPLETED).update(
        status=EmbeddingJob.Status.CANCELLED, finished_at=timezone.now()
    )


# --- the web app: submissions and job control ----------------------------------------------------


class JobStateError(ValueError):
    """The job is not in a state that allows the requested change (e.g. resuming a completed job)."""


@dataclass(frozen=True)
class Submission:
    job: EmbeddingJob
    report: IngestReport
    plan: Plan


def upload_texts(*, files: Iterable[tuple[str, bytes]]) -> list[TextInput]:
    """Uploaded files (name, content) as texts; a binary or undecodable file raises NotTextError naming it."""
    texts = []
    for name, data in files:
        source = decode_bytes(data, name)
        for line in source.warnings:
            logger.warning(line)
        texts.append(TextInput(source.text, source.source))
    return texts


def documents_submit(*, texts: Sequence[tuple[str, TextInput]], model: str | None = None) -> Submission:
    """Store (collection, text) pairs and start one job over them, all or nothing.

    Everything is written in one transaction; the job's tasks are sent after it commits (the
    producer uses ``delay_on_commit``), so a worker never looks for a row that is not there and
    a failure (a chunk larger than the limit) leaves nothing behind.

    Example::

        submission = documents_submit(texts=[("default", TextInput("Hello.", source="hello.txt"))])
        submission.job.status  # "running"
    """
    by_collection: dict[str, list[TextInput]] = {}
    for collection, item in texts:
        by_collection.setdefault(collection, []).append(item)
    report = IngestReport()
    with transaction.atomic():
        for collection, items in by_collection.items():
            report.merge(document_ingest(texts=items, collection=collection, model=model))
        job = job_create(documents=report.documents, model=model)
        plan = job_start(job=job)
    job.refresh_from_db()
    return Submission(job=job, report=report, plan=plan)


def job_pause_active(*, job_id: int) -> EmbeddingJob:
    """Pause a queued or running job; its tasks stop calling the API until it is resumed."""
    job = EmbeddingJob.objects.get(pk=job_id)
    if job.status not in (EmbeddingJob.Status.QUEUED, EmbeddingJob.Status.RUNNING):
        raise JobStateError(f"job {job_id} is {job.status}; only a queued or running job can be paused")
    job_pause(job_id=job_id)
    job.refresh_from_db()
    return job


def job_resume_paused(*, job_id: int) -> EmbeddingJob:
    """Resume a paused (or failed) job: its pending chunks are enqueued again."""
    job = EmbeddingJob.objects.get(pk=job_id)
    if job.status not in (EmbeddingJob.Status.PAUSED, EmbeddingJob.Status.FAILED):
        raise JobStateError(f"job {job_id} is {job.status}; only a paused or failed job can be resumed")
    with transaction.atomic():
        job_resume(job_id=job_id)
    job.refresh_from_db()
    return job


def job_cancel_unfinished(*, job_id: int) -> EmbeddingJob:
    """Cancel a job that has not completed; tasks still queued for it do nothing."""
    job = EmbeddingJob.objects.get(pk=job_id)
    if job.status in (EmbeddingJob.Status.COMPLETED, EmbeddingJob.Status.CANCELLED):
        raise JobStateError(f"job {job_id} is already {job.status}")
    job_cancel(job_id=job_id)
    job.refresh_from_db()
    return job
