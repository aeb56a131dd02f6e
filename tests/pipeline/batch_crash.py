"""A batch driver that dies right after one remote step, before recording it (``test_batch_lane.py``).

Run as ``python batch_crash.py upload|create`` with the test's environment: it runs the real
driver once, lets the real upload (or create) reach the provider, then exits with 137 as a
worker killed with SIGKILL would, so the step's result is never recorded.
"""

from __future__ import annotations

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django.setup()

from project.embeddings.batches.driver import drive  # noqa: E402  (after django.setup)
from providers import batch as remote  # noqa: E402


def _then_die(step):
    def wrapper(*args, **kwargs):
        step(*args, **kwargs)
        sys.stdout.flush()
        os._exit(137)

    return wrapper


if __name__ == "__main__":
    name = sys.argv[1]
    setattr(remote, name, _then_die(getattr(remote, name)))
    drive()
    sys.exit(f"the driver never reached the {name} step")
