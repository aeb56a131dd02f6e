"""The throughput bench's two measurements besides the steady state: a short job, and the ceiling.

- **Short job**: a job of two windows' tokens on a fresh key. Under a sliding window the best
  schedule sends the first window at once and the rest as the window frees, so the ideal wall
  time is ``window × (tokens / TPM − 1)`` (one window for two windows' tokens). Goal: ≤ 1.15×.
- **Ceiling**: the same pipeline against a simulator with no limits and no latency (the limiter
  set far above anything reached), in chunks per second, beside the physical limit of this
  machine measured in the same run: a binary COPY of as many rows into an unindexed table, plus
  one bulk HNSW build over them. Goal: ≥ 0.6 of it.

Both read the truth from the database (job timestamps, rows) and the simulator (``/stats``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import psycopg
from django.conf import settings
from pgvector.psycopg import register_vector

SHORT_GOAL = 1.15
CEILING_GOAL = 0.6
HNSW = "USING hnsw (v {ops}) WITH (m = 16, ef_construction = 64)"


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


def job_span(job) -> float:
    """Seconds from the job's enqueue to its completion, as the database recorded them."""
    return (job.finished_at - job.started_at).total_seconds() if job.finished_at and job.started_at else float("nan")


def database_url() -> str:
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgresql://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
