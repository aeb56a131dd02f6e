"""Uploaded and generated files (``/v1/files``), kept in memory per API key.

A key sees only its own files, as an organization does: another key's file id is a 404.
Batch outputs are stored here too, with purpose ``batch_output``.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from simulator.errors import InvalidRequestError, NotFoundError

__all__ = ["StoredFile", "FileStore", "PURPOSES"]

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")


@dataclass(frozen=True)
class StoredFile:
    """A file's bytes and the metadata the file object reports."""

    id: str
    owner: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def public(self) -> dict[str, Any]:
        """The file object, as ``GET /v1/files/{id}`` answers it."""
        return {
            "id": self.id, "object": "file", "bytes": len(self.content), "created_at": self.created_at,
            "filename": self.filename, "purpose": self.purpose, "status": "processed",
            "status_details": None, "expires_at": None,
        }


class FileStore:
    """Thread-safe id -> file map; ``upload`` checks what the API checks at upload time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, StoredFile] = {}

    def upload(self, *, owner: str, filename: str | None, purpose: str | None, content: bytes | None) -> StoredFile:
        """A client's upload: a file, one of the known purposes, and ``.jsonl`` for batches."""
        if content is None:
            raise InvalidRequestError("Missing required parameter: 'file'.", param="file")
        if purpose not in PURPOSES:
            raise InvalidRequestError(f"'{purpose}' is not one of {list(PURPOSES)} - 'purpose'", param="purpose")
        name = filename or "upload"
        if purpose == "batch" and not name.endswith(".jsonl"):
            raise InvalidRequestError("Invalid file format for Batch API. Must be .jsonl", param="file")
        return self.add(owner=owner, filename=name, purpose=purpose, content=content)

    def add(self, *, owner: str, filename: str, purpose: str, content: bytes) -> StoredFile:
        """Store a file without upload checks (the simulator's own outputs)."""
        stored = StoredFile(f"file-{secrets.token_hex(12)}", owner, filename, purpose, content, int(time.time()))
        with self._lock:
            self._files[stored.id] = stored
        return stored

    def get(self, file_id: str, *, owner: str) -> StoredFile:
        with self._lock:
            stored = self._files.get(file_id)
        if stored is None or stored.owner != owner:
            raise NotFoundError.file(file_id)
        return stored

    def delete(self, file_id: str, *, owner: str) -> dict[str, Any]:
        stored = self.get(file_id, owner=owner)
        with self._lock:
            self._files.pop(stored.id, None)
        return {"id": stored.id, "object": "file", "deleted": True}

    def list(self, *, owner: str, purpose: str | None = None) -> list[StoredFile]:
        """The owner's files, newest first."""
        with self._lock:
            files = [f for f in self._files.values() if f.owner == owner and purpose in (None, f.purpose)]
        return files[::-1]
