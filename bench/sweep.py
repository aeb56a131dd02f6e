"""The sweep over a large backlog: how its time grows with the groups whose lease ran out.

A job of N groups (one chunk each, never sent), every lease run out as if their workers died:
the sweep takes them all back to pending, each with a lease covering its place in the queue,
and sends a task for each. Timed at several N, in one run: linear means the time per group
stays flat as N grows. The tasks go to this bench's own Redis (no worker reads them).

    uv run python bench/sweep.py [--groups 10000,50000,100000]

Prints one JSON object; writes bench/out/sweep.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, say  # noqa: E402
from bench.embedded_home import embedded_django  # noqa: E402


def backlog(groups: int) -> int:
    """A running job of ``groups`` groups whose leases all ran out; returns the job's id."""
    from django.db import connection

    from project.embeddings.models import EmbeddingGroup, EmbeddingJob

    job = EmbeddingJob.objects.create(model="text-embedding-3-small", dimensions=1536, status="running")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {EmbeddingGroup._meta.db_table} (job_id, lane, chunk_ids, tokens, interactive, paced,"
            " state, attempts, expirations, lease_until, holder, created_at)"
            " SELECT %s, 'sync', ARRAY[n], 100, false, true, CASE WHEN n %% 2 = 0 THEN 'claimed' ELSE 'pending' END,"
            " 1, 0, now() - interval '1 minute', 'lost', now() FROM generate_series(1, %s) AS n",
            [job.pk, groups],
        )
    return job.pk


def sweep_all() -> tuple[int, int, float]:
    """Sweep until nothing is left; returns (groups swept, sweep calls, seconds)."""
    from project.embeddings.groups.sweep import groups_sweep

    started, swept, calls = time.perf_counter(), 0, 0
    while True:
        taken = groups_sweep()
        calls += 1
        swept += len(taken)
        if not taken:
            return swept, calls, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", default="10000,50000,100000")
    args = parser.parse_args()
    runs = []
    with embedded_django("tollgate-sweep-bench-", TOLLGATE_LEASE_EXPIRATIONS="1000"):
        import redis
        from django.conf import settings
        from django.db import connection

        from project.celery import app

        for count in [int(n) for n in args.groups.split(",")]:
            with connection.cursor() as cursor:
                cursor.execute("TRUNCATE embeddings_embeddingjob CASCADE")
            redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
            backlog(count)
            swept, calls, seconds = sweep_all()
            app.control.purge()
            runs.append({"groups": count, "swept": swept, "sweep_calls": calls, "seconds": round(seconds, 2),
                         "ms_per_group": round(1000 * seconds / max(swept, 1), 4)})  # fmt: skip
            say(f"{count:>7} expired groups: swept {swept} in {seconds:.2f} s ({calls} calls), "
                f"{runs[-1]['ms_per_group']} ms a group")  # fmt: skip
    flat = runs[-1]["ms_per_group"] <= 2 * runs[0]["ms_per_group"]
    document = {"bench": "sweep", "runs": runs, "goal_linear": {"met": flat, "rule": "ms a group at the most "
                "groups at most twice that at the fewest"}}  # fmt: skip
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(document, indent=2))
    print(json.dumps(document))


if __name__ == "__main__":
    main()
