"""The search bench's "while a backfill is loading": searches beside a paced COPY and a segment build.

A loader thread stores ``--backfill-rows`` more rows into the job's open segment at
``--backfill-rate`` rows/s, 100 rows a transaction (a worker's group); halfway it closes the
segment and opens the next, as ``indexing.segment_filled`` does, and a builder thread runs
``indexing.maintain()`` over the closed half while loading goes on. Meanwhile this thread
searches: the held-out queries in turn, and every fifth search a probe made from a row the
loader already stored (half from its latest batch), which must come back first.

Rows committed during a search may or may not be in its snapshot: its recall is taken against
the exact answer over the rows committed when it started or when it ended, whichever it matches
better (``queries_straddling_a_commit`` says how often the two differ).
"""

from __future__ import annotations

import threading
import time

import numpy as np
from django.db import connection

from bench.search_data import near, recall
from project.embeddings import indexing

PROBE_EVERY = 5
LOAD_BATCH = 100


def backfill(bench) -> dict:
    args, base = bench.args, bench.loaded
    builds: list[dict] = []
    threads: dict[str, threading.Thread] = {}
    errors: list[BaseException] = []

    def build() -> None:
        try:
            started = time.perf_counter()
            built = indexing.maintain()
            builds.extend({"name": b.name, "rows": b.rows, "seconds": b.build_seconds,
                           "started_after_s": round(started - t0, 1)} for b in built or [])  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 (re-raised in the main thread)
            errors.append(exc)
        finally:
            connection.close()

    def load() -> None:
        try:
            segment = bench.open_segment
            for i in range(0, args.backfill_rows, LOAD_BATCH):
                if i >= args.backfill_rows // 2 and "build" not in threads:
                    segment = bench.close_and_open(segment)
                    threads["build"] = threading.Thread(target=build, name="build")
                    threads["build"].start()
                bench.store(min(LOAD_BATCH, args.backfill_rows - i), segment.pk, batch=LOAD_BATCH)
                pause = t0 + (i + LOAD_BATCH) / args.backfill_rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            bench.open_segment = segment
        except BaseException as exc:  # noqa: BLE001 (re-raised in the main thread)
            errors.append(exc)
        finally:
            connection.close()

    rng = np.random.default_rng(9)
    records, probes = [], []
    t0 = time.perf_counter()
    threads["load"] = threading.Thread(target=load, name="load")
    threads["load"].start()
    from bench.search_run import search

    while threads["load"].is_alive():
        committed = bench.loaded
        building = "build" in threads and threads["build"].is_alive()
        if (len(records) + len(probes)) % PROBE_EVERY == PROBE_EVERY - 1 and committed > base:
            latest = len(probes) % 2 == 0
            row = int(rng.integers(max(base, committed - LOAD_BATCH) if latest else base, committed))
            found, ms = search(near(rng, bench.values[row]))
            probes.append({"latest_batch": latest, "first": found[:1] == [int(bench.ids[row])],
                           "found": int(bench.ids[row]) in found, "ms": ms, "building": building})  # fmt: skip
            continue
        query = len(records) % len(bench.queries)
        found, ms = search(bench.queries[query])
        records.append((query, committed, bench.loaded, found, ms, building))
    threads["load"].join()
    if "build" in threads:
        threads["build"].join()
    if errors:
        raise errors[0]
    return summary(bench, records, probes, builds, time.perf_counter() - t0)


def summary(bench, records, probes, builds, seconds) -> dict:
    from bench.search_run import latency

    def score(record) -> float:
        query, before, after, found, _, _ = record
        return max(recall(found, bench.truth(query, rows=before)), recall(found, bench.truth(query, rows=after)))

    def part(chosen) -> dict:
        if not chosen:
            return {"queries": 0}
        return {"recall_at_10": round(float(np.mean([score(r) for r in chosen])), 4), **latency([r[4] for r in chosen])}

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
        "fresh_probes": {
            "probes": len(probes),
            "found_first": sum(p["first"] for p in probes),
            "found_in_top_10": sum(p["found"] for p in probes),
            "from_latest_batch": sum(p["latest_batch"] for p in probes),
            "during_segment_build": sum(p["building"] for p in probes),
            **latency([p["ms"] for p in probes] or [0.0]),
        },
        "builds": builds,
        "cover_after": {"index_ranges": [list(r) for r in indexing.search_cover().ranges],
                        "exact_segments": list(indexing.search_cover().exact)},
    }  # fmt: skip
