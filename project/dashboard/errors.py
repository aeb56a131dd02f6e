"""The dashboard's one mapping of the rooms' errors: what a person reads in place of a traceback."""

from __future__ import annotations

from project.errors import expected
from providers import ConfigurationError

__all__ = ["expected", "user_message"]


def user_message(exc: Exception) -> str:
    """One sentence for the page: the error's own message, which names what to fix."""
    if isinstance(exc, ConfigurationError):
        return f"No embedding provider is configured: {exc}"
    return str(exc)
