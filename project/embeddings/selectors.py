"""Reads: job progress for progress bars and summaries, nearest chunks for a query vector."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import FloatField, QuerySet
from django.db.models.functions import Cast
from pgvector.django import CosineDistance

from .models import Chunk, Embedding, EmbeddingJob


@dataclass(frozen=True)
class SearchHit:
    chunk: Chunk
    similarity: float  # 1 - cosine distance


def job_get(*, job_id: int) -> EmbeddingJob:
    return EmbeddingJob.objects.get(pk=job_id)


def job_done_chunks(job: EmbeddingJob) -> int:
    return job.embedded_chunks + job.failed_chunks


def chunk_search(
    *, vector: list[float], model: str, k: int = 5, threshold: float | None = None, collection: str | None = None
) -> list[SearchHit]:
    """The ``k`` chunks nearest to ``vector`` by cosine (pgvector ``<=>``), best first."""
    embeddings: QuerySet[Embedding] = Embedding.objects.filter(model=model)
    if collection:
        embeddings = embeddings.filter(chunk__document__collection=collection)
    distance = Cast(CosineDistance("vector", vector), FloatField())
    rows = embeddings.select_related("chunk__document").annotate(distance=distance).order_by("distance")
    if threshold is not None:
        rows = rows.filter(distance__lte=1 - threshold)
    return [SearchHit(row.chunk, 1 - row.distance) for row in rows[:k]]
