"""The ``tollgate`` command: one entry point for the user's contract in ARCHITECTURE.md.

Each subcommand is a few lines that call services; a failure is one line on stderr and a
non-zero exit, never a traceback wall.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from project import embedded
from project.tokenization import prime_tiktoken_cache


def _services(args: argparse.Namespace) -> int:
    home = embedded.home_dir()
    if args.action == "start":
        urls = embedded.ensure_running(home)
        print(f"PostgreSQL  {urls.database_url}")
        print(f"Redis       {urls.redis_url}")
        print(f"data under  {home}")
        return 0
    if args.action == "stop":
        embedded.stop(home)
        print(f"stopped the embedded services under {home}")
        return 0
    postgres, redis = embedded.status(home)
    pg_state = f"up at {postgres.url} (pid {postgres.pid})" if postgres.running else "down"
    vector = f", pgvector {postgres.vector_version}" if postgres.vector_version else ""
    print(f"PostgreSQL {postgres.version}{vector}: {pg_state}   data {postgres.data_dir}")
    rd_state = f"up at {redis.url} (pid {redis.pid})" if redis.running else "down"
    print(f"Redis {redis.version}: {rd_state}   data {redis.data_dir}")
    return 0 if postgres.running and redis.running else 3


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
    except embedded.ServiceError as exc:
        print(f"tollgate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
