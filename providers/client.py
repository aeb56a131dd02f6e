"""One call to an embeddings provider through the openai SDK, its failures sorted into decisions.

The SDK retries 429s and 5xx by itself; the client is built with ``max_retries=0``
(``providers.config``) so the shared limiter, not each process, decides when to try again.
Credentials stay in this process: no message built here contains the API key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.utils
import math
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import openai

from ratelimit import parse_duration

from .config import ProviderConfig
from .errors import (
    AccountBlocked,
    InvalidInput,
    MalformedResponse,
    ProviderError,
    RateLimited,
    RequestTooLarge,
    Transient,
)

__all__ = [
    "EmbedResult",
    "as_float32",
    "classify",
    "counted_ago",
    "embed",
    "error_message",
    "provider_errors",
    "redact",
    "request_body",
    "retry_after",
    "served_seconds",
    "server_wait",
]

# Models that refuse the ``dimensions`` parameter (OPENAI_FACTS.md).
FIXED_DIMENSION_MODELS = {"text-embedding-ada-002"}
# The wait a 429's message names: "Please try again in 2.812s." (a Go duration, parsed by
# ratelimit) or Azure's "Please retry after 86400 seconds."
_TRY_AGAIN = re.compile(r"try again in (\S+?)\.?(?:\s|$)", re.IGNORECASE)
_RETRY_AFTER_SECONDS = re.compile(r"retry after (\S+) seconds?", re.IGNORECASE)
_KEY_SHAPED = re.compile(r"\bsk-[A-Za-z0-9*_\-]{4,}")
_BLOCKING_CODES = {"insufficient_quota", "credit_balance_exhausted"}
DEFAULT_WAIT = 1.0  # seconds, when a 429 says nothing about how long to wait


@dataclass(frozen=True)
class EmbedResult:
    vectors: list[np.ndarray]  # float32, in the order of the inputs
    total_tokens: int
    headers: dict[str, str]
    received: float = 0.0  # time.monotonic() when the response had arrived (0: unknown)

    def counted_ago(self) -> float:
        """Seconds since the server counted the request (:func:`counted_ago`)."""
        return counted_ago(self.headers, self.received)

    @property
    def served(self) -> float:
        """Seconds the server says it worked on the request (:func:`served_seconds`)."""
        return served_seconds(self.headers)


def served_seconds(headers: Mapping[str, str]) -> float:
    """Seconds the server says it worked on a request (``openai-processing-ms``), 0 if unsaid."""
    try:
        seconds = float(headers.get("openai-processing-ms", 0)) / 1000
    except ValueError:
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def counted_ago(headers: Mapping[str, str], received: float) -> float:
    """Seconds since the server counted a request: its own processing time, plus what passed since the
    response arrived (``received``, ``time.monotonic()``; reading, storing), so a late reconcile moves
    the admission no later."""
    since = time.monotonic() - received if received else 0.0
    return served_seconds(headers) + max(0.0, since)


def request_body(config: ProviderConfig, inputs: list[str]) -> dict[str, Any]:
    """The body of one embeddings request: the same whether sent now or in a batch file."""
    options = {} if config.model in FIXED_DIMENSION_MODELS else {"dimensions": config.dimensions}
    return {"model": config.model, "input": inputs, **options, "encoding_format": "base64"}


@contextlib.contextmanager
def provider_errors(config: ProviderConfig) -> Iterator[None]:
    """Raise the SDK's HTTP and connection failures as :class:`ProviderError`, never with the key."""
    try:
        yield
    except openai.APIStatusError as exc:
        raise classify(exc, secret=config.api_key) from None
    except openai.APIConnectionError as exc:  # includes timeouts
        raise Transient(redact(f"{type(exc).__name__}: {exc}", config.api_key)) from None


def embed(client: openai.OpenAI, config: ProviderConfig, inputs: list[str]) -> EmbedResult:
    """Embed ``inputs`` in one request; raise a :class:`providers.errors.ProviderError` on failure."""
    with provider_errors(config):
        raw = client.embeddings.with_raw_response.create(**request_body(config, inputs))
    received = time.monotonic()
    try:  # a paid response: whatever is wrong with it is said once, never sent again
        response = raw.parse()
        vectors: list[np.ndarray] = [np.empty(0, np.float32)] * len(inputs)
        for item in response.data:
            if not 0 <= item.index < len(inputs):
                raise ValueError(f"an embedding's index {item.index} is not one of the {len(inputs)} inputs'")
            vectors[item.index] = as_float32(item.embedding)
        total_tokens = int(response.usage.total_tokens)
    except (ValueError, TypeError, AttributeError, KeyError, binascii.Error, openai.APIResponseValidationError) as exc:
        reason = redact(" ".join(str(exc).split())[:300] or type(exc).__name__, config.api_key)
        raise MalformedResponse(f"the provider's response could not be read: {reason}") from None
    return EmbedResult(vectors, total_tokens, dict(raw.headers), received)


def as_float32(embedding: list[float] | str) -> np.ndarray:
    """The vector as float32, straight from the wire: base64 is the raw little-endian float32 bytes.

    We ask for base64 (4x smaller than JSON floats) and decode it here, never through a list of
    Python floats: the array goes as it is into PostgreSQL's binary COPY.
    """
    if isinstance(embedding, str):
        return np.frombuffer(base64.b64decode(embedding), dtype="<f4")
    return np.asarray(embedding, dtype=np.float32)


def redact(text: str, secret: str) -> str:
    """Remove the key, and anything shaped like one (servers echo masked keys), from a message."""
    if secret:
        text = text.replace(secret, "[redacted]")
    return _KEY_SHAPED.sub("[redacted]", text)


def classify(exc: openai.APIStatusError, *, secret: str = "") -> ProviderError:
    """The decision an HTTP error calls for; its message never holds the API key."""
    message = redact(error_message(exc), secret)
    status = exc.status_code
    if status == 429:
        if exc.code in _BLOCKING_CODES or exc.type in _BLOCKING_CODES:
            return AccountBlocked(f"the provider refused for lack of quota: {message}")
        if message.startswith("Request too large"):
            return RequestTooLarge(message)
        headers = dict(exc.response.headers)
        return RateLimited(message, retry_after=retry_after(headers, message), headers=headers)
    if status in (401, 403):
        return AccountBlocked(f"the provider rejected the credentials ({status}): {message}")
    if status == 404:
        return AccountBlocked(f"the provider does not know the model ({status}): {message}")
    if status >= 500 or status in (408, 409):
        return Transient(f"HTTP {status}: {message}", retry_after=server_wait(dict(exc.response.headers)))
    return InvalidInput(message)


def error_message(exc: openai.APIStatusError) -> str:
    """The API's own message (``error.message`` of the body), not the SDK's wrapping of it."""
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return exc.message


def server_wait(headers: Mapping[str, str]) -> float:
    """Seconds the response asks the client to wait before sending again, 0 when it says nothing.

    ``retry-after-ms`` is the wait itself and ``retry-after`` the same wait in whole seconds,
    rounded up: the first is read first, as the SDK does, so a 20 ms wait cools no one down
    for a second. ``retry-after`` may also be an HTTP date, read against the response's own
    ``date`` (both on the server's clock, so this host's clock does not matter), else against
    this host's clock.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    if (wait := _number(lowered.get("retry-after-ms", ""), 0.001)) > 0:
        return wait
    text = lowered.get("retry-after", "")
    return _number(text, 1.0) or _until(text, lowered.get("date", ""))


def retry_after(headers: dict[str, str], message: str) -> float:
    """Seconds to wait after a 429: the server's wait (:func:`server_wait`), else the message's,
    else the reset headers', else a second."""
    lowered = {name.lower(): value for name, value in headers.items()}
    candidates: list[float] = [server_wait(lowered)]
    if not any(candidates):
        for pattern in (_TRY_AGAIN, _RETRY_AFTER_SECONDS):
            match = pattern.search(message)
            if match:
                candidates.append(_duration(match.group(1)))
    if not any(candidates):
        for name in ("x-ratelimit-reset-tokens", "x-ratelimit-reset-requests"):
            if name in lowered:
                candidates.append(_duration(lowered[name]))
    return max((c for c in candidates if c > 0), default=DEFAULT_WAIT)


def _number(text: str, unit: float) -> float:
    try:
        value = float(text) * unit
    except ValueError:
        return 0.0  # absent, or an HTTP date
    return value if math.isfinite(value) and value > 0 else 0.0


def _until(text: str, date: str) -> float:
    """Seconds from the response's ``date`` (else now) to the HTTP date ``text``; 0 if unreadable."""
    try:
        moment = email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return 0.0
    try:
        now = email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError):
        now = time.time()
    return max(0.0, moment - now)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError:
        return 0.0
