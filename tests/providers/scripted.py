"""A tiny OpenAI-compatible embeddings server of the tests' own: every answer scripted, every arrival recorded.

The simulator enforces limits the way the API does; this server does only what a test tells it:
answer an input's first request with a 503 and ``Retry-After: 2``, its second with a 429, its
third with vectors. It records when each request arrived and the earliest moment each of its
refusals allowed the same request again, both on its own clock (``time.time()``), so a test can
find any retry that came back before the server said it could.

Example::

    def script(attempt: int, now: float) -> Answer:
        return Answer.refuse(503, retry_after="2", now=now) if attempt == 0 else Answer()

    with ScriptedProvider(script) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        ...
        assert server.early() == []
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Answer:
    """What the server answers one request: 200 with vectors, or a refusal with its headers.

    ``not_before`` is the earliest time (server clock) the refusal allows the same request again.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    not_before: float = 0.0
    edit: Callable[[dict], dict] | None = None  # a 200's body, changed (a malformed response)
    delay: float = 0.0  # seconds the server takes before it answers

    @classmethod
    def refuse(
        cls,
        status: int,
        *,
        now: float,
        retry_after: float | None = None,
        retry_after_ms: int | None = None,
        date: float | None = None,
    ) -> Answer:
        """A refusal asking for a wait: ``Retry-After`` in seconds, ``retry-after-ms``, or an HTTP date
        ``date`` seconds from ``now`` (whole seconds, as HTTP dates are)."""
        headers, not_before = {}, now
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
            not_before = max(not_before, now + retry_after)
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
            not_before = max(not_before, now + retry_after_ms / 1000)
        if date is not None:
            at = int(now + date)  # an HTTP date holds whole seconds
            headers["Retry-After"] = email.utils.formatdate(at, usegmt=True)
            not_before = max(not_before, at)
        return cls(status, headers, not_before)


Script = Callable[[int, float], Answer]  # (how many times this input came before, now) -> answer


@dataclass(frozen=True)
class Visit:
    """One request: which inputs (a digest), when it arrived and when the answer allowed it back."""

    key: str
    arrived: float
    status: int
    not_before: float


def _key(inputs: list[str]) -> str:
    return hashlib.sha256("\0".join(inputs).encode()).hexdigest()[:16]


class ScriptedProvider:
    """``POST /v1/embeddings`` answered by ``script``; the visits kept in :attr:`visits`."""

    def __init__(self, script: Script, *, dimensions: int = 1536) -> None:
        self.script = script
        self.dimensions = dimensions
        self.visits: list[Visit] = []
        self.inputs: list[list[str]] = []  # each request's texts, in order of arrival
        self._attempts: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> ScriptedProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def by_input(self) -> dict[str, list[Visit]]:
        """Each input's visits, in order of arrival."""
        with self._lock:
            visits = list(self.visits)
        grouped: dict[str, list[Visit]] = defaultdict(list)
        for visit in sorted(visits, key=lambda v: v.arrived):
            grouped[visit.key].append(visit)
        return dict(grouped)

    def early(self) -> list[tuple[Visit, Visit]]:
        """Every (refused visit, next visit of the same inputs) where the next came before it was allowed."""
        return [
            (before, after)
            for visits in self.by_input().values()
            for before, after in zip(visits, visits[1:])
            if after.arrived < before.not_before
        ]

    def answer(self, inputs: list[str]) -> tuple[Answer, dict]:
        key = _key(inputs)
        arrived = time.time()
        with self._lock:
            attempt = self._attempts[key]
            self._attempts[key] += 1
        answer = self.script(attempt, arrived)
        time.sleep(answer.delay)
        with self._lock:
            self.visits.append(Visit(key, arrived, answer.status, answer.not_before))
            self.inputs.append(list(inputs))
        if answer.status != 200:
            kind = "requests" if answer.status == 429 else "server_error"
            code = "rate_limit_exceeded" if answer.status == 429 else None
            return answer, {"error": {"message": f"scripted {answer.status}", "type": kind, "param": None, "code": code}}
        vector = base64.b64encode(np.full(self.dimensions, 0.5, dtype="<f4").tobytes()).decode()
        data = [{"object": "embedding", "index": i, "embedding": vector} for i in range(len(inputs))]
        tokens = sum(len(text.split()) for text in inputs)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        payload = {"object": "list", "data": data, "model": "text-embedding-3-small", "usage": usage}
        return answer, answer.edit(payload) if answer.edit else payload

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                inputs = body.get("input", [])
                answer, payload = provider.answer([inputs] if isinstance(inputs, str) else list(inputs))
                content = json.dumps(payload).encode()
                self.send_response(answer.status, REASONS.get(answer.status))
                for name, value in {**answer.headers, "content-type": "application/json"}.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

        return Handler
