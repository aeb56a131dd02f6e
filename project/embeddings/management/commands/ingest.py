"""``manage.py ingest PATH... [--collection NAME] [--owner USER] [--dry-run]``: files to documents and chunks.

The documents belong to ``--owner`` (default: the system user, ``TOLLGATE_SYSTEM_USER``).
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from project.embeddings.ingest import files_ingest
from project.embeddings.owners import OwnerNotFound, owner_named
from project.embeddings.sources import expand_paths


class Command(BaseCommand):
    help = "Read files (directories recursively) into documents and token-bounded chunks."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--collection", default="default")
        parser.add_argument("--owner", default=None, help="the user the documents belong to (default: the system user)")
        parser.add_argument("--dry-run", action="store_true", help="count tokens and estimate cost, store nothing")

    def handle(self, *args, paths, collection, dry_run, owner, **options):
        try:
            owner = owner_named(owner)
        except OwnerNotFound as exc:
            raise CommandError(str(exc)) from exc
        files = list(expand_paths(paths))
        bar = tqdm(files, unit="file", disable=not files or options["verbosity"] == 0)  # advances as files are read
        report = files_ingest(paths=bar, collection=collection, dry_run=dry_run, owner=owner)
        bar.close()
        verb = "would store" if dry_run else "stored"
        self.stdout.write(
            f"{verb} {report.created} documents ({report.duplicates} already known), "
            f"{report.chunks} chunks, {report.tokens} tokens; {len(report.errors)} files could not be read"
        )
        if dry_run:
            for name, value in report.estimate().as_dict().items():
                self.stdout.write(f"{name:>18}  {value}")
