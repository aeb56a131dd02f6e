"""The ingest path before batching, kept for the bench to run beside today's: one file at a time.

Per file: a query for a known copy, a transaction, ``Document.objects.create`` and the chunks'
``bulk_create`` (the ORM's INSERTs), as ``document_ingest`` did until the ``ingest-streams``
branch, with the splitter of that commit (:data:`BEFORE`), read from git and loaded under a
name of its own, so the old path runs beside today's in one process.
"""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path

from django.db import transaction

from project.embeddings.ingest.documents import content_hash
from project.embeddings.ingest.files import decode_bytes, expand_paths
from project.embeddings.models import Chunk, Document
from project.embeddings.owners import system_owner
from providers import encoding_for_model

BEFORE = "e9d0797"  # main when the ingest-streams branch started
ROOT = Path(__file__).resolve().parent.parent


def splitter_before() -> Callable:
    """``split_text`` as it was at :data:`BEFORE`."""
    source = subprocess.run(
        ["git", "show", f"{BEFORE}:providers/splitter.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    module = types.ModuleType("splitter_before")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"providers/splitter.py@{BEFORE}", "exec"), module.__dict__)
    return module.split_text


def files_ingest_per_file(*, paths: Sequence[Path], collection: str, model: str, size: int, overlap: int) -> dict:
    split_text = splitter_before()
    encoding = encoding_for_model(model)
    owner = system_owner()
    documents = chunks = tokens = 0
    for path in expand_paths(paths):
        text = decode_bytes(path.read_bytes(), str(path)).text
        if not text.strip():
            continue
        digest = content_hash(text)
        if Document.objects.filter(owner=owner, collection=collection, content_hash=digest).first() is not None:
            continue
        pieces = split_text(text, encoding=encoding, chunk_size=size, chunk_overlap=overlap)
        pieces = [piece for piece in pieces if piece.text.strip()]
        with transaction.atomic():
            document = Document.objects.create(
                owner=owner, collection=collection, source=str(path), text=text, metadata={}, content_hash=digest
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
                batch_size=1000,
            )
        documents += 1
        chunks += len(pieces)
        tokens += sum(piece.token_count for piece in pieces)
    return {"documents": documents, "chunks": chunks, "tokens": tokens}
