"""Sources asked for by other programs (``register.py``), made by tollgate's workers within a poll.

Each registration not yet applied becomes a source as ``tollgate sources add`` makes one (its
capture, its view, its first version, whose backfill reads every row written before); one whose
table or columns changed replaces the source's capture and reads every row again. A
registration that cannot be applied keeps its error, and is tried again once changed.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from project.embeddings.models import Source, SourceRegistration
from project.embeddings.sources.registry import source_add
from project.errors import expected

__all__ = ["registrations_apply"]


def registrations_apply() -> list[str]:
    """Make or change the sources registered since they were last applied; returns their names."""
    applied = []
    for registration in SourceRegistration.objects.filter(applied_at__isnull=True, error="").order_by("pk"):
        try:
            with transaction.atomic():
                source_add(
                    name=registration.name,
                    table=registration.table,
                    text_columns=registration.text_columns,
                    id_column=registration.id_column or None,
                    model=registration.model or None,
                    replace=Source.objects.filter(name=registration.name).exists(),
                )
                SourceRegistration.objects.filter(pk=registration.pk).update(applied_at=timezone.now())
            applied.append(registration.name)
        except expected() as exc:  # a table or column missing, an unknown model: the registration says why
            SourceRegistration.objects.filter(pk=registration.pk).update(error=str(exc))
    return applied
