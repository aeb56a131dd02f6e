"""``manage.py search "text" [-k 5] [--threshold 0.8] [--collection NAME]``: nearest chunks, best first."""

from django.core.management.base import BaseCommand, CommandError

from project.embeddings.owners import owner_named
from project.embeddings.search.query import search
from project.errors import expected
from project.schema import require_migrated


class Command(BaseCommand):
    help = "Embed the query through the shared limit and print the most similar chunks (cosine, pgvector)."

    def add_arguments(self, parser):
        parser.add_argument("query")
        parser.add_argument("-k", type=int, default=5, help="how many results (default 5)")
        parser.add_argument("--threshold", type=float, default=None, help="minimum similarity, 0..1")
        parser.add_argument("--collection", default=None)
        parser.add_argument("--owner", default=None, help="search only this user's documents (default: everyone's)")

    def handle(self, *args, query, k, threshold, collection, owner, **options):
        try:
            require_migrated()  # before the query's embedding is paid for
            viewer = owner_named(owner) if owner else None
            hits = search(query, viewer=viewer, k=k, threshold=threshold, collection=collection)
        except expected() as exc:
            raise CommandError(str(exc)) from exc
        if not hits:
            self.stdout.write("no results")
        for hit in hits:
            preview = " ".join(hit.chunk.text.split())[:100]
            self.stdout.write(f"{hit.similarity:.4f}  {hit.chunk.document.source}#{hit.chunk.seq}  {preview}")
