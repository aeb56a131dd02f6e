"""``manage.py ingest PATH... [--collection NAME] [--owner USER] [--embed [--lane L]] [--dry-run]``: files to documents and chunks.

The documents belong to ``--owner`` (default: the system user, ``TOLLGATE_SYSTEM_USER``).
``--embed`` also makes a job over them whose groups are sent as each batch is stored, so
workers already running (``tollgate up``, ``celery -A workers worker``) embed while it ingests;
``--lane batch`` sends them through the Batch API instead (beat polls it: ``tollgate up``).
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from project.embeddings.batches.lane import lane_choose
from project.embeddings.ingest.documents import files_ingest
from project.embeddings.ingest.files import expand_paths, tokens_guess
from project.embeddings.ingest.streaming import job_ingest
from project.embeddings.jobs.lifecycle import job_create
from project.embeddings.owners import OwnerNotFound, owner_named
from project.errors import IngestStopped


class Command(BaseCommand):
    help = "Read files (directories recursively) into documents and token-bounded chunks."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--collection", default="default")
        parser.add_argument("--owner", default=None, help="the user the documents belong to (default: the system user)")
        parser.add_argument("--embed", action="store_true", help="also start a job that running workers embed as it goes")
        parser.add_argument("--dry-run", action="store_true", help="count tokens and estimate cost, store nothing")
        parser.add_argument("--lane", choices=["sync", "batch", "auto"], default="sync",
                            help="with --embed: the sync lane, the Batch API, or auto (batch for a large job)")

    def handle(self, *args, paths, collection, dry_run, embed, owner, lane, **options):
        try:
            owner = owner_named(owner)
        except OwnerNotFound as exc:
            raise CommandError(str(exc)) from exc
        files = list(expand_paths(paths))
        bar = tqdm(files, unit="file", disable=not files or options["verbosity"] == 0)  # advances as files are read
        job = None
        if embed and not dry_run:
            guess = tokens_guess(paths)
            lane = lane_choose(lane, tokens=guess)
            job = job_create(documents=[], owner=owner, ingesting=True, lane=lane, expected_tokens=guess)
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
            where = "running workers embed them: uv run celery -A workers worker"
            if job.lane == "batch":
                where = "they go to the Batch API in batches that beat follows: uv run tollgate up"
            self.stdout.write(
                f"job {job.pk} ({job.lane} lane): {job.total_chunks} chunks in {job.total_groups} groups, "
                f"sent as they were stored ({job.status}); {where}"
            )
        if dry_run:
            for name, value in report.estimate().as_dict().items():
                self.stdout.write(f"{name:>18}  {value}")
