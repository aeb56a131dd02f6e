"""The producer side of a deployment test, run as its own process against the services in its environment.

``python -m tests.deploy.driver --texts 1200 --words 30 --timeout 50`` migrates the database named by
``DATABASE_URL``, drops the HNSW index (see tests/pipeline/conftest.py: on 2 cores it, not the
limit, would pace the run), records which client address inserted each embedding (a trigger:
that is how a test tells the worker hosts apart), ingests the texts, starts one job and watches
it like ``tollgate run`` does, sweeping stalled work. It keeps watching through a PostgreSQL or
Redis restart, and prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

import kombu.exceptions  # noqa: E402
import redis  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import DatabaseError, close_old_connections, connection  # noqa: E402

from project.embeddings.ingest.documents import document_ingest
from project.embeddings.jobs.lifecycle import job_create, job_start  # noqa: E402
from project.embeddings.models import ACTIVE_STATUSES, Embedding, EmbeddingJob, vector_indexes  # noqa: E402
from project.embeddings.plan.sweep import sweep_stalled  # noqa: E402
from project.pipeline import POLL_SECONDS  # noqa: E402
from project.provider import stall_seconds  # noqa: E402
from ratelimit import LimiterUnavailable  # noqa: E402
from tests.pipeline.helpers import texts  # noqa: E402

AUDIT_TABLE = "deploy_audit"
OUTAGE_ERRORS = (DatabaseError, kombu.exceptions.OperationalError, redis.RedisError, LimiterUnavailable, OSError)


def prepare() -> None:
    call_command("migrate", verbosity=0)
    table = Embedding._meta.db_table
    with connection.schema_editor() as editor:
        for index in vector_indexes():
            editor.remove_index(Embedding, index)
    with connection.cursor() as cursor:
        cursor.execute(f"""
            CREATE TABLE IF NOT EXISTS {AUDIT_TABLE} (chunk_id bigint NOT NULL, client inet);
            CREATE OR REPLACE FUNCTION deploy_audit_insert() RETURNS trigger AS $$
            BEGIN INSERT INTO {AUDIT_TABLE} VALUES (NEW.chunk_id, inet_client_addr()); RETURN NULL; END
            $$ LANGUAGE plpgsql;
            DROP TRIGGER IF EXISTS deploy_audit ON {table};
            CREATE TRIGGER deploy_audit AFTER INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION deploy_audit_insert();
        """)  # fmt: skip


def watch(job_id: int, deadline: float) -> tuple[EmbeddingJob | None, int, int]:
    """Poll until the job ends or time is up; returns it, the sweeps made and the outages ridden out."""
    sweeps = outages = 0
    job = None
    while time.monotonic() < deadline:
        try:
            close_old_connections()  # CONN_HEALTH_CHECKS: a connection broken by a restart is replaced
            job = EmbeddingJob.objects.get(pk=job_id)
            if job.status not in ACTIVE_STATUSES:
                return job, sweeps, outages
            sweeps += len(sweep_stalled(stall_seconds(), job_id=job_id))
        except OUTAGE_ERRORS as exc:
            outages += 1
            print(f"driver: outage: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
            connection.close()
        time.sleep(POLL_SECONDS)
    return job, sweeps, outages


def report(job: EmbeddingJob | None, sweeps: int, outages: int, wall: float) -> dict:
    connection.close()
    table = Embedding._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), count(DISTINCT chunk_id) FROM {table}")
        rows, distinct = cursor.fetchone()
        cursor.execute(f"SELECT host(client), count(*) FROM {AUDIT_TABLE} GROUP BY 1 ORDER BY 1")
        by_client = {str(host): n for host, n in cursor.fetchall()}
    return {
        "status": job.status if job else None,
        "total_chunks": job.total_chunks if job else None,
        "embedded_chunks": job.embedded_chunks if job else None,
        "failed_chunks": job.failed_chunks if job else None,
        "embedded_tokens": job.embedded_tokens if job else None,
        "requests": job.requests if job else None,
        "http_429": job.http_429 if job else None,
        "limiter_waits": job.limiter_waits if job else None,
        "last_error": job.last_error if job else "",
        "embedding_rows": rows,
        "distinct_chunks": distinct,
        "inserted_by_client": by_client,
        "inserted_rows": sum(by_client.values()),
        "sweeps": sweeps,
        "outages": outages,
        "wall_seconds": round(wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, required=True)
    parser.add_argument("--words", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=50.0)
    args = parser.parse_args()
    started = time.monotonic()
    prepare()
    documents = document_ingest(texts=texts(args.texts, words=args.words)).documents
    job = job_create(documents=documents)
    job_start(job=job)
    print(f"driver: job {job.pk} started", file=sys.stderr, flush=True)
    final, sweeps, outages = watch(job.pk, started + args.timeout)
    print(json.dumps(report(final, sweeps, outages, time.monotonic() - started)), flush=True)


if __name__ == "__main__":
    main()
