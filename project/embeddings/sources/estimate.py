"""What migrating a source to another model would cost, before anything is paid (``migrate --dry-run``).

The new version's chunks are the current version's when both models cut text with the same
encoding (text-embedding-3-* and ada-002 all use cl100k_base): their sizes and addresses are
read from the database. Otherwise every row's text is split again with the new model's encoding,
a batch at a time, and nothing is stored. Either way the estimate is ``plan/estimate.py``'s:
each distinct input once, none already stored for that model, the time at the limits and the
cost on both lanes.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import connection

from project.embeddings.ingest.documents import TextInput, document_ingest
from project.embeddings.models import Chunk, Document, Source, SourceState, SourceVersion
from project.embeddings.plan.estimate import estimate_sent
from project.embeddings.sources.capture import source_table
from project.embeddings.sources.drain import BATCH_ROWS
from project.embeddings.sources.tables import row_texts, table_ids_after
from providers import encoding_for_model
from providers.inputs import SPLIT
from providers.planning import Estimate

__all__ = ["migration_estimate"]


def migration_estimate(source: Source, *, model: str, dimensions: int) -> Estimate:
    """Tokens, requests, minutes at the limits and dollars (both lanes) to embed every row with ``model``."""
    current = SourceVersion.objects.filter(source=source, state=SourceState.CURRENT).first()
    same_cut = current is not None and encoding_for_model(current.model).name == encoding_for_model(model).name
    if same_cut and current.backfilled_at is not None:
        tokens, hashes = _chunks_of(current)
    else:
        report = document_ingest(
            texts=_texts(source), collection=f"dry-run:{source.pk}", model=model, owner=source.owner, dry_run=True
        )
        tokens, hashes = report.chunk_tokens, report.chunk_hashes
    return estimate_sent(
        chunk_tokens=tokens, chunk_hashes=hashes, owner_id=source.owner_id, model=model, dimensions=dimensions,
        policy=SPLIT,
    )  # fmt: skip


def _chunks_of(version: SourceVersion) -> tuple[list[int], list[str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.token_count, c.content_hash FROM {Chunk._meta.db_table} c "
            f"JOIN {Document._meta.db_table} d ON d.id = c.document_id WHERE d.collection = %s AND d.owner_id = %s",
            [version.collection, version.source.owner_id],
        )
        rows = cursor.fetchall()
    return [tokens for tokens, _ in rows], [digest for _, digest in rows]


def _texts(source: Source) -> Iterator[TextInput]:
    """Every row's text, a keyset batch at a time (a table of any size is never read whole).

    Rows of the same text make the same chunks, which the estimate counts once.
    """
    table, after = source_table(source), None
    while ids := table_ids_after(table, after, BATCH_ROWS):
        yield from (TextInput(text) for text in row_texts(table, ids).values() if text.strip())
        after = ids[-1]
