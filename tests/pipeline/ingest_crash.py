"""An ingest whose process dies midway, after two batches committed (``test_streaming.py``).

Run as ``python ingest_crash.py JOB_ID`` with the test's environment: it streams 100 texts into
the job in batches of 40, and on the 101st exits with 137 as a process killed with SIGKILL
would, so nothing after it runs: no ``finally``, no ``ingest_end``, and PostgreSQL drops its
session.
"""

from __future__ import annotations

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django.setup()

from project.embeddings.ingest import documents as ingest  # noqa: E402  (after django.setup)
from project.embeddings.ingest.documents import TextInput  # noqa: E402
from project.embeddings.ingest.streaming import job_ingest  # noqa: E402
from project.embeddings.models import EmbeddingJob  # noqa: E402


def _texts_then_die():
    for i in range(100):
        yield TextInput(f"Killed text {i}: the ingest dies before its third batch commits.", source=f"killed-{i}")
    sys.stdout.flush()
    os._exit(137)


if __name__ == "__main__":
    ingest.BATCH_DOCUMENTS = 40
    job_ingest(job=EmbeddingJob.objects.get(pk=int(sys.argv[1])), texts=_texts_then_die())
    sys.exit("the ingest ended instead of dying")
