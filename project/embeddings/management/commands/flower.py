"""``manage.py flower [--address A] [--port P]``: Flower, never beyond loopback without real credentials.

Flower shows every task's arguments and can stop workers. Beyond loopback it needs
``FLOWER_BASIC_AUTH=user:password`` (read by Flower from the environment, so the password is
never on a command line that ``ps`` shows), and .env.example's placeholder is refused. The
compose file and ``tollgate up`` both start Flower through this command.
"""

from __future__ import annotations

import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from project.deploy import flower_auth_problem

LOOPBACK = "127.0.0.1"


class Command(BaseCommand):
    help = "Run Flower (celery -A workers flower), refusing to listen beyond loopback without FLOWER_BASIC_AUTH."

    def add_arguments(self, parser):
        parser.add_argument("--address", default=None, help="default: TOLLGATE_FLOWER_ADDRESS, else 127.0.0.1")
        parser.add_argument("--port", type=int, default=5555)

    def handle(self, *args, address, port, **options):
        address = address or settings.TOLLGATE_FLOWER_ADDRESS or LOOPBACK
        problem = flower_auth_problem(settings.FLOWER_BASIC_AUTH, address=address)
        if problem:
            raise CommandError(problem)
        environment = dict(os.environ)
        if not settings.FLOWER_BASIC_AUTH:
            environment.pop("FLOWER_BASIC_AUTH", None)  # an empty value would still turn Flower's auth on
        command = [sys.executable, "-m", "celery", "-A", "workers", "flower", f"--address={address}", f"--port={port}"]
        sys.stdout.flush()
        os.execve(sys.executable, command, environment)
