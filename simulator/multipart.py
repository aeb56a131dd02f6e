"""Just enough multipart/form-data for ``POST /v1/files``, from the stdlib.

Starlette's form parser needs python-multipart, which the simulator does not depend on; an
upload from the openai SDK is two parts (``purpose`` and ``file``), so splitting the body
on its boundary is all it takes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from simulator.errors import InvalidRequestError

__all__ = ["Part", "parse_form"]

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_PARAM = re.compile(rb'\b(name|filename)="([^"]*)"', re.IGNORECASE)


@dataclass(frozen=True)
class Part:
    """One form field: its value's bytes and, for a file, its file name."""

    content: bytes
    filename: str | None


def parse_form(body: bytes, content_type: str) -> dict[str, Part]:
    """Field name -> part; 400 when the body is not multipart/form-data."""
    match = _BOUNDARY.search(content_type or "")
    if not content_type.lower().startswith("multipart/form-data") or match is None:
        raise InvalidRequestError("Expected a multipart/form-data body with a 'file' and a 'purpose'.")
    delimiter = b"--" + match.group(1).encode()
    fields: dict[str, Part] = {}
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, separator, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            continue
        params = {key.decode().lower(): value.decode("utf-8", "replace") for key, value in _PARAM.findall(head)}
        if "name" in params:
            fields[params["name"]] = Part(content.removesuffix(b"\r\n"), params.get("filename"))
    return fields
