"""Making and removing sources: the rows that describe them, their capture, their SQL face.

A source is made in one transaction with its triggers and its first version, so no write to
the table between the two is missed; that version's backfill reads every row that exists by
then (``drain.py``). Removing one drops its triggers, its view and every vector it made, and
leaves the user's table as it was.

Example::

    source = source_add(name="articles", table="articles", text_columns=["title", "body"])
    source_remove(name="articles")
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from project.embeddings.models import Source, SourceChange, SourceState, SourceVersion
from project.embeddings.owners import Viewer, system_owner, visible
from project.embeddings.sources.capture import capture_drop, capture_install
from project.embeddings.sources.errors import SourceError, SourceNotFound
from project.embeddings.sources.purge import version_purge
from project.embeddings.sources.tables import table_describe
from project.embeddings.sources.versions import dimensions_storable
from project.embeddings.sources.view import views_drop, views_refresh
from project.embeddings.sources.wake import follow_soon
from providers import encoding_for_model

__all__ = ["source_add", "source_named", "source_remove", "sources_visible"]

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")  # it names a view and a function, unquoted


def source_add(
    *,
    name: str,
    table: str,
    text_columns: Sequence[str],
    id_column: str | None = None,
    model: str | None = None,
    dimensions: int | None = None,
    owner: AbstractBaseUser | None = None,
    replace: bool = False,
) -> Source:
    """Keep ``table`` embedded as source ``name``: its text is ``text_columns`` joined (NULLs skipped).

    ``id_column`` defaults to the primary key. The first version embeds with ``model`` and
    ``dimensions`` (default: ``TOLLGATE_MODEL`` and ``TOLLGATE_DIMENSIONS``). ``replace`` changes an
    existing source's table or columns: its capture is made again and every row is read again
    (a row whose text is unchanged costs nothing).
    """
    if not NAME.match(name):
        raise SourceError(f"a source's name is lowercase letters, digits and _, starting with a letter: not {name!r}")
    described = table_describe(table, text_columns, id_column)
    existing = Source.objects.filter(name=name).first()
    if existing is not None and not replace:
        raise SourceError(f"there is already a source {name!r} (of {existing.schema}.{existing.table}): add --replace")
    with transaction.atomic():
        fields = {
            "schema": described.schema,
            "table": described.name,
            "id_column": described.id_column,
            "id_type": described.id_type,
            "text_columns": list(described.text_columns),
            "capture_error": "",
        }
        if existing is not None:
            Source.objects.filter(pk=existing.pk).update(**fields)
            source = Source.objects.get(pk=existing.pk)
            # every row is read again: their texts may be made of other columns now
            SourceVersion.objects.filter(source=source).update(backfill_after=None, backfilled_at=None)
        else:
            model = model or settings.TOLLGATE_MODEL
            encoding_for_model(model)  # an unknown model is one line now
            dimensions = dimensions or settings.TOLLGATE_DIMENSIONS
            dimensions_storable(dimensions)
            source = Source.objects.create(name=name, owner=owner or system_owner(), **fields)
            SourceVersion.objects.create(
                source=source, number=1, model=model, dimensions=dimensions, state=SourceState.CURRENT,
                current_at=timezone.now(),
            )  # fmt: skip
        capture_install(source)
        views_refresh(source, force=True)
        transaction.on_commit(follow_soon)
    return source


def source_named(name: str, *, viewer: Viewer = None) -> Source:
    """The source called ``name``, if ``viewer`` may see it (None: the operator); else :class:`SourceNotFound`."""
    try:
        return visible(Source.objects.all(), viewer=viewer).get(name=name)
    except Source.DoesNotExist:
        raise SourceNotFound(name) from None


def sources_visible(*, viewer: Viewer = None) -> list[Source]:
    return list(visible(Source.objects.all(), viewer=viewer).order_by("name"))


def source_remove(*, name: str) -> None:
    """Drop the source's triggers, view and vectors, with its queue; the user's table is untouched."""
    source = source_named(name)
    with transaction.atomic():
        capture_drop(source)
        views_drop(source)
        for version in SourceVersion.objects.filter(source=source):
            version_purge(version)
        SourceChange.objects.filter(source_id=source.pk).delete()
        source.delete()
