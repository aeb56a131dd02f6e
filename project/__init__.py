"""The tollgate Django project; importing it makes the Celery app the current one (Celery's recipe)."""

from workers.app import app as celery_app

__all__ = ["celery_app"]
