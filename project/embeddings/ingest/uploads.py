"""Uploaded files, one outcome each: what the dashboard shows a person and the API tells a client.

A file is read (``files.decode_bytes``) and cleaned as the ingest would, so before anything is
stored each file is known to be text to store, the same text as a document the owner already
has (or as an earlier file of the upload), empty, or not text at all, with the NUL bytes removed
from it said too. The caller decides what a refusal means: the dashboard stores the rest, the API
stores all or nothing.

Example::

    reading = uploads_read(files=[("a.txt", b"Hello."), ("b.bin", bytes(range(256)))], owner=user)
    [f.outcome for f in reading.files]  # ["stored", "refused"]
    reading.texts  # [TextInput("Hello.", source="a.txt")]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser

from project.embeddings.ingest.documents import TextInput, content_hash
from project.embeddings.ingest.files import decode_bytes
from project.embeddings.models import Document
from project.errors import NotTextError

__all__ = ["DUPLICATE", "REFUSED", "SKIPPED", "STORED", "FileOutcome", "UploadReading", "uploads_read"]

STORED = "stored"
DUPLICATE = "already stored"  # the owner has this exact text in the collection: kept once, not paid again
SKIPPED = "skipped"
REFUSED = "refused"


@dataclass(frozen=True)
class FileOutcome:
    """One file: its outcome and why (``notes``: "empty", "removed 2 NUL byte(s)", why it is not text)."""

    name: str
    outcome: str
    notes: tuple[str, ...] = ()

    @property
    def line(self) -> str:
        """``"a.txt: stored (removed 2 NUL byte(s))"``, for a log or a message."""
        return f"{self.name}: {self.outcome}" + (f" ({'; '.join(self.notes)})" if self.notes else "")


@dataclass
class UploadReading:
    texts: list[TextInput] = field(default_factory=list)  # what to store: new texts and known ones
    files: list[FileOutcome] = field(default_factory=list)  # one per file, in the upload's order

    @property
    def refused(self) -> list[FileOutcome]:
        return [f for f in self.files if f.outcome == REFUSED]

    @property
    def warnings(self) -> list[str]:
        """Every file that was not stored as sent: skipped, refused, or stored with its NUL bytes removed."""
        return [f.line for f in self.files if f.outcome in (SKIPPED, REFUSED) or f.notes]


def uploads_read(
    *, files: Iterable[tuple[str, bytes]], owner: AbstractBaseUser, collection: str = "default"
) -> UploadReading:
    """Each (name, content) read as text, with the outcome storing it will have for ``owner``."""
    reading = UploadReading()
    decoded: list[tuple[str, str, tuple[str, ...]]] = []
    for name, data in files:
        try:
            source = decode_bytes(data, name)
        except NotTextError as exc:
            reading.files.append(FileOutcome(name, REFUSED, (str(exc).removeprefix(f"{name}: "),)))
            decoded.append((name, "", ()))
            continue
        notes = tuple(line.removeprefix(f"{name}: ") for line in source.warnings)
        decoded.append((name, source.text, notes))
        reading.files.append(FileOutcome(name, "", notes))
    hashes = {content_hash(text) for _, text, _ in decoded if text.strip()}
    seen = set(
        Document.objects.filter(owner=owner, collection=collection, content_hash__in=hashes).values_list(
            "content_hash", flat=True
        )
    )
    for index, (name, text, notes) in enumerate(decoded):
        if reading.files[index].outcome == REFUSED:
            continue
        if not text.strip():
            reading.files[index] = FileOutcome(name, SKIPPED, ("empty", *notes))
            continue
        digest = content_hash(text)
        reading.files[index] = FileOutcome(name, DUPLICATE if digest in seen else STORED, notes)
        seen.add(digest)
        reading.texts.append(TextInput(text, source=name))
    return reading
