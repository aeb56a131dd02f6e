"""``tollgate sources …``: your tables, kept embedded (add, list, status, sync, migrate, drop-version, remove).

Each subcommand is a few lines over ``project/embeddings/sources/``; errors are mapped by
``project/cli.py:main`` (one line, exit code 2). ``sync`` and ``migrate`` start what is missing
like ``tollgate run`` (``sources_run.py``); the others need the services running.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

__all__ = ["add_sources_parser"]


def add_sources_parser(commands: argparse._SubParsersAction, django: Callable) -> None:
    """Register ``tollgate sources`` and its subcommands; ``django`` is the CLI's context (services, setup)."""
    sources = commands.add_parser("sources", help="your tables, kept embedded: add, list, status, sync, migrate, …")
    actions = sources.add_subparsers(dest="action", required=True)

    add = actions.add_parser("add", help="keep a table (in tollgate's database) embedded")
    add.add_argument("name", help="the source's name: lowercase letters, digits and _")
    add.add_argument("--table", required=True, help="the table ([schema.]name)")
    add.add_argument("--text", required=True, metavar="COL[,COL...]", help="columns whose values make the text")
    add.add_argument("--id", dest="id_column", default=None, help="the id column (default: the primary key)")
    add.add_argument("--model", default=None, help="embedding model (default: TOLLGATE_MODEL)")
    add.add_argument("--dimensions", type=int, default=None, help="vector size (default: TOLLGATE_DIMENSIONS)")
    add.add_argument("--owner", default=None, help="the user its rows belong to (default: the system user)")
    add.add_argument("--replace", action="store_true", help="change an existing source's table or columns")
    add.add_argument(
        "--database-url", default=None,
        help="another PostgreSQL: not supported (the capture must share the writer's transaction; docs/OPERATIONS.md)",
    )  # fmt: skip
    add.set_defaults(handler=lambda args: _add(args, django))

    listing = actions.add_parser("list", help="the sources and their current versions")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=lambda args: _list(args, django))

    status = actions.add_parser("status", help="rows, embedded, pending, lag and versions")
    status.add_argument("name", nargs="?", default=None, help="one source (default: every source)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=lambda args: _status(args, django))

    sync = actions.add_parser("sync", help="embed what is pending (a backfill the first time) and exit when caught up")
    sync.add_argument("name")
    _run_arguments(sync)
    sync.set_defaults(handler=lambda args: _sync(args, django))

    migrate = actions.add_parser("migrate", help="embed a new version with another model beside the current one")
    migrate.add_argument("name")
    migrate.add_argument("--model", default=None, help="the new version's model")
    migrate.add_argument("--dimensions", type=int, default=None, help="its vector size (default: TOLLGATE_DIMENSIONS)")
    migrate.add_argument(
        "--lane", choices=["sync", "batch"], default="sync", help="the backfill's lane (batch: half price)"
    )
    migrate.add_argument("--dry-run", action="store_true", help="tokens, time at the limits and cost (both lanes) only")
    migrate.add_argument("--hold", action="store_true", help="once complete, wait for `migrate NAME --cutover`")
    migrate.add_argument("--cutover", action="store_true", help="make the complete new version (or --to) current now")
    migrate.add_argument(
        "--to", type=int, default=None, metavar="VERSION", help="with --cutover: the version (a rollback)"
    )
    _run_arguments(migrate)
    migrate.set_defaults(handler=lambda args: _migrate(args, django))

    drop = actions.add_parser("drop-version", help="delete a version that is not current (its vectors)")
    drop.add_argument("name")
    drop.add_argument("version", type=int)
    drop.set_defaults(handler=lambda args: _drop(args, django))

    remove = actions.add_parser("remove", help="drop the source's triggers, view and vectors (the table is untouched)")
    remove.add_argument("name")
    remove.set_defaults(handler=lambda args: _remove(args, django))


def _run_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--workers", type=int, default=4, help="worker processes to start (default 4)")
    command.add_argument("--concurrency", type=int, default=None, help="threads per worker (default 2)")
    command.add_argument("--json", action="store_true", help="print one JSON summary object last")


def _add(args: argparse.Namespace, django: Callable) -> int:
    if args.database_url:
        from project.embeddings.sources.errors import SourceError

        raise SourceError(
            "a source must be a table of tollgate's own database: its triggers write the change queue in the "
            "writer's transaction, which another database cannot share (docs/OPERATIONS.md, 'Sources')"
        )
    with django(start_services=False):
        from project.embeddings.owners import owner_named
        from project.embeddings.sources.registry import source_add

        source = source_add(
            name=args.name, table=args.table, text_columns=[c.strip() for c in args.text.split(",") if c.strip()],
            id_column=args.id_column, model=args.model, dimensions=args.dimensions, owner=owner_named(args.owner),
            replace=args.replace,
        )  # fmt: skip
        version = source.versions.order_by("-number").first()
        print(
            f"source {source.name}: {source.schema}.{source.table} (id {source.id_column}; text "
            f"{', '.join(source.text_columns)}), {version.model} at {version.dimensions} dimensions; changes are "
            f"captured from now on. `tollgate sources sync {source.name}` embeds it (workers follow it too)."
        )
    return 0


def _list(args: argparse.Namespace, django: Callable) -> int:
    with django(start_services=False):
        from project.embeddings.sources.registry import sources_visible

        rows = [
            {
                "name": source.name,
                "table": f"{source.schema}.{source.table}",
                "id": source.id_column,
                "text": list(source.text_columns),
                "versions": [
                    {"number": v.number, "model": v.model, "dimensions": v.dimensions, "state": v.state}
                    for v in source.versions.order_by("number")
                ],
            }
            for source in sources_visible()
        ]
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print("no sources (`tollgate sources add NAME --table TABLE --text COL` makes one)")
    for row in rows:
        versions = ", ".join(f"v{v['number']} {v['model']} ({v['state']})" for v in row["versions"])
        print(f"{row['name']:<20} {row['table']} ({row['id']}; {', '.join(row['text'])})  {versions}")
    return 0


def _status(args: argparse.Namespace, django: Callable) -> int:
    with django(start_services=False):
        from project.embeddings.sources.registry import source_named, sources_visible
        from project.embeddings.sources.status import source_status

        sources = [source_named(args.name)] if args.name else sources_visible()
        states = [source_status(source) for source in sources]
    if args.json:
        data = [state.as_dict() for state in states]
        print(json.dumps(data[0] if args.name else data, default=str))
        return 0
    for state in states:
        _show(state)
    return 0


def _show(state) -> None:
    from project.monitoring.humane import count, duration

    print(
        f"{state.name}: {state.table} (id column {state.id_column}; text {', '.join(state.text_columns)}), owner {state.owner}"
    )
    print(
        f"  rows {count(state.rows)}   embedded {count(state.embedded)}   pending {count(state.pending)}   "
        f"failed {count(state.failed)}   lag {duration(state.lag_seconds)}"
    )
    for version in state.versions:
        extra = "" if version.backfilled else f", backfill read {count(version.rows)} rows so far"
        ready = " (complete: held for --cutover)" if version.hold and version.complete else ""
        print(
            f"  v{version.number} {version.model} {version.dimensions}d  {version.state}{ready}  "
            f"embedded {count(version.embedded)} of {count(version.rows + version.unread)} "
            f"({version.progress:.0%}){extra}"
        )
    print(f"  SQL: view {state.view}, nearest rows {state.nearest}(query vector, k)")
    if state.capture_error:
        print(f"  capture: {state.capture_error} (`tollgate sources add {state.name} --replace …` follows the change)")


def _sync(args: argparse.Namespace, django: Callable) -> int:
    with django(start_services=True):
        from project.embeddings.sources.registry import source_named
        from project.sources_run import sync

        source = source_named(args.name)
        say = (lambda line: print(line, file=sys.stderr)) if args.json else print
        summary = sync(source, options=_options(args), say=say)
        return _report(summary, args)


def _options(args: argparse.Namespace):
    from project.sources_run import SyncOptions

    return SyncOptions(workers=args.workers, concurrency=args.concurrency, progress=not args.json)


def _report(summary, args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(summary.as_dict(), default=str))
    else:
        for name, value in summary.as_dict().items():
            if name != "versions":
                print(f"{name:>18}  {value}")
    return 0 if summary.status == "caught up" else 1


def _migrate(args: argparse.Namespace, django: Callable) -> int:
    from project.embeddings.sources.errors import SourceError

    if not args.cutover and not args.model:
        raise SourceError("name the new version's model with --model (or cut over with --cutover)")
    if args.cutover or args.dry_run:
        with django(start_services=False):
            return _cutover(args) if args.cutover else _estimate(args)
    with django(start_services=True):
        from project.embeddings.sources.registry import source_named
        from project.embeddings.sources.versions import version_create
        from project.sources_run import sync

        source = source_named(args.name)
        version = version_create(source, model=args.model, dimensions=args.dimensions, lane=args.lane, hold=args.hold)
        say = (lambda line: print(line, file=sys.stderr)) if args.json else print
        say(
            f"{source.name} v{version.number}: {version.model} at {version.dimensions} dimensions, on the {version.lane} lane"
        )
        return _report(sync(source, options=_options(args), say=say), args)


def _cutover(args: argparse.Namespace) -> int:
    from project.embeddings.sources.registry import source_named
    from project.embeddings.sources.versions import version_cutover

    source = source_named(args.name)
    version = version_cutover(source, number=args.to)
    print(f"{source.name}: v{version.number} ({version.model}) is current; searches read it now")
    return 0


def _estimate(args: argparse.Namespace) -> int:
    from django.conf import settings

    from project.embeddings.sources.estimate import migration_estimate
    from project.embeddings.sources.registry import source_named

    source = source_named(args.name)
    estimate = migration_estimate(source, model=args.model, dimensions=args.dimensions or settings.TOLLGATE_DIMENSIONS)
    if args.json:
        print(json.dumps(estimate.as_dict()))
    else:
        for name, value in estimate.as_dict().items():
            print(f"{name:>18}  {value}")
    return 0


def _drop(args: argparse.Namespace, django: Callable) -> int:
    with django(start_services=False):
        from project.embeddings.sources.registry import source_named
        from project.embeddings.sources.versions import version_drop

        source = source_named(args.name)
        deleted = version_drop(source, number=args.version)
    print(f"{args.name}: v{args.version} dropped ({deleted} documents with their vectors)")
    return 0


def _remove(args: argparse.Namespace, django: Callable) -> int:
    with django(start_services=False):
        from project.embeddings.sources.registry import source_remove

        source_remove(name=args.name)
    print(f"source {args.name} removed: its triggers, view and vectors are gone; the table is as it was")
    return 0
