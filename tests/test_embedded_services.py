"""`tollgate services` against real embedded servers, in homes of their own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis

from project import embedded
from project.celery import app
from project.embedded.postgres import bundled_major_version

ROOT = Path(__file__).resolve().parents[1]


def tollgate(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TOLLGATE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "project.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_start_twice_reuses_status_reports_both_stop_stops_both(tmp_path: Path):
    home = tmp_path / "home"
    try:
        first = tollgate(home, "services", "start")
        assert first.returncode == 0, first.stderr
        pid_before = (home / "postgres/data/postmaster.pid").read_text().split()[0]

        second = tollgate(home, "services", "start")
        assert second.returncode == 0 and second.stdout == first.stdout
        assert (home / "postgres/data/postmaster.pid").read_text().split()[0] == pid_before

        status = tollgate(home, "services", "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "PostgreSQL 18, pgvector 0." in status.stdout and "Redis 6." in status.stdout
        pgvector = status.stdout.split("pgvector ")[1].split(":")[0]
        assert tuple(int(part) for part in pgvector.split(".")[:2]) >= (0, 8), pgvector
        assert status.stdout.count(": up at ") == 2

        urls = embedded.urls(home)
        for secret in (urlsplit(urls.database_url).password, urlsplit(urls.redis_url).password):
            assert secret and secret not in first.stdout + status.stdout, "a password was printed"
        redis_url = urls.redis_url
        with redis.Redis.from_url(redis_url) as client:
            client.set("survives", "yes")
    finally:
        stopped = tollgate(home, "services", "stop")
    assert stopped.returncode == 0
    status = tollgate(home, "services", "status")
    assert status.returncode == 3 and status.stdout.count(": down") == 2

    again = tollgate(home, "services", "start")
    try:
        assert again.stdout == first.stdout
        with redis.Redis.from_url(redis_url) as client:
            assert client.get("survives") == b"yes"
    finally:
        tollgate(home, "services", "stop")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to a system user")
def test_stop_works_after_a_parent_folder_was_closed_to_the_system_user(tmp_path: Path):
    home = tmp_path / "home"
    started = tollgate(home, "services", "start")
    try:
        assert started.returncode == 0, started.stderr
        tmp_path.chmod(0o700)  # as pytest does to its base folder when another session starts
        stopped = tollgate(home, "services", "stop")
        assert stopped.returncode == 0, stopped.stderr
    finally:
        tollgate(home, "services", "stop")
    assert tollgate(home, "services", "status").stdout.count(": down") == 2


def test_a_port_in_use_is_one_clear_line(tmp_path: Path):
    home = tmp_path / "home"
    (home / "redis").mkdir(parents=True)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        (home / "redis/port").write_text(str(port))
        result = tollgate(home, "services", "start")
    tollgate(home, "services", "stop")
    assert result.returncode == 2
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def refused_start(home: Path, pg_version: str) -> str:
    """`services start` on a data directory of another PostgreSQL: its one line on stderr."""
    (home / "postgres/data").mkdir(parents=True)
    (home / "postgres/data/PG_VERSION").write_text(f"{pg_version}\n")
    result = tollgate(home, "services", "start")
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sorted(p.name for p in (home / "postgres/data").iterdir()) == ["PG_VERSION"]  # nothing touched
    return result.stderr.strip()


def test_a_data_directory_of_another_version_is_refused(tmp_path: Path):
    home = tmp_path / "home"
    line = refused_start(home, "15")
    assert "created by PostgreSQL 15, but tollgate bundles PostgreSQL 18" in line
    assert f"remove {home}/postgres to start afresh (the embeddings can be rebuilt)" in line
    assert "dump it with PostgreSQL 15 and restore it" in line


def test_the_old_bundles_postgresql_16_names_the_way_forward(tmp_path: Path):
    home = tmp_path / "home"
    assert refused_start(home, "16") == (
        f"tollgate: {home}/postgres/data was created by PostgreSQL 16, but tollgate bundles PostgreSQL 18: "
        f"remove {home}/postgres to start afresh (the embeddings can be rebuilt), or carry the data over with "
        "`uv run --with pgserver==0.1.4 python -m project.embedded.upgrade` "
        '(see docs/OPERATIONS.md, "Upgrading the embedded PostgreSQL")'
    )
    operations = (ROOT / "docs/OPERATIONS.md").read_text()
    assert "\n## Upgrading the embedded PostgreSQL\n" in operations
    assert "uv run --with pgserver==0.1.4 python -m project.embedded.upgrade" in operations


def test_a_newer_data_directory_is_refused_without_advice_to_delete_it(tmp_path: Path):
    line = refused_start(tmp_path / "home", "19")
    assert line.endswith("PostgreSQL 19, but tollgate bundles PostgreSQL 18: use the tollgate release that made it, "
                         "or another TOLLGATE_HOME")


def test_the_bundle_is_postgresql_18_with_pgvector_0_8_halfvec_hnsw_and_iterative_scans(database_url: str):
    assert bundled_major_version() == "18"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        (version,) = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        assert tuple(int(part) for part in version.split(".")[:2]) >= (0, 8), version
        # 600 random 64-d vectors in 20 categories; a category is 5% of the rows.
        conn.execute("CREATE TEMP TABLE items (id int PRIMARY KEY, category int, v halfvec(64))")
        conn.execute("SELECT setseed(0.42)")
        random_vector = "(SELECT array_agg(random() - 0.5) FROM generate_series(1, 64) WHERE i > 0)::halfvec(64)"
        conn.execute(f"INSERT INTO items SELECT i, i % 20, {random_vector} FROM generate_series(1, 600) AS i")
        conn.execute("CREATE INDEX items_hnsw ON items USING hnsw (v halfvec_cosine_ops)")
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET hnsw.ef_search = 40")
        query = "SELECT id FROM items WHERE category = 3 ORDER BY v <=> (SELECT v FROM items WHERE id = 3) LIMIT 10"
        plan = "\n".join(row[0] for row in conn.execute(f"EXPLAIN {query}"))
        assert "items_hnsw" in plan, plan

        conn.execute("SET hnsw.iterative_scan = off")
        filtered_once = [row[0] for row in conn.execute(query)]
        conn.execute("SET hnsw.iterative_scan = relaxed_order")
        iterated = [row[0] for row in conn.execute(query)]
    # One pass finds ~5% of its 40 candidates in the category; iterating goes on until 10 are found.
    assert len(filtered_once) < 10
    assert len(iterated) == 10 and iterated[0] == 3 and all(i % 20 == 3 for i in iterated)


def test_a_worker_started_separately_reaches_the_shared_services():
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "--pool", "solo", "--hostname", "separate@%h",
         "--without-mingle", "--without-gossip", "--loglevel", "WARNING"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        replies = []
        while not replies and time.monotonic() < deadline and worker.poll() is None:
            replies = app.control.ping(timeout=0.5)
        assert any(name.startswith("separate@") for reply in replies for name in reply), worker.stderr
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        worker.stderr.close()


def test_with_urls_set_nothing_is_started(tmp_path: Path, database_url: str, redis_url: str):
    home = tmp_path / "unused-home"
    env = {**os.environ, "TOLLGATE_HOME": str(home), "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    probe = "from django.conf import settings; d = settings.DATABASES['default']; print(d['PORT'], settings.CELERY_BROKER_URL)"
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [database_url.rsplit(":", 1)[1].split("/")[0], redis_url]
    assert not (home / "postgres").exists() and not (home / "redis").exists()
