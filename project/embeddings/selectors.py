"""Reads: job progress for progress bars and summaries, nearest chunks for a query vector."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TypeVar

import numpy as np
import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Count, Model, QuerySet, Value
from django.utils import timezone
from pgvector.django import CosineDistance

from project.errors import JobNotFound, ModelNotConfigured
from project.provider import bulk_reserve, shared_limiter
from providers import model_info
from ratelimit import Usage

from project.embeddings.indexing import Cover, JobIndex, job_index, search_cover
from project.embeddings.models import (
    ACTIVE_STATUSES,
    LIVE_SEGMENT,
    BatchState,
    Chunk,
    Document,
    Embedding,
    EmbeddingJob,
    FailedChunk,
    Lane,
    Status,
    UnindexedVector,
)
from project.embeddings.owners import Viewer, sees_all, visibility_key, visible

M = TypeVar("M", bound=Model)

# Rows ranked exactly per hit wanted, of those no index covers yet: the nearest by their sign bits
# (UnindexedVector). With 10, bench/search.py's searches beside 18,000-20,000 such rows kept
# recall@10 at 0.996-0.997, and every probe made from a just-loaded row found it first. (Over
# 5,000 of its rows alone, the ten best of the 50, 100, 200 and 400 nearest by Hamming distance
# held 0.975, 0.980, 0.987 and 0.994 of the exact ten.)
RERANK = 10

# HNSW's candidate list (pgvector's default is 40), raised for a larger k. Over one large index
# (a merged backfill of 110,000 clustered 1,536-d vectors, bench/search.py) recall@10 was 0.929
# at 40, 0.947 at 80 and 0.985 at 160, for p50 13.1, 14.5 and 15.7 ms.
EF_SEARCH = 160


def ef_search(k: int, *, filtered: bool = False, cover: Cover | None = None) -> int:
    """The candidate list each HNSW index of this search keeps: one list, scaled by the largest index's share.

    A search that reads several indexes unfiltered takes each one's k best, and an index holding
    a share ``f`` of the rows holds about ``f * k`` of the true k, so it needs a shorter list;
    every candidate costs a 1,536-d distance per index. ``hnsw.ef_search`` is one setting for
    the whole query, so it is sized for the largest index: ``EF_SEARCH * f**2``, never below k.
    Measured on 100,000 clustered vectors (bench/search.py's data, 200 queries), recall@10:

    candidates each index keeps (hnsw.ef_search):
    indexes (largest share f) 10          14          20         40          80          160
    1 merged (1.0)                                               0.888-0.947 0.943-0.976 0.979-0.994
    2 of 49,000 rows (0.5)                            0.947      0.985       0.999       0.999
    4 of 19,600-29,400 (0.3)              0.991       0.9995     1.0
    6 of 5,000-20,000 (0.24)  0.978-0.989 0.989-0.996 0.992-1.0
    10 of 9,800 (0.1)         0.997                   1.0

    (ranges: the bench's runs; parallel builds make each graph a little different), so
    ``160 * f**2`` (160, 40, 15, 10 and 10) holds recall near 0.98 in every shape, as one
    index does with its whole list. Equal shares of one list (80 / n, as this once was) gave a
    merged index of 108,000 rows beside a second job's 5,000 only 40: recall 0.89-0.93 (the
    bench's ``second_job``), against 0.975-0.994 at the 142 this gives; 160 each took the
    ten-index search from 7.8 to 76 ms. Filtered to a collection, a narrow list lost recall
    (0.953 at 40) and iterated longer (104 ms against 71 at 80), so a filtered search keeps the
    whole list.
    """
    wide = max(EF_SEARCH, 2 * k)
    cover = cover or search_cover()
    if filtered or len(cover.ranges) <= 1:
        return wide
    return max(k, math.ceil(wide * cover.largest_share() ** 2))


@dataclass(frozen=True)
class SearchHit:
    chunk: Chunk
    similarity: float  # 1 - cosine distance


def job_done_chunks(job: EmbeddingJob) -> int:
    return job.embedded_chunks + job.failed_chunks


def chunk_search(
    *,
    vector: Sequence[float],
    model: str,
    viewer: Viewer,
    k: int = 5,
    threshold: float | None = None,
    collection: str | None = None,
    exact_unindexed: bool | None = None,
) -> list[SearchHit]:
    """The ``k`` chunks ``viewer`` may see nearest to ``vector`` by cosine (pgvector ``<=>``), best first.

    The HNSW index is scanned iteratively (pgvector 0.8): when a filter (the model, a
    collection) drops candidates, the scan goes on until ``k`` rows pass, instead of returning
    fewer. ``relaxed_order`` may hand rows back slightly out of order, so the ``k`` are sorted.

    An unfiltered search plans with sorts off, so each part reads its HNSW index: PostgreSQL
    does not cost reading vectors out of TOAST (where vectors too large for the row live), and
    even in the row it takes sorting a 10,000-row segment exactly for cheap (0.2-0.4 s a part
    out of TOAST, measured in bench/search.py), so a search of ten segment indexes would read
    every row. A join filter (a collection, an owner) keeps the
    planner's choice: for a small collection its exact scan over the few rows is the faster.

    Rows no index covers yet (a backfill still loading) are found through their sign bits:
    the ``RERANK * k`` nearest by Hamming distance are read whole and ranked exactly. A search
    filtered by a join scans those rows exactly instead, since its filter may drop most of the
    nearest bits (``exact_unindexed``: None chooses so; True or False forces either, as
    bench/search.py does to time both side by side).
    """
    cover = search_cover(model)  # read once: the query's parts and their candidate list follow it
    query = nearest_embeddings(
        vector=vector, model=model, viewer=viewer, k=k, threshold=threshold, collection=collection, cover=cover,
        exact_unindexed=exact_unindexed,
    )  # fmt: skip
    settings_sql, settings_params = _search_settings(k=k, joined=_joined(viewer, collection), cover=cover)
    with connection.cursor() as cursor:
        if connection.get_autocommit() and isinstance(cursor.cursor, psycopg.ClientCursor):
            # One message, one round trip: in autocommit PostgreSQL runs a message of several
            # statements as one transaction, so the LOCAL settings end with it. BEGIN, the
            # settings, the query and COMMIT as four round trips took 1.5-2.5 ms more here.
            cursor.execute(f"{settings_sql}; {_hits_sql(query)}", (*settings_params, *query.params))
            cursor.nextset()
            return _hits(cursor.fetchall())
    with search_transaction(k=k, viewer=viewer, collection=collection, cover=cover), connection.cursor() as cursor:
        cursor.execute(_hits_sql(query), query.params)
        return _hits(cursor.fetchall())


# A hit carries its chunk and the chunk's document, but not the document's whole text.
_CHUNK_FIELDS = tuple(field for field in Chunk._meta.concrete_fields)
_DOCUMENT_FIELDS = tuple(field for field in Document._meta.concrete_fields if field.name != "text")


def _hits_sql(query: NearestQuery) -> str:
    """The nearest rows with their chunks and documents, read in the query's own statement.

    One statement instead of the nearest ids and then an ORM query for their chunks: that second
    query took 1.7-2.0 ms here, and a search beside a loading segment went from 23.8 to 21.8 ms
    (p50, 200 queries alternating, the same hits).
    """
    columns = [f'c."{f.column}"' for f in _CHUNK_FIELDS] + [f'd."{f.column}"' for f in _DOCUMENT_FIELDS]
    return (
        f"SELECT nearest.distance, {', '.join(columns)} FROM ({query.sql}) AS nearest "
        f'JOIN "{Chunk._meta.db_table}" AS c ON c."id" = nearest.chunk_id '
        f'JOIN "{Document._meta.db_table}" AS d ON d."id" = c."document_id"'
    )


def _hits(rows: list[tuple]) -> list[SearchHit]:
    """:func:`_hits_sql`'s rows as hits, nearest first."""
    rows.sort(key=lambda row: row[0])  # relaxed_order: the planner takes the index's order for sorted, so sort here
    chunk_reader, document_reader = _reader(Chunk, _CHUNK_FIELDS), _reader(Document, _DOCUMENT_FIELDS)
    split = 1 + len(_CHUNK_FIELDS)
    hits = []
    for row in rows:
        chunk = chunk_reader(row[1:split])
        chunk.document = document_reader(row[split:])
        hits.append(SearchHit(chunk, 1 - row[0]))
    return hits


def _reader(model: type[M], fields: tuple) -> Callable[[Sequence], M]:
    """Model instances from raw column values, converted as the ORM's own reads convert them."""
    db = connections[DEFAULT_DB_ALIAS]
    converters = [db.ops.get_db_converters(field) + field.get_db_converters(db) for field in fields]
    names = [field.attname for field in fields]

    def read(values: Sequence) -> M:
        converted = []
        for field, convert_all, value in zip(fields, converters, values):
            for convert in convert_all:
                value = convert(value, field, db)
            converted.append(value)
        return model.from_db(DEFAULT_DB_ALIAS, names, converted)

    return read


@contextmanager
def search_transaction(
    *, k: int, viewer: Viewer, collection: str | None, cover: Cover | None = None
) -> Iterator[None]:
    """The transaction :func:`chunk_search` reads in, with its planner and HNSW settings (EXPLAIN in it too)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(*_search_settings(k=k, joined=_joined(viewer, collection), cover=cover))
        yield


def _search_settings(*, k: int, joined: bool, cover: Cover | None) -> tuple[str, tuple[str, str]]:
    """The statement that sets a search's planner and HNSW settings for its transaction, and its parameters."""
    sql = (
        "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
        "set_config('hnsw.ef_search', %s, true), set_config('enable_sort', %s, true)"
    )
    return sql, (str(ef_search(k, filtered=joined, cover=cover)), "on" if joined else "off")


def _joined(viewer: Viewer, collection: str | None) -> bool:
    """Whether the search filters its rows by a join (a collection, an owner), not by the model alone."""
    return collection is not None or not sees_all(viewer)


def sign_bits(vector: Sequence[float]) -> str:
    """``vector``'s sign bits as a bit string literal, as pgvector's ``binary_quantize`` writes them (1: above 0)."""
    return "".join(np.where(np.asarray(vector, dtype=np.float32) > 0, "1", "0").tolist())


def vector_literal(vector: Sequence[float]) -> str:
    """``vector`` as pgvector's text form, each float32 in the 9 significant digits that keep it exact.

    pgvector's own ``to_text`` writes each value's shortest float64 repr, up to 17 digits: 1.9 ms
    for 1,536 values here, against 0.8 ms for ``%.9g``, which PostgreSQL reads back to the same
    float32.
    """
    values = np.asarray(vector, dtype=np.float32)
    if values.ndim != 1:
        raise ValueError("expected ndim to be 1")  # as pgvector's Vector says
    return "[" + ",".join(["%.9g" % value for value in values.tolist()]) + "]"


# Stands in for the query vector in the compiled candidates query's parameters (unguessable, so
# never a collection's name).
_QUERY_VECTOR = f"[query vector {uuid.uuid4().hex}]"
_CANDIDATES: dict[tuple, tuple[str, tuple]] = {}


def _candidates(model: str, viewer: Viewer, collection: str | None, threshold: float | None) -> tuple[str, tuple]:
    """The rows every part of a search reads, as the ORM writes them, with their distance to ``_QUERY_VECTOR``.

    Compiled once per model, collection, threshold and what the viewer may see: the ORM's
    compile took about 1 ms of a search's 18 here (bench/search.py's data, the backfill midway).
    """
    key = (model, collection, threshold, visibility_key(viewer))
    if key not in _CANDIDATES:
        embeddings = visible(Embedding.objects.filter(model=model), viewer=viewer, owner_path="chunk__document__owner")
        if collection:
            embeddings = embeddings.filter(chunk__document__collection=collection)
        rows = embeddings.annotate(distance=CosineDistance("vector", Value(_QUERY_VECTOR)))
        if threshold is not None:
            rows = rows.filter(distance__lte=1 - threshold)
        sql, params = rows.values("id", "chunk_id", "segment", "distance").query.sql_with_params()
        if len(_CANDIDATES) >= 1024:
            _CANDIDATES.clear()
        _CANDIDATES[key] = (sql, tuple(params))
    return _CANDIDATES[key]


@dataclass(frozen=True)
class NearestQuery:
    """The SQL behind :func:`chunk_search`: ``(chunk_id, distance)`` rows, nearest first."""

    sql: str
    params: tuple

    def explain(self) -> str:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + self.sql, self.params)
            return "\n".join(row[0] for row in cursor.fetchall())


def nearest_embeddings(
    *,
    vector: Sequence[float],
    model: str,
    viewer: Viewer,
    k: int,
    threshold: float | None = None,
    collection: str | None = None,
    cover: Cover | None = None,
    exact_unindexed: bool | None = None,
) -> NearestQuery:
    """The query behind :func:`chunk_search`: one part per index, merged by distance.

    Each part is ordered by the bare ``<=>`` so an HNSW index serves it. (Wrapping the distance
    in a cast, as this query once did, hides it from the index: the planner then sorts every
    row of the model instead.) While backfills are loaded in bulk (``indexing.py``) there is one
    part per index and one for the rows no index covers yet: the nearest by sign bits, ranked
    exactly (an exact scan of every such row when the search is filtered by a join).

    The ORM writes the rows every part reads (the model, who may see them, the collection, the
    threshold) once, as a ``NOT MATERIALIZED`` CTE that PostgreSQL inlines into each part, so the
    query vector is sent and parsed once, not once per part: over 10 segment indexes that took
    a search from 47 to 37 ms here, with the same answers. Each part's segment condition is
    written as its index's predicate (``indexing.py``), so the planner can prove the index serves it.
    """
    base, params = _candidates(model, viewer, collection, threshold)
    literal = vector_literal(vector)
    params = [literal if p == _QUERY_VECTOR else p for p in params]
    cover = (cover or search_cover(model)).for_model(model)
    k = int(k)
    conditions = [f"segment = {LIVE_SEGMENT}"] if cover.live else []  # the live index's predicate, so it serves
    conditions += [f"segment >= {int(lo)} AND segment <= {int(hi)}" for lo, hi in cover.ranges]
    parts = [f"SELECT chunk_id, distance FROM candidates WHERE {c} ORDER BY distance LIMIT {k}" for c in conditions]
    params = tuple(params)
    if cover.exact:
        segments = ", ".join(str(int(s)) for s in cover.exact)
        if exact_unindexed is None:
            exact_unindexed = _joined(viewer, collection)  # the filter may keep few of the nearest bits
        if exact_unindexed:
            parts.append(f"SELECT chunk_id, distance FROM candidates WHERE segment IN ({segments}) "
                         f"ORDER BY distance LIMIT {k}")  # fmt: skip
        else:
            # The segments are the model's own (its jobs'), so each bits row's model is compared
            # only where a segment's job is gone: that comparison took 1-1.5 ms over 18,000 rows.
            check_model = cover.exact_model_unknown
            same_model = "model = %s AND " if check_model else ""
            parts.append(
                f"SELECT c.chunk_id, c.distance FROM (SELECT embedding_id FROM {UnindexedVector._meta.db_table} "
                f"WHERE {same_model}segment IN ({segments}) ORDER BY bits <~> %s::varbit "
                f"LIMIT {RERANK * k}) AS near JOIN candidates AS c ON c.id = near.embedding_id "
                f"ORDER BY c.distance LIMIT {k}"
            )  # joined by id alone: an open segment is newer than the planner's statistics, which
            # would take it for a row or two and scan it through the segment index once per bit row
            params += (model,) * check_model + (sign_bits(vector),)
    if not parts:  # nothing anywhere holds this model's rows
        parts = ["SELECT chunk_id, distance FROM candidates WHERE false"]
    nearest = parts[0] if len(parts) == 1 else (
        "SELECT chunk_id, distance FROM (" + " UNION ALL ".join(f"({part})" for part in parts) + ") AS parts "
        f"ORDER BY distance LIMIT {k}"
    )  # fmt: skip
    return NearestQuery(f"WITH candidates AS NOT MATERIALIZED ({base}) {nearest}", params)


# --- the web app: job progress, failures, the limiter's usage ------------------------------------


@dataclass(frozen=True)
class JobProgress:
    """A job's counters, with the share done and an ETA, for the API and the dashboard."""

    job: EmbeddingJob
    done_chunks: int
    percent: float
    eta_seconds: float | None  # None: finished, or nothing measured and no limit to go by
    index: JobIndex  # a backfill's rows: loading, in a bulk index build, or indexed

    @property
    def active(self) -> bool:
        return self.job.status in ACTIVE_STATUSES

    @property
    def paid_tokens(self) -> int:
        """Tokens the provider billed (its usage); reused chunks cost none."""
        return self.job.embedded_tokens

    @property
    def cost_usd(self) -> float:
        return job_cost_usd(self.job)

    @property
    def saved_usd(self) -> float:
        return job_saved_usd(self.job)

    @property
    def batches(self) -> dict[str, int]:
        """The batch lane's batches by state (the provider's status while it runs them)."""
        return job_batches(self.job) if self.job.lane == Lane.BATCH else {}


def job_usd(model: str, tokens: int, *, batch: bool = False) -> float:
    """What ``tokens`` cost at the model's price (providers/catalog.py), rounded to a millionth of a dollar.

    ``batch``: at the Batch API's price, half the synchronous one.
    """
    info = model_info(model)
    price = info.batch_usd_per_million_tokens if batch else info.usd_per_million_tokens
    return round(tokens / 1e6 * price, 6)


def job_batches(job: EmbeddingJob) -> dict[str, int]:
    """How many of the job's batches are in each state (a submitted one by the provider's status)."""
    counts: dict[str, int] = {}
    for row in job.batches.values("state", "remote_status").annotate(n=Count("pk")):
        submitted = row["state"] == BatchState.SUBMITTED and row["remote_status"]
        name = row["remote_status"] if submitted else row["state"]
        counts[name] = counts.get(name, 0) + row["n"]
    return counts


def job_cost_usd(job: EmbeddingJob) -> float:
    """What the job paid: tokens on the sync lane at the price, on the batch lane at half of it."""
    info = model_info(job.model)
    sync = job.embedded_tokens - job.batch_tokens
    return round((sync * info.usd_per_million_tokens + job.batch_tokens * info.batch_usd_per_million_tokens) / 1e6, 6)


def job_saved_usd(job: EmbeddingJob) -> float:
    """What the job did not pay: reused inputs at the price, and the batch lane's discount."""
    info = model_info(job.model)
    discount = info.usd_per_million_tokens - info.batch_usd_per_million_tokens
    return round((job.reused_tokens * info.usd_per_million_tokens + job.batch_tokens * discount) / 1e6, 6)


def job_list(*, viewer: Viewer) -> QuerySet[EmbeddingJob]:
    """The jobs ``viewer`` may see (its own; staff and the operator: all), newest first."""
    return visible(EmbeddingJob.objects.all(), viewer=viewer).order_by("-pk")


def job_get(*, job_id: int, viewer: Viewer) -> EmbeddingJob:
    """The job, if ``viewer`` may see it; another owner's job is :class:`JobNotFound`, like a missing one."""
    try:
        return job_list(viewer=viewer).get(pk=job_id)
    except EmbeddingJob.DoesNotExist:
        raise JobNotFound(job_id) from None


def job_failures(*, job_id: int, viewer: Viewer) -> QuerySet[FailedChunk]:
    """The chunks the API rejected in a job ``viewer`` may see, with their reasons, oldest first."""
    job = job_get(job_id=job_id, viewer=viewer)
    return FailedChunk.objects.filter(job=job).select_related("chunk__document").order_by("pk")


def failures_recent(*, viewer: Viewer, limit: int = 20) -> list[FailedChunk]:
    """The latest failed chunks of the jobs ``viewer`` may see, newest first."""
    failures = visible(FailedChunk.objects.all(), viewer=viewer, owner_path="job__owner")
    return list(failures.select_related("chunk__document").order_by("-pk")[:limit])


def job_progress(job: EmbeddingJob, *, now: datetime | None = None) -> JobProgress:
    """Progress and ETA: the remaining tokens at the rate measured so far, else at the configured limit."""
    done = job_done_chunks(job)
    percent = 100.0 if job.total_chunks == 0 else round(100.0 * done / job.total_chunks, 1)
    return JobProgress(
        job=job, done_chunks=done, percent=percent, eta_seconds=_eta(job, now or timezone.now()), index=job_index(job)
    )


def _eta(job: EmbeddingJob, now: datetime) -> float | None:
    if job.status not in ACTIVE_STATUSES and job.status != Status.PAUSED:
        return None
    remaining = max(0, job.total_tokens - job.embedded_tokens - job.reused_tokens)
    if remaining == 0:
        return 0.0
    elapsed = (now - job.started_at).total_seconds() if job.started_at else 0.0
    if job.embedded_tokens and elapsed > 0:
        rate = job.embedded_tokens / elapsed
    else:
        rate = settings.TOLLGATE_TPM / settings.TOLLGATE_WINDOW_SECONDS
    return round(remaining / rate, 1) if rate > 0 else None


@dataclass(frozen=True, kw_only=True)
class LimitsUsage(Usage):
    """The limiter's :class:`ratelimit.Usage`, with the model it is for and the backfills' reserve."""

    model: str
    bulk_reserve: float

    @property
    def requests_percent(self) -> float:
        return round(100.0 * self.requests_used / self.requests_limit, 1) if self.requests_limit else 0.0

    @property
    def tokens_percent(self) -> float:
        return round(100.0 * self.tokens_used / self.tokens_limit, 1) if self.tokens_limit else 0.0


def configured_models() -> tuple[str, ...]:
    """The models whose shared limit can be read: the configured one and those of active jobs.

    One limiter (and Redis pool) each, never one per name a caller asks for.
    """
    active = EmbeddingJob.objects.filter(status__in=ACTIVE_STATUSES).values_list("model", flat=True).distinct()
    return tuple(sorted({settings.TOLLGATE_MODEL, *active}))


def require_configured_model(model: str) -> None:
    """Raise :class:`ModelNotConfigured` unless ``model``'s limit may be read (:func:`configured_models`)."""
    if model not in configured_models():
        raise ModelNotConfigured(model)


def limits_usage(*, model: str | None = None) -> LimitsUsage:
    """The shared limiter's window right now (every worker's admissions), read-only.

    Raises :class:`ModelNotConfigured` for another model than the configured one, and
    :class:`providers.ConfigurationError` when no provider is configured (no limiter key).
    """
    model = model or settings.TOLLGATE_MODEL
    require_configured_model(model)
    usage = shared_limiter(model).usage()
    return LimitsUsage(
        **{**asdict(usage), "cooldown_seconds": round(usage.cooldown_seconds, 3)},
        model=model,
        bulk_reserve=bulk_reserve(),
    )
