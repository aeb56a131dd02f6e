"""The throughput bench's corpus: real English (the standard library's docstrings), enough of it.

The docstrings hold about 400,000 tokens, so the bench repeats them in numbered copies. Every
paragraph of copy ``n`` starts with ``[n]``, so every chunk (the splitter breaks between
paragraphs) differs from its twins in the other copies: the chunks are distinct texts, the
way a real corpus would be. Modules are bundled into documents of about
``DOCUMENT_TOKENS`` tokens, so nearly every chunk is close to the chunk size.
"""

from __future__ import annotations

import re
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from project.demo_corpus import _module_text
from project.embeddings.ingest.documents import TextInput

DOCUMENT_CHARS = 60_000  # about 15,000 tokens: a few dozen chunks per document
_PARAGRAPH = re.compile(r"\n\s*\n")


def module_texts() -> list[str]:
    """Docstrings of every stdlib module (packages included, tests and IDLE left out), in path order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "idlelib", "site-packages", "lib2to3"}
    files = sorted(p for p in root.rglob("*.py") if not skip.intersection(p.relative_to(root).parts))
    return [text for text in map(_module_text, files) if text]


def marked_copy(copy: int, texts: list[str]) -> Iterator[TextInput]:
    """Copy ``copy`` of ``texts``, each paragraph marked, bundled into documents of about ``DOCUMENT_CHARS``."""
    bundle: list[str] = []
    size = part = 0
    for text in texts:
        marked = "\n\n".join(f"[{copy}] {paragraph}" for paragraph in _PARAGRAPH.split(text) if paragraph.strip())
        bundle.append(marked)
        size += len(marked)
        if size >= DOCUMENT_CHARS:
            yield _document(copy, part, bundle)
            bundle, size, part = [], 0, part + 1
    if bundle:
        yield _document(copy, part, bundle)


def _document(copy: int, part: int, bundle: list[str]) -> TextInput:
    return TextInput(
        "\n\n".join(bundle),
        source=f"stdlib-docstrings copy {copy} part {part}",
        metadata={"corpus": "python-stdlib", "copy": copy},
    )
