"""A version's rows follow the table: each changed row maps to the document of its current text.

A row's text is compared by its content hash with the text its version holds: unchanged, it
costs nothing; changed, it maps to the document of the new text (made with its chunks by
``ingest/``, or found: another row, or this row before, holds the same text), and the documents
made are handed to ``on_documents`` (the sync's job, which plans and sends them). A row gone or
emptied is unmapped. Documents no row maps to any more are deleted once no unfinished job holds
them (``purge.py``): a row's vectors go with its last text.

Must run inside the caller's transaction, so the rows, the documents and the job's groups
commit with the changes they answer, or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from project.embeddings.ingest.documents import TextInput, content_hash, document_ingest
from project.embeddings.models import Document, SourceRow, SourceVersion
from project.embeddings.sources.purge import documents_delete, unmapped_documents

__all__ = ["Applied", "rows_apply"]


@dataclass
class Applied:
    """What applying changes to a version did."""

    changed: int = 0  # rows mapped to a new text
    unchanged: int = 0  # rows whose text was already the version's: nothing to pay
    removed: int = 0  # rows gone or emptied: unmapped
    new_documents: int = 0
    deleted_documents: int = 0
    documents: list[Document] = field(default_factory=list)  # the changed rows' documents

    def merge(self, other: Applied) -> None:
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.removed += other.removed
        self.new_documents += other.new_documents
        self.deleted_documents += other.deleted_documents
        self.documents += other.documents


def rows_apply(
    version: SourceVersion,
    *,
    ids: Sequence[str],
    texts: Mapping[str, str],
    changed_at: Mapping[str, datetime] | datetime,
    on_documents: Callable[[list[Document]], None] | None = None,
) -> Applied:
    """Make the version hold each row of ``ids`` as ``texts`` has it now (absent: the row is gone).

    ``changed_at``: when each row's change was captured (one time for a backfill batch).
    """
    source = version.source
    applied = Applied()
    held = _held(version, ids)
    wanted: dict[str, str] = {}  # row id -> content hash of its text now
    fresh: dict[str, str] = {}  # content hash -> text, of the changed rows
    gone: list[str] = []  # rows the version holds that are deleted or have no text now
    for row_id in ids:
        text = texts.get(row_id)
        if text is None or not text.strip():
            if row_id in held:
                gone.append(row_id)
            continue
        digest = content_hash(text)
        if held.get(row_id, (None, None))[1] == digest:
            applied.unchanged += 1
            continue
        wanted[row_id] = digest
        fresh[digest] = text
    if fresh:
        report = document_ingest(
            texts=[TextInput(text, source=f"{source.name}") for text in fresh.values()],
            collection=version.collection,
            model=version.model,
            owner=source.owner,
            on_batch=on_documents,
        )
        applied.new_documents = report.created
        applied.documents = report.documents
        by_hash = dict(
            Document.objects.filter(
                owner_id=source.owner_id, collection=version.collection, content_hash__in=fresh
            ).values_list("content_hash", "pk")
        )
        _map(version, {row_id: by_hash[digest] for row_id, digest in wanted.items()}, changed_at)
        applied.changed = len(wanted)
    if gone:
        SourceRow.objects.filter(version=version, row_id__in=gone).delete()
        applied.removed = len(gone)
    replaced = {held[row_id][0] for row_id in (*wanted, *gone) if row_id in held}
    if replaced:
        among = unmapped_documents(version.collection, owner_id=source.owner_id, among=sorted(replaced))
        applied.deleted_documents = documents_delete(among)
    return applied


def _held(version: SourceVersion, ids: Sequence[str]) -> dict[str, tuple[int, str]]:
    """The version's rows among ``ids``: row id -> (document id, the text's content hash)."""
    rows = SourceRow.objects.filter(version=version, row_id__in=list(ids)).values_list(
        "row_id", "document_id", "document__content_hash"
    )
    return {row_id: (document_id, digest) for row_id, document_id, digest in rows}


def _map(version: SourceVersion, documents: Mapping[str, int], changed_at: Mapping[str, datetime] | datetime) -> None:
    """Point each row at its document: one ``INSERT … ON CONFLICT DO UPDATE`` for them all."""
    ids = list(documents)
    times = [changed_at if isinstance(changed_at, datetime) else changed_at[row_id] for row_id in ids]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {SourceRow._meta.db_table} (version_id, row_id, document_id, changed_at) "
            "SELECT %s, unnest(%s::text[]), unnest(%s::bigint[]), unnest(%s::timestamptz[]) "
            "ON CONFLICT (version_id, row_id) DO UPDATE "
            "SET document_id = EXCLUDED.document_id, changed_at = EXCLUDED.changed_at",
            [version.pk, ids, [documents[row_id] for row_id in ids], times],
        )
