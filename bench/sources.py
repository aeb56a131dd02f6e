"""A table kept embedded: its backfill beside ``tollgate run``, its freshness under edits, a migration under searches.

One team table, ``bench_articles`` (``bench/sources_table.py``: ``--rows`` rows of ~45 tokens,
no two alike), in tollgate's embedded PostgreSQL, against the simulator (``--latency-ms`` a
request) at limits this 2-core machine can fill, with ``--workers`` worker processes:

(a) **Backfill.** ``tollgate run`` on the rows' texts written as files, then (tables emptied,
    Redis flushed, so nothing is reused) ``tollgate sources add`` + ``tollgate sources sync``
    on the table: the provider's window fill (utilization, ``bench/shapes_measure.py``) of each
    side by side, from the simulator's own admissions. Goal: the same utilization.
(b) **Freshness.** Workers started as ``tollgate up`` starts them (they follow sources every
    ``TOLLGATE_SOURCES_POLL_SECONDS``); ``--rate`` rows edited a second for ``--edit-seconds``
    (``bench/sources_fresh.py``), each from its commit to searchable. Goal: p95 ≤ 2 s + one
    provider round trip (measured first, alone); every edit searchable, and each new text paid
    exactly once by the simulator's per-input counts.
(c) **Migration.** ``tollgate sources migrate NAME --model text-embedding-3-large`` while
    searches by source run throughout (``bench/sources_searches.py``). Goal: no failed or empty
    search, none reading the new version before its cutover, and no vector of it stored after:
    the switch only once it is complete.

    uv run python bench/sources.py [--rows 100000] [--workers 4] [--rate 50]

Prints one JSON object on stdout; writes bench/out/sources.json and bench/out/sources.png.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, percentile, say  # noqa: E402
from bench.embedded_home import embedded_django, reset_state  # noqa: E402
from bench.sampler import CpuMeter  # noqa: E402
from bench.shapes_measure import busy_span, long_utilization, window_fill  # noqa: E402

OUT = ROOT / "bench" / "out"
NAME = "articles"
SMALL, LARGE = "text-embedding-3-small", "text-embedding-3-large"
RPM, TPM, WINDOW = 600, 90_000, 6.0  # 15,000 tokens/s: ~330 rows/s, below this machine's ceiling for short rows
LAG_GOAL = 2.0  # seconds, plus one provider round trip
QUERY_TOKENS = 100  # admissions below this are searches' queries, not a backfill's groups
RUN_TIMEOUT = 3600.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the table (default 100,000)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes (default 4)")
    parser.add_argument("--rate", type=float, default=50.0, help="rows edited a second in (b) (default 50)")
    parser.add_argument("--edit-seconds", type=float, default=60.0, help="how long (b) edits (default 60)")
    parser.add_argument("--latency-ms", type=int, default=120, help="the simulator's latency a request (default 120)")
    parser.add_argument("--dimensions", type=int, default=256, help="both versions' dimensions (default 256)")
    parser.add_argument("--skip-run", action="store_true", help="(a) without tollgate run: the source's sync alone")
    parser.add_argument("--skip-migration", action="store_true", help="without (c)")
    parser.add_argument("--out", type=Path, default=OUT)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    started = time.monotonic()
    env = {"TOLLGATE_RPM": str(RPM), "TOLLGATE_TPM": str(TPM), "TOLLGATE_WINDOW_SECONDS": repr(WINDOW),
           "TOLLGATE_DIMENSIONS": str(args.dimensions), "TOLLGATE_MODEL": SMALL, "TOLLGATE_CHUNK_OVERLAP": "0"}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="tollgate-sources-files-") as files, \
            embedded_django("tollgate-sources-bench-", **env) as home:  # fmt: skip
        from django.conf import settings

        from project import embedded
        from project.launch import simulator_args, start_simulator

        urls = embedded.urls(home)
        with start_simulator(*simulator_args(rpm=RPM, tpm=TPM, window_seconds=WINDOW),
                             "--latency-ms", str(args.latency_ms), "--log-level", "warning") as sim:  # fmt: skip
            key = "sk-bench-sources"
            os.environ.update(OPENAI_BASE_URL=sim.base_url, OPENAI_API_KEY=key)
            settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = sim.base_url, key
            child = {**os.environ, "DATABASE_URL": urls.database_url, "REDIS_URL": urls.redis_url}
            round_trip = provider_round_trip(sim.base_url, args.dimensions)
            say(f"provider round trip (one short input, alone): p50 {round_trip:.3f} s")
            backfill = backfill_side_by_side(args, sim, child, Path(files), urls.redis_url)
            fresh = freshness(args, sim, round_trip)
            migration = None if args.skip_migration else migrate_under_searches(args, sim, child)
    result = {
        "bench": "sources",
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
        "limits": {"rpm": RPM, "tpm": TPM, "window_seconds": WINDOW}, "latency_ms": args.latency_ms,
        "rows": args.rows, "workers": args.workers, "dimensions": args.dimensions,
        "provider_round_trip_seconds": round(round_trip, 4),
        "backfill": backfill, "freshness": fresh, "migration": migration,
        "seconds": round(time.monotonic() - started, 1),
    }  # fmt: skip
    result["goals"] = goals(result)
    args.out.mkdir(parents=True, exist_ok=True)
    from bench.sources_plots import plot

    plot(result, args.out / "sources.png")
    for side in ("run", "sync"):
        if result["backfill"][side]:
            result["backfill"][side].pop("fill")
    result["freshness"].pop("lags")
    if migration:
        migration.pop("searches_detail")
    (args.out / "sources.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


def provider_round_trip(base_url: str, dimensions: int, rounds: int = 20) -> float:
    """p50 of one short input's embedding, the SDK straight at the simulator, nothing else running."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="sk-bench-sources-raw", max_retries=0)
    times = []
    for i in range(rounds):
        clock = time.monotonic()
        client.embeddings.create(model=SMALL, input=[f"Article {i}: a round trip"], dimensions=dimensions)
        times.append(time.monotonic() - clock)
    time.sleep(WINDOW)  # out of the window before anything is measured
    return percentile(times, 0.5)


def timed_command(command: list[str], *, sim, env: dict, model: str = SMALL) -> dict:
    """Run a tollgate command against a freshly counted simulator: its JSON summary and the provider's figures."""
    sim.reset_stats()
    clock = time.monotonic()
    cpu = CpuMeter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    wall, cpu = time.monotonic() - clock, cpu.result()
    if done.returncode != 0:
        say(done.stderr[-3000:])
        raise SystemExit(f"{' '.join(command[1:])} failed with {done.returncode}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    stats = sim.stats(per_input=False, admissions=True, model=model)
    # a group's admissions: a search's query (a few tokens, embedded with the current version's
    # model) would stretch the busy span past the backfill's end
    admissions = [(at, tokens) for at, tokens in stats["admissions"] if tokens >= QUERY_TOKENS]
    return {
        "command": " ".join(["tollgate", *command[1:]]),
        "wall_seconds": round(wall, 1),
        "busy_seconds": round(busy_span(admissions), 1),
        "utilization": long_utilization(admissions, window=WINDOW, tpm=TPM),
        "own_tpm_utilization": summary.get("tpm_utilization"),
        "tokens_admitted": sum(int(tokens) for _, tokens in admissions),
        "requests": len(admissions),
        "http_429": sum(stats["rate_limited"].values()),
        "machine_cpu_busy": cpu["machine_cpu_busy"],  # over the whole command, everything on the machine
        "fill": window_fill(admissions, window=WINDOW, step=0.5),
        "summary": {k: summary.get(k) for k in ("status", "chunks", "embedded", "failed", "rows", "pending",
                                                "paid_tokens", "reused_chunks", "made_current")},  # fmt: skip
    }


def backfill_side_by_side(args, sim, env: dict, files: Path, redis_url: str) -> dict:
    from bench.sources_table import TABLE, table_create, table_files

    tollgate = str(Path(sys.executable).parent / "tollgate")
    clock = time.monotonic()
    table_create(args.rows)
    written = 0 if args.skip_run else table_files(files / "rows")
    say(f"table {TABLE}: {args.rows:,} rows, and as {written:,} files, in {time.monotonic() - clock:.1f} s")
    run = None
    if not args.skip_run:
        command = [tollgate, "run", str(files / "rows"), "--workers", str(args.workers), "--json"]
        run = timed_command(command, sim=sim, env=env)
        say(f"(a) tollgate run: utilization {run['utilization']}, busy {run['busy_seconds']} s, {run['http_429']} × 429")
        reset_state(redis_url)  # nothing of the run's is reused: the source pays for every row again
    subprocess.run([tollgate, "sources", "add", NAME, "--table", TABLE, "--text", "title,body"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    sync = timed_command([tollgate, "sources", "sync", NAME, "--workers", str(args.workers), "--json"], sim=sim, env=env)
    say(f"(a) tollgate sources sync: utilization {sync['utilization']}, busy {sync['busy_seconds']} s, "
        f"{sync['http_429']} × 429")  # fmt: skip
    return {"run": run, "sync": sync}


def freshness(args, sim, round_trip: float) -> dict:
    from django.conf import settings

    from bench.sampler import Sampler
    from bench.sources_fresh import edits_stream
    from bench.sources_table import table_titles
    from project.celery import app as celery_app
    from project.embeddings.ingest.documents import content_hash
    from project.embeddings.models import Source
    from project.embeddings.sources.status import source_status
    from project.embeddings.sources.view import view_name
    from project.launch import start_workers, wait_for_workers

    source = Source.objects.get(name=NAME)
    pool = start_workers(args.workers, log_dir=Path(settings.TOLLGATE_HOME) / "logs", name="follower")
    try:
        wait_for_workers(celery_app, args.workers, pool=pool)
        time.sleep(WINDOW)
        sim.reset_stats()
        rows = random.Random(29).sample(range(1, args.rows + 1), min(args.rows, int(args.rate * args.edit_seconds)))
        titles = table_titles(rows)
        def status(seconds: float) -> tuple[float, float, int]:  # what /metrics would show
            now = source_status(source)
            return round(seconds, 2), now.lag_seconds, now.pending

        with Sampler(status, period=2.0) as sampler:
            stream = edits_stream(view=view_name(source), rows=rows, titles=titles, rate=args.rate,
                                  seconds=args.edit_seconds)  # fmt: skip
        stats = sim.stats(admissions=False)
    finally:
        pool.stop()
    served = stats["inputs"]["per_input"]
    counts = [served.get(content_hash(edit.text), 0) for edit in stream.edits]
    lags = [edit.lag for edit in stream.edits if edit.lag is not None]
    start = stream.edits[0].committed if stream.edits else 0.0
    p95 = percentile(lags, 0.95) if lags else None
    return {
        "edits": len(stream.edits), "rate": args.rate, "seconds": args.edit_seconds, "editor_late": stream.behind,
        "view_read_errors": len(stream.view_errors), "view_read_error_examples": sorted(set(stream.view_errors))[:3],
        "searchable": len(lags), "missed": len(stream.edits) - len(lags),
        "lag_p50_seconds": round(percentile(lags, 0.5) if lags else 0, 3), "lag_p95_seconds": round(p95 or 0, 3),
        "lag_max_seconds": round(max(lags, default=0), 3),
        "goal_p95_seconds": round(LAG_GOAL + round_trip, 3),
        "paid_exactly_once": sum(1 for c in counts if c == 1), "paid_never": sum(1 for c in counts if c == 0),
        "paid_more_than_once": sum(1 for c in counts if c > 1),
        "other_inputs_served": len(served) - len(set(content_hash(edit.text) for edit in stream.edits) & set(served)),
        "requests": stats["requests"], "http_429": sum(stats["rate_limited"].values()),
        "status_lag_samples": [list(sample) for sample in sampler.samples],
        "lags": [(round(edit.committed - start, 3), round(edit.lag, 3)) for edit in stream.edits if edit.lag is not None],
    }  # fmt: skip


def migrate_under_searches(args, sim, env: dict) -> dict:
    from django.db import connection

    from bench.sources_searches import Searches
    from project.embeddings.models import Embedding, Source, SourceVersion
    from project.embeddings.sources.status import source_status

    source = Source.objects.get(name=NAME)
    tollgate = str(Path(sys.executable).parent / "tollgate")
    command = [tollgate, "sources", "migrate", NAME, "--model", LARGE, "--dimensions", str(args.dimensions),
               "--workers", str(args.workers), "--json"]  # fmt: skip
    with Searches(source) as searches:
        time.sleep(2.0)  # a few searches before the migration starts
        ran = timed_command(command, sim=sim, env=env, model=LARGE)
        time.sleep(2.0)  # and a few after
    connection.close()
    version = SourceVersion.objects.get(source=source, model=LARGE)
    cutover = version.current_at
    done = searches.done
    failed = [s for s in done if s.error]
    empty = [s for s in done if not s.error and s.hits == 0]
    early = [s for s in done if 2 in s.versions and (cutover is None or s.started < cutover)]
    after = [s for s in done if cutover is not None and s.started > cutover]
    status = source_status(source)
    stored_after = Embedding.objects.filter(model=LARGE, created_at__gt=cutover).count() if cutover else None
    seconds = [s.seconds for s in done]
    say(f"(c) migration: {len(done)} searches, {len(failed)} failed, {len(empty)} empty, {len(early)} read v2 early; "
        f"cut over {cutover}")  # fmt: skip
    first = min((s.started for s in done), default=cutover)
    return {
        "command": ran["command"], "wall_seconds": ran["wall_seconds"], "utilization": ran["utilization"],
        "http_429": ran["http_429"], "tokens_admitted": ran["tokens_admitted"], "summary": ran["summary"],
        "searches": len(done), "failed": len(failed), "empty": len(empty), "errors": sorted({s.error for s in failed})[:5],
        "read_new_before_cutover": len(early),
        "read_old_after_cutover": sum(1 for s in after if 1 in s.versions),
        "searches_after_cutover": len(after),
        "new_vectors_stored_after_cutover": stored_after,
        "new_version": {"state": version.state, "embedded": next(v.embedded for v in status.versions if v.model == LARGE),
                        "rows": status.rows},  # fmt: skip
        "search_p50_seconds": round(percentile(seconds, 0.5) if seconds else 0, 4),
        "search_p95_seconds": round(percentile(seconds, 0.95) if seconds else 0, 4),
        "cutover_at_seconds": round((cutover - first).total_seconds(), 2) if cutover and first else None,
        "searches_detail": [((s.started - first).total_seconds(), s.seconds, s.versions, s.hits, bool(s.error))
                            for s in done],  # fmt: skip
    }


def goals(result: dict) -> dict:
    run, sync = result["backfill"]["run"], result["backfill"]["sync"]
    fresh, migration = result["freshness"], result["migration"]
    return {
        "backfill_at_the_run_s_utilization": {
            "met": None if run is None else (sync["utilization"] or 0) >= (run["utilization"] or 0) - 0.02,
            "run": run and run["utilization"], "sync": sync["utilization"], "tolerance": 0.02,
        },
        "freshness_p95_within_2s_plus_a_round_trip": {
            "met": fresh["missed"] == 0 and fresh["view_read_errors"] == 0
            and fresh["lag_p95_seconds"] <= fresh["goal_p95_seconds"],
            "p95": fresh["lag_p95_seconds"], "goal": fresh["goal_p95_seconds"], "missed": fresh["missed"],
        },
        "each_changed_text_paid_exactly_once": {
            "met": fresh["paid_exactly_once"] == fresh["edits"],
            "never": fresh["paid_never"], "more_than_once": fresh["paid_more_than_once"],
        },
        "migration_no_failed_or_empty_search_switch_once_complete": None if migration is None else {
            "met": migration["failed"] == 0 and migration["empty"] == 0 and migration["read_new_before_cutover"] == 0
            and migration["read_old_after_cutover"] == 0 and migration["new_vectors_stored_after_cutover"] == 0
            and migration["new_version"]["state"] == "current"
            and migration["new_version"]["embedded"] == migration["new_version"]["rows"],
        },  # fmt: skip
        "no_429": {"met": all(part["http_429"] == 0 for part in (run, sync, fresh, migration) if part)},
    }


if __name__ == "__main__":
    sys.exit(main())
