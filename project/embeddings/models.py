"""Documents are split into chunks; workers store one embedding per (chunk, model).

Rows are written by services (ingest) and workers (embeddings, job counters); the models
carry no behaviour of their own.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from pgvector.django import BitField, HalfVectorField, HnswIndex, VectorField

from providers.inputs import POLICIES

from .owners import system_owner_id

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
# second lookup on every read: COPY of 1,536-d rows ran 1.7x faster inline here, and the
# pipeline's ceiling 1.3x (docs/OPERATIONS.md). It must fit in a page with the row's other columns.
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
    """The live segment's HNSW cosine index (bulk segments get theirs from ``indexing.py``)."""
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


class Document(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents", default=system_owner_id
    )
    collection = models.CharField(max_length=200, default="default", db_index=True)
    source = models.CharField(max_length=1000, blank=True, help_text="Path or URL the text came from.")
    text = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64, help_text="sha256 of the text.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # per owner: an upload never learns whether someone else holds the same text
            models.UniqueConstraint(fields=["owner", "collection", "content_hash"], name="document_unique_owner_content"),
        ]

    def __str__(self) -> str:
        return self.source or f"document {self.pk}"


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField(help_text="Position of the chunk in its document.")
    text = models.TextField()
    start = models.PositiveIntegerField(help_text="Character offset of the chunk in the document.")
    token_count = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64, db_index=True, help_text="sha256 of the text.")

    class Meta:
        ordering = ["document_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["document", "seq"], name="chunk_unique_seq")]

    def __str__(self) -> str:
        return f"{self.document_id}:{self.seq}"


class Embedding(models.Model):
    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="embeddings")
    model = models.CharField(max_length=100)
    dimensions = models.PositiveIntegerField()
    # The content address (reuse.py): sha256 of the exact input sent ('' : not reusable).
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
            # Which models the live index holds (indexing.search_cover): a search of a model it
            # does not hold skips it, since a filtered HNSW scan finds nothing only at its end.
            models.Index(fields=["model"], name="embedding_live_model", condition=models.Q(segment=LIVE_SEGMENT)),
            *vector_indexes(),
        ]

    def __str__(self) -> str:
        return f"{self.chunk_id} / {self.model}"


class Lane(models.TextChoices):
    """How a job's requests reach the provider: one at a time under the limit, or through the Batch API."""

    SYNC = "sync"
    BATCH = "batch"


class EmbeddingJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        PAUSED = "paused"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="embedding_jobs", default=system_owner_id
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    model = models.CharField(max_length=100)
    dimensions = models.PositiveIntegerField()
    long_input_policy = models.CharField(
        max_length=20, choices=[(policy, policy.capitalize()) for policy in POLICIES], default=POLICIES[0]
    )
    documents = models.ManyToManyField(Document, blank=True, related_name="jobs")
    lane = models.CharField(max_length=10, choices=Lane.choices, default=Lane.SYNC)

    total_chunks = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)
    total_groups = models.PositiveIntegerField(default=0)
    ingesting = models.BooleanField(
        default=False, help_text="Its ingest is still adding chunks (and totals): it cannot complete yet."
    )

    embedded_chunks = models.PositiveIntegerField(default=0)
    failed_chunks = models.PositiveIntegerField(default=0)
    embedded_tokens = models.PositiveBigIntegerField(default=0)
    groups_done = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    http_429 = models.PositiveIntegerField(default=0)
    limiter_waits = models.PositiveIntegerField(default=0)
    # Chunks (and their tokens) that got a stored vector of the same input: no call, nothing paid.
    reused_chunks = models.PositiveIntegerField(default=0)
    reused_tokens = models.PositiveBigIntegerField(default=0)
    # Of embedded_tokens, those paid on the batch lane (at the Batch API's half price).
    batch_tokens = models.PositiveBigIntegerField(default=0)
    idempotency_key = models.CharField(max_length=200, blank=True, default="")

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progressed_at = models.DateTimeField(null=True, blank=True, help_text="Last time a group was stored or failed.")
    last_error = models.TextField(blank=True)
    load_segment = models.PositiveIntegerField(
        default=LIVE_SEGMENT, help_text="Where the job's rows go: 0 (the live index) or its open bulk segment."
    )

    class Meta:
        constraints = [
            # per owner: a retried POST with the same Idempotency-Key finds the job it made
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="job_unique_owner_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.status})"


Status = EmbeddingJob.Status
# Tasks of an active job call the provider; an ended job is done with; a stopped one waits for a person.
ACTIVE_STATUSES = frozenset({Status.QUEUED, Status.RUNNING})
ENDED_STATUSES = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
RESUMABLE_STATUSES = frozenset({Status.PAUSED, Status.FAILED})


class FailedChunk(models.Model):
    """A chunk that can never be embedded as it is (the API rejected it), with the reason."""

    job = models.ForeignKey(EmbeddingJob, on_delete=models.CASCADE, related_name="failures")
    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="failures")
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "chunk"], name="failed_chunk_unique")]

    def __str__(self) -> str:
        return f"{self.chunk_id}: {self.reason[:60]}"


class Segment(models.Model):
    """Rows a bulk job loaded without index maintenance; open while the job writes into it.

    A closed segment is searched exactly until an :class:`IndexRange` covering it is ready.
    """

    class State(models.TextChoices):
        OPEN = "open"
        CLOSED = "closed"

    job = models.ForeignKey(EmbeddingJob, null=True, on_delete=models.SET_NULL, related_name="segments")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    rows = models.PositiveBigIntegerField(default=0, help_text="Rows stored into it, counted as they commit.")
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"segment {self.pk} ({self.state})"


class SignBitsField(BitField):
    """``bit varying``: a vector's sign bits (pgvector's ``binary_quantize``), whatever its size."""

    def db_type(self, connection: object) -> str:
        return "bit varying"


class UnindexedVector(models.Model):
    """The sign bits of a row in a bulk segment no index covers yet: what a search scans instead of the row.

    A 1,536-d row is 6 KB, one to a page; an exact scan over an open segment reads every byte of
    it (2 us a row here, memory-bound: 10.6 ms for 5,000 rows). Its 192 bytes of sign bits,
    forty rows to a page, are scanned by Hamming distance in a fraction of that, and only the
    nearest few rows are read whole and ranked exactly (``selectors.nearest_embeddings``):
    bench/search.py measured a search beside 18,000 such rows at 21.9 ms, 47.4 reading them whole.

    A trigger on the embedding table writes these rows for every insert into a bulk segment,
    whoever inserts (``store.py``, ``reuse.py``, a worker of any version); ``indexing.maintain``
    deletes them a grace after an index covers their segment (``indexing.STALE_COVER_SECONDS``).
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


class IndexRange(models.Model):
    """One HNSW index over the rows of segments ``lo``..``hi``, built in bulk (CREATE INDEX CONCURRENTLY)."""

    class State(models.TextChoices):
        BUILDING = "building"
        READY = "ready"
        RETIRED = "retired"  # a wider range replaced it; its index is dropped a grace later

    lo = models.PositiveIntegerField()
    hi = models.PositiveIntegerField()
    name = models.CharField(max_length=63, unique=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.BUILDING)
    rows = models.PositiveBigIntegerField(default=0, help_text="Rows the build found.")
    build_seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When it became ready or was retired: what it replaced (sign bits, narrower indexes) goes a
    # grace after (indexing.STALE_COVER_SECONDS), since a search may still read by the cover before.
    changed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} [{self.lo}, {self.hi}] ({self.state})"


class EmbeddingGroup(models.Model):
    """One request's worth of a job's chunks: the unit of claiming, sweeping and retrying.

    A task claims the row with one conditional UPDATE before it calls the provider
    (``groups.group_claim``); ``lease_until`` is on the database's clock and covers whatever the
    holder is doing or has scheduled (a call, a retry's wait, a place in the queue), so the
    sweep re-enqueues only a group whose lease expired. ``expirations`` counts the leases that
    ran out while claimed (the holder died or hung): a group that keeps doing so pauses its job.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        CLAIMED = "claimed"
        DONE = "done"
        FAILED = "failed"

    job = models.ForeignKey(EmbeddingJob, on_delete=models.CASCADE, related_name="groups")
    lane = models.CharField(max_length=10, choices=Lane.choices, default=Lane.SYNC)
    batch = models.ForeignKey(
        "Batch", null=True, blank=True, on_delete=models.SET_NULL, related_name="groups",
        help_text="The batch lane's batch that carries it (its line's custom_id is the group's id).",
    )
    chunk_ids = ArrayField(models.BigIntegerField())
    tokens = models.PositiveIntegerField(help_text="Tokens sent: each distinct input once.")
    interactive = models.BooleanField(default=False)
    paced = models.BooleanField(default=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Times claimed.")
    expirations = models.PositiveIntegerField(default=0, help_text="Leases that ran out while claimed.")
    lease_until = models.DateTimeField(null=True, blank=True)
    holder = models.CharField(max_length=64, blank=True, default="", help_text="The claiming task's id.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["state", "lease_until"], name="group_state_lease")]

    def __str__(self) -> str:
        return f"group {self.pk} of job {self.job_id} ({self.state})"


GroupState = EmbeddingGroup.State
UNFINISHED_GROUP_STATES = frozenset({GroupState.PENDING, GroupState.CLAIMED})


class Batch(models.Model):
    """One Batch API batch: its JSONL file and the provider's batch, recorded before and after each step.

    ``state`` says which remote step is next or under way (``batches.py``): a driver that dies
    between a step and its record finds the file or batch again by ``key`` (the file's name, the
    batch's metadata) instead of making a second one. Its groups are the lines; a line's
    ``custom_id`` is the group's id.
    """

    class State(models.TextChoices):
        PREPARING = "preparing"  # its groups are chosen; the file is not uploaded yet
        UPLOADING = "uploading"  # the upload may have happened: look for the file by name first
        UPLOADED = "uploaded"  # the file is there; waiting for room in the enqueued-token limit
        CREATING = "creating"  # admitted; the batch may have been created: look for it by key first
        SUBMITTED = "submitted"  # the provider runs it; beat polls it
        FINISHED = "finished"  # final at the provider (its room given back); its results are being stored
        DONE = "done"  # its results are stored, its failed lines recorded, what did not run sent on
        FAILED = "failed"  # the provider refused it (validation); its groups failed or went back

    job = models.ForeignKey(EmbeddingJob, on_delete=models.CASCADE, related_name="batches")
    key = models.CharField(max_length=64, unique=True, help_text="Names its file and tags its batch.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PREPARING, db_index=True)
    remote_status = models.CharField(max_length=20, blank=True, default="", help_text="The provider's status.")
    file_id = models.CharField(max_length=100, blank=True, default="")
    batch_id = models.CharField(max_length=100, blank=True, default="")
    output_file_id = models.CharField(max_length=100, blank=True, default="")
    error_file_id = models.CharField(max_length=100, blank=True, default="")
    requests = models.PositiveIntegerField(default=0)
    inputs = models.PositiveIntegerField(default=0)
    tokens = models.PositiveBigIntegerField(default=0, help_text="Tokens it enqueues (each input counted once).")
    completed = models.PositiveIntegerField(default=0, help_text="Lines done, as the provider counts them.")
    failed = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    store_sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When a task to store its results was last sent (batches.batch_store)."
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return f"batch {self.pk} of job {self.job_id} ({self.state})"


BatchState = Batch.State
UNFINISHED_BATCH_STATES = frozenset(set(BatchState) - {BatchState.DONE, BatchState.FAILED})
