"""What a source command refuses: one line each, under the project's error root (``project/errors.py``)."""

from __future__ import annotations

from project.errors import TollgateError

__all__ = ["SourceError", "SourceNotFound"]


class SourceError(TollgateError):
    """A source cannot be made, changed or read as asked; the message says why and what to do."""

    field = "source"


class SourceNotFound(SourceError):
    """No source has this name (or the viewer may not see it)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"there is no source {name!r} (`tollgate sources list` shows them)")
