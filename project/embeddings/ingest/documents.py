"""Ingest: texts and files become Document and Chunk rows (HackSoft style: ``<entity>_<action>``).

Bad input never stops the batch: an empty file is skipped, a binary file is an error naming
it, NUL bytes are removed; every such event is in the returned report, and logged.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, Unpack

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from project.embeddings.ingest.files import clean_text, decode_bytes, expand_paths
from project.embeddings.ingest.rows import chunks_copy, documents_copy
from project.embeddings.models import Document
from project.embeddings.owners import system_owner
from project.errors import NotTextError
from project.provider import group_tokens, limits
from providers import encoding_for_model, model_info
from providers.inputs import SPLIT
from providers.planning import Estimate, estimate_chunks
from providers.splitter import Piece, split_text

logger = logging.getLogger(__name__)

# A batch is one transaction: large enough that per-statement costs vanish, small enough that a
# streaming job's first groups are sent within a second or two of ingest starting.
BATCH_DOCUMENTS = 1000
BATCH_TOKENS = 100_000


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
    chunk_hashes: list[str] = field(default_factory=list)  # filled by a dry run only, beside chunk_tokens

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
        self.chunk_hashes += other.chunk_hashes

    def add(self, pieces: Sequence[Piece], *, dry_run: bool) -> None:
        """Count one new document's chunks (a dry run also keeps their sizes, for the estimate)."""
        self.created += 1
        self.chunks += len(pieces)
        self.tokens += sum(piece.token_count for piece in pieces)
        if dry_run:
            self.chunk_tokens += [piece.token_count for piece in pieces]
            self.chunk_hashes += [content_hash(piece.text) for piece in pieces]

    def estimate(self, model: str | None = None) -> Estimate:
        """Tokens, requests, time at the configured limits and cost of embedding what a dry run saw."""
        return estimate_chunks(
            limits=limits(), model=model or settings.TOLLGATE_MODEL, chunk_tokens=self.chunk_tokens, configured=group_tokens()
        )


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
    long_input_policy: str = SPLIT,
    dry_run: bool = False,
    owner: AbstractBaseUser | None = None,
    on_batch: Callable[[list[Document]], None] | None = None,
) -> IngestReport:
    """Store texts as ``owner``'s documents split into token-bounded chunks; the owner's known content is reused.

    ``owner`` defaults to the system user (the command line's). Duplicates are looked for among
    the owner's own documents only, so an upload never learns what another owner holds.

    ``whole_documents`` embeds each document as one input: with the ``split`` policy it is cut
    only where the model's input limit forces it; with ``truncate``/``average`` it stays one
    chunk and the job applies the policy.

    Texts are written in batches (:data:`BATCH_DOCUMENTS` documents or :data:`BATCH_TOKENS`
    tokens), one transaction each: a few statements per batch, not per file. ``on_batch`` is
    called with each batch's documents (new and known) inside its transaction, so what it
    writes (a streaming job's totals, its groups sent on commit) commits with the chunks or not
    at all. An error leaves the batches before it committed and the failing one rolled back.

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
    one_chunk = whole_documents and long_input_policy != SPLIT
    split = functools.partial(_split, encoding=encoding, size=size, overlap=overlap, one_chunk=one_chunk)
    owner = owner or system_owner()
    report = IngestReport()
    prepared = (_prepare(item, report, split) for item in texts)
    for batch in _batches(text for text in prepared if text is not None):
        with transaction.atomic():
            documents = _batch_store(batch, owner=owner, collection=collection, report=report, dry_run=dry_run)
            if on_batch is not None and not dry_run:
                on_batch(documents)
        report.documents += documents
    for line in report.skipped + report.warnings:
        logger.warning(line)
    return report


@dataclass(frozen=True)
class _Prepared:
    """A text cleaned, hashed and split: everything but the rows."""

    item: TextInput
    text: str
    digest: str
    pieces: list[Piece]

    @property
    def tokens(self) -> int:
        return sum(piece.token_count for piece in self.pieces)


def _split(text: str, *, encoding, size: int, overlap: int, one_chunk: bool) -> list[Piece]:
    if one_chunk:  # one chunk per document; the job's truncate/average policy handles its length
        return [Piece(text, 0, len(text), len(encoding.encode_ordinary(text)))]
    return [
        piece
        for piece in split_text(text, encoding=encoding, chunk_size=size, chunk_overlap=overlap)
        if piece.text.strip()  # a long run of whitespace carries nothing to embed
    ]


def _prepare(item: TextInput, report: IngestReport, split: Callable[[str], list[Piece]]) -> _Prepared | None:
    cleaned = clean_text(item.text, item.source or "text")
    report.warnings += cleaned.warnings
    if not cleaned.text.strip():
        report.skipped.append(f"{cleaned.source}: empty, skipped")
        return None
    return _Prepared(item, cleaned.text, content_hash(cleaned.text), split(cleaned.text))


def _batches(prepared: Iterable[_Prepared]) -> Iterator[list[_Prepared]]:
    batch: list[_Prepared] = []
    tokens = 0
    for text in prepared:
        batch.append(text)
        tokens += text.tokens
        if len(batch) >= BATCH_DOCUMENTS or tokens >= BATCH_TOKENS:
            yield batch
            batch, tokens = [], 0
    if batch:
        yield batch


def _batch_store(
    batch: list[_Prepared], *, owner: AbstractBaseUser, collection: str, report: IngestReport, dry_run: bool
) -> list[Document]:
    """The batch's documents: the owner's known ones looked up at once, the new ones and their chunks inserted."""
    known = {
        document.content_hash: document
        for document in Document.objects.filter(
            owner=owner, collection=collection, content_hash__in={text.digest for text in batch}
        ).defer("text")
    }
    documents, new = [], []
    for text in batch:
        if text.digest in known:  # stored before, or earlier in this batch
            documents.append(known[text.digest])
            report.duplicates += 1
            continue
        report.add(text.pieces, dry_run=dry_run)
        document = Document(
            owner=owner,
            collection=collection,
            source=text.item.source,
            text=text.text,
            metadata=text.item.metadata,
            content_hash=text.digest,
        )
        known[text.digest] = document
        documents.append(document)
        new.append((document, text.pieces))
    if dry_run:  # what is stored already; the rest is only counted
        return [document for document in documents if document.pk is not None]
    if not new:
        return documents
    documents_copy([document for document, _ in new])
    chunks_copy(
        (document.pk, seq, piece.text, piece.start, piece.token_count, content_hash(piece.text))
        for document, pieces in new
        for seq, piece in enumerate(pieces)
    )
    return documents


class IngestOptions(TypedDict, total=False):
    """The options of :func:`document_ingest` that :func:`files_ingest` passes through."""

    collection: str
    model: str | None
    chunk_size: int | None
    chunk_overlap: int | None
    whole_documents: bool
    long_input_policy: str
    dry_run: bool
    owner: AbstractBaseUser | None
    on_batch: Callable[[list[Document]], None] | None


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
