"""Who owns what: every document and job belongs to a user, who sees and steers its own.

A user sees only its own documents, jobs, failures and search results; another's object is
simply not there (a 404, never a 403 that would confirm it exists). Staff see everything, as
they do in the admin. Work started from the command line (``tollgate run``, ``manage.py
ingest``) belongs to the system user, ``TOLLGATE_SYSTEM_USER`` (default ``tollgate``), unless an
``--owner`` is given: get its token with ``manage.py api_token tollgate`` to watch it by API.

Example::

    jobs = visible(EmbeddingJob.objects.all(), viewer=request.user)
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Model, QuerySet

from project.errors import TollgateError

__all__ = ["OwnerNotFound", "Viewer", "owner_named", "sees_all", "system_owner", "system_owner_id", "visible"]

M = TypeVar("M", bound=Model)
# Who looks: a user (a token's or a login's), or None for the operator's own commands, which see all.
Viewer = AbstractBaseUser | AnonymousUser | None


class OwnerNotFound(TollgateError):
    """``--owner`` names no user."""

    field = "owner"

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(f"there is no user {username!r} (create one with `manage.py api_token {username}`)")


def system_owner() -> AbstractBaseUser:
    """The user that owns what the command line ingests; created, API-only, on first use."""
    user, created = get_user_model().objects.get_or_create(username=settings.TOLLGATE_SYSTEM_USER)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def system_owner_id() -> int:
    """The models' default owner: a row written without one belongs to the system user, never to nobody."""
    return system_owner().pk


def owner_named(username: str | None) -> AbstractBaseUser:
    """The user called ``username``, or the system user for None; raises :class:`OwnerNotFound`."""
    if not username:
        return system_owner()
    try:
        return get_user_model().objects.get(username=username)
    except get_user_model().DoesNotExist:
        raise OwnerNotFound(username) from None


def sees_all(viewer: Viewer) -> bool:
    """The operator (None) and active staff see every owner's objects."""
    return viewer is None or bool(getattr(viewer, "is_staff", False) and viewer.is_active)


def visibility_key(viewer: Viewer) -> Hashable:
    """What :func:`visible`'s narrowing depends on: equal keys, the same filter (for caching a compiled query)."""
    if sees_all(viewer):
        return "all"
    if viewer is None or not viewer.is_authenticated:
        return "none"
    return ("owner", viewer.pk)


def visible(queryset: QuerySet[M], *, viewer: Viewer, owner_path: str = "owner") -> QuerySet[M]:
    """``queryset`` narrowed to what ``viewer`` may see; ``owner_path`` leads from a row to its owner."""
    if sees_all(viewer):
        return queryset
    if viewer is None or not viewer.is_authenticated:
        return queryset.none()
    return queryset.filter(**{owner_path: viewer})
