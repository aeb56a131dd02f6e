"""Adversity: servers and workers as processes of their own, and a database of the test's own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.deploy.hosts import procs  # noqa: F401  (the fixture)


@pytest.fixture
def own_database(database_url: str) -> Iterator[str]:
    """A fresh database on the session's PostgreSQL (quicker than a server of its own), dropped after."""
    name = f"adversity_{uuid.uuid4().hex[:12]}"
    admin = urlsplit(database_url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlsplit(database_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
