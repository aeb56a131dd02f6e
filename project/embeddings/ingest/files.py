"""Reading user files as text: what is text, what is not, and what PostgreSQL cannot hold.

Returns data; the ingest service decides what to do with it. A file that is not text is an
error naming it; NUL bytes (PostgreSQL text cannot store U+0000) are removed with a warning.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from project.errors import NotTextError

# A file whose bytes are more than this share NUL is binary (or UTF-16 without a byte-order
# mark), not UTF-8 text with stray NULs.
BINARY_NUL_SHARE = 0.3
_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]


@dataclass(frozen=True)
class SourceText:
    source: str
    text: str
    warnings: list[str] = field(default_factory=list)


def clean_text(text: str, source: str) -> SourceText:
    """Remove NUL characters (with a warning) so PostgreSQL can store the text."""
    nuls = text.count("\x00")
    if not nuls:
        return SourceText(source, text)
    return SourceText(source, text.replace("\x00", ""), [f"{source}: removed {nuls} NUL byte(s)"])


def decode_bytes(data: bytes, source: str) -> SourceText:
    """Decode UTF-8 (or a file with a UTF-16/32 byte-order mark); refuse binary data."""
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    if encoding == "utf-8" and data.count(0) > BINARY_NUL_SHARE * len(data):
        raise NotTextError(f"{source}: binary file ({data.count(0)} NUL bytes in {len(data)}), not text")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise NotTextError(
            f"{source}: not {encoding.upper()} text (undecodable byte at offset {exc.start}); binary file?"
        ) from None
    return clean_text(text, source)


def expand_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named directly, and every non-hidden file under a named directory, sorted."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path).parts
                if child.is_file() and not any(part.startswith(".") for part in relative):
                    yield child
        else:
            yield path


CHARS_PER_TOKEN = 4  # English text, roughly: enough to tell a backfill from a few files


def tokens_guess(paths: Iterable[Path], texts: Iterable[str] = ()) -> int:
    """About how many tokens these files and texts hold, before any is read (for ``--lane auto``)."""
    size = sum(len(text) for text in texts)
    size += sum(path.stat().st_size for path in expand_paths(paths) if path.is_file())
    return size // CHARS_PER_TOKEN
