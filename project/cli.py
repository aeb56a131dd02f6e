"""The ``tollgate`` command: one entry point for the user's contract in ARCHITECTURE.md.

Each subcommand is a few lines that call services. An expected failure (``project.errors``'
tree and the two rooms below it) is one line on stderr and exit code 2, never a traceback:
:func:`main` is the one place the CLI maps errors.

The commands that do the main job (``demo``, ``run``, ``up``) start the embedded services they
need and stop again what they started; the others need them running already.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.db import ProgrammingError

from project import embedded
from project.errors import PathNotFound, expected
from project.sources_cli import add_sources_parser
from providers import prime_tiktoken_cache


def _masked(url: str) -> str:
    """A URL fit to print: the password (kept under TOLLGATE_HOME, owner-only) is not shown."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    user = f"{parts.username}:" if parts.username else ":"
    return urlunsplit(parts._replace(netloc=f"{user}***@{parts.hostname}:{parts.port}"))


def _services(args: argparse.Namespace) -> int:
    home = embedded.home_dir()
    if args.action == "start":
        embedded.ensure_running(home)
        if "DATABASE_URL" not in os.environ:  # the embedded database is the one in use: ready for every command
            with _django(start_services=False):
                from django.core.management import call_command

                call_command("migrate", verbosity=0)
        urls = embedded.urls(home)
        print(f"PostgreSQL  {_masked(urls.database_url)}")
        print(f"Redis       {_masked(urls.redis_url)}")
        print(f"data under  {home}")
        return 0
    if args.action == "stop":
        embedded.stop(home)
        print(f"stopped the embedded services under {home}")
        return 0
    postgres, redis = embedded.status(home)
    pg_state = f"up at {_masked(postgres.url)} (pid {postgres.pid})" if postgres.running else "down"
    vector = f", pgvector {postgres.vector_version}" if postgres.vector_version else ""
    print(f"PostgreSQL {postgres.version}{vector}: {pg_state}   data {postgres.data_dir}")
    rd_state = f"up at {_masked(redis.url)} (pid {redis.pid})" if redis.running else "down"
    print(f"Redis {redis.version}: {rd_state}   data {redis.data_dir}")
    return 0 if postgres.running and redis.running else 3


# The demo's rehearsal when it runs on the simulator: a 60k-TPM account at ten times speed, so
# the shared limit is visibly what paces the run (about 25 s for the stdlib corpus).
DEMO_REHEARSAL = {"TOLLGATE_RPM": "600", "TOLLGATE_TPM": "60000", "TOLLGATE_WINDOW_SECONDS": "6"}
PROVIDER_VARIABLES = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT")


@contextmanager
def _django(*, start_services: bool) -> Iterator[None]:
    """Django set up, with the embedded services this process relies on running (started, if asked)."""
    home = embedded.home_dir()
    wanted = {"postgres": "DATABASE_URL" not in os.environ, "redis": "REDIS_URL" not in os.environ}
    with ExitStack() as stack:
        if start_services:
            stack.enter_context(embedded.started(home, **wanted))
        else:
            embedded.require_running(home, **wanted)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
        import django

        django.setup()
        yield


def _run_options(args: argparse.Namespace):
    from project.pipeline import RunOptions

    return RunOptions(
        workers=args.workers,
        concurrency=args.concurrency,
        collection=args.collection,
        long_input_policy=args.long_input_policy,
        whole_documents=args.whole_documents,
        dry_run=args.dry_run,
        progress=not args.json,
        owner=args.owner,
        lane=args.lane,
        deadline_hours=args.deadline_hours,
    )


def _report(result, args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(result.as_dict()))
    else:
        for name, value in result.as_dict().items():
            print(f"{name:>18}  {value}")
    return 0 if getattr(result, "status", "completed") == "completed" else 1


def _run(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths]
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        raise PathNotFound(missing[0])
    with _django(start_services=True):
        from project.pipeline import run

        say = (lambda line: print(line, file=sys.stderr)) if args.json else print
        return _report(run(paths, options=_run_options(args), say=say), args)


def _demo(args: argparse.Namespace) -> int:
    if not any(os.environ.get(name) for name in PROVIDER_VARIABLES):
        for name, value in DEMO_REHEARSAL.items():
            os.environ.setdefault(name, value)
    with _django(start_services=True):
        from project.demo_corpus import stdlib_docstrings
        from project.pipeline import run

        say = (lambda line: print(line, file=sys.stderr)) if args.json else print
        texts = list(stdlib_docstrings(args.modules))
        say(f"demo corpus: docstrings of {len(texts)} Python standard library modules")
        out = sys.stderr if args.json else sys.stdout

        def then(job) -> None:
            _sample_search(job, say)
            _sample_ask(job, say, out)

        result = run(texts=texts, options=_run_options(args), say=say, then=then)
        return _report(result, args)


def _sample_search(job, say) -> None:
    from project.demo_corpus import SAMPLE_QUERY
    from project.embeddings.search.query import search

    say(f"\nsample search: {SAMPLE_QUERY!r}")
    for hit in search(SAMPLE_QUERY, viewer=job.owner, k=3, model=job.model):
        say(f"  {hit.similarity:.3f}  {hit.chunk.document.source}  {hit.chunk.text[:70]!r}")


def _sample_ask(job, say, out) -> None:
    from project.ask.answer import ask_start
    from project.demo_corpus import SAMPLE_QUERY

    say(f"\nsample ask: {SAMPLE_QUERY!r}")
    _answer_print(ask_start(SAMPLE_QUERY, owner=job.owner), say=say, out=out)


def _answer_print(asking, *, say, out) -> dict:
    """The answer as it arrives (on ``out``), then its numbered sources and cost (through ``say``)."""
    for piece in asking:
        print(piece, end="", file=out, flush=True)
    print(file=out)
    result = asking.result()
    if not result.asked:
        say(result.answer)
    for source in result.sources:
        mark = "cited" if source["cited"] else "not cited"
        say(f"  [{source['n']}] {source['source']}  (chunk {source['chunk']}, similarity {source['similarity']:.3f}, {mark})")
    if result.not_used:
        say(f"  not used: {len(result.not_used)} ({'; '.join(sorted({u['reason'] for u in result.not_used}))})")
    usage = result.usage
    say(f"  {result.model}: {usage['prompt_tokens']:,} prompt + {usage['completion_tokens']:,} answer tokens, "
        f"${result.cost_usd:.6f}")  # fmt: skip
    return result.as_dict()


def _ask(args: argparse.Namespace) -> int:
    with _django(start_services=True), ExitStack() as stack:
        from django.core.management import call_command

        from project.ask.answer import ask_start
        from project.embeddings.owners import owner_named
        from project.pipeline import simulated_provider
        from project.provider import is_configured

        say = (lambda line: print(line, file=sys.stderr)) if args.json else print
        call_command("migrate", verbosity=0)
        if not is_configured():
            say(f"no OPENAI_API_KEY or OPENAI_BASE_URL: using the built-in simulator at {stack.enter_context(simulated_provider())}")
        asking = ask_start(args.question, owner=owner_named(args.owner), collection=args.collection, k=args.k,
                           model=args.model)  # fmt: skip
        result = _answer_print(asking, say=say, out=sys.stderr if args.json else sys.stdout)
        if args.json:
            print(json.dumps(result))
    return 0


def _resume(args: argparse.Namespace) -> int:
    with _django(start_services=False):
        from project.embeddings.jobs.lifecycle import job_resume

        plan = job_resume(job_id=args.job, retry_failed=args.retry_failed)
    print(
        f"job {args.job}: re-enqueued {plan.chunks} chunks in {len(plan.groups)} groups "
        "(running workers pick them up: uv run celery -A workers worker)"
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    from project.running import adopt

    adopt(embedded.home_dir())  # the simulator a running `tollgate up` of this home started, if any
    with _django(start_services=False):
        from project.monitoring.status import status_snapshot
        from project.monitoring.terminal import WATCH_SECONDS, show, watch

        if args.json:
            while True:  # --watch --json: one JSON object per line, for scripts that follow along
                print(json.dumps(status_snapshot()), flush=True)
                if not args.watch:
                    return 0
                time.sleep(WATCH_SECONDS)
        if args.watch:
            watch()
        else:
            show()
    return 0


def _up(args: argparse.Namespace) -> int:
    with _django(start_services=True):
        from project.up import UpOptions, up

        options = UpOptions(
            address=args.address,
            port=args.port,
            flower_port=args.flower_port,
            workers=args.workers,
            concurrency=args.concurrency,
            flower=not args.no_flower,
            beat=not args.no_beat,
        )
        return up(options)


def _simulate(args: argparse.Namespace) -> int:
    prime_tiktoken_cache()
    os.execv(sys.executable, [sys.executable, "-m", "simulator", *args.extra])
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tollgate",
        description="Embed text with the OpenAI API into PostgreSQL/pgvector under one shared rate limit.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    services = commands.add_parser("services", help="start, inspect or stop the embedded PostgreSQL and Redis")
    services.add_argument("action", choices=["start", "status", "stop"])
    services.set_defaults(handler=_services)

    main_jobs = {
        "run": "ingest files and embed them, then print a summary",
        "demo": "the whole job on a bundled corpus, on embedded services",
    }
    for name, help_text in main_jobs.items():
        command = commands.add_parser(name, help=help_text)
        if name == "run":
            command.add_argument("paths", nargs="+", metavar="PATH", help="files or directories to embed")
            command.set_defaults(handler=_run)
        else:
            command.add_argument("--modules", type=int, default=300, help="how many stdlib modules (default 300)")
            command.set_defaults(handler=_demo)
        command.add_argument("--workers", type=int, default=4, help="worker processes to start (default 4)")
        command.add_argument("--concurrency", type=int, default=None, help="threads per worker (default 2)")
        command.add_argument("--collection", default="default")
        command.add_argument("--owner", default=None, help="the user the documents and job belong to (default: the system user)")
        command.add_argument("--long-input-policy", choices=["split", "truncate", "average"], default="split")
        command.add_argument("--whole-documents", action="store_true", help="embed each document as one input")
        command.add_argument("--dry-run", action="store_true", help="estimate tokens, requests, time and cost (both lanes) only")
        command.add_argument(
            "--lane", choices=["sync", "batch", "auto"], default="sync",
            help="sync: under the shared limit now; batch: the Batch API, half price, within 24 h; "
            "auto: batch for a large job unless --deadline is shorter (default sync)",
        )  # fmt: skip
        command.add_argument("--deadline", dest="deadline_hours", type=float, default=None, metavar="HOURS",
                             help="with --lane auto: hours the job must finish within")
        command.add_argument("--json", action="store_true", help="print one JSON summary object last")

    ask = commands.add_parser("ask", help="an answer from the stored chunks with numbered sources, streamed")
    ask.add_argument("question")
    ask.add_argument("--collection", default=None, help="ask only this collection's chunks")
    ask.add_argument("-k", type=int, default=None, help="sources given to the model at most (default TOLLGATE_ASK_K, 6)")
    ask.add_argument("--model", default=None, help="the chat model (default TOLLGATE_CHAT_MODEL, gpt-4o-mini)")
    ask.add_argument("--owner", default=None, help="whose chunks (default: the system user)")
    ask.add_argument("--json", action="store_true", help="print one JSON object last (the answer streams on stderr)")
    ask.set_defaults(handler=_ask)

    resume = commands.add_parser("resume", help="re-enqueue what a job has not embedded yet")
    resume.add_argument("job", type=int)
    resume.add_argument("--retry-failed", action="store_true", help="try the job's failed chunks again too")
    resume.set_defaults(handler=_resume)

    status = commands.add_parser("status", help="jobs, the shared limit and workers, now (needs the services running)")
    status.add_argument("--watch", action="store_true", help="redraw every second until Ctrl-C")
    status.add_argument("--json", action="store_true", help="print one JSON object (a line per second with --watch)")
    status.set_defaults(handler=_status)

    web = commands.add_parser("up", help="the web app, workers, Celery beat and Flower in the foreground")
    web.add_argument("--address", default="127.0.0.1", help="where the web app listens (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=8000, help="web app port (default 8000)")
    web.add_argument("--flower-port", type=int, default=5555, help="Flower port (default 5555)")
    web.add_argument("--workers", type=int, default=2, help="worker processes to start (default 2)")
    web.add_argument("--concurrency", type=int, default=None, help="threads per worker (default 2)")
    web.add_argument("--no-flower", action="store_true", help="do not start Flower")
    web.add_argument("--no-beat", action="store_true", help="do not start Celery beat (the sweep)")
    web.set_defaults(handler=_up)

    add_sources_parser(commands, _django)

    simulate = commands.add_parser(
        "simulate",
        help="run the OpenAI-compatible simulator (see `tollgate simulate --help`)",
        add_help=False,
    )
    simulate.set_defaults(handler=_simulate, passes_through=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, args.extra = parser.parse_known_args(argv)
    if args.extra and not getattr(args, "passes_through", False):
        parser.error(f"unrecognized arguments: {' '.join(args.extra)}")
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except expected() as exc:
        print(f"tollgate: {exc}", file=sys.stderr)
        return 2
    except ProgrammingError as exc:  # a query on a database not migrated to this code, or a bug
        from project.schema import not_migrated

        error = not_migrated(exc)
        if error is None:
            raise
        print(f"tollgate: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
