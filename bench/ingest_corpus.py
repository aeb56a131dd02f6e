"""The ingest bench's corpora, written as files under a directory: many small ones, or a few large ones.

Real English (the standard library's docstrings, as in the throughput bench), each paragraph
marked with its file's number, so no two files hold the same text and nothing is deduplicated.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from bench.throughput_corpus import module_texts

SMALL_FILE_CHARS = 260  # about 60 tokens: a note, a ticket, a short message
_PARAGRAPH = re.compile(r"\n\s*\n")


def _paragraphs() -> list[str]:
    return [p.strip() for text in module_texts() for p in _PARAGRAPH.split(text) if len(p.strip()) > 40]


def _cycle(paragraphs: list[str]) -> Iterator[str]:
    while True:
        yield from paragraphs


def small_files(directory: Path, count: int) -> Path:
    """``count`` files of about ``SMALL_FILE_CHARS`` characters each, 1,000 to a sub-folder."""
    source = _cycle(_paragraphs())
    for n in range(count):
        parts, size = [], 0
        while size < SMALL_FILE_CHARS:
            paragraph = next(source)[: SMALL_FILE_CHARS * 2]
            parts.append(f"[{n}] {paragraph}")
            size += len(parts[-1]) + 2
        folder = directory / f"{n // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"note-{n:06d}.txt").write_text("\n\n".join(parts))
    return directory


def large_files(directory: Path, count: int, chars: int) -> Path:
    """``count`` files of about ``chars`` characters each."""
    source = _cycle(_paragraphs())
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        parts, size = [], 0
        while size < chars:
            parts.append(f"[{n}] {next(source)}")
            size += len(parts[-1]) + 2
        (directory / f"book-{n:03d}.txt").write_text("\n\n".join(parts))
    return directory
