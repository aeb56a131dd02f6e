"""What an ask refuses before anything is paid: each names the input at fault (``field``)."""

from __future__ import annotations

from project.errors import TollgateError

__all__ = ["EmptyQuestion", "NothingStored", "QuestionTooLong"]


class EmptyQuestion(TollgateError):
    field = "question"

    def __init__(self) -> None:
        super().__init__("the question is empty: ask something")


class QuestionTooLong(TollgateError):
    field = "question"

    def __init__(self, length: int, limit: int) -> None:
        self.length, self.limit = length, limit
        super().__init__(f"the question is {length:,} characters; at most {limit:,} are asked")


class NothingStored(TollgateError):
    """The owner has no embedded chunk to answer from (in that collection): nothing was sent."""

    field = "collection"

    def __init__(self, collection: str | None) -> None:
        self.collection = collection
        where = f"in collection {collection!r}" if collection else "yet"
        super().__init__(f"there are no stored chunks to answer from {where}: ingest and embed documents first")
