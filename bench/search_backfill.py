"""The search bench's "while a backfill is loading": searches beside a paced COPY and a segment build.

A loader process stores ``--backfill-rows`` more rows into the job's open segment at
``--backfill-rate`` rows/s, 100 rows a transaction (a worker's group); when the segment holds
what ``segment_filled`` closes it at, it closes it and opens the next, and a builder
thread of its own runs ``maintain()`` over the closed one while loading goes on. The loader is a process
of its own because workers are: as a thread of this one it held the interpreter lock this
thread's searches wait for. Meanwhile this process searches: the held-out queries in turn, and
every fifth search a probe made from a row the loader already stored (half from its latest
batch), which must come back first. The held-out queries alternate between ``chunk_search`` as
it is (rows no index covers found by their sign bits) and the same with those rows read whole
(``exact_unindexed``), so the two are timed side by side under the same load.

Rows committed during a search may or may not be in its snapshot: its recall is taken against
the exact answer over the rows committed when it started or when it ended, whichever it matches
better (``queries_straddling_a_commit`` says how often the two differ).
"""

from __future__ import annotations

import multiprocessing
import threading
import time

import numpy as np
from django.db import connection, connections

from bench.errors import LoaderFailed
from bench.search_data import near, recall
from bench.search_query import latency, plan_indexes, search
from project.embeddings.index.builder import maintain
from project.embeddings.index.cover import search_cover
from project.embeddings.models import EmbeddingJob, Segment

PROBE_EVERY = 5
LOAD_BATCH = 100


def _load_and_build(bench, committed, loading, building, sender) -> None:
    """The loader process: the paced load, and the build of the segment it closes beside it."""
    args, builds, threads = bench.args, [], []
    t0 = time.perf_counter()

    def build() -> None:
        building.value = True
        try:
            started = time.perf_counter()
            built = maintain()
            builds.extend({"name": b.name, "rows": b.rows, "seconds": b.build_seconds,
                           "started_after_s": round(started - t0, 1)} for b in built or [])  # fmt: skip
        finally:
            building.value = False
            connection.close()

    try:
        segment = bench.open_segment
        for i in range(0, args.backfill_rows, LOAD_BATCH):
            if bench.open_rows + i >= bench.close_at and not threads:
                segment = bench.close_and_open(segment)
                threads.append(threading.Thread(target=build, name="build"))
                threads[0].start()
            bench.store(min(LOAD_BATCH, args.backfill_rows - i), segment.pk, batch=LOAD_BATCH)
            committed.value = bench.loaded
            pause = t0 + (i + LOAD_BATCH) / args.backfill_rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        loading.value = False
        for thread in threads:
            thread.join()
        sender.send({"builds": builds})
    except BaseException as exc:  # noqa: BLE001 (raised again in the searching process)
        loading.value = False
        sender.send({"error": repr(exc)})
    finally:
        connections.close_all()


def backfill(bench) -> dict:
    base = bench.loaded
    context = multiprocessing.get_context("fork")
    committed = context.Value("q", base)  # rows of bench.values the loader has committed
    loading, building = context.Value("b", True), context.Value("b", False)
    results, sender = context.Pipe(duplex=False)
    connections.close_all()  # the loader opens its own connection; a socket is never shared across a fork
    loader = context.Process(target=_load_and_build, args=(bench, committed, loading, building, sender), name="loader")
    rng = np.random.default_rng(9)
    records, probes = [], []
    t0 = time.perf_counter()
    loader.start()
    sender.close()  # so a loader that dies without a word is an EOFError below, not a hang
    plans: dict = {}
    while loading.value:
        before, during_build = committed.value, bool(building.value)
        state = "during_segment_build" if during_build else "loading_only"
        if state not in plans and before > base:
            plans[state] = plan_indexes(bench.queries[0])  # what the searches of this state read
        if (len(records) + len(probes)) % PROBE_EVERY == PROBE_EVERY - 1 and before > base:
            latest = len(probes) % 2 == 0
            row = int(rng.integers(max(base, before - LOAD_BATCH) if latest else base, before))
            found, ms = search(near(rng, bench.values[row]))
            probes.append({"latest_batch": latest, "first": found[:1] == [int(bench.ids[row])],
                           "found": int(bench.ids[row]) in found, "ms": ms, "building": during_build})  # fmt: skip
            continue
        query, exact = (len(records) // 2) % len(bench.queries), len(records) % 2 == 1
        found, ms = search(bench.queries[query], exact_unindexed=exact or None)  # in turn: as chunk_search does, exactly
        records.append((query, before, committed.value, found, ms, during_build, exact))
    try:
        outcome = results.recv()
    except EOFError:
        outcome = {"error": "the loader process exited without a result"}
    loader.join()
    if "error" in outcome:
        raise LoaderFailed(outcome["error"])
    bench.loaded = committed.value
    bench.open_segment = Segment.objects.get(pk=EmbeddingJob.objects.get(pk=bench.job.pk).load_segment)
    return {**summary(bench, records, probes, outcome["builds"], time.perf_counter() - t0), "plans": plans}


def summary(bench, records, probes, builds, seconds) -> dict:
    def score(record) -> float:
        query, before, after, found = record[:4]
        return max(recall(found, bench.truth(query, rows=before)), recall(found, bench.truth(query, rows=after)))

    def part(chosen) -> dict:
        if not chosen:
            return {"queries": 0}
        return {"recall_at_10": round(float(np.mean([score(r) for r in chosen])), 4), **latency([r[4] for r in chosen])}

    exact = [r for r in records if r[6]]  # the same searches with every unindexed row read whole
    records = [r for r in records if not r[6]]
    building = [r for r in records if r[5]]
    return {
        "rows_before": records[0][1] if records else None,
        "rows_after": bench.loaded,
        "backfill_rows": bench.args.backfill_rows,
        "backfill_rows_per_s": bench.args.backfill_rate,
        "seconds": round(seconds, 1),
        **part(records),
        "during_segment_build": part(building),
        "loading_only": part([r for r in records if not r[5]]),
        "queries_straddling_a_commit": sum(r[1] != r[2] for r in records),
        "exact_unindexed": {"note": "the same searches in turn, the unindexed rows read whole instead of by sign bits",
                            **part(exact), "during_segment_build": part([r for r in exact if r[5]]),
                            "loading_only": part([r for r in exact if not r[5]])},
        "fresh_probes": {
            "probes": len(probes),
            "found_first": sum(p["first"] for p in probes),
            "found_in_top_10": sum(p["found"] for p in probes),
            "from_latest_batch": sum(p["latest_batch"] for p in probes),
            "during_segment_build": sum(p["building"] for p in probes),
            **latency([p["ms"] for p in probes] or [0.0]),
        },
        "builds": builds,
        "cover_after": {"index_ranges": [list(r) for r in search_cover().ranges],
                        "exact_segments": list(search_cover().exact)},
    }  # fmt: skip
