"""JSON bodies nested no deeper than ``MAX_JSON_DEPTH``: a deeper one is a 400 naming the document's field.

Python's JSON decoder, DRF's ``JSONField``, our validators and the database driver all recurse
once per level; a body nested a few hundred levels deep (in a document's ``metadata``, the one
free-form field) ends in a ``RecursionError`` somewhere among them, a 500. So the depth is
checked as the body is parsed: the parsed value is walked without recursion, and a body too
deep for the decoder itself is scanned for where it first goes too deep.

Example::

    class DocumentsView(APIView):
        parser_classes = [DepthLimitedJSONParser, MultiPartParser]
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

from rest_framework import exceptions
from rest_framework.parsers import JSONParser

__all__ = ["MAX_JSON_DEPTH", "DepthLimitedJSONParser", "too_deep"]

MAX_JSON_DEPTH = 64  # levels of arrays and objects in a body (a document's metadata gets about 60 of them)
# A JSON string, or one of the characters that open, close or separate arrays and objects.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]')

Path = list[str | int]


class DepthLimitedJSONParser(JSONParser):
    """DRF's JSON parser, refusing a body nested deeper than ``MAX_JSON_DEPTH`` (a 400 naming the field)."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        raw = stream.read() if stream is not None else b""
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            path = _scan(raw.decode("utf-8", "replace"), MAX_JSON_DEPTH) or []
            data = None
        else:
            path = too_deep(data, MAX_JSON_DEPTH)
        if path is not None:
            message = f"Nested too deeply: a JSON body may nest arrays and objects at most {MAX_JSON_DEPTH} levels."
            raise exceptions.ValidationError({_field(path): [message]})
        return data


def too_deep(value: Any, limit: int) -> Path | None:
    """The path to the first array or object of ``value`` at a depth over ``limit`` (the top is 1), or None."""
    todo: list[tuple[Any, Path]] = [(value, [])] if isinstance(value, (dict, list)) else []
    while todo:
        current, path = todo.pop()
        if len(path) >= limit:
            return path
        items = current.items() if isinstance(current, dict) else enumerate(current)
        todo.extend((child, [*path, key]) for key, child in items if isinstance(child, (dict, list)))
    return None


def _scan(text: str, limit: int) -> Path | None:
    """:func:`too_deep` over the text of a body too deep to decode: keys and indexes of the open containers."""
    open_: list[list[Any]] = []  # per open container: its kind and the key or index being read
    previous = ""
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            if len(open_) >= limit:
                return [entry[1] for entry in open_]
            open_.append([token, 0 if token == "[" else ""])
        elif token in "]}":
            if open_:
                open_.pop()
        elif token == ",":
            if open_ and open_[-1][0] == "[":
                open_[-1][1] += 1
        elif token != ":" and open_ and open_[-1][0] == "{" and previous in "{,":
            open_[-1][1] = json.loads(token)  # a key
        previous = token[0]
    return None


def _field(path: Path) -> str:
    """The document's own field the path runs through: ``[1].metadata``, ``documents[0].metadata``."""
    cut = path[:2] if path and isinstance(path[0], int) else path[:3]
    field = ""
    for part in cut:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    return field
