"""Corpora of one shape: documents of about N tokens of real English, as files in a folder.

Users embed many shapes of text: tickets and product descriptions (~50-100 tokens), messages and
paragraphs (~250), pages (~1,000), whole documents sent as one input (~8,000). The text is the
standard library's docstrings, paragraph by paragraph ,
packed into documents of about ``tokens`` tokens each, each one numbered so that every document
is a distinct text; a few exact duplicates are kept on purpose, as real corpora hold them.

    write_corpus(Path("/tmp/short"), tokens=70, total_tokens=790_000)  # ~11,000 files
"""

from __future__ import annotations

import ast
import functools
import re
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Corpus", "documents", "write_corpus"]

_PARAGRAPH = re.compile(r"\n\s*\n")
DUPLICATE_EVERY = 80  # one document in this many repeats an earlier one exactly


@dataclass(frozen=True)
class Corpus:
    folder: Path
    files: int
    tokens: int  # as cl100k_base counts the files' texts
    duplicates: int


@functools.cache
def docstrings() -> tuple[str, ...]:
    """Every docstring (modules, classes, functions) of the standard library, tests left out, in path order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "idlelib", "site-packages", "lib2to3"}
    found: list[str] = []
    for path in sorted(p for p in root.rglob("*.py") if not skip.intersection(p.relative_to(root).parts)):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                text = ast.get_docstring(node)
                if text:
                    found.append(text)
    return tuple(found)


def _encoding():
    from providers import encoding_for_model

    return encoding_for_model("text-embedding-3-small")  # cl100k_base, from the offline file


def documents(*, tokens: int, total_tokens: int) -> Iterator[str]:
    """Texts of about ``tokens`` tokens (paragraphs packed or cut at a word), ``total_tokens`` in all."""
    encoding = _encoding()
    made = number = 0
    pending: list[str] = []
    size = 0
    recent: list[str] = []
    while made < total_tokens:
        for text in docstrings():
            for paragraph in _PARAGRAPH.split(text):
                words = " ".join(paragraph.split())
                if not words:
                    continue
                pending.append(words)
                size += len(encoding.encode_ordinary(words))
                if size < tokens:
                    continue
                body = encoding.decode(encoding.encode_ordinary(" ".join(pending))[:tokens])
                pending, size = [], 0
                number += 1
                if number % DUPLICATE_EVERY == 0 and recent:
                    document = recent[number % len(recent)]
                else:
                    document = f"#{number}. {body}"
                    recent = (recent + [document])[-50:]
                made += len(encoding.encode_ordinary(document))
                yield document
                if made >= total_tokens:
                    return


def write_corpus(folder: Path, *, tokens: int, total_tokens: int) -> Corpus:
    """Write the documents as ``NNNNNN.txt`` files in ``folder`` (made if missing); returns what was written."""
    folder.mkdir(parents=True, exist_ok=True)
    encoding = _encoding()
    files = counted = 0
    seen: set[str] = set()
    duplicates = 0
    for i, text in enumerate(documents(tokens=tokens, total_tokens=total_tokens)):
        (folder / f"{i:06d}.txt").write_text(text + "\n")
        files += 1
        counted += len(encoding.encode_ordinary(text))
        duplicates += text in seen
        seen.add(text)
    return Corpus(folder, files, counted, duplicates)

