"""Celery workers: the app, the ``embed_group`` task, the producer and the provider clients."""

from .app import app

__all__ = ["app"]
