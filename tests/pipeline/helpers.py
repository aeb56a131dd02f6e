"""Small corpora for pipeline tests."""

from __future__ import annotations

from typing import Any

from project.embeddings.ingest.documents import TextInput, document_ingest
from project.embeddings.models import Document


def texts(count: int, *, words: int = 40, prefix: str = "") -> list[TextInput]:
    """``count`` distinct English-like texts of about ``words`` words (one chunk each)."""
    vocabulary = "limit window token request worker queue vector search gate road car speed".split()
    return [
        TextInput(
            f"{prefix}Text {i}. " + " ".join(vocabulary[(i * 7 + j * 3) % len(vocabulary)] for j in range(words)) + ".",
            source=f"{prefix}text-{i}",
        )
        for i in range(count)
    ]


def ingest(count: int, **options: Any) -> list[Document]:
    return document_ingest(texts=texts(count, **options)).documents
