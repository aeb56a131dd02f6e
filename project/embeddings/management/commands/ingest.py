"""``manage.py ingest PATH... [--collection NAME] [--owner USER] [--embed] [--dry-run]``: files to documents and chunks.

The documents belong to ``--owner`` (default: the system user, ``TOLLGATE_SYSTEM_USER``).
``--embed`` also makes a job over them whose groups are sent as each batch is stored, so
workers already running (``tollgate up``, ``celery -A workers worker``) embed while it ingests.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from project.embeddings.ingest import files_ingest
from project.embeddings.owners import OwnerNotFound, owner_named
from project.embeddings.services import job_create
from project.embeddings.sources import expand_paths
from project.embeddings.streaming import job_ingest
from project.errors import IngestStopped


class Command(BaseCommand):
    help = "Read files (directories recursively) into documents and token-bounded chunks."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--collection", default="default")
        parser.add_argument("--owner", default=None, help="the user the documents belong to (default: the system user)")
        parser.add_argument("--embed", action="store_true", help="also start a job that running workers embed as it goes")
        parser.add_argument("--dry-run", action="store_true", help="count tokens and estimate cost, store nothing")

    def handle(self, *args, paths, collection, dry_run, embed, owner, **options):
        try:
            owner = owner_named(owner)
        except OwnerNotFound as exc:
            raise CommandError(str(exc)) from exc
        files = list(expand_paths(paths))
        bar = tqdm(files, unit="file", disable=not files or options["verbosity"] == 0)  # advances as files are read
        job = job_create(documents=[], owner=owner, ingesting=True) if embed and not dry_run else None
        try:
            if job is not None:
                report = job_ingest(job=job, paths=bar, collection=collection, owner=owner)
            else:
                report = files_ingest(paths=bar, collection=collection, dry_run=dry_run, owner=owner)
        except IngestStopped as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        verb = "would store" if dry_run else "stored"
        self.stdout.write(
            f"{verb} {report.created} documents ({report.duplicates} already known), "
            f"{report.chunks} chunks, {report.tokens} tokens; {len(report.errors)} files could not be read"
        )
        if job is not None:
            job.refresh_from_db()
            self.stdout.write(
                f"job {job.pk}: {job.total_chunks} chunks in {job.total_groups} groups, sent as they were stored "
                f"({job.status}); running workers embed them: uv run celery -A workers worker"
            )
        if dry_run:
            for name, value in report.estimate().as_dict().items():
                self.stdout.write(f"{name:>18}  {value}")
