"""Where a group's time goes, many short documents at W workers: CPU by process, PostgreSQL's waits and statements.

The shape the short documents take (``bench/shapes.py``: ~70-token documents, 120 RPM and
150,000 TPM per 6 s window, 120 ms of latency), run with ``tollgate run`` at each W, while
this samples:

- the CPU seconds of each kind of process (the workers, PostgreSQL's backends, Redis, the
  simulator, the ``tollgate run`` process that ingests), per request group;
- ``pg_stat_activity`` every 0.2 s: what each active backend waits on (``Lock:tuple``,
  ``IO:WalSync`` …) and which statement it runs;
- ``pg_stat_statements``: the statements per group and the time they took.

``--checkout PATH`` runs another checkout's ``tollgate`` (with its own virtualenv and its own
database), to measure a commit before a change beside the change:

    uv run python bench/shapes_profile.py --workers 1,4,8 [--checkout /path/to/old/clone]

Prints one JSON object and a table on stderr; writes bench/out/shapes_profile[-NAME].json.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402

from bench.common import ROOT, say  # noqa: E402
from bench.embedded_home import embedded_django  # noqa: E402
from bench.shapes_corpus import write_corpus  # noqa: E402
from bench.shapes_measure import busy_span, long_utilization  # noqa: E402

RPM, TPM, WINDOW, LATENCY_MS = 120, 150_000, 6.0, 120
TABLES = ("embeddings_document", "embeddings_embeddingjob", "embeddings_segment", "embeddings_indexrange",
          "embeddings_unindexedvector", "embeddings_jobtally")  # fmt: skip


def enable_statements(home: Path) -> None:
    """Load pg_stat_statements into the bench's own PostgreSQL (a restart)."""
    from django.db import connection

    from project.embedded import EmbeddedPostgres

    with connection.cursor() as cursor:
        cursor.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    connection.close()
    server = EmbeddedPostgres(home)
    server.stop()
    server.start()
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def reset(redis_url: str) -> None:
    import redis
    from django.db import connection

    with connection.cursor() as cursor:
        present = []
        for table in TABLES:
            cursor.execute("SELECT to_regclass(%s)", [table])
            if cursor.fetchone()[0]:
                present.append(table)
        cursor.execute(f"TRUNCATE {', '.join(present)} CASCADE")
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'embedding_hnsw_%'")
        for (name,) in cursor.fetchall():
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
        cursor.execute("SELECT pg_stat_statements_reset()")
    redis.Redis.from_url(redis_url).flushdb()


def service_pids(home: Path) -> dict[int, str]:
    """The bench home's PostgreSQL postmaster and Redis server, by pid (their pid files' first lines)."""
    from project.embedded import EmbeddedPostgres, EmbeddedRedis

    return {pid: kind for kind, pid in (("postgres", EmbeddedPostgres(home).pid()), ("redis", EmbeddedRedis(home).pid()))
            if pid}  # fmt: skip


def kind_of(process: psutil.Process, *, run_pid: int, sim_pid: int, services: dict[int, str]) -> str | None:
    """Which part of the run a process is: its workers, the ingesting run itself, the simulator, PostgreSQL, Redis."""
    try:
        if process.pid == sim_pid:
            return "simulator"
        if process.pid == run_pid:
            return "tollgate run (ingest)"
        if process.pid in services:
            return services[process.pid]
        if services.get(process.ppid()) == "postgres":
            return "postgres"
        if run_pid in {parent.pid for parent in process.parents()}:
            return "workers"
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return None


class Watch:
    """CPU seconds by kind of process, and pg_stat_activity's waits, sampled while a run goes on."""

    def __init__(self, *, run_pid: int, sim_pid: int, home: Path, database_url: str) -> None:
        self.run_pid, self.sim_pid, self.database_url = run_pid, sim_pid, database_url
        self.services = service_pids(home)
        self.cpu: dict[int, tuple[str, float, float]] = {}  # pid -> kind, first seen, last seen
        self.waits: collections.Counter[str] = collections.Counter()
        self.statements: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._cpu_loop, daemon=True),
                         threading.Thread(target=self._activity_loop, daemon=True)]  # fmt: skip

    def __enter__(self) -> Watch:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _cpu_loop(self) -> None:
        while not self._stop.wait(0.25):
            for process in psutil.process_iter():
                kind = kind_of(process, run_pid=self.run_pid, sim_pid=self.sim_pid, services=self.services)
                if kind is None:
                    continue
                try:
                    used = sum(process.cpu_times()[:2])
                except psutil.NoSuchProcess:
                    continue
                first = self.cpu.get(process.pid, (kind, used, used))[1]
                self.cpu[process.pid] = (kind, first, used)

    def _activity_loop(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
            while not self._stop.wait(0.2):
                rows = conn.execute(
                    "SELECT coalesce(wait_event_type || ':' || wait_event, 'on CPU'), query FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid()"
                ).fetchall()
                self.samples += 1
                for wait, query in rows:
                    self.waits[wait] += 1
                    self.statements[re.sub(r"\d+", "N", " ".join(query.split()))[:70]] += 1

    def cpu_by_kind(self) -> dict[str, float]:
        totals: collections.Counter[str] = collections.Counter()
        for kind, first, last in self.cpu.values():
            totals[kind] += last - first
        return {kind: round(seconds, 2) for kind, seconds in totals.items()}


def top_statements(groups: int) -> list[dict]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT calls, total_exec_time, query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
            "WHERE d.datname = current_database() ORDER BY total_exec_time DESC LIMIT 15"
        )
        return [
            {"calls_per_group": round(calls / max(groups, 1), 2), "ms_per_group": round(ms / max(groups, 1), 3),
             "query": " ".join(query.split())[:110]}
            for calls, ms, query in cursor.fetchall()
        ]  # fmt: skip


def profile(*, workers: int, tollgate: Path, corpus: Path, home: Path, database_url: str, redis_url: str) -> dict:
    from project.launch import simulator_args, start_simulator

    reset(redis_url)
    with start_simulator(*simulator_args(rpm=RPM, tpm=TPM, window_seconds=WINDOW), "--latency-ms", str(LATENCY_MS)) as sim:
        env = {**os.environ, "TOLLGATE_HOME": str(home), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
               "OPENAI_BASE_URL": sim.base_url, "OPENAI_API_KEY": "sk-bench-profile", "TOLLGATE_RPM": str(RPM),
               "TOLLGATE_TPM": str(TPM), "TOLLGATE_WINDOW_SECONDS": str(WINDOW)}  # fmt: skip
        sim.reset_stats()
        env.pop("VIRTUAL_ENV", None)  # the checkout's own virtualenv, its own code (run from its folder)
        run = subprocess.Popen([str(tollgate), "run", str(corpus), "--workers", str(workers), "--json"], env=env,
                               cwd=tollgate.parent.parent.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
        with Watch(run_pid=run.pid, sim_pid=sim.process.pid, home=home, database_url=database_url) as watch:
            out, err = run.communicate(timeout=1800)
        stats = sim.stats(per_input=False, admissions=True)
    groups = stats["requests"]
    cpu = watch.cpu_by_kind()
    waiting = sum(watch.waits.values())
    return {
        "workers": workers,
        "exit_code": run.returncode,
        "requests": groups,
        "tokens": stats["tokens_admitted"],
        "http_429": sum(stats["rate_limited"].values()),
        "busy_seconds": round(busy_span(stats["admissions"]), 2),
        "utilization": long_utilization(stats["admissions"], window=WINDOW, tpm=TPM),
        "cpu_seconds": cpu,
        "cpu_ms_per_group": {kind: round(1000 * seconds / max(groups, 1), 1) for kind, seconds in cpu.items()},
        "active_backend_samples": waiting,
        "waits": {wait: round(count / max(waiting, 1), 3) for wait, count in watch.waits.most_common(8)},
        "busiest_statements": {q: count for q, count in watch.statements.most_common(8)},
        "statements": top_statements(groups),
        "error": err.strip().splitlines()[-2:] if run.returncode else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,4,8")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the tollgate checkout to run (its .venv)")
    parser.add_argument("--size", type=int, default=70)
    parser.add_argument("--tokens", type=int, default=790_000)
    parser.add_argument("--name", default="", help="a suffix for the JSON's file name")
    args = parser.parse_args()
    tollgate = args.checkout / ".venv" / "bin" / "tollgate"
    results = []
    with tempfile.TemporaryDirectory(prefix="tollgate-profile-corpus-") as cache, \
            embedded_django("tollgate-profile-bench-", migrate=args.checkout == ROOT) as home:  # fmt: skip
        from project import embedded

        urls = embedded.urls(home)
        if args.checkout != ROOT:  # its own schema, by its own migrations
            subprocess.run([str(args.checkout / ".venv" / "bin" / "python"), str(args.checkout / "manage.py"),
                            "migrate", "-v0"], env={**os.environ, "DATABASE_URL": urls.database_url,
                            "REDIS_URL": urls.redis_url}, check=False)  # fmt: skip
        enable_statements(home)
        corpus = Path(cache) / "docs"
        write_corpus(corpus, tokens=args.size, total_tokens=args.tokens)
        for workers in [int(w) for w in args.workers.split(",")]:
            say(f"W={workers} …")
            result = profile(workers=workers, tollgate=tollgate, corpus=corpus, home=home,
                             database_url=urls.database_url, redis_url=urls.redis_url)  # fmt: skip
            say(f"  utilization {result['utilization']}, busy {result['busy_seconds']} s, {result['requests']} groups, "
                f"CPU ms/group {result['cpu_ms_per_group']}, waits {result['waits']}")  # fmt: skip
            results.append(result)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    document = {"bench": "shapes_profile", "checkout": str(args.checkout), "commit": _commit(args.checkout),
                "size": args.size, "tokens": args.tokens, "limits": {"rpm": RPM, "tpm": TPM, "window": WINDOW},
                "latency_ms": LATENCY_MS, "load_average": os.getloadavg(), "runs": results}  # fmt: skip
    (out / f"shapes_profile{'-' + args.name if args.name else ''}.json").write_text(json.dumps(document, indent=2))
    print(json.dumps(document))


def _commit(checkout: Path) -> str:
    done = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip()


if __name__ == "__main__":
    main()
