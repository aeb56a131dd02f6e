"""Child processes the commands, the tests and the benchmarks start and stop.

The simulator, a pool of Celery workers, and ``tollgate up``'s web server, beat and Flower,
each as a real subprocess typed the way a user would type it. Workers inherit the environment
(the provider's key among it): credentials never travel in a task, a command line or a log.
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from celery import Celery

from project.errors import LaunchError
from providers import prime_tiktoken_cache

SIMULATOR_START_TIMEOUT = 30.0
WORKER_READY_TIMEOUT = 60.0
REPLACEMENTS_PER_MINUTE = 10  # more workers dying than this in a minute: the pool cannot stay up
STARTS_BEFORE_GIVING_UP = 2  # a worker that exits this many times while the pool comes up will not come up
STOP_TIMEOUT = 20.0
OUTPUT_LINES = 200  # the simulator's last lines kept, for an error message
_URL = re.compile(r"(https?://\S+/v1)\b")


# --- the simulator ---------------------------------------------------------------------------


@dataclass
class Simulator:
    """A running simulator: its URLs and a few calls to its admin endpoints.

    ``base_url`` ends in ``/v1`` (give it to ``openai.OpenAI(base_url=...)``); ``root_url``
    serves ``/stats`` and ``/admin/config``. ``output`` holds the last lines it printed.
    """

    process: subprocess.Popen[str]
    base_url: str
    reader: threading.Thread
    output: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=OUTPUT_LINES))

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v1")

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.root_url + path, data=data, method=method, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stats(self, *, per_input: bool = True, admissions: bool = False, model: str | None = None) -> dict[str, Any]:
        """``GET /stats``: the server's ground truth (see simulator/stats.py); ``per_input=False``
        leaves out the per-input counts (large after a big job) for a frequent poller;
        ``admissions=True`` adds every admission's time and tokens (a bench's window fill), only
        ``model``'s when given."""
        wanted = (("per_input=0", not per_input), ("admissions=1", admissions), (f"model={model}", bool(model)))
        query = "&".join(part for part, asked in wanted if asked)
        return self._call("GET", "/stats" + (f"?{query}" if query else ""))

    def reset_stats(self) -> dict[str, Any]:
        return self._call("POST", "/stats/reset", {})

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """``POST /admin/config`` with knobs or limits, e.g. ``configure(error_503_rate=1.0)``."""
        return self._call("POST", "/admin/config", knobs)

    def reset_limits(self) -> dict[str, Any]:
        """``POST /admin/reset-limits``: every key starts with a full allowance."""
        return self._call("POST", "/admin/reset-limits", {})

    def stop(self) -> None:
        _stop(self.process)
        self.reader.join(STOP_TIMEOUT)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def simulator_args(
    *, rpm: int, tpm: int, window_seconds: float, chat_rpm: int | None = None, chat_tpm: int | None = None
) -> list[str]:
    """The simulator's flags for these limits per window (a shorter window is a faster clock); the chat
    models' too when given (else each tier's own)."""
    chat = [*(["--chat-rpm", str(chat_rpm)] if chat_rpm else []), *(["--chat-tpm", str(chat_tpm)] if chat_tpm else [])]
    return ["--rpm", str(rpm), "--tpm", str(tpm), "--time-scale", repr(60.0 / window_seconds), *chat]


def start_simulator(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = SIMULATOR_START_TIMEOUT
) -> Simulator:
    """``python -m simulator --port 0 *args``, once it listens; raises :class:`LaunchError` otherwise.

    Example::

        with start_simulator("--tier", "1", "--time-scale", "60") as sim:
            client = openai.OpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0)
    """
    prime_tiktoken_cache()  # the simulator counts tokens with tiktoken, offline
    command = [sys.executable, "-m", "simulator", "--port", "0", *args]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    process = subprocess.Popen(
        command, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    found, urls = threading.Event(), []
    output: collections.deque[str] = collections.deque(maxlen=OUTPUT_LINES)
    reader = threading.Thread(target=_read_output, args=(process, urls, found, output), daemon=True)
    reader.start()
    simulator = Simulator(process, "", reader, output)
    if not found.wait(timeout) or not urls:
        simulator.stop()
        said = " ".join(line.strip() for line in output if line.strip()) or "no output"
        if process.returncode not in (None, -15):
            raise LaunchError(f"the simulator exited with {process.returncode}: {said}")
        raise LaunchError(f"the simulator did not start within {timeout:.0f} s: {said}")
    simulator.base_url = urls[0]
    return simulator


def _read_output(process: subprocess.Popen, urls: list[str], found: threading.Event, output: collections.deque) -> None:
    """Find the printed base URL, then keep draining so the simulator never blocks on a full pipe."""
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
        match = _URL.search(line)
        if match and not found.is_set():
            urls.append(match.group(1))
            found.set()
    found.set()  # the simulator exited before printing its URL


# --- Celery workers --------------------------------------------------------------------------


@dataclass
class WorkerPool:
    """Worker processes this process started, and how to start each again (:meth:`replace_exited`)."""

    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)
    log_files: list[Path | None] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    replaced: int = 0  # workers started again after one died
    recent: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=REPLACEMENTS_PER_MINUTE))

    def exited(self) -> list[int]:
        """Indexes of the workers that are no longer running."""
        return [index for index, process in enumerate(self.processes) if process.poll() is not None]

    def describe_exit(self, index: int, when: str = "") -> str:
        log = self.log_files[index] if index < len(self.log_files) else None
        said = f"worker {index} exited with code {self.processes[index].returncode}{when}"
        return said + (f"; see {log}" if log else "")

    def replace_exited(self) -> list[str]:
        """Start again every worker that died; one line each saying so. Its tasks' groups are swept.

        Raises :class:`LaunchError` when workers keep dying (``REPLACEMENTS_PER_MINUTE``): a pool
        that cannot stay up is one clear line, not a loop of restarts.
        """
        said = []
        for index in self.exited():
            now = time.monotonic()
            if len(self.recent) == self.recent.maxlen and now - self.recent[0] < 60:
                raise LaunchError(self.describe_exit(index, f" ({self.recent.maxlen} workers replaced within a minute)"))
            self.recent.append(now)
            said.append(self.describe_exit(index) + "; started a replacement")
            self.processes[index] = self._spawn(index)
            self.replaced += 1
        return said

    def _spawn(self, index: int) -> subprocess.Popen:
        log_file = self.log_files[index]
        output = open(log_file, "ab") if log_file else None  # noqa: SIM115 (closed in stop)
        if output:
            self.logs.append(output)
        return subprocess.Popen(
            self.commands[index], env=self.env, stdin=subprocess.DEVNULL, stdout=output, stderr=output
        )

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
    name: str = "tollgate",
) -> WorkerPool:
    """``count`` Celery worker processes on this machine, like ``celery -A workers worker`` typed by hand.

    Their output goes to ``log_dir/worker-N.log`` when given, so a progress bar stays readable.
    ``name`` starts each one's node name (two pools of one process need two).
    """
    pool = WorkerPool(env={**os.environ, **(env or {})})
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        command = [
            sys.executable, "-m", "celery", "-A", "workers", "worker", "--hostname", f"{name}{index}-{os.getpid()}@%h",
            "--queues", queues, "--without-mingle", "--without-gossip", "--loglevel", "WARNING",
        ]  # fmt: skip
        if concurrency:
            command += ["--concurrency", str(concurrency)]
        pool.commands.append(command)
        pool.log_files.append(log_dir / f"worker-{index}.log" if log_dir else None)
        pool.processes.append(pool._spawn(index))
    return pool


def wait_for_workers(
    app: Celery,
    count: int | None = None,
    *,
    names: Sequence[str] = (),
    pool: WorkerPool | None = None,
    timeout: float = WORKER_READY_TIMEOUT,
    say: Callable[[str], None] | None = None,
) -> None:
    """Until ``count`` workers (or the ``names`` given) answer a ping; :class:`LaunchError` if they never do.

    With the ``pool`` that started them, a worker that exits meanwhile is started again (and
    ``say`` told), with ``timeout`` to come up; one that exits again (``STARTS_BEFORE_GIVING_UP``)
    ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    starts: collections.Counter[int] = collections.Counter()
    while time.monotonic() < deadline:
        if pool is not None and pool.exited():
            for index in pool.exited():
                starts[index] += 1
                if starts[index] >= STARTS_BEFORE_GIVING_UP:
                    raise LaunchError(pool.describe_exit(index, f" while starting ({starts[index]} times)"))
            for line in pool.replace_exited():
                (say or _ignore)(f"tollgate: {line}")
            deadline = time.monotonic() + timeout  # the replacement's own time to come up
        try:
            seen |= {host for reply in app.control.ping(timeout=0.5) for host in reply}
        except OSError as exc:  # the broker is not reachable (yet)
            raise_after = time.monotonic() >= deadline - 0.5
            if raise_after:
                raise LaunchError(f"the Celery broker did not answer: {exc}") from None
            time.sleep(0.5)
            continue
        if (names and set(names) <= seen) or (not names and len(seen) >= (count or 1)):
            return
    wanted = ", ".join(sorted(set(names) - seen)) if names else f"{count} workers"
    raise LaunchError(f"{wanted} did not come up within {timeout:.0f} s ({len(seen)} answered)")


def _ignore(line: str) -> None:
    return None


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


def web_command(*, address: str, port: int) -> list[str]:
    """uvicorn over ``project.asgi``, as the compose file runs it: WhiteNoise serves the static
    files and the ASGI guard caps uploads, so nothing differs between a laptop and a fleet."""
    server = [sys.executable, "-m", "uvicorn", "project.asgi:application"]
    return [*server, "--host", address, "--port", str(port), "--no-server-header", "--log-level", "warning"]


def start_web(*, address: str, port: int, env: Mapping[str, str] | None = None, log_dir: Path | None = None) -> Service:
    """The web app (:func:`web_command`) as a child process."""
    command = web_command(address=address, port=port)
    environment = {"DJANGO_SETTINGS_MODULE": "project.settings", **(env or {})}
    return _start_service("web", command, env=environment, log_dir=log_dir)


def start_beat(*, schedule: Path, env: Mapping[str, str] | None = None, log_dir: Path | None = None) -> Service:
    """Celery beat, which sends ``tollgate.sweep`` on the schedule ``workers/__init__.py`` sets."""
    command = [sys.executable, "-m", "celery", "-A", "workers", "beat", "--schedule", str(schedule), "--loglevel", "WARNING"]
    return _start_service("beat", command, env=env, log_dir=log_dir)


def start_flower(
    *, address: str, port: int, basic_auth: str = "", env: Mapping[str, str] | None = None, log_dir: Path | None = None
) -> Service:
    """Flower through ``manage.py flower``, which refuses to listen beyond loopback without real
    credentials; ``basic_auth`` ("user:password") travels in the environment, never on the command line."""
    command = [sys.executable, "-m", "django", "flower", f"--address={address}", f"--port={port}"]
    env = {"DJANGO_SETTINGS_MODULE": "project.settings", **(env or {})}
    extra = {"FLOWER_BASIC_AUTH": basic_auth} if basic_auth else {}
    unset = () if basic_auth else ("FLOWER_BASIC_AUTH",)  # an empty value would still turn auth on
    return _start_service("flower", command, env={**(env or {}), **extra}, log_dir=log_dir, unset=unset)
