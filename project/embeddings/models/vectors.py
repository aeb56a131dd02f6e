"""The vector column and its indexes: storage type, size, the live HNSW index, sign bits of unindexed rows."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from pgvector.django import BitField, HalfVectorField, HnswIndex, VectorField

from .documents import Chunk

# The most dimensions pgvector's HNSW indexes per storage type (pgvector 0.8): half-precision
# vectors (text-embedding-3-large's 3,072) are indexed up to 4,000; beyond, search is exact.
HNSW_MAX_DIMENSIONS = {"vector": 2000, "halfvec": 4000}


def vector_type() -> str:
    """``TOLLGATE_VECTOR_TYPE``, else ``vector`` up to 2,000 dimensions and ``halfvec`` above."""
    chosen = settings.TOLLGATE_VECTOR_TYPE
    return chosen or ("vector" if settings.TOLLGATE_DIMENSIONS <= HNSW_MAX_DIMENSIONS["vector"] else "halfvec")


def vector_field() -> VectorField | HalfVectorField:
    """The embedding column: its type and size are fixed when the table is first migrated."""
    field = HalfVectorField if vector_type() == "halfvec" else VectorField
    return field(dimensions=settings.TOLLGATE_DIMENSIONS)


# A vector kept in the row itself (STORAGE PLAIN) is read and written with the row; one stored out
# of line (TOAST, pgvector's default) costs a second table and its index on every insert, and a
# second lookup on every read (COPY ran faster inline: docs/OPERATIONS.md). It must fit in a page
# with the row's other columns.
PAGE_ROW_BYTES = 8160  # the largest row an 8 KB PostgreSQL page holds (MaxHeapTupleSize)
ROW_OTHER_BYTES = 300  # the embedding row's other columns at their widest, with the tuple header


def vector_bytes(kind: str, dimensions: int) -> int:
    """A pgvector value's size: a header of 8 bytes, then 4 bytes a dimension (``halfvec``: 2)."""
    return 8 + dimensions * (2 if kind == "halfvec" else 4)


def vector_inline(kind: str, dimensions: int) -> bool:
    """Whether a vector of this type and size fits in the row (``STORAGE PLAIN``); larger ones stay in TOAST."""
    return vector_bytes(kind, dimensions) + ROW_OTHER_BYTES <= PAGE_ROW_BYTES


LIVE_SEGMENT = 0  # rows of small and interactive jobs: the live index takes them row by row
HNSW_OPTIONS = {"m": 16, "ef_construction": 64}


def index_supported() -> bool:
    """Whether the storage type can index the configured dimensions (else every search is exact)."""
    return settings.TOLLGATE_DIMENSIONS <= HNSW_MAX_DIMENSIONS[vector_type()]


def vector_opclass() -> str:
    return f"{vector_type()}_cosine_ops"


LIVE_INDEX = "embedding_vector_hnsw"  # the live segment's HNSW index


def vector_indexes() -> list[HnswIndex]:
    """The live segment's HNSW cosine index (bulk segments get theirs from ``index/builder.py``)."""
    if not index_supported():
        return []
    return [
        HnswIndex(
            name=LIVE_INDEX,
            fields=["vector"],
            opclasses=[vector_opclass()],
            condition=models.Q(segment=LIVE_SEGMENT),
            **HNSW_OPTIONS,
        )
    ]


def first_vector_indexes() -> list[HnswIndex]:
    """The index migration 0001 made, over every row (0004 narrows it to the live segment)."""
    if not index_supported():
        return []
    return [HnswIndex(name="embedding_vector_hnsw", fields=["vector"], opclasses=[vector_opclass()], **HNSW_OPTIONS)]


class Embedding(models.Model):
    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="embeddings")
    model = models.CharField(max_length=100)
    dimensions = models.PositiveIntegerField()
    # The content address (store/reuse.py): sha256 of the exact input sent ('' : not reusable).
    input_hash = models.CharField(max_length=64, blank=True, default="")
    vector = vector_field()
    segment = models.PositiveIntegerField(
        default=LIVE_SEGMENT, help_text="0: the live index; else the bulk segment the row was loaded into."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chunk", "model"], name="embedding_unique_chunk_model")]
        indexes = [
            models.Index(fields=["input_hash", "model", "dimensions"], name="embedding_content_address"),
            models.Index(fields=["segment"], name="embedding_segment"),
            # Which models the live index holds (index/cover.py): a search of a model it
            # does not hold skips it, since a filtered HNSW scan finds nothing only at its end.
            models.Index(fields=["model"], name="embedding_live_model", condition=models.Q(segment=LIVE_SEGMENT)),
            *vector_indexes(),
        ]

    def __str__(self) -> str:
        return f"{self.chunk_id} / {self.model}"


class SignBitsField(BitField):
    """``bit varying``: a vector's sign bits (pgvector's ``binary_quantize``), whatever its size."""

    def db_type(self, connection: object) -> str:
        return "bit varying"


class UnindexedVector(models.Model):
    """The sign bits of a row in a bulk segment no index covers yet: what a search scans instead of the row.

    A 1,536-d row is 6 KB, one to a page; an exact scan over an open segment reads every byte of
    it. Its 192 bytes of sign bits, forty rows to a page, are scanned by Hamming distance in a
    fraction of that, and only the nearest few rows are read whole and ranked exactly
    (``search/nearest.py``; the figures: docs/OPERATIONS.md, "Search: the figures behind the code").

    A trigger on the embedding table writes these rows for every insert into a bulk segment,
    whoever inserts (``store/copy.py``, ``store/reuse.py``, a worker of any version);
    ``index/builder.py`` deletes them a grace after an index covers their segment
    (``STALE_COVER_SECONDS``).
    Not a foreign key: a deleted embedding's row is simply not found when a search joins back,
    and goes with its segment's build.
    """

    embedding_id = models.BigIntegerField(primary_key=True)
    segment = models.PositiveIntegerField()
    model = models.CharField(max_length=100)
    bits = SignBitsField()

    class Meta:
        # A search reads only the segments no index covers: rows of indexed ones are deleted, and
        # until VACUUM takes them a scan of the whole table would read them too.
        indexes = [models.Index(fields=["segment"], name="unindexed_vector_segment")]

    def __str__(self) -> str:
        return f"embedding {self.embedding_id} (segment {self.segment})"


class InputClaim(models.Model):
    """A new input a group is sending right now: another group of the same owner waits for its vector.

    Two groups can hold the same new input (two ingest batches of one streaming job, two jobs of
    one owner): the first to claim its address (``store/inflight.py``) sends it, and the other
    comes back for the stored vector (``store/reuse.py``) instead of paying for it too. A claim
    lives as long as its group's call (``lease_until``) and goes with the group's next change
    (``groups/life.py``); one whose group died runs out and may be taken.
    """

    owner_id = models.BigIntegerField()
    model = models.CharField(max_length=100)
    dimensions = models.PositiveIntegerField()
    address = models.CharField(max_length=64, help_text="The input's content address (store.reuse.input_hash).")
    group_id = models.BigIntegerField()
    lease_until = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner_id", "model", "dimensions", "address"], name="input_claim_unique")
        ]
        indexes = [models.Index(fields=["group_id"], name="input_claim_group")]

    def __str__(self) -> str:
        return f"{self.address[:12]} sent by group {self.group_id}"
