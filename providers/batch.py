"""The Batch API for embeddings, over the openai SDK: files in, a batch, its results out.

Half the price of the same requests sent one by one, paid for in time (a 24 h window) and
bound by the enqueued-token limit instead of the per-minute ones (``ratelimit.BatchQueue``).
Every remote step is findable again after a crash: an upload by its file name
(:func:`find_upload`), a batch by the ``tollgate_key`` in its metadata (:func:`find_batch`), so
a caller that records each step after it happens never uploads or submits the same work twice.
Results are streamed line by line and matched by ``custom_id``: the API writes lines in any order.
Failures raise the :mod:`providers.errors` tree; no message holds the API key.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
import openai
from openai.types import Batch

from .client import as_float32, error_message, provider_errors, redact, request_body
from .config import ProviderConfig
from .errors import InvalidInput, ProviderError, Transient

__all__ = [
    "COMPLETION_WINDOW",
    "ENDPOINT",
    "FINAL_STATUSES",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_INPUTS",
    "MAX_BATCH_REQUESTS",
    "METADATA_KEY",
    "BatchState",
    "LineResult",
    "cancel",
    "create",
    "delete_file",
    "find_batch",
    "find_upload",
    "request_inputs",
    "request_line",
    "results",
    "retrieve",
    "upload",
]

logger = logging.getLogger(__name__)

MAX_BATCH_REQUESTS = 50_000  # lines of one input file (OPENAI_FACTS.md)
MAX_BATCH_INPUTS = 50_000  # embedding inputs summed over a batch's lines
MAX_BATCH_BYTES = 200 * 1024 * 1024  # size of one input file
ENDPOINT = "/v1/embeddings"
COMPLETION_WINDOW = "24h"  # the only window the API offers
METADATA_KEY = "tollgate_key"  # the batch's metadata field that names the caller's record
MAX_METADATA_VALUE = 512  # characters of a metadata value
QUEUE_FULL = "token_limit_exceeded"  # the error code of a batch refused by the enqueued-token limit
FINAL_STATUSES = frozenset({"failed", "completed", "expired", "cancelled"})
Status = Literal["validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled"]


@dataclass(frozen=True)
class BatchState:
    """What the API says of one batch, without the SDK's types.

    ``completed``/``failed``/``total`` are the request counts (lines); ``errors`` the
    batch-level errors as (code, message), set when the batch failed as a whole.
    """

    id: str
    status: Status
    input_file_id: str
    output_file_id: str | None
    error_file_id: str | None
    completed: int
    failed: int
    total: int
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def final(self) -> bool:
        """No status follows: the batch's files (if any) are written and its tokens left the queue."""
        return self.status in FINAL_STATUSES

    @property
    def queue_full(self) -> bool:
        """Refused by the enqueued-token limit: submit again once other batches are done."""
        return any(code == QUEUE_FULL for code, _ in self.errors)

    @classmethod
    def of(cls, batch: Batch) -> BatchState:
        counts = batch.request_counts
        errors = batch.errors.data if batch.errors is not None and batch.errors.data else []
        return cls(
            id=batch.id,
            status=batch.status,
            input_file_id=batch.input_file_id,
            output_file_id=batch.output_file_id,
            error_file_id=batch.error_file_id,
            completed=counts.completed if counts else 0,
            failed=counts.failed if counts else 0,
            total=counts.total if counts else 0,
            errors=[(e.code or "", e.message or "") for e in errors],
        )


@dataclass(frozen=True)
class LineResult:
    """One request of a batch, by its ``custom_id``.

    A success has ``vectors`` (float32, in the order of the request's inputs) and the tokens
    it was billed. A failure has the API's ``error`` message, the response's ``status_code``
    when the request ran (a 400 for a bad input), and the ``code``: the body's error code, or
    ``batch_expired``/``batch_cancelled`` for a line the batch never ran (no ``status_code``).
    """

    custom_id: str
    vectors: list[np.ndarray] | None
    total_tokens: int = 0
    error: str | None = None
    status_code: int | None = None
    code: str | None = None


@contextlib.contextmanager
def _remote(config: ProviderConfig, what: str) -> Iterator[None]:
    """The provider error tree, where a 404 means this file or batch is gone, not the model."""
    with provider_errors(config):
        try:
            yield
        except openai.NotFoundError as exc:
            raise InvalidInput(redact(f"{what} not found (404): {error_message(exc)}", config.api_key)) from None


def request_line(custom_id: str, config: ProviderConfig, inputs: list[str]) -> bytes:
    """One line of an input file: the very request the sync lane sends (``client.request_body``).

    Ends with a newline, so a file is ``b"".join(lines)``.
    """
    if not isinstance(custom_id, str) or not custom_id:
        raise ValueError(f"custom_id must be a non-empty string, got {custom_id!r}")
    line = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": request_body(config, inputs)}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def upload(client: openai.OpenAI, config: ProviderConfig, *, name: str, content: bytes) -> str:
    """Upload an input file (purpose ``batch``) under ``name``; returns its file id.

    Give each file a name of its own (``<record>.jsonl``): :func:`find_upload` finds it by
    that name when the caller crashed before recording the id.
    """
    if not name.endswith(".jsonl"):
        raise ValueError(f"a batch input file's name must end in .jsonl, got {name!r}")
    if len(content) > MAX_BATCH_BYTES:
        raise InvalidInput(f"batch input file {name} has {len(content):,} bytes; the most is {MAX_BATCH_BYTES:,}")
    with _remote(config, f"upload of {name}"):
        return client.files.create(file=(name, content), purpose="batch").id


def find_upload(client: openai.OpenAI, config: ProviderConfig, *, name: str) -> str | None:
    """The id of the newest input file named ``name``, or ``None``: an upload whose record was lost."""
    with _remote(config, "file list"):
        for file in client.files.list(purpose="batch"):
            if file.filename == name:
                return file.id
    return None


def create(client: openai.OpenAI, config: ProviderConfig, *, file_id: str, key: str) -> BatchState:
    """Start a batch over an uploaded file, tagged with the caller's ``key`` (see :func:`find_batch`).

    A batch over the enqueued-token limit is still created, and fails at validation: its
    state's :attr:`BatchState.queue_full` says so.
    """
    if not key or len(key) > MAX_METADATA_VALUE:
        raise ValueError(f"key must be 1-{MAX_METADATA_VALUE} characters, got {key!r}"[:200])
    with _remote(config, f"input file {file_id}"):
        batch = client.batches.create(
            input_file_id=file_id,
            endpoint=ENDPOINT,
            completion_window=COMPLETION_WINDOW,
            metadata={METADATA_KEY: key},
        )
    return BatchState.of(batch)


def find_batch(
    client: openai.OpenAI, config: ProviderConfig, *, key: str, since: int | None = None
) -> BatchState | None:
    """The newest batch whose metadata holds ``key``, or ``None``: a create whose record was lost.

    Pages through the account's batches, newest first; ``since`` (Unix seconds, e.g. when the
    caller's record was made) stops at batches created before it instead of reading them all.
    """
    with _remote(config, "batch list"):
        for batch in client.batches.list(limit=100):
            if since is not None and batch.created_at < since:
                return None
            if (batch.metadata or {}).get(METADATA_KEY) == key:
                return BatchState.of(batch)
    return None


def retrieve(client: openai.OpenAI, config: ProviderConfig, batch_id: str) -> BatchState:
    with _remote(config, f"batch {batch_id}"):
        return BatchState.of(client.batches.retrieve(batch_id))


def cancel(client: openai.OpenAI, config: ProviderConfig, batch_id: str) -> BatchState:
    """Ask the batch to stop: cancelling, then cancelled; what ran is in its files as usual."""
    with _remote(config, f"batch {batch_id}"):
        return BatchState.of(client.batches.cancel(batch_id))


def results(client: openai.OpenAI, config: ProviderConfig, state: BatchState) -> Iterator[LineResult]:
    """Every line of a final batch: the output file's, then the error file's, read as a stream.

    Files of hundreds of megabytes never sit in memory whole. A connection that breaks mid-file
    raises :class:`Transient`: read again (the results are the same; storing them is idempotent).
    """
    for file_id in (state.output_file_id, state.error_file_id):
        if file_id:
            for line in _lines(client, config, file_id):
                yield _parse(line, config)


def request_inputs(client: openai.OpenAI, config: ProviderConfig, file_id: str) -> Iterator[tuple[str, list[str]]]:
    """Each line of an uploaded input file as (``custom_id``, the texts its request sent), read as a stream.

    The file is what the provider ran, so it tells which input each result's ``index`` belongs
    to even after the rows it was built from have changed. A file that is gone raises
    :class:`InvalidInput`; a connection that breaks mid-file, :class:`Transient`.
    """
    for line in _lines(client, config, file_id):
        record = json.loads(line)
        texts = record["body"]["input"]
        yield str(record["custom_id"]), [texts] if isinstance(texts, str) else list(texts)


def _lines(client: openai.OpenAI, config: ProviderConfig, file_id: str) -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        with _remote(config, f"file {file_id}"):
            response = stack.enter_context(client.files.with_streaming_response.content(file_id))
        lines = response.iter_lines()
        while True:
            try:
                line = next(lines)
            except StopIteration:
                return
            except Exception as exc:  # only the transport runs in next(): the connection broke mid-file
                reason = redact(f"{type(exc).__name__}: {exc}", config.api_key)
                raise Transient(f"reading batch file {file_id} broke off: {reason}") from None
            if line.strip():
                yield line


def _parse(line: str, config: ProviderConfig) -> LineResult:
    """One output or error line: ``{"custom_id", "response": {"status_code", "body"}, "error"}``."""
    record = json.loads(line)
    custom_id = str(record["custom_id"])
    response = record.get("response")
    if response is None:  # never ran: expired or cancelled
        error = record.get("error") or {}
        return LineResult(custom_id, None, error=_text(error.get("message"), config), code=error.get("code"))
    status, body = int(response["status_code"]), response.get("body") or {}
    if status == 200:
        items = sorted(body["data"], key=lambda item: item["index"])
        vectors = [as_float32(item["embedding"]) for item in items]
        return LineResult(custom_id, vectors, int((body.get("usage") or {}).get("total_tokens", 0)), status_code=200)
    error = cast(dict[str, Any], body.get("error") or record.get("error") or {})
    return LineResult(custom_id, None, error=_text(error.get("message"), config), status_code=status,
                      code=error.get("code"))


def _text(message: object, config: ProviderConfig) -> str:
    return redact(str(message or "no message"), config.api_key)


def delete_file(client: openai.OpenAI, config: ProviderConfig, file_id: str) -> None:
    """Remove a file we no longer need, best effort: a file already gone is fine, a failure is logged.

    Files expire by themselves (batch files after 30 days); this only frees the account's storage sooner.
    """
    try:
        with provider_errors(config):
            with contextlib.suppress(openai.NotFoundError):
                client.files.delete(file_id)
    except ProviderError as exc:
        logger.warning("could not delete batch file %s: %s", file_id, exc)
