"""The search bench's run (``bench/search.py``): load as a backfill does, then measure each state."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from pgvector.django import CosineDistance

from bench.common import ROOT, say
from bench.search_backfill import backfill
from bench.search_common import (
    COLLECTION,
    DOCUMENTS,
    EF_LADDER,
    MODEL,
    OTHER_MODEL,
    P50_GOAL_MS,
    RECALL_GOAL,
    SHARE_LADDER,
    K,
)
from bench.search_data import clustered, contrast, recall, scores, top
from bench.search_query import latency, plan_indexes, search
from project.embeddings.index.builder import maintain
from project.embeddings.index.cover import search_cover
from project.embeddings.index.segments import MAX_SEGMENT_GROWTH
from project.embeddings.models import HNSW_OPTIONS, Chunk, Document, Embedding, EmbeddingJob, Segment
from project.embeddings.search import chunks as search_chunks
from project.embeddings.search.chunks import EF_SEARCH, search_transaction
from project.embeddings.search.nearest import nearest_embeddings
from project.embeddings.store.copy import vectors_store

BATCH = 1_000  # rows per vectors_store call while loading segments (a worker's groups are smaller)


def load(ids: np.ndarray, values: np.ndarray, segment: int, *, batch: int = BATCH) -> float:
    """Store ``values`` for chunks ``ids`` into ``segment``, ``batch`` rows a transaction; returns seconds."""
    started = time.perf_counter()
    for i in range(0, len(ids), batch):
        with transaction.atomic():
            vectors = dict(zip(ids[i : i + batch].tolist(), values[i : i + batch]))
            vectors_store(model=MODEL, dimensions=values.shape[1], vectors=vectors, segment=segment)
    return time.perf_counter() - started


@contextmanager
def fixed_ef_search(ef: int) -> Iterator[None]:
    """Unfiltered searches keep ``ef`` candidates an index (filtered ones, the rule's list).

    It replaces the module's ``ef_search``, so read it as ``search_chunks.ef_search``: a name
    imported from the module keeps the rule and reports it for every step of the ladder.
    """
    rule = search_chunks.ef_search
    search_chunks.ef_search = lambda k, *, filtered=False, cover=None: rule(k, filtered=True) if filtered else ef
    try:
        yield
    finally:
        search_chunks.ef_search = rule


def other_model(queries: np.ndarray, *, model: str = OTHER_MODEL) -> dict:
    """A search of a model this backfill is not loading (a re-embed's old one, say), beside it.

    It reads none of the backfill's indexes or bits (``Cover.for_model``). Side by side, the same
    query reading every index as searches once did (a cover that knows no segment's model): each
    HNSW scan filtered to a model its index lacks reads ``hnsw.max_scan_tuples`` of it.
    """
    ms = [search(q, model=model)[1] for q in queries]
    every = []
    for query in queries[: max(3, len(queries) // 10)]:  # slow by design: a few suffice
        blind = dataclasses.replace(search_cover(), models={})
        started = time.perf_counter()
        nearest = nearest_embeddings(vector=query, model=model, viewer=None, k=K, cover=blind)
        with search_transaction(k=K, viewer=None, collection=None, cover=blind), connection.cursor() as c:
            c.execute(nearest.sql, nearest.params)
            c.fetchall()
        every.append((time.perf_counter() - started) * 1000)
    return {"model": model, **latency(ms), "reading_every_index": latency(every)}


def analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Embedding._meta.db_table}")


def segment_sizes(rows: int) -> list[int]:
    """The segments a backfill of ``rows`` closes, as ``segment_filled`` does: each at least
    ``TOLLGATE_SEGMENT_ROWS`` and as many as those before it together, up to ``MAX_SEGMENT_GROWTH``
    times the setting (5,000, 5,000, 10,000, 20,000, 20,000, …); the rest stays in the open one."""
    sizes: list[int] = []
    while sum(sizes) + next_segment_size(sizes) <= rows:
        sizes.append(next_segment_size(sizes))
    return sizes


def next_segment_size(closed: list[int]) -> int:
    """The rows at which the segment after ``closed`` closes (``segment_filled``)."""
    least = settings.TOLLGATE_SEGMENT_ROWS
    return max(least, min(sum(closed), MAX_SEGMENT_GROWTH * least))


class SearchBench:
    def __init__(self, args):
        self.args = args
        self.loaded = 0  # rows of self.values stored so far, in order

    def run(self) -> dict:
        args = self.args
        started = time.monotonic()
        loadavg = {"start": os.getloadavg()}
        call_command("migrate", verbosity=0)
        total = args.rows + args.backfill_rows + args.second_job_rows
        say(f"generating {total:,} clustered vectors of {args.dimensions} dimensions")
        data = clustered(rows=total, queries=args.queries, dimensions=args.dimensions)
        self.values, self.queries = data.rows, data.queries
        self.ids = self.chunks(len(self.values))
        self.member = np.arange(len(self.values)) % DOCUMENTS == 0  # rows in COLLECTION
        self.scores = scores(self.values, self.queries)  # (rows, queries): the exact answers, by prefix
        rates = self.load_base()
        analyze()
        loadavg["loaded"] = os.getloadavg()
        states = {"segments": self.state("segments")}
        loadavg["segments"] = os.getloadavg()
        states["backfill"] = backfill(self)
        loadavg["backfill"] = os.getloadavg()
        rates["merge"] = self.merge()
        analyze()
        states["merged"] = self.state("merged")
        exact = self.exact_scan()
        states["second_job"] = self.second_job()
        loadavg["end"] = os.getloadavg()
        return self.report(data, rates, states, exact, loadavg, time.monotonic() - started)

    # --- rows ---------------------------------------------------------------------------------
    def chunks(self, count: int) -> np.ndarray:
        documents = Document.objects.bulk_create(
            Document(collection=COLLECTION if j == 0 else "bench", content_hash=f"search-{j}", text="x")
            for j in range(DOCUMENTS)
        )
        chunks = Chunk.objects.bulk_create(
            (Chunk(document=documents[i % DOCUMENTS], seq=i // DOCUMENTS, text=str(i), start=0, token_count=1,
                   content_hash=str(i)) for i in range(count)),
            batch_size=5_000,
        )  # fmt: skip
        return np.array([c.pk for c in chunks], dtype=np.int64)

    def store(self, count: int, segment: int, *, batch: int = BATCH) -> float:
        lo, hi = self.loaded, self.loaded + count
        seconds = load(self.ids[lo:hi], self.values[lo:hi], segment, batch=batch)
        self.loaded = hi
        return seconds

    def load_base(self) -> dict:
        """The live rows row by row, then the rest in segments sized as a backfill's, each built as it closes.

        ``--segments`` 0 (the default) sizes them as ``segment_filled`` closes them, and
        leaves the rest in the open segment; N cuts N equal segments and leaves it empty.
        """
        args = self.args
        live = self.store(args.live_rows, 0, batch=100)
        say(f"live index: {args.live_rows} rows in {live:.1f} s ({args.live_rows / live:.0f} rows/s, row by row)")
        self.job = EmbeddingJob.objects.create(model=MODEL, dimensions=args.dimensions, status=EmbeddingJob.Status.RUNNING)
        bulk = args.rows - args.live_rows
        sizes = segment_sizes(bulk) if not args.segments else [bulk // args.segments] * args.segments
        if args.segments:
            sizes[-1] += bulk - sum(sizes)
        segment = Segment.objects.create(job=self.job)
        copy_seconds, builds = 0.0, []
        for number, count in enumerate(sizes):
            copy_seconds += self.store(count, segment.pk)
            segment = self.close_and_open(segment)
            built = maintain()  # the closed segment's build; the open one keeps it from merging
            builds += [{"rows": b.rows, "seconds": b.build_seconds, "rows_per_s": round(b.rows / b.build_seconds, 1)}
                       for b in built]  # fmt: skip
            say(f"segment {number + 1}/{len(sizes)}: {count} rows; built {[(b.name, b.rows, b.build_seconds) for b in built]}")
        self.open_segment = segment
        self.open_rows = args.rows - self.loaded  # left in the open segment, scanned without an index
        if self.open_rows:
            copy_seconds += self.store(self.open_rows, segment.pk)
            say(f"open segment: {self.open_rows} rows, no index")
        # the open segment's rows when it closes during the backfill (equal segments: halfway through)
        self.close_at = next_segment_size(sizes) if not args.segments else args.backfill_rows // 2
        bulk_rows = args.rows - args.live_rows
        build_seconds = sum(b["seconds"] for b in builds)
        return {
            "live_insert": {"rows": args.live_rows, "batch": 100, "seconds": round(live, 2),
                            "rows_per_s": round(args.live_rows / live, 1),
                            "note": "vectors_store into segment 0: the live HNSW index maintained row by row, "
                                    "from empty (a fuller graph costs more per row)"},
            "bulk_copy": {"rows": bulk_rows, "batch": BATCH, "seconds": round(copy_seconds, 2),
                          "rows_per_s": round(bulk_rows / copy_seconds, 1),
                          "note": "vectors_store into an open segment: binary COPY + one INSERT, no HNSW upkeep"},
            "segment_builds": {"builds": builds, "rows_per_s": round(bulk_rows / build_seconds, 1)},
        }  # fmt: skip

    def close_and_open(self, segment: Segment) -> Segment:
        """What ``segment_filled`` does when a segment is full: close it, open the job's next."""
        Segment.objects.filter(pk=segment.pk).update(state=Segment.State.CLOSED, closed_at=timezone.now())
        following = Segment.objects.create(job=self.job)
        EmbeddingJob.objects.filter(pk=self.job.pk).update(load_segment=following.pk)
        return following

    def merge(self) -> dict:
        """The job ends: ``maintain()`` closes its open segment, builds it, and merges the indexes."""
        EmbeddingJob.objects.filter(pk=self.job.pk).update(status=EmbeddingJob.Status.COMPLETED)
        started = time.perf_counter()
        built = maintain()
        seconds = time.perf_counter() - started
        say(f"merge: {[(b.name, b.rows, b.build_seconds) for b in built]} in {seconds:.1f} s")
        return {"builds": [{"name": b.name, "rows": b.rows, "seconds": b.build_seconds,
                            "rows_per_s": round(b.rows / b.build_seconds, 1)} for b in built],
                "maintain_seconds": round(seconds, 1)}  # fmt: skip

    # --- one state's measurements ----------------------------------------------------------------
    def truth(self, query: int, *, rows: int | None = None, collection: bool = False) -> list[int]:
        rows = self.loaded if rows is None else rows
        mask = self.member[:rows] if collection else None
        return self.ids[top(self.scores[:rows, query], K, mask=mask)].tolist()

    def sweep(self, *, collection: str | None = None, exact_unindexed: bool | None = None) -> dict:
        """Recall and latency over every query at the ef_search a search now uses (``ef_search``)."""
        found, ms = zip(*(search(q, collection=collection, exact_unindexed=exact_unindexed) for q in self.queries))
        recalls = [recall(f, self.truth(i, collection=bool(collection))) for i, f in enumerate(found)]
        return {"ef_search": search_chunks.ef_search(K, filtered=bool(collection), cover=search_cover(MODEL)),
                "recall_at_10": round(float(np.mean(recalls)), 4),
                "min_recall": round(float(np.min(recalls)), 2),
                "queries_recall_below_half": sum(r < 0.5 for r in recalls), **latency(list(ms)),
                "queries_with_k_hits": sum(len(f) == K for f in found)}  # fmt: skip

    def state(self, name: str) -> dict:
        """Recall and latency at the candidate list ``ef_search`` gives this state, and up a ladder of others.

        The ladder fixes ``hnsw.ef_search`` (what each index keeps) for the unfiltered searches:
        one index's lists, or shorter ones when several indexes share the rows.
        """
        cover = search_cover(MODEL)
        rule = search_chunks.ef_search(K, cover=cover)
        ladder = sorted({rule, *(SHARE_LADDER if len(cover.ranges) > 1 and rule <= SHARE_LADDER[-1] else EF_LADDER)})
        for query in self.queries[:20]:
            search(query)  # warm the caches: the first reads of each index come from disk
        runs = []
        for ef in ladder:
            with fixed_ef_search(ef):
                runs.append(self.sweep())
            say(f"{name}: ef_search {ef}{' (the rule)' if ef == rule else ''}: recall@10 {runs[-1]['recall_at_10']}, "
                f"p50 {runs[-1]['p50_ms']} ms, p95 {runs[-1]['p95_ms']} ms")  # fmt: skip
            if runs[-1]["recall_at_10"] >= RECALL_GOAL and ef >= max(ladder[len(ladder) // 2], rule):
                break
        filtered = self.sweep(collection=COLLECTION)
        # side by side: the open segment's rows read whole instead of by their sign bits
        exact = self.sweep(exact_unindexed=True) if cover.exact else None
        say(f"{name}: filtered to {COLLECTION}: {filtered}")
        other = other_model(self.queries[:50])
        say(f"{name}: a search of {other['model']}, which this backfill is not loading: {other}")
        reached = next((r["ef_search"] for r in runs if r["recall_at_10"] >= RECALL_GOAL), None)
        at_default = next(r for r in runs if r["ef_search"] == rule)
        return {"rows": self.loaded, "indexes": [[lo, hi, cover.rows.get((lo, hi))] for lo, hi in cover.ranges],
                "largest_share": round(cover.largest_share(), 3), "at_default_ef": at_default,
                "exact_unindexed": exact, "ef_sweep": runs, "ef_search_reaching_goal": reached,
                "plan": plan_indexes(self.queries[0]), "other_model": other,
                "filtered": {"collection_rows": int(self.member[: self.loaded].sum()), **filtered,
                             "plan": plan_indexes(self.queries[0], collection=COLLECTION)}}  # fmt: skip

    def second_job(self) -> dict:
        """After the merge, a second backfill's first segment, indexed on its own beside the merged index.

        It stays so (too small to merge into an index twenty times its size), and every search
        reads both: the list is sized for the merged index's share, not halved between the two.
        """
        running = EmbeddingJob.Status.RUNNING
        job = EmbeddingJob.objects.create(model=MODEL, dimensions=self.args.dimensions, status=running)
        segment = Segment.objects.create(job=job)
        self.store(self.args.second_job_rows, segment.pk)
        EmbeddingJob.objects.filter(pk=job.pk).update(status=EmbeddingJob.Status.COMPLETED)
        built = maintain()
        say(f"second job: {self.args.second_job_rows} rows; built {[(b.name, b.rows, b.build_seconds) for b in built]}")
        analyze()
        return self.state("second_job")

    def exact_scan(self) -> dict:
        """The same query with index scans off: what every search would cost without an index."""
        ms = []
        for query in self.queries[: self.args.exact_queries]:
            started = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_indexscan = off")
                rows = Embedding.objects.filter(model=MODEL).annotate(distance=CosineDistance("vector", query))
                list(rows.order_by("distance").values_list("chunk_id", flat=True)[:K])
            ms.append((time.perf_counter() - started) * 1000)
        say(f"exact scan over {self.loaded} rows: {latency(ms)}")
        return {"rows": self.loaded, **latency(ms)}

    # --- the report -------------------------------------------------------------------------------
    def report(self, data, rates, states, exact, loadavg, seconds) -> dict:
        with connection.cursor() as cursor:
            settings_read = {}
            for name in ("server_version", "shared_buffers", "work_mem", "max_parallel_workers_per_gather"):
                cursor.execute(f"SHOW {name}")
                settings_read[name] = cursor.fetchone()[0]
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            settings_read["pgvector"] = cursor.fetchone()[0]
        goals = {}
        for name in ("segments", "merged", "second_job"):
            default = states[name]["at_default_ef"]
            goals[f"{name}_recall_at_least_0_95"] = default["recall_at_10"] >= RECALL_GOAL
            goals[f"{name}_p50_at_most_20_ms"] = default["p50_ms"] <= P50_GOAL_MS
            goals[f"{name}_plan_uses_hnsw"] = bool(states[name]["plan"]["hnsw_indexes_used"])
            goals[f"{name}_filtered_returns_k"] = states[name]["filtered"]["queries_with_k_hits"] == self.args.queries
        backfill = states["backfill"]
        goals["backfill_fresh_rows_found"] = backfill["fresh_probes"]["found_first"] == backfill["fresh_probes"]["probes"]
        goals["backfill_recall_at_least_0_95"] = backfill["recall_at_10"] >= RECALL_GOAL
        goals["backfill_p50_at_most_20_ms"] = backfill["p50_ms"] <= P50_GOAL_MS
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return {
            "bench": "search",
            "command": "uv run python bench/search.py " + " ".join(sys.argv[1:]),
            "commit": commit,
            "machine": {"cpus": os.cpu_count(), "loadavg_1_5_15": {k: [round(x, 2) for x in v] for k, v in loadavg.items()}},
            "postgres": settings_read,
            "model": MODEL, "dimensions": self.args.dimensions, "k": K,
            "data": {**data.describe(), **contrast(self.values[: self.args.rows], self.queries),
                     "held_out_queries": self.args.queries},
            "hnsw": {"options": HNSW_OPTIONS, "ef_search_default": EF_SEARCH,
                     "ef_search_rule": "EF_SEARCH * (largest index's share of the rows) ** 2, at least k",
                     "iterative_scan": "relaxed_order",
                     "index_memory_mb": settings.TOLLGATE_INDEX_MEMORY_MB},
            "goals": goals,
            "states": states,
            "physical": {"exact_scan": exact, **rates},
            "bench_seconds": round(seconds, 1),
        }  # fmt: skip
