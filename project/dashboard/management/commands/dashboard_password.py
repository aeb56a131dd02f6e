"""``manage.py dashboard_password USERNAME [--staff]``: give a user (an API user too) a password for the dashboard.

The password is read from standard input, so a script or a container can set it without a
terminal (``changepassword`` needs one)::

    printf '%s\\n' "$PASSWORD" | uv run python manage.py dashboard_password ada

At a terminal it is asked for twice, unseen. Django's password validators apply; a refused
password is one line and exit code 1, nothing changed.
"""

from __future__ import annotations

import getpass
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Set USERNAME's dashboard password, read from standard input (one line) or asked for at a terminal; "
        "the user is created if missing. --staff also lets it see every owner's work and /metrics."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--staff", action="store_true", help="make the user staff (sees everything, reads /metrics)")

    def handle(self, *args, username: str, staff: bool, **options) -> None:
        password = self._read()
        user, created = get_user_model().objects.get_or_create(username=username)
        try:
            validate_password(password, user)
        except ValidationError as exc:
            if created:
                user.delete()
            raise CommandError(" ".join(exc.messages)) from None
        user.set_password(password)
        user.is_staff = user.is_staff or staff
        user.save()
        role = "staff user" if user.is_staff else "user"
        self.stdout.write(f"{'created' if created else 'updated'} {role} {username!r}: it can log in to the dashboard")

    def _read(self) -> str:
        if not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = getpass.getpass("Password: ")
            if getpass.getpass("Password (again): ") != password:
                raise CommandError("the two passwords differ; nothing changed")
        if not password:
            raise CommandError("no password given on standard input; nothing changed")
        return password
