"""The compose configuration, run here without Docker: each service's argv from docker-compose.yml as
a subprocess, with the environment compose would give it (.env.example filled in, the file's own
``environment``), against this test run's PostgreSQL and Redis."""

from __future__ import annotations

import base64
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import http.client
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from project.embedded.process import free_port, port_is_open
from project.errors import LaunchError
from project.launch import start_flower
from project.up import UpOptions, refuse_unsafe

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
EXAMPLE = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", (ROOT / ".env.example").read_text(), re.MULTILINE))
PASSED_THROUGH = ("PATH", "HOME", "LANG", "TIKTOKEN_CACHE_DIR", "VIRTUAL_ENV", "PYTHONPATH")
START_TIMEOUT = 60.0  # Flower took 27 s to listen in a full run on the loaded 2-core machine


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${NAME:-default}`` and ``${NAME}``, enough for this file."""
    return re.sub(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}", lambda m: env.get(m[1]) or (m[2] or ""), value)


def compose_env(tmp_path: Path, database_url: str, redis_url: str, **changes: str | None) -> dict[str, str]:
    """What a tollgate container sees: .env.example with its placeholders filled in, then compose's environment."""
    dotenv = dict(EXAMPLE)
    dotenv |= {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "FLOWER_BASIC_AUTH": f"admin:{secrets.token_urlsafe(16)}"}
    dotenv |= {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url}
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env |= dotenv
    for name, value in COMPOSE["x-tollgate"]["environment"].items():
        env[name] = interpolate(str(value), dotenv)
    env |= {"TOLLGATE_HOME": str(tmp_path / "home"), "DJANGO_SETTINGS_MODULE": "project.settings"}
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def service_argv(name: str, **replace: str) -> list[str]:
    """The service's command from docker-compose.yml, with this interpreter and some values replaced."""
    argv = [replace.get(arg, arg) for arg in COMPOSE["services"][name]["command"]]
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    return [sys.executable, "-m", argv[0], *argv[1:]]


def run(argv: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@contextmanager
def serving(argv: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen]:
    output = subprocess.PIPE
    process = subprocess.Popen(argv, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=output, stderr=output, text=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not port_is_open(port) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if not port_is_open(port):
            process.kill()
            raise AssertionError(f"{argv} did not listen on {port}: {process.communicate()[0]}")
        yield process
    finally:
        process.terminate()
        process.communicate(timeout=20)  # drains the output too


@pytest.fixture
def env(tmp_path, database_url, redis_url) -> dict[str, str]:
    return compose_env(tmp_path, database_url, redis_url)


def test_check_deploy_is_clean_for_the_compose_configuration(env):
    result = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "changes",
    [
        {"DJANGO_SECRET_KEY": EXAMPLE["DJANGO_SECRET_KEY"]},  # .env.example copied as it is
        {"DJANGO_SECRET_KEY": None},  # the development default
        {"DJANGO_SECRET_KEY": None, "TOLLGATE_REQUIRE_URLS": None, "DJANGO_ALLOWED_HOSTS": "tollgate.example.com"},
    ],
    ids=["placeholder", "development key in compose", "development key on a public host"],
)
def test_a_public_secret_key_is_refused_at_startup(tmp_path, database_url, redis_url, changes):
    result = run([sys.executable, "manage.py", "check"], compose_env(tmp_path, database_url, redis_url, **changes))
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is the public development key" in result.stderr


def test_the_development_key_is_fine_on_loopback(tmp_path, database_url, redis_url):
    changes = {"DJANGO_SECRET_KEY": None, "TOLLGATE_REQUIRE_URLS": None, "DJANGO_ALLOWED_HOSTS": None}
    result = run([sys.executable, "manage.py", "check"], compose_env(tmp_path, database_url, redis_url, **changes))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", ["DATABASE_URL", "REDIS_URL"])
def test_a_missing_url_in_a_container_is_a_startup_error_naming_it(tmp_path, database_url, redis_url, missing):
    env = compose_env(tmp_path, database_url, redis_url, **{missing: None})
    result = run(service_argv("migrate"), env)
    assert result.returncode != 0
    assert f"TOLLGATE_REQUIRE_URLS is set but {missing} is not" in result.stderr
    assert not (tmp_path / "home" / "postgres").exists() and not (tmp_path / "home" / "redis").exists()


def test_a_database_password_copied_from_env_example_is_refused(tmp_path, redis_url):
    env = compose_env(tmp_path, EXAMPLE["DATABASE_URL"], redis_url)
    result = run(service_argv("migrate"), env)
    assert result.returncode != 0
    assert "the password in DATABASE_URL is .env.example's placeholder" in result.stderr


def test_the_web_service_keeps_no_database_connections_under_asgi(env):
    code = "import project.asgi; from django.conf import settings; print(settings.DATABASES['default']['CONN_MAX_AGE'])"
    result = run([sys.executable, "-c", code], env | {"DATABASE_CONN_MAX_AGE": "60"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def get(port: int, path: str, **headers: str) -> tuple[int, bytes]:
    """One GET; redirects are answers here, not followed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": "localhost", **headers})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def raw_request(port: int, head: str, body_chunks: list[bytes] = ()) -> bytes:
    """Send the head and some body, never the rest, and read what the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        for chunk in body_chunks:
            sock.sendall(chunk)
        answer = b""
        while part := sock.recv(65536):  # until the server closes: it refused the rest of the body
            answer += part
        return answer


def test_the_web_service_serves_static_files_and_refuses_big_bodies_unread(env, tmp_path):
    env |= {"TOLLGATE_STATIC_ROOT": str(tmp_path / "static"), "TOLLGATE_MAX_UPLOAD_BYTES": "1000"}
    collected = run([sys.executable, "manage.py", "collectstatic", "--noinput"], env)  # as the Dockerfile does
    assert collected.returncode == 0, collected.stderr
    port = free_port()
    with serving(service_argv("web", **{"8000": str(port)}), env, port):
        status, css = get(port, "/static/dashboard/dashboard.css", **{"X-Forwarded-Proto": "https"})
        assert status == 200 and b"{" in css
        assert get(port, "/static/dashboard/dashboard.css")[0] == 301  # plain HTTP goes to HTTPS

        head = "POST /api/documents HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-Proto: https\r\n"
        declared = raw_request(port, head + "Content-Length: 10000000000\r\n\r\n")  # 10 GB announced, none sent
        assert declared.startswith(b"HTTP/1.1 413"), declared
        assert b"at most 1,000 bytes" in declared

        chunk = b"x" * 600
        chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 2
        streamed = raw_request(port, head + "Transfer-Encoding: chunked\r\n\r\n", chunks)
        assert streamed.startswith(b"HTTP/1.1 413"), streamed  # answered before the body ended


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


@pytest.mark.parametrize("auth", ["", EXAMPLE["FLOWER_BASIC_AUTH"], "admin"], ids=["none", "placeholder", "malformed"])
def test_the_compose_flower_refuses_to_start_without_real_credentials(env, auth):
    result = run(service_argv("flower", **{"5555": str(free_port())}), env | {"FLOWER_BASIC_AUTH": auth}, timeout=30)
    assert result.returncode != 0
    assert "FLOWER_BASIC_AUTH" in result.stderr


def test_the_compose_flower_asks_for_its_credentials(env):
    port = free_port()
    argv = service_argv("flower", **{"5555": str(port)})
    assert env["FLOWER_BASIC_AUTH"].split(":")[1] not in " ".join(argv)
    with serving(argv, env, port) as process:
        assert get(port, "/")[0] == 401
        assert get(port, "/", Authorization=basic("admin:wrong"))[0] == 401
        assert get(port, "/", Authorization=basic(env["FLOWER_BASIC_AUTH"]))[0] == 200
        assert env["FLOWER_BASIC_AUTH"].split(":")[1] not in " ".join(Path(f"/proc/{process.pid}/cmdline").read_text())


def test_tollgate_up_never_serves_flower_without_auth_beyond_loopback(settings, tmp_path):
    settings.FLOWER_BASIC_AUTH, settings.TOLLGATE_FLOWER_ADDRESS = "", "0.0.0.0"
    with pytest.raises(LaunchError, match="without authentication"):
        refuse_unsafe(UpOptions())
    settings.TOLLGATE_FLOWER_ADDRESS = ""
    refuse_unsafe(UpOptions())  # loopback: fine
    with pytest.raises(LaunchError, match="DJANGO_SECRET_KEY"):
        refuse_unsafe(UpOptions(address="0.0.0.0"))  # the development key, on every interface

    flower = start_flower(address="0.0.0.0", port=free_port(), basic_auth="", log_dir=tmp_path)
    assert flower.process.wait(30) != 0  # the launcher's child refuses too
    flower.stop()
    assert "without authentication" in (tmp_path / "flower.log").read_text()
