"""Child processes a one-shot command starts and stops: the simulator and a pool of Celery workers.

Workers inherit the environment (the provider's key among it): credentials never travel in a
task, a command line or a log.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from project.tokenization import prime_tiktoken_cache

SIMULATOR_START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
_URL = re.compile(r"https?://\S+/v1")


class LaunchError(RuntimeError):
    """A child process did not start."""


@dataclass
class Simulator:
    process: subprocess.Popen
    base_url: str
    reader: threading.Thread

    def stop(self) -> None:
        _stop(self.process)
        self.reader.join(STOP_TIMEOUT)
        assert self.process.stdout is not None
        self.process.stdout.close()


def start_simulator(*, rpm: int, tpm: int, window_seconds: float, extra: Sequence[str] = ()) -> Simulator:
    """The built-in simulator with the given limits, time-scaled to the configured window."""
    prime_tiktoken_cache()
    command = [
        sys.executable, "-m", "simulator", "--port", "0", "--log-level", "warning",
        "--rpm", str(rpm), "--tpm", str(tpm), "--time-scale", repr(60.0 / window_seconds), *extra,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found = threading.Event()
    urls: list[str] = []
    reader = threading.Thread(target=_read_output, args=(process, urls, found), daemon=True)
    reader.start()
    if not found.wait(SIMULATOR_START_TIMEOUT) or not urls:
        _stop(process)
        raise LaunchError(f"the simulator did not start within {SIMULATOR_START_TIMEOUT:.0f} s")
    return Simulator(process, urls[0], reader)


def _read_output(process: subprocess.Popen, urls: list[str], found: threading.Event) -> None:
    """Find the printed base URL, then keep draining so the simulator never blocks on a full pipe."""
    assert process.stdout is not None
    for line in process.stdout:
        match = _URL.search(line)
        if match and not found.is_set():
            urls.append(match.group(0))
            found.set()
        elif not found.is_set():
            sys.stderr.write(line)
    found.set()  # the simulator exited before printing its URL


@dataclass
class WorkerPool:
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            _stop(process)
        for log in self.logs:
            log.close()


def start_workers(
    count: int,
    *,
    env: Mapping[str, str] | None = None,
    concurrency: int | None = None,
    queues: str = "bulk,interactive",
    log_dir: Path | None = None,
) -> WorkerPool:
    """``count`` Celery worker processes on this machine, like ``celery -A workers worker`` typed by hand.

    Their output goes to ``log_dir/worker-N.log`` when given, so a progress bar stays readable.
    """
    pool = WorkerPool()
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        command = [
            sys.executable, "-m", "celery", "-A", "workers", "worker", "--hostname", f"tollgate{index}-{os.getpid()}@%h",
            "--queues", queues, "--without-mingle", "--without-gossip", "--loglevel", "WARNING",
        ]  # fmt: skip
        if concurrency:
            command += ["--concurrency", str(concurrency)]
        output = open(log_dir / f"worker-{index}.log", "ab") if log_dir else None  # noqa: SIM115 (closed in stop)
        if output:
            pool.logs.append(output)
        pool.processes.append(
            subprocess.Popen(
                command, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, stdout=output, stderr=output
            )
        )
    return pool


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- `tollgate up`: the web server, Celery beat and Flower --------------------------------------


@dataclass
class Service:
    """One long-running child process of ``tollgate up``, its output in a log file."""

    name: str
    process: subprocess.Popen
    log: IO[bytes] | None = None

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        _stop(self.process)
        if self.log is not None:
            self.log.close()


def _start_service(
    name: str, command: Sequence[str], *, env: Mapping[str, str] | None, log_dir: Path | None, unset: Sequence[str] = ()
) -> Service:
    output = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        output = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 (closed in stop)
    environment = {name: value for name, value in {**os.environ, **(env or {})}.items() if name not in unset}
    process = subprocess.Popen(list(command), env=environment, stdin=subprocess.DEVNULL, stdout=output, stderr=output)
    return Service(name, process, output)


def start_web(*, address: str, port: int, env: Mapping[str, str] | None = None, log_dir: Path | None = None) -> Service:
    """Django's own server (threaded; ``--insecure`` serves the dashboard's static files without DEBUG)."""
    command = [sys.executable, "-m", "django", "runserver", f"{address}:{port}", "--noreload", "--insecure"]
    return _start_service("web", command, env={"DJANGO_SETTINGS_MODULE": "project.settings", **(env or {})},
                          log_dir=log_dir)  # fmt: skip


def start_beat(*, schedule: Path, env: Mapping[str, str] | None = None, log_dir: Path | None = None) -> Service:
    """Celery beat, which sends ``tollgate.sweep`` on the schedule in ``CELERY_BEAT_SCHEDULE``."""
    command = [sys.executable, "-m", "celery", "-A", "workers", "beat", "--schedule", str(schedule), "--loglevel", "WARNING"]
    return _start_service("beat", command, env=env, log_dir=log_dir)


def start_flower(
    *, address: str, port: int, basic_auth: str = "", env: Mapping[str, str] | None = None, log_dir: Path | None = None
) -> Service:
    """Flower; ``basic_auth`` ("user:password") travels in the environment, never on the command line."""
    command = [sys.executable, "-m", "celery", "-A", "workers", "flower", f"--address={address}", f"--port={port}"]
    extra = {"FLOWER_BASIC_AUTH": basic_auth} if basic_auth else {}
    unset = () if basic_auth else ("FLOWER_BASIC_AUTH",)  # an empty value would still turn auth on
    return _start_service("flower", command, env={**(env or {}), **extra}, log_dir=log_dir, unset=unset)
