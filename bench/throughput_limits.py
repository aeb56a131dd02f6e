"""The throughput bench's two measurements besides the steady state: a short job, and the ceiling.

- **Short job**: a job of two windows' tokens on a fresh key. Under a sliding window the best
  schedule sends the first window at once and the rest as the window frees, so the ideal wall
  time is ``window × (tokens / TPM − 1)`` (one window for two windows' tokens). Goal: ≤ 1.15×.
- **Ceiling**: the same pipeline against a simulator with no limits and no latency (the limiter
  set far above anything reached), in chunks per second, beside the physical limit of this
  machine measured in the same run: a binary COPY of as many rows into an unindexed table, plus
  one bulk HNSW build over them. Goal: ≥ 0.6 of it.

Both run tollgate's workers (``throughput_runs.tollgate``) and read the truth from the database
(job timestamps, rows) and the simulator (``/stats``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import psycopg
from django.conf import settings
from pgvector.psycopg import register_vector

from bench.common import say
from bench.throughput_common import RPM, TIER5_RPM, TIER5_TPM, TPM
from bench.throughput_report import brief
from bench.throughput_runs import tollgate

SHORT_GOAL = 1.15
CEILING_GOAL = 0.6
HNSW = "USING hnsw (v {ops}) WITH (m = 16, ef_construction = 64)"


def short_job(bench, time_scale: float | None = None) -> dict:
    """Two windows' tokens on a fresh key: the first window at once, the rest as it frees.

    ``time_scale`` 1 runs it at the real 60 s window (its own simulator, the workers told the
    same), as a Tier-1 user's job runs: the pacing's cost shows there, where the machine has a
    window's time to process the first window. At the bench's scale (default) a window lasts
    6 s, and processing the first window's ~2,000 chunks alone takes seconds on 2 cores.
    """
    from project.launch import start_simulator

    scale = time_scale or bench.args.time_scale
    name = f"short-job-k{scale:g}-w{bench.args.workers}"
    # Two windows of what a backfill may use: the bulk reserve keeps 1% free for searches, and
    # a sliding window admits nothing past a window's share until the first admissions leave
    # it, so a job even slightly over two windows' shares waits a whole third window.
    documents = bench.subset_tokens(int(2 * TPM * (1 - bench.settings.TOLLGATE_BULK_RESERVE)))
    if time_scale is None:
        run = tollgate(bench, name, documents, bench.args.workers, None)
        window = bench.window
    else:
        window = 60.0 / scale
        scaled = (bench.sim, bench.window, bench.settings.TOLLGATE_WINDOW_SECONDS)
        with start_simulator("--rpm", str(RPM), "--tpm", str(TPM), "--time-scale", repr(scale), "--vectors",
                             bench.args.vectors, "--log-level", "warning") as sim:  # fmt: skip
            bench.sim, bench.window, bench.settings.TOLLGATE_WINDOW_SECONDS = sim, window, window
            try:
                run = tollgate(bench, name, documents, bench.args.workers, None,
                               env={"TOLLGATE_WINDOW_SECONDS": repr(window)})  # fmt: skip
            finally:
                bench.sim, bench.window, bench.settings.TOLLGATE_WINDOW_SECONDS = scaled
    ideal = short_job_ideal(run["job_tokens"], tpm=TPM, window_seconds=window)
    ratio = run["job_span_seconds"] / ideal if ideal else None
    say(f"{name}: {run['job_tokens']:,} tokens in {run['job_span_seconds']} s, ideal {ideal:.2f} s, "
        f"ratio {ratio and round(ratio, 3)} (goal <= {SHORT_GOAL})")  # fmt: skip
    return {**run, "time_scale": scale, "window_seconds": window, "ideal_seconds": round(ideal, 2),
            "wall_over_ideal": ratio and round(ratio, 3), "goal": SHORT_GOAL}  # fmt: skip


def ceiling(bench) -> dict:
    """The pipeline with no limit to wait for, beside COPY + one HNSW build of as many rows.

    Run twice: with the groups this bench's limits give (1% of Tier 1's TPM: 10,000 tokens,
    ~20 chunks a request), and with those of the Tier-5 account whose rate the bench
    represents (1% of 10M TPM: 100,000 tokens), since a group's fixed cost (a task, a claim,
    a request, a commit) is most of the workers' CPU. The goal is judged on the second.
    """
    from project.launch import start_simulator
    from providers.planning import group_budget
    from ratelimit import Limits

    subset = bench.subset(bench.args.ceiling_chunks)
    unlimited = {"TOLLGATE_RPM": str(10**9), "TOLLGATE_TPM": str(10**12)}
    tier5 = group_budget(Limits(requests=TIER5_RPM, tokens=TIER5_TPM, window_seconds=60.0))
    limited_sim, runs = bench.sim, {}
    with start_simulator("--rpm", "0", "--tpm", "0", "--vectors", bench.args.vectors, "--log-level", "warning") as sim:
        bench.sim = sim
        try:
            for label, group_tokens in (("tier1_groups", 0), ("tier5_groups", tier5)):
                bench.settings.TOLLGATE_GROUP_TOKENS = group_tokens  # the groups are planned in this process
                runs[label] = tollgate(bench, f"ceiling-{label}-w{bench.args.workers}", subset, bench.args.workers,
                                       None, env=unlimited)  # fmt: skip
        finally:
            bench.sim, bench.settings.TOLLGATE_GROUP_TOKENS = limited_sim, 0
    chunks = runs["tier5_groups"]["chunks"]
    physical = physical_limit(database_url(), rows=chunks, dimensions=bench.dimensions)
    report = {"physical": physical.as_dict(), "goal": CEILING_GOAL, "tier5_group_tokens": tier5}
    for label, run in runs.items():
        chunks_per_s = run["chunks"] / run["job_span_seconds"]
        # Until every row is indexed too (the physical limit includes its build): the stricter figure.
        searchable = run["chunks"] / run["searchable_seconds"] if run.get("searchable_seconds") else None
        report[label] = {**brief(run), "chunks_per_second": round(chunks_per_s, 1),
                         "of_physical": round(chunks_per_s / physical.rows_per_second, 3),
                         "searchable_chunks_per_second": searchable and round(searchable, 1),
                         "searchable_of_physical": searchable and round(searchable / physical.rows_per_second, 3)}  # fmt: skip
        say(f"ceiling, {label}: {chunks_per_s:.1f} chunks/s against {physical.rows_per_second:.1f} rows/s for "
            f"COPY + one HNSW build ({physical.as_dict()}): {report[label]['of_physical']} (goal >= "
            f"{CEILING_GOAL}); every row indexed: {report[label]['searchable_chunks_per_second']} chunks/s, "
            f"{report[label]['searchable_of_physical']}")  # fmt: skip
    report["of_physical"] = report["tier5_groups"]["of_physical"]
    return report


@dataclass(frozen=True)
class Physical:
    rows: int
    copy_seconds: float
    build_seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / (self.copy_seconds + self.build_seconds)

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "copy_rows_per_s_no_index": round(self.rows / self.copy_seconds, 1),
            "build_rows_per_s": round(self.rows / self.build_seconds, 1),
            "copy_then_build_rows_per_s": round(self.rows_per_second, 1),
        }


def physical_limit(database_url: str, *, rows: int, dimensions: int, workers: int = 1) -> Physical:
    """COPY ``rows`` random unit vectors into a fresh unindexed table, then build its HNSW index once.

    The table keeps its vectors in the row when they fit, as tollgate's does (``vector_inline``):
    the fastest this machine can load them.
    """
    from project.embeddings.models import vector_inline

    kind = "halfvec" if dimensions > 2000 else "vector"
    storage = " STORAGE PLAIN" if vector_inline(kind, dimensions) else ""
    values = np.random.default_rng(11).standard_normal((rows, dimensions), dtype=np.float32)
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    with psycopg.connect(database_url, autocommit=True) as conn:
        register_vector(conn)
        conn.execute("DROP TABLE IF EXISTS bench_physical")
        conn.execute(f"CREATE TABLE bench_physical (id bigserial PRIMARY KEY, v {kind}({dimensions}){storage})")
        started = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy("COPY bench_physical (v) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["vector"])
            for vector in values:
                copy.write_row((vector,))
        copied = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute(f"SET max_parallel_maintenance_workers = {workers}")
        conn.execute(f"ALTER TABLE bench_physical SET (parallel_workers = {workers})")  # the heap looks small: TOAST
        conn.execute(f"CREATE INDEX ON bench_physical {HNSW.format(ops=f'{kind}_cosine_ops')}")
        built = time.perf_counter()
        conn.execute("DROP TABLE bench_physical")
    return Physical(rows, copied - started, built - copied)


def short_job_ideal(tokens: int, *, tpm: int, window_seconds: float) -> float:
    """Seconds a sliding window needs at the least: the first window at once, the rest as it frees."""
    return window_seconds * max(0.0, tokens / tpm - 1)


def database_url() -> str:
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgresql://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
