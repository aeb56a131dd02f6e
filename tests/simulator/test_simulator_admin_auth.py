"""The simulator's /admin/* endpoints and /stats/reset: open on loopback, behind SIMULATOR_ADMIN_TOKEN anywhere else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from project.embedded.process import free_port, port_is_open
from providers import prime_tiktoken_cache


def post(port: int, path: str, token: str | None = None) -> int:
    headers = {"content-type": "application/json"} | ({"authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps({}).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def get(port: int, path: str) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.status


@contextmanager
def simulator(host: str, token: str | None) -> Iterator[int]:
    """``python -m simulator`` on ``host`` with this SIMULATOR_ADMIN_TOKEN (None: unset); yields its port."""
    prime_tiktoken_cache()
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name != "SIMULATOR_ADMIN_TOKEN"}
    env |= {"SIMULATOR_ADMIN_TOKEN": token} if token is not None else {}
    command = [sys.executable, "-m", "simulator", "--host", host, "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not port_is_open(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(20)


@pytest.mark.parametrize("token", ["", "sim-admin-secret"], ids=["no token: closed", "token"])
def test_beyond_loopback_admin_needs_the_token(token):
    with simulator("0.0.0.0", token) as port:
        assert post(port, "/admin/reset-limits") == 401
        assert post(port, "/admin/config", token="guess") == 401
        assert post(port, "/admin/config", token=token or None) == (200 if token else 401)
        assert post(port, "/stats/reset") == 401  # it wipes the server's ground truth: an admin's act too
        assert post(port, "/stats/reset", token=token or None) == (200 if token else 401)
        assert get(port, "/stats") == 200  # the rest still serves


def test_on_loopback_admin_stays_open_without_a_token():
    with simulator("127.0.0.1", None) as port:
        assert post(port, "/admin/reset-limits") == 200
        assert post(port, "/stats/reset") == 200
