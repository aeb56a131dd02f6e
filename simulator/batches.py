"""The Batch API's decisions, free of HTTP: create, read, list and cancel batches.

Creating a batch validates its file at once (``batch_input.py``) and plans its timeline
(``batch.py``); its status then follows from the clock. A batch counts against the
enqueued-token limit of its (key, model) from creation until it is finished; over the
limit it fails with ``token_limit_exceeded``. When a batch reaches a final status its
output and error files are written, with the same vectors ``/v1/embeddings`` returns.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from simulator.batch import FINAL_STATUSES, Batch
from simulator.batch_input import BatchInputError, BatchLine, batch_error, read_batch_input
from simulator.config import SimulatorConfig
from simulator.errors import InvalidRequestError, NotFoundError
from simulator.files import FileStore
from simulator.inputs import EmbeddingRequest
from simulator.stats import Stats

__all__ = ["BatchService", "BatchHost", "ENDPOINT"]

ENDPOINT = "/v1/embeddings"
MAX_LIST = 100
_NOT_RUN = {
    "expired": ("batch_expired", "This request could not be executed before the completion window expired."),
    "cancelled": ("batch_cancelled", "This request was not executed because the batch was cancelled."),
}


class BatchHost(Protocol):
    """What the service needs from the simulator: live config and stats, files, the renderer."""

    config: SimulatorConfig
    stats: Stats
    rng: random.Random
    files: FileStore

    def render(self, request: EmbeddingRequest) -> dict[str, Any]: ...


def _check_create(body: Any) -> tuple[str, dict[str, str] | None]:
    if not isinstance(body, dict):
        raise InvalidRequestError("'$' is invalid. Expected a JSON object.")
    for name in ("input_file_id", "endpoint", "completion_window"):
        if not isinstance(body.get(name), str):
            raise InvalidRequestError(f"Missing required parameter: '{name}'.", param=name)
    if body["endpoint"] != ENDPOINT:
        raise InvalidRequestError(
            f"Invalid value for 'endpoint': '{body['endpoint']}'. This simulator serves only '{ENDPOINT}'.",
            param="endpoint",
        )
    if body["completion_window"] != "24h":
        raise InvalidRequestError(
            f"Invalid value for 'completion_window': '{body['completion_window']}'. Supported values are: '24h'.",
            param="completion_window",
        )
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidRequestError.invalid_field("metadata")
    return body["input_file_id"], metadata


class BatchService:
    """Batches of every key, behind one lock (a read may finish a batch and write its files)."""

    def __init__(self, host: BatchHost, *, clock: Callable[[], float] = time.time):
        self._host = host
        self._clock = clock
        self._lock = threading.Lock()
        self._batches: dict[str, Batch] = {}

    def create(self, *, owner: str, body: Any) -> dict[str, Any]:
        """``POST /v1/batches``: 400/404 for a bad request; a bad file makes a batch that fails."""
        file_id, metadata = _check_create(body)
        stored = self._host.files.get(file_id, owner=owner)
        if stored.purpose != "batch":
            raise InvalidRequestError("The input file must be uploaded with purpose 'batch'.", param="input_file_id")
        config, rng = self._host.config, self._host.rng
        knobs = config.knobs
        with self._lock:
            now = self._clock()
            for batch in self._batches.values():
                self._advance(batch, now)
            plan = Batch(
                id=f"batch_{secrets.token_hex(12)}", owner=owner, input_file_id=file_id, endpoint=ENDPOINT,
                metadata=metadata, created=now, duration=knobs.batch_seconds / config.time_scale,
                window=knobs.batch_window_seconds / config.time_scale,
            )
            try:
                parsed = read_batch_input(stored.content, endpoint=ENDPOINT, estimator=config.token_estimator,
                                          chars_per_token=config.chars_per_token)
            except BatchInputError as error:
                plan.errors = error.errors
            else:
                plan.model, plan.charged_tokens = parsed.model, parsed.charged_tokens
                self._plan(plan, parsed.lines, rng)
            self._batches[plan.id] = plan
            return plan.public(now)

    def _plan(self, plan: Batch, lines: list[BatchLine], rng: random.Random) -> None:
        """Queue limit, faults and duration of a batch whose file is valid."""
        config = self._host.config
        knobs, limit = config.knobs, config.batch_queue_tokens
        if knobs.batch_validation_failure_rate and rng.random() < knobs.batch_validation_failure_rate:
            plan.errors = [batch_error("validation_failed", "The batch input file could not be validated "
                                       "because of an error on our side. Please try again.")]
            return
        enqueued = self._enqueued(plan.owner, plan.model, plan.created)
        if limit is not None and enqueued + plan.charged_tokens > limit:
            plan.errors = [batch_error("token_limit_exceeded", f"Enqueued token limit reached for {plan.model} in "
                                       f"organization {config.organization}. Limit: {limit:,} enqueued tokens. Please "
                                       "try again once some in_progress batches have been completed.")]
            return
        self._host.stats.record_batch_created(enqueued + plan.charged_tokens)
        if knobs.batch_tokens_per_second:
            plan.duration += plan.charged_tokens / knobs.batch_tokens_per_second / config.time_scale
        plan.lines = list(lines)
        rng.shuffle(plan.lines)
        rate = knobs.batch_line_error_rate
        plan.failing = frozenset(l.custom_id for l in plan.lines if l.error is None and rate and rng.random() < rate)
        if knobs.batch_expire_rate and rng.random() < knobs.batch_expire_rate:
            plan.stall = rng.uniform(0.25, 0.75)

    def _enqueued(self, owner: str, model: str | None, now: float) -> int:
        """Tokens of this (key, model)'s batches that are not finished yet."""
        return sum(
            b.charged_tokens for b in self._batches.values()
            if b.owner == owner and b.model == model and b.errors is None and b.status(now) not in FINAL_STATUSES
        )

    def enqueued(self) -> int:
        """Tokens of every batch not finished yet, now (what the queue limit is holding)."""
        with self._lock:
            now = self._clock()
            return sum(
                b.charged_tokens for b in self._batches.values()
                if b.errors is None and b.status(now) not in FINAL_STATUSES
            )

    def _get(self, batch_id: str, owner: str) -> Batch:
        batch = self._batches.get(batch_id)
        if batch is None or batch.owner != owner:
            raise NotFoundError.batch(batch_id)
        return batch

    def retrieve(self, batch_id: str, *, owner: str) -> dict[str, Any]:
        with self._lock:
            now = self._clock()
            batch = self._get(batch_id, owner)
            self._advance(batch, now)
            return batch.public(now)

    def list(self, *, owner: str, limit: int = 20, after: str | None = None) -> dict[str, Any]:
        """Newest first; ``after`` is the last id of the previous page."""
        if not 1 <= limit <= MAX_LIST:
            raise InvalidRequestError(f"Invalid 'limit': must be between 1 and {MAX_LIST}.", param="limit")
        with self._lock:
            now = self._clock()
            mine = [b for b in reversed(self._batches.values()) if b.owner == owner]
            if after is not None:
                ids = [b.id for b in mine]
                mine = mine[ids.index(after) + 1:] if after in ids else []
            page = mine[:limit]
            for batch in page:
                self._advance(batch, now)
            data = [b.public(now) for b in page]
        return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None, "has_more": len(mine) > limit}

    def cancel(self, batch_id: str, *, owner: str) -> dict[str, Any]:
        """validating/in_progress -> cancelling -> cancelled, keeping the part already run."""
        with self._lock:
            now = self._clock()
            batch = self._get(batch_id, owner)
            self._advance(batch, now)
            status = batch.status(now)
            if status in ("validating", "in_progress") and batch.errors is None:
                batch.cancelling_at = now
            elif status != "cancelling":
                raise InvalidRequestError(f"Cannot cancel a batch with status '{status}'.")
            return batch.public(now)

    def _advance(self, batch: Batch, now: float) -> None:
        """Write a batch's files (and count it) the first time it is seen in a final status."""
        if batch.finished:
            return
        status = batch.status(now)
        if status not in FINAL_STATUSES:
            return
        batch.finished = True
        self._host.stats.record_batch(status)
        if batch.errors is not None:
            return
        done = batch.done(now)
        outputs, failures, contents = [], [], []
        completed = inputs = usage = 0
        for line in batch.lines[:done]:
            error = line.error
            if error is None and line.custom_id in batch.failing:
                error = InvalidRequestError.invalid_field("input")
            if error is None and line.request is not None:
                outputs.append(_line(line.custom_id, 200, self._host.render(line.request)))
                completed += 1
                inputs += len(line.request.contents)
                contents += line.request.contents
                usage += line.request.usage_tokens
            else:
                assert error is not None
                failures.append(_line(line.custom_id, error.status, error.body()))
        if status in _NOT_RUN:
            code, message = _NOT_RUN[status]
            for line in batch.lines[done:]:
                failures.append({"id": _id("batch_req"), "custom_id": line.custom_id, "response": None,
                                 "error": {"code": code, "message": message}})
        batch.usage_tokens = usage
        files = self._host.files
        if outputs:
            batch.output_file_id = files.add(owner=batch.owner, filename="batch_output.jsonl",
                                             purpose="batch_output", content=_jsonl(outputs)).id
        if failures:
            batch.error_file_id = files.add(owner=batch.owner, filename="batch_errors.jsonl",
                                            purpose="batch_output", content=_jsonl(failures)).id
        self._host.stats.record_batch_output(completed=completed, failed=done - completed, inputs=inputs,
                                             usage_tokens=usage, contents=contents)


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _line(custom_id: str, status: int, body: dict[str, Any]) -> dict[str, Any]:
    """One output line: the response the endpoint gave this request."""
    response = {"status_code": status, "request_id": _id("req"), "body": body}
    return {"id": _id("batch_req"), "custom_id": custom_id, "response": response, "error": None}


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines)
