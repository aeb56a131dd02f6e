"""OpenAI-shaped errors: one root, each carrying the exact status and body the real API sends.

Handlers raise these; the app turns any of them into ``{"error": {...}}`` with its status and
headers, so clients see the same shapes (and the SDK raises the same exception classes) as
against api.openai.com.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SimulatorError",
    "ConfigError",
    "InvalidRequestError",
    "ContextLengthError",
    "TooManyTokensPerRequestError",
    "AuthenticationError",
    "ModelNotFoundError",
    "RateLimitedError",
    "InsufficientQuotaError",
    "InjectedFaultError",
    "NotFoundError",
    "API_REFERENCE_HINT",
    "rate_limit_reached",
    "request_too_large",
]

API_REFERENCE_HINT = "Please check the API reference: https://platform.openai.com/docs/api-reference."
_KEYS_URL = "https://platform.openai.com/account/api-keys"


class SimulatorError(Exception):
    """Root of every error of the simulator; renders the OpenAI error body of those it answers with."""

    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body, exactly ``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class ConfigError(SimulatorError):
    """A configuration value (CLI flag or admin update) that cannot be used."""

    status = 400
    type = "invalid_request_error"


class InvalidRequestError(SimulatorError):
    """A malformed request (400); the same request fails the same way, so never retry it."""

    status = 400
    type = "invalid_request_error"

    @classmethod
    def invalid_field(cls, field: str) -> InvalidRequestError:
        """The API's generic schema error, e.g. for more than 2048 inputs or an empty string."""
        return cls(f"'$.{field}' is invalid. {API_REFERENCE_HINT}")


class ContextLengthError(InvalidRequestError):
    """One input longer than the model's context length."""

    def __init__(self, *, limit: int, requested: int):
        super().__init__(
            f"This model's maximum context length is {limit} tokens, however you requested "
            f"{requested} tokens ({requested} in your prompt; 0 for the completion). "
            "Please reduce your prompt; or completion length."
        )


class TooManyTokensPerRequestError(InvalidRequestError):
    """More than 300,000 tokens summed over the inputs of one request."""

    type = "max_tokens_per_request"
    code = "max_tokens_per_request"

    def __init__(self, *, requested: int, limit: int):
        super().__init__(f"Requested {requested} tokens, max {limit} tokens per request")


class AuthenticationError(SimulatorError):
    """A missing or unknown API key (401)."""

    status = 401
    type = "invalid_request_error"

    @classmethod
    def missing(cls) -> AuthenticationError:
        return cls(
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field "
            "(with blank username) if you're accessing the API from your browser and are prompted "
            f"for a username. You can obtain an API key from {_KEYS_URL}."
        )

    @classmethod
    def incorrect(cls, key: str) -> AuthenticationError:
        masked = f"{key[:3]}*****{key[-4:]}" if len(key) > 8 else "*****"
        error = cls(f"Incorrect API key provided: {masked}. You can find your API key at {_KEYS_URL}.")
        error.code = "invalid_api_key"
        return error


class ModelNotFoundError(SimulatorError):
    """A model this server does not serve (404)."""

    status = 404
    type = "invalid_request_error"
    code = "model_not_found"

    def __init__(self, model: str):
        super().__init__(f"The model `{model}` does not exist or you do not have access to it.", param="model")


class RateLimitedError(SimulatorError):
    """A 429 of type ``requests`` or ``tokens``; ``retry_after`` is the exact wait in seconds."""

    status = 429
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, kind: str, retry_after: float, headers: dict[str, str] | None = None):
        super().__init__(message, headers=headers)
        self.type = kind
        self.retry_after = retry_after


class InsufficientQuotaError(SimulatorError):
    """The account is out of credit: a 429 that must never be retried."""

    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"

    def __init__(self) -> None:
        super().__init__(
            "You exceeded your current quota, please check your plan and billing details. For more "
            "information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors."
        )


class InjectedFaultError(SimulatorError):
    """A 500 or 503 the fault-injection knobs asked for."""

    def __init__(self, status: int):
        if status == 503:
            message = "The server is overloaded or not ready yet."
        else:
            message = "The server had an error while processing your request. Sorry about that!"
        super().__init__(message)
        self.status = status


class NotFoundError(SimulatorError):
    """A file or batch that does not exist, or belongs to another key (404)."""

    status = 404
    type = "invalid_request_error"

    @classmethod
    def file(cls, file_id: str) -> NotFoundError:
        return cls(f"No such File object: {file_id}", param="id")

    @classmethod
    def batch(cls, batch_id: str) -> NotFoundError:
        return cls(f"No batch found with id '{batch_id}'.", param="batch_id")


_LIMITS_URL = "https://platform.openai.com/account/rate-limits"
_PERIOD_NAMES = {("requests", "min"): "requests per min (RPM)", ("requests", "day"): "requests per day (RPD)",
                 ("tokens", "min"): "tokens per min (TPM)"}


def rate_limit_reached(
    *, model: str, organization: str, kind: str, period: str, limit: int, used: int, requested: int,
    retry_after: float, wait_text: str, headers: dict[str, str],
) -> RateLimitedError:
    """The 429 for a request that would pass the limit later ("Please try again in 2.812s")."""
    return RateLimitedError(
        f"Rate limit reached for {model} in organization {organization} on {_PERIOD_NAMES[kind, period]}: "
        f"Limit {limit}, Used {used}, Requested {requested}. Please try again in {wait_text}. "
        f"Visit {_LIMITS_URL} to learn more.",
        kind=kind, retry_after=retry_after, headers=headers,
    )


def request_too_large(*, model: str, organization: str, limit: int, requested: int, headers: dict[str, str]) -> RateLimitedError:
    """The 429 for one request larger than the TPM limit: it can never pass, so no retry headers."""
    return RateLimitedError(
        f"Request too large for {model} in organization {organization} on tokens per min (TPM): "
        f"Limit {limit}, Requested {requested}. The input or output tokens must be reduced in order "
        f"to run successfully. Visit {_LIMITS_URL} to learn more.",
        kind="tokens", retry_after=float("inf"), headers=headers,
    )
