"""A database without tollgate's tables: the README's flow migrates it, every other command says so in one line.

Commands run as a user types them (subprocesses), on real embedded services in a home of their
own, and on an empty database of the suite's PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]
MIGRATE = "manage.py migrate"


def run(*command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *command], cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=180)  # fmt: skip


def test_services_start_then_ingest_works_in_a_fresh_home():
    # Not under pytest's tmp_path: another pytest session on this machine may close its base
    # folder (0700) to the system user PostgreSQL runs as, while this one runs.
    home = Path(tempfile.mkdtemp(prefix="tollgate-fresh-home-"))
    text = home / "one.txt"
    text.write_text("The toll gate lets through what the road holds. " * 20)
    env = {"TOLLGATE_HOME": str(home)}
    try:
        started = run("-m", "project.cli", "services", "start", env=env)
        assert started.returncode == 0, started.stderr
        ingested = run("manage.py", "ingest", str(text), env=env)
        assert ingested.returncode == 0 and "Traceback" not in ingested.stderr, ingested.stderr[-2000:]
        assert ingested.stdout.startswith("stored 1 documents"), ingested.stdout
    finally:
        run("-m", "project.cli", "services", "stop", env=env)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def empty_database(database_url: str):
    """A database of the suite's PostgreSQL with no tables at all; dropped after."""
    name = f"unmigrated_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.mark.parametrize(
    "command",
    [
        ("manage.py", "ingest", "README.md"),
        ("manage.py", "ingest", "README.md", "--dry-run"),
        ("manage.py", "search", "toll road"),
        ("manage.py", "api_token", "someone"),
        ("manage.py", "createsuperuser", "--noinput", "--username", "admin", "--email", "a@example.com"),
        ("-m", "project.cli", "status"),
        ("-m", "project.cli", "status", "--json"),
        ("-m", "project.cli", "resume", "1"),
    ],
    ids=lambda command: " ".join(command[1:3] if command[0] == "-m" else command[:2]),
)
def test_a_command_on_an_unmigrated_database_says_in_one_line_to_migrate(empty_database, redis_url, command):
    env = {"DATABASE_URL": empty_database, "REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url,
           "OPENAI_API_KEY": "unmigrated-key", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}  # fmt: skip
    result = run(*command, env=env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and MIGRATE in lines[0], result.stderr[-3000:]
    assert urlsplit(empty_database).password not in result.stderr + result.stdout
