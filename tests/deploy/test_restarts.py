"""Redis and PostgreSQL restart in the middle of a job: nothing lost, nothing twice, the limit held.

Each test runs its own embedded Redis and PostgreSQL in a home of its own (the session's
servers are untouched), the simulator, three worker processes and the driver (the producer and
its sweep, tests/deploy/driver.py), and restarts one server once a third of the job is done.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import psycopg

from project.embedded import EmbeddedPostgres, EmbeddedRedis
from project.embedded.process import HOST, free_port
from project.embeddings.models import EmbeddingJob
from tests.deploy import hosts

RPM, TPM, WINDOW = 60, 6_000, 1.0
TEXTS = 1200
WORKERS = ("r1", "r2", "r3")


def embedded_chunks(pg: EmbeddedPostgres) -> int:
    try:
        with psycopg.connect(pg.url, connect_timeout=2) as conn:
            row = conn.execute(f"SELECT max(embedded_chunks) FROM {EmbeddingJob._meta.db_table}").fetchone()
    except psycopg.Error:  # not migrated yet
        return 0
    return row[0] or 0


def run_with_restart(tmp_path: Path, procs: hosts.Processes, restart: Callable[[EmbeddedPostgres, EmbeddedRedis], None]
                     ) -> tuple[dict, dict]:  # fmt: skip
    """The job, with ``restart`` called once a third of it is embedded; the driver's report and /stats."""
    # Not under tmp_path: another pytest session on the machine closes pytest's base folder to
    # others (0700) when it starts, and pg_ctl, run as PostgreSQL's system user, waits for the
    # restarted server through that folder (seen: "could not access directory ... Permission denied").
    home = Path(tempfile.mkdtemp(prefix="tollgate-deploy-home-")) / "home"
    pg, rd = EmbeddedPostgres(home), EmbeddedRedis(home)
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, home.parent, ignore_errors=True)
        stack.callback(pg.stop)
        pg.start()
        stack.callback(rd.stop)
        rd.start()
        sim_port = free_port()
        stack.callback(procs.stop)  # before the servers they use
        hosts.start_simulator(procs, host=HOST, port=sim_port, rpm=RPM, tpm=TPM, window=WINDOW)
        env = hosts.deploy_env(
            DATABASE_URL=pg.url, REDIS_URL=rd.url, OPENAI_BASE_URL=f"http://{HOST}:{sim_port}/v1",
            OPENAI_API_KEY="deploy-key", TOLLGATE_RPM=RPM, TOLLGATE_TPM=TPM, TOLLGATE_WINDOW_SECONDS=WINDOW,
            TOLLGATE_GROUP_TOKENS=1_000, TOLLGATE_STALL_SECONDS=3,
        )  # fmt: skip
        for name in WORKERS:
            procs.start(name, hosts.worker_argv(name), env=env)
        driver = hosts.Driver.start(env, texts=TEXTS, words=30, timeout=50, log_dir=procs.log_dir)
        stack.callback(driver.stop)
        deadline = time.monotonic() + 45
        while embedded_chunks(pg) < TEXTS // 3:
            assert time.monotonic() < deadline and driver.process.poll() is None, "the job never got a third done"
            time.sleep(0.1)
        restart(pg, rd)
        report = driver.result()
        stats = hosts.simulator_stats(HOST, sim_port)
    return report, stats


def assert_each_chunk_embedded_once(report: dict) -> None:
    assert report["status"] == "completed", report
    assert report["embedded_chunks"] == report["total_chunks"] == report["distinct_chunks"] == TEXTS, report
    assert report["embedding_rows"] == report["inserted_rows"] == TEXTS, report  # no row was ever written twice
    assert report["failed_chunks"] == 0, report


def worker_logs(procs: hosts.Processes) -> str:
    return "".join(procs.log(name) for name in WORKERS)


def test_redis_restarted_without_its_data_loses_nothing_and_holds_the_limit(tmp_path: Path, procs) -> None:
    def lose_redis(pg: EmbeddedPostgres, rd: EmbeddedRedis) -> None:
        rd.stop()
        for name in ("appendonly.aof", "dump.rdb"):  # what a Redis without persistence keeps: nothing
            (rd.data_dir / name).unlink(missing_ok=True)
        time.sleep(0.5)
        rd.start()

    report, stats = run_with_restart(tmp_path, procs, lose_redis)

    print(f"\nredis restart: max tokens in a window {stats['max_tokens_in_window']}/{TPM}, max requests "
          f"{stats['max_requests_in_window']}/{RPM}, 429s {stats['rate_limited']}; job {report}")  # fmt: skip
    assert_each_chunk_embedded_once(report)
    assert report["sweeps"] >= 1  # the lost queue came back from the database
    # Whether the limiter had to assume the lost window full depends on how long the workers took
    # to reconnect (a window of 1 s may pass first, and then the provider's window is gone too);
    # tests/ratelimit/test_restart.py checks that logic. Here the server's figures are the judge:
    assert stats["max_tokens_in_window"] <= TPM and stats["max_requests_in_window"] <= RPM, stats
    assert sum(stats["rate_limited"].values()) == 0, stats["rate_limited"]


def test_postgres_restarted_mid_run_loses_nothing(tmp_path: Path, procs) -> None:
    def restart_postgres(pg: EmbeddedPostgres, rd: EmbeddedRedis) -> None:
        pg.stop()  # fast: open connections are cut
        pg.start()

    report, stats = run_with_restart(tmp_path, procs, restart_postgres)

    failed_tasks = worker_logs(procs).count("OperationalError")
    print(f"\npostgres restart: tasks that met the dead connection (log lines) {failed_tasks}; max tokens in a "
          f"window {stats['max_tokens_in_window']}/{TPM}, 429s {stats['rate_limited']}; job {report}")  # fmt: skip
    assert_each_chunk_embedded_once(report)
    assert stats["max_tokens_in_window"] <= TPM and sum(stats["rate_limited"].values()) == 0, stats
