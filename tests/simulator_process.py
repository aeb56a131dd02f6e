"""Start the simulator as a real subprocess for a test: ``with start_simulator("--tier", "1") as sim``.

Shared by every suite that needs an OpenAI-compatible server (the simulator's own tests, the
pipeline's). It primes tiktoken's offline cache, runs ``python -m simulator --port 0 ...``,
reads the printed base URL (with a timeout) and stops the process on exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SimulatorProcess", "SimulatorStartError", "start_simulator"]

START_TIMEOUT = 20.0  # seconds to wait for the "listening" line
_URL = re.compile(r"(http://\S+/v1)\b")
_ROOT = Path(__file__).resolve().parent.parent


class SimulatorStartError(RuntimeError):
    """The simulator exited or stayed silent instead of printing its URL."""


@dataclass
class SimulatorProcess:
    """A running simulator: its URLs and a few calls to its admin endpoints.

    ``base_url`` ends in ``/v1`` (give it to ``openai.OpenAI(base_url=...)``); ``root_url``
    serves ``/stats`` and ``/admin/config``. ``output`` collects every line the process printed.
    """

    process: subprocess.Popen[str]
    base_url: str
    output: list[str] = field(default_factory=list)

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

    def stats(self) -> dict[str, Any]:
        """``GET /stats``: the server's ground truth (see simulator/stats.py)."""
        return self._call("GET", "/stats")

    def reset_stats(self) -> dict[str, Any]:
        """``POST /stats/reset``."""
        return self._call("POST", "/stats/reset", {})

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """``POST /admin/config`` with knobs or limits, e.g. ``configure(error_503_rate=1.0)``."""
        return self._call("POST", "/admin/config", knobs)

    def reset_limits(self) -> dict[str, Any]:
        """``POST /admin/reset-limits``: every key starts with a full allowance."""
        return self._call("POST", "/admin/reset-limits", {})


def _prime_tiktoken() -> None:
    """The simulator needs tiktoken's BPE file, which cannot be downloaded here."""
    if str(_ROOT) not in sys.path:
        sys.path.insert(0, str(_ROOT))
    from project.tokenization import prime_tiktoken_cache

    prime_tiktoken_cache()


def _pump(stream: Any, lines: queue.Queue[str | None], output: list[str]) -> None:
    for line in stream:
        output.append(line)
        lines.put(line)
    lines.put(None)


@contextlib.contextmanager
def start_simulator(*args: str, env: dict[str, str] | None = None, timeout: float = START_TIMEOUT) -> Iterator[SimulatorProcess]:
    """Run ``python -m simulator --port 0 *args`` and yield it once it listens.

    Example::

        with start_simulator("--tier", "free", "--time-scale", "60") as sim:
            client = openai.OpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0)
    """
    _prime_tiktoken()
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), environment.get("PYTHONPATH")]))
    environment["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", "0", *args],
        cwd=_ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []
    reader = threading.Thread(target=_pump, args=(process.stdout, lines, seen), daemon=True)
    reader.start()
    try:
        base_url = None
        while base_url is None:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                raise SimulatorStartError(f"no URL within {timeout}s; output: {''.join(seen)!r}") from None
            if line is None:
                process.wait(timeout=5)
                raise SimulatorStartError(f"exited with {process.returncode}: {''.join(seen)!r}")
            match = _URL.search(line)
            base_url = match.group(1) if match else None
        sim = SimulatorProcess(process, base_url, seen)
        yield sim
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
