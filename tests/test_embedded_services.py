"""`tollgate services` against real embedded servers, in homes of their own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from project.celery import app


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
        assert "PostgreSQL 16, pgvector 0." in status.stdout and "Redis 6." in status.stdout
        assert status.stdout.count(": up at ") == 2

        redis_url = next(line.split()[-1] for line in first.stdout.splitlines() if line.startswith("Redis"))
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


def test_a_data_directory_of_another_version_is_refused(tmp_path: Path):
    home = tmp_path / "home"
    (home / "postgres/data").mkdir(parents=True)
    (home / "postgres/data/PG_VERSION").write_text("15\n")
    result = tollgate(home, "services", "start")
    assert result.returncode == 2
    assert "created by PostgreSQL 15, but tollgate bundles PostgreSQL 16" in result.stderr
    assert "Traceback" not in result.stderr


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
