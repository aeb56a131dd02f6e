"""Read a batch input file the way the Batch API validates it, before any line runs.

File-level problems fail the whole batch with ``errors`` (each with its line): a line that
is not JSON, a missing field, a method other than POST, a url other than the batch's
endpoint, a second model, a duplicate ``custom_id``, more than 50,000 requests or embedding
inputs, more than 200 MB. A body the endpoint itself would refuse (an empty input, too many
tokens) does not fail the batch: that line fails alone, with the 400 body the endpoint sends.
The codes for ``token_limit_exceeded`` and ``duplicate_custom_id`` are documented; the other
codes and messages are modelled on them (unconfirmed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from simulator.config import MODELS
from simulator.errors import InvalidRequestError, SimulatorError
from simulator.inputs import EmbeddingRequest, parse_request

__all__ = ["BatchLine", "BatchInput", "BatchInputError", "read_batch_input", "batch_error",
           "MAX_BATCH_REQUESTS", "MAX_BATCH_INPUTS", "MAX_BATCH_FILE_BYTES"]

MAX_BATCH_REQUESTS = 50_000
MAX_BATCH_INPUTS = 50_000  # embedding inputs summed over a batch's requests
MAX_BATCH_FILE_BYTES = 200 * 1024 * 1024
MAX_REPORTED_ERRORS = 100


@dataclass(frozen=True)
class BatchLine:
    """One request of a batch: its validated request, or the error its line will fail with."""

    line: int
    custom_id: str
    request: EmbeddingRequest | None
    error: SimulatorError | None


@dataclass(frozen=True)
class BatchInput:
    """A file that passed validation: one model, its lines, the tokens it will enqueue."""

    model: str
    lines: list[BatchLine]
    charged_tokens: int
    inputs: int


class BatchInputError(SimulatorError):
    """The file fails validation; ``errors`` are the batch's ``errors.data`` entries.

    Never an answer to a request: the batch is made, and fails with these errors.
    """

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__(errors[0]["message"] if errors else "invalid batch input")
        self.errors = errors


def batch_error(code: str, message: str, *, line: int | None = None, param: str | None = None) -> dict[str, Any]:
    """One entry of a batch's ``errors.data``."""
    return {"code": code, "message": message, "param": param, "line": line}


def _check_line(raw: bytes, number: int, endpoint: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(request, None) or (None, error) for one line's envelope."""
    try:
        request = json.loads(raw)
    except ValueError:
        return None, batch_error("invalid_json_line", "This line is not parseable as valid JSON.", line=number)
    if not isinstance(request, dict):
        return None, batch_error("invalid_json_line", "Each line must be a JSON object.", line=number)
    for field in ("custom_id", "method", "url", "body"):
        if field not in request:
            return None, batch_error("missing_required_parameter", f"Missing required parameter: '{field}'.",
                                     line=number, param=field)
    if not isinstance(request["custom_id"], str) or not request["custom_id"]:
        return None, batch_error("invalid_custom_id", "The custom_id must be a non-empty string.", line=number,
                                 param="custom_id")
    if request["method"] != "POST":
        return None, batch_error("invalid_method", "The method must be 'POST'.", line=number, param="method")
    if request["url"] != endpoint:
        return None, batch_error("invalid_url", "The URL provided for this request does not match the batch endpoint.",
                                 line=number, param="url")
    if not isinstance(request["body"], dict):
        return None, batch_error("invalid_body", "The body must be a JSON object.", line=number, param="body")
    return request, None


def read_batch_input(content: bytes, *, endpoint: str, estimator: str, chars_per_token: float) -> BatchInput:
    """Validate a whole input file; raises ``BatchInputError`` with every problem found."""
    if len(content) > MAX_BATCH_FILE_BYTES:
        raise BatchInputError([batch_error(
            "file_too_large", f"The batch input file is larger than the {MAX_BATCH_FILE_BYTES} byte maximum.")])
    raw_lines = [(n, raw) for n, raw in enumerate(content.split(b"\n"), start=1) if raw.strip()]
    if not raw_lines:
        raise BatchInputError([batch_error("empty_file", "The batch input file is empty.")])
    if len(raw_lines) > MAX_BATCH_REQUESTS:
        raise BatchInputError([batch_error(
            "too_many_requests", f"The batch input file contains {len(raw_lines)} requests; "
            f"the maximum is {MAX_BATCH_REQUESTS:,}.")])
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    model: str | None = None
    lines, charged, inputs = [], 0, 0
    for number, raw in raw_lines:
        request, error = _check_line(raw, number, endpoint)
        if request is not None:
            custom_id, body = request["custom_id"], request["body"]
            line_model = body.get("model")
            if custom_id in seen:
                error = batch_error("duplicate_custom_id", "The custom_id for this request is a duplicate of another "
                                    "request. The custom_id parameter must be unique for each request in a batch.",
                                    line=number, param="custom_id")
            elif line_model not in MODELS:
                error = batch_error("model_not_found", f"The model `{line_model}` does not exist or you do not have "
                                    "access to it.", line=number, param="body.model")
            elif model is not None and line_model != model:
                error = batch_error("mismatched_model", f"The model '{line_model}' does not match the model '{model}' "
                                    "of this batch's other requests; a batch holds one model.", line=number,
                                    param="body.model")
            seen.add(custom_id)
            model = model or (line_model if line_model in MODELS else None)
        if error is not None:
            errors.append(error)
            if len(errors) >= MAX_REPORTED_ERRORS:
                break
            continue
        assert request is not None
        try:
            parsed = parse_request(request["body"], estimator=estimator, chars_per_token=chars_per_token)
        except InvalidRequestError as refusal:
            lines.append(BatchLine(number, request["custom_id"], None, refusal))
            raw_input = request["body"].get("input")
            several = isinstance(raw_input, list) and not all(type(x) is int for x in raw_input)
            inputs += len(raw_input) if several else 1
            continue
        lines.append(BatchLine(number, request["custom_id"], parsed, None))
        charged += parsed.charged_tokens
        inputs += len(parsed.contents)
    if errors:
        raise BatchInputError(errors)
    if inputs > MAX_BATCH_INPUTS:
        raise BatchInputError([batch_error(
            "too_many_inputs", f"The batch contains {inputs} embedding inputs; /v1/embeddings batches are limited "
            f"to {MAX_BATCH_INPUTS:,} inputs across all requests.")])
    assert model is not None
    return BatchInput(model, lines, charged, inputs)
