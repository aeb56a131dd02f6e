"""The embeddings app's tables, one module per stage; the models carry no behaviour of their own.

Documents are split into chunks (``documents.py``); a job (``jobs.py``) asks for one embedding
per (chunk, model) (``vectors.py``), sent in request groups (``groups.py``), on the batch lane in
batches (``batches.py``); a backfill loads into segments indexed in bulk (``segments.py``); a
user's table is kept embedded as a source (``sources.py``).
Everything is importable from here, as Django and the migrations expect.
"""

from .batches import UNFINISHED_BATCH_STATES, Batch, BatchState
from .documents import Chunk, Document
from .groups import UNFINISHED_GROUP_STATES, EmbeddingGroup, GroupState
from .jobs import ACTIVE_STATUSES, ENDED_STATUSES, RESUMABLE_STATUSES, EmbeddingJob, FailedChunk, JobTally, Lane, Status
from .segments import IndexRange, Segment
from .sources import (
    Source,
    SourceChange,
    SourceJob,
    SourceRegistration,
    SourceRow,
    SourceState,
    SourceVersion,
    version_collection,
)
from .vectors import (
    HNSW_MAX_DIMENSIONS,
    HNSW_OPTIONS,
    LIVE_INDEX,
    LIVE_SEGMENT,
    PAGE_ROW_BYTES,
    ROW_OTHER_BYTES,
    Embedding,
    InputClaim,
    SignBitsField,
    UnindexedVector,
    first_vector_indexes,
    index_supported,
    vector_bytes,
    vector_field,
    vector_indexes,
    vector_inline,
    vector_opclass,
    vector_type,
)

__all__ = [
    "ACTIVE_STATUSES",
    "ENDED_STATUSES",
    "HNSW_MAX_DIMENSIONS",
    "HNSW_OPTIONS",
    "LIVE_INDEX",
    "LIVE_SEGMENT",
    "PAGE_ROW_BYTES",
    "RESUMABLE_STATUSES",
    "ROW_OTHER_BYTES",
    "UNFINISHED_BATCH_STATES",
    "UNFINISHED_GROUP_STATES",
    "Batch",
    "BatchState",
    "Chunk",
    "Document",
    "Embedding",
    "EmbeddingGroup",
    "EmbeddingJob",
    "FailedChunk",
    "GroupState",
    "IndexRange",
    "InputClaim",
    "JobTally",
    "Lane",
    "Segment",
    "SignBitsField",
    "Source",
    "SourceChange",
    "SourceJob",
    "SourceRegistration",
    "SourceRow",
    "SourceState",
    "SourceVersion",
    "Status",
    "UnindexedVector",
    "first_vector_indexes",
    "index_supported",
    "vector_bytes",
    "vector_field",
    "vector_indexes",
    "vector_inline",
    "vector_opclass",
    "vector_type",
    "version_collection",
]
