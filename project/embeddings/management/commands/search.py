"""``manage.py search "text" [-k 5] [--threshold 0.8] [--collection NAME | --source NAME] [--json]``: nearest first.

With ``--source``, the rows of a table kept embedded (``tollgate sources``): each hit is a row's id.
"""

from json import dumps

from django.core.management.base import BaseCommand, CommandError

from project.embeddings.owners import owner_named
from project.embeddings.search.query import search
from project.embeddings.sources.registry import source_named
from project.embeddings.sources.search import source_search
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
        parser.add_argument("--source", default=None, help="a source's name: its rows (ids) nearest the query")
        parser.add_argument("--json", action="store_true", help="print the hits as one JSON list")

    def handle(self, *args, query, k, threshold, collection, owner, source, json, **options):
        try:
            require_migrated()  # before the query's embedding is paid for
            viewer = owner_named(owner) if owner else None
            if source:
                return self._rows(
                    source_search(query, source=source_named(source), viewer=viewer, k=k, threshold=threshold), json
                )
            hits = search(query, viewer=viewer, k=k, threshold=threshold, collection=collection)
        except expected() as exc:
            raise CommandError(str(exc)) from exc
        if json:
            self.stdout.write(dumps([_hit(hit) for hit in hits]))
            return
        if not hits:
            self.stdout.write("no results")
        for hit in hits:
            preview = " ".join(hit.chunk.text.split())[:100]
            self.stdout.write(f"{hit.similarity:.4f}  {hit.chunk.document.source}#{hit.chunk.seq}  {preview}")

    def _rows(self, hits, as_json: bool) -> None:
        if as_json:
            self.stdout.write(
                dumps([{"id": hit.id, "similarity": hit.similarity, **_chunk(hit.chunk)} for hit in hits])
            )
            return
        if not hits:
            self.stdout.write("no results")
        for hit in hits:
            preview = " ".join(hit.chunk.text.split())[:100]
            self.stdout.write(f"{hit.similarity:.4f}  id {hit.id}  #{hit.chunk.seq}  {preview}")


def _chunk(chunk) -> dict:
    return {"chunk": chunk.pk, "seq": chunk.seq, "text": chunk.text}


def _hit(hit) -> dict:
    document = hit.chunk.document
    return {"similarity": hit.similarity, "document": document.pk, "source": document.source, **_chunk(hit.chunk)}
