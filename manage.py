#!/usr/bin/env python
"""Django's command-line utility for tollgate (``uv run python manage.py ...``).

Commands that touch the database or the broker need the embedded services running when no
URLs are set; without them they stop at once with one line naming the command that starts them.
On a database without tollgate's tables (not migrated yet) they stop with one line saying to
run ``migrate`` (``project/schema.py``).
"""

import os
import sys

# Commands that need neither PostgreSQL nor Redis.
OFFLINE = {"check", "help", "makemigrations", "version", "diffsettings", "collectstatic", "--help", "-h", "--version"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    from django.core.management import execute_from_command_line

    if (sys.argv[1] if len(sys.argv) > 1 else "help") not in OFFLINE:
        from project import embedded

        try:
            embedded.require_configured()
        except embedded.ServicesStopped as exc:
            sys.exit(f"manage.py: {exc}")
    from django.db import ProgrammingError

    try:
        execute_from_command_line(sys.argv)
    except ProgrammingError as exc:
        from project.schema import not_migrated

        error = not_migrated(exc)
        if error is None:
            raise
        sys.exit(f"manage.py: {error}")


if __name__ == "__main__":
    main()
