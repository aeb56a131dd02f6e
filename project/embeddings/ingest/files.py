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
from providers import encoding_for_model

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


CHARS_PER_TOKEN = 4  # English text, roughly: what a guess falls back on when nothing could be sampled
SAMPLE_BYTES = 256 * 1024  # read and tokenized to learn the corpus's own bytes per token


def tokens_guess(paths: Iterable[Path], texts: Iterable[str] = (), *, model: str | None = None) -> int:
    """About how many tokens these files and texts hold, from their sizes, before most are read.

    With ``model``, the first files (up to ``SAMPLE_BYTES``) are tokenized to learn this corpus's
    bytes per token (docstrings run 4.5, code and CJK text far from English's 4), so a job
    of two windows is not taken for a backfill; without, four bytes a token. Used for
    ``--lane auto`` and to size a streaming job before it is read (``expected_tokens``).
    """
    texts = list(texts)
    files = [path for path in expand_paths(paths) if path.is_file()]
    size = sum(len(text.encode()) for text in texts) + sum(path.stat().st_size for path in files)
    return round(size / _bytes_per_token(files, texts, model)) if size else 0


def _bytes_per_token(files: list[Path], texts: list[str], model: str | None) -> float:
    if model is None:
        return CHARS_PER_TOKEN
    sample, read = list(texts), 0
    for path in files:
        if read >= SAMPLE_BYTES:
            break
        data = path.read_bytes()[: SAMPLE_BYTES - read]
        read += len(data)
        sample.append(data.decode("utf-8", errors="replace"))
    text = "".join(sample)[: SAMPLE_BYTES]
    tokens = len(encoding_for_model(model).encode_ordinary(text)) if text else 0
    return len(text.encode()) / tokens if tokens else CHARS_PER_TOKEN
