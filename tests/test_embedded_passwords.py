"""The embedded servers ask for a generated password, kept 0600 under TOLLGATE_HOME and carried in the URLs."""

from __future__ import annotations

import stat
from pathlib import Path

import psycopg
import pytest
import redis

from project.embedded import EmbeddedRedis
from project.embedded.passwords import password_file


def test_a_password_file_is_made_once_for_its_owner_only(tmp_path: Path):
    path = tmp_path / "service" / "password"
    first = password_file(path)
    assert len(first) >= 40 and password_file(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    assert password_file(path) == first and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_embedded_redis_refuses_a_client_without_the_password(tmp_path: Path):
    server = EmbeddedRedis(tmp_path)
    server.start()
    try:
        with redis.Redis(host="127.0.0.1", port=server.port) as anonymous, pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        with redis.Redis(host="127.0.0.1", port=server.port, password="guess") as guessing:
            with pytest.raises(redis.AuthenticationError):
                guessing.ping()
        with redis.Redis.from_url(server.url) as client:
            assert client.ping()
        assert server.password in server.url
        assert server.password not in Path(f"/proc/{server.pid()}/cmdline").read_text()
        assert stat.S_IMODE((tmp_path / "redis" / "password").stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "redis" / "redis.conf").stat().st_mode) == 0o600
    finally:
        server.stop()
    assert not server.is_running()


def test_the_url_read_before_the_first_start_is_the_one_the_start_keeps(tmp_path: Path):
    server = EmbeddedRedis(tmp_path)
    url = server.url
    assert EmbeddedRedis(tmp_path).url == url and not (tmp_path / "redis").exists()  # read, nothing written
    server.start()
    try:
        assert EmbeddedRedis(tmp_path).url == url  # what another process reads now: the files
        assert (tmp_path / "redis" / "password").read_text() == server.password
        with redis.Redis.from_url(url) as client:
            assert client.ping()
    finally:
        server.stop()


def test_the_embedded_postgresql_refuses_a_client_without_the_password(database_url: str):
    password = psycopg.conninfo.conninfo_to_dict(database_url)["password"]
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    for url in (database_url.replace(f":{password}@", "@"), database_url.replace(password, "wrong")):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(url, connect_timeout=5).close()
