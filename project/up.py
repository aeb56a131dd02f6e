"""``tollgate up``: the web app, workers, Celery beat and Flower in the foreground, until Ctrl-C.

Embedded PostgreSQL/Redis are started when no URLs are set (and stopped again on exit when
this command started them); the simulator when no provider is configured. Every child is
stopped on Ctrl-C or SIGTERM, or when one of them dies; a worker that dies is replaced.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

from django.conf import settings
from django.core.management import call_command

from project.celery import app as celery_app
from project.deploy import flower_auth_problem, secret_key_problem
from project.errors import LaunchError
from project.launch import Service, WorkerPool, start_beat, start_flower, start_web, start_workers, wait_for_workers
from project.pipeline import simulated_provider
from project.provider import is_configured
from project.running import recorded

POLL_SECONDS = 0.5


@dataclass(frozen=True)
class UpOptions:
    address: str = "127.0.0.1"
    port: int = 8000
    flower_port: int = 5555
    workers: int = 2
    concurrency: int | None = None
    flower: bool = True
    beat: bool = True


def up(options: UpOptions, *, say: Callable[[str], None] = print) -> int:
    """Run everything until interrupted; returns the exit code (0 after Ctrl-C, 1 if a child died).

    Refuses first (:class:`LaunchError`) what would be unsafe beyond loopback: the public
    development secret key for the web app, Flower without real credentials.
    """
    refuse_unsafe(options)
    call_command("migrate", verbosity=0)
    logs = settings.TOLLGATE_HOME / "logs"
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM leaves as Ctrl-C does
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    try:
        with ExitStack() as stack:
            if not is_configured():
                base_url = stack.enter_context(simulated_provider())
                say(f"no OPENAI_API_KEY or OPENAI_BASE_URL: using the built-in simulator at {base_url}")
                stack.enter_context(recorded(settings.TOLLGATE_HOME, _simulator_environment()))
            flower_address = _flower_address()
            flower_url = f"http://{'127.0.0.1' if flower_address == '0.0.0.0' else flower_address}:{options.flower_port}/"
            child_env = {"TOLLGATE_FLOWER_URL": flower_url} if options.flower else {"TOLLGATE_FLOWER_URL": ""}
            services: list[Service] = []
            pool = start_workers(options.workers, concurrency=options.concurrency, log_dir=logs)
            stack.callback(pool.stop)
            if options.beat:
                services.append(start_beat(schedule=settings.TOLLGATE_HOME / "celerybeat-schedule", log_dir=logs))
                stack.callback(services[-1].stop)
            if options.flower:
                services.append(start_flower(address=flower_address, port=options.flower_port,
                                             basic_auth=settings.FLOWER_BASIC_AUTH, log_dir=logs))  # fmt: skip
                stack.callback(services[-1].stop)
            services.append(start_web(address=options.address, port=options.port, env=child_env, log_dir=logs))
            stack.callback(services[-1].stop)
            wait_for_workers(celery_app, options.workers, pool=pool, say=say)
            host = "127.0.0.1" if options.address in ("0.0.0.0", "::") else options.address
            site = f"http://{host}:{options.port}"
            say(f"dashboard   {site}/   (log in: manage.py createsuperuser, or dashboard_password NAME for a user)")
            say(f"API         {site}/api/   docs {site}/api/docs/   (token: manage.py api_token NAME)")
            say("status      uv run tollgate status [--watch], in another terminal too")
            if options.flower:
                auth = "basic auth from FLOWER_BASIC_AUTH" if settings.FLOWER_BASIC_AUTH else "127.0.0.1 only, no auth"
                say(f"Flower      {flower_url}   ({auth})")
            say(f"workers     {options.workers}, beat {'on' if options.beat else 'off'}; logs in {logs}")
            say("Ctrl-C stops everything")
            return _watch(services, pool, say)
    except KeyboardInterrupt:
        say("stopped")
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def refuse_unsafe(options: UpOptions) -> None:
    """:class:`LaunchError` naming what to set when ``options`` would expose a public secret or an open Flower."""
    problem = secret_key_problem(settings.SECRET_KEY, debug=settings.DEBUG, hosts=[options.address])
    if problem is None and options.flower:
        problem = flower_auth_problem(settings.FLOWER_BASIC_AUTH, address=_flower_address())
    if problem:
        raise LaunchError(problem)


def _simulator_environment() -> dict[str, str]:
    """What ``tollgate status`` needs to read the limit ``up``'s simulator and workers share (project/running.py)."""
    names = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "TOLLGATE_BATCH_POLL_SECONDS")
    environment = {name: os.environ[name] for name in names if name in os.environ}
    environment["TOLLGATE_RPM"] = str(settings.TOLLGATE_RPM)
    environment["TOLLGATE_TPM"] = str(settings.TOLLGATE_TPM)
    environment["TOLLGATE_WINDOW_SECONDS"] = str(settings.TOLLGATE_WINDOW_SECONDS)
    return environment


def _flower_address() -> str:
    """TOLLGATE_FLOWER_ADDRESS, else every interface with credentials and loopback without."""
    return settings.TOLLGATE_FLOWER_ADDRESS or ("0.0.0.0" if settings.FLOWER_BASIC_AUTH else "127.0.0.1")


def _watch(services: list[Service], pool: WorkerPool, say: Callable[[str], None]) -> int:
    """Until a service dies (then 1); a worker that dies is replaced, saying so in one line."""
    while True:
        for service in services:
            if not service.running():
                say(f"tollgate: {service.name} exited with {service.process.returncode}; see its log; stopping")
                return 1
        for line in pool.replace_exited():
            say(f"tollgate: {line}")
        time.sleep(POLL_SECONDS)


__all__ = ["UpOptions", "refuse_unsafe", "up"]
