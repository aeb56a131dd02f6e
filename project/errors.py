"""The exception tree of ``project``: one root, errors that carry data.

Each face maps the three rooms' roots — :class:`TollgateError` here,
:class:`providers.ProviderError` and :class:`ratelimit.RateLimitError` — in one place: the CLI
in ``project/cli.py`` (one line and an exit code), the API in ``project/api/errors.py`` (status
code, ``detail``, ``field``), the dashboard in ``project/dashboard/errors.py`` (a message).
"""

from __future__ import annotations

__all__ = [
    "BrokerUnavailable",
    "DatabaseNotMigrated",
    "GroupNeverFits",
    "IngestStopped",
    "JobNotFound",
    "JobStateError",
    "LaunchError",
    "ModelNotConfigured",
    "NotTextError",
    "PathNotFound",
    "TollgateError",
    "expected",
]


class TollgateError(Exception):
    """Root of every error raised by ``project``. ``field`` names the input at fault, if one is."""

    field: str | None = None


class NotTextError(TollgateError):
    """A file could not be read as text; the message names it."""

    field = "files"


class PathNotFound(TollgateError):
    """A path given on the command line does not exist."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"no such file or directory: {path}")


class GroupNeverFits(TollgateError):
    """A chunk needs more tokens in one request than the rate limit admits in a whole window."""

    field = "text"

    def __init__(self, chunk_id: int, tokens: int, limit: int) -> None:
        self.chunk_id, self.tokens, self.limit = chunk_id, tokens, limit
        super().__init__(
            f"chunk {chunk_id} needs {tokens} tokens in one request, more than the limit of {limit} tokens "
            "per window: raise TOLLGATE_TPM or use a smaller chunk size"
        )


class DimensionsMismatch(TollgateError):
    """The job's dimensions differ from the vector column's, fixed when the table was first migrated."""

    field = "dimensions"

    def __init__(self, dimensions: int, column: int) -> None:
        self.dimensions, self.column = dimensions, column
        super().__init__(
            f"the job asks for {dimensions}-dimension vectors but the database's vector column holds {column}: "
            f"set TOLLGATE_DIMENSIONS={column} (the column was sized when the table was first migrated); "
            "nothing was sent"
        )


class JobNotFound(TollgateError):
    """No job has this id."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"there is no job {job_id}")


class JobStateError(TollgateError):
    """The job is not in a state that allows the requested change (e.g. resuming a completed job)."""


class UnknownLane(TollgateError):
    """A lane other than sync, batch or auto was asked for."""

    field = "lane"

    def __init__(self, lane: str) -> None:
        super().__init__(f"unknown lane {lane!r}: choose sync, batch or auto")


class ModelNotConfigured(TollgateError):
    """A limit asked for a model tollgate is not configured to embed with."""

    field = "model"

    def __init__(self, model: str) -> None:
        self.model = model
        super().__init__(f"no limit is kept for model {model!r}: only TOLLGATE_MODEL's and active jobs' models")


class IngestStopped(TollgateError):
    """A streaming job's ingest failed midway; what it committed before stays in the job."""

    def __init__(self, job_id: int, documents: int, reason: str) -> None:
        self.job_id, self.documents, self.reason = job_id, documents, reason
        super().__init__(
            f"ingest stopped after {documents} documents: {reason}; job {job_id} failed with what was stored "
            "(fix the cause and run the same command again: stored documents and embeddings are reused)"
        )


class LaunchError(TollgateError):
    """A child process (the simulator, a worker, the web server) did not start or died."""


class DatabaseNotMigrated(TollgateError):
    """The database lacks tables or columns this version of tollgate needs (``project/schema.py``)."""

    def __init__(self, pending: int) -> None:
        self.pending = pending
        super().__init__(
            f"the database is not migrated ({pending} of tollgate's migrations not applied): "
            "run `uv run python manage.py migrate` first"
        )


class BrokerUnavailable(TollgateError):
    """The Celery broker did not answer a question about workers or queues in time."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the Celery broker did not answer: {reason}")


def expected() -> tuple[type[Exception], ...]:
    """What a face reports as a message instead of a traceback: the roots of the three rooms,
    and a setting Django or ours refuses.

    Imported here, not at the top: settings import the embedded launcher, whose errors are
    this tree's, and must not pay for importing the openai SDK.
    """
    from django.core.exceptions import ImproperlyConfigured

    from providers.errors import ProviderError
    from ratelimit.errors import RateLimitError

    return (TollgateError, ProviderError, RateLimitError, ImproperlyConfigured)
