"""Registers the models ``settings.TOLLGATE_SOURCES`` names, after each migrate (``post_migrate``)."""

from __future__ import annotations

from django.apps import AppConfig, apps
from django.conf import settings
from django.db.models.signals import post_migrate

from project.embeddings.sources.register import register_model

__all__ = ["SourcesConfig", "register_from_settings"]


def register_from_settings(using: str = "default", **_: object) -> list[str]:
    """Register every model of ``settings.TOLLGATE_SOURCES``; returns the sources' names."""
    names = []
    for name, spec in getattr(settings, "TOLLGATE_SOURCES", {}).items():
        model = apps.get_model(spec["model"])
        names.append(
            register_model(
                model,
                fields=spec["fields"],
                name=name,
                id_field=spec.get("id_field"),
                embedding_model=spec.get("embedding_model", ""),
                using=using,
            )  # fmt: skip
        )
    return names


class SourcesConfig(AppConfig):
    name = "project.embeddings.sources.contrib"
    label = "tollgate_sources"
    verbose_name = "tollgate sources"

    def ready(self) -> None:
        post_migrate.connect(register_from_settings, sender=self, dispatch_uid="tollgate_sources_register")
