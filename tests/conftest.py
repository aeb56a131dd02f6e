"""Every test run gets fresh embedded PostgreSQL+pgvector and Redis in a temporary home.

The environment is set at import time, before pytest-django loads the settings, so the
settings (and every subprocess a test starts: workers, CLI commands) find the same servers.

The suite runs in two pytest-xdist processes (``-n 2`` in pyproject.toml). Each imports this
file and so gets a home, a PostgreSQL, a Redis (the Celery broker and the limiter's keys) of
its own: the workers, simulators and CLI runs one test starts never see another process's
tasks, limits or rows. The xdist controller runs no test and starts no server.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path

import pytest

for _name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
    os.environ.pop(_name, None)
TEST_HOME = Path(tempfile.mkdtemp(prefix="tollgate-test-"))
os.environ["TOLLGATE_HOME"] = str(TEST_HOME)
os.environ["TIKTOKEN_CACHE_DIR"] = str(TEST_HOME / "tiktoken")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# The suite starts well over a hundred Python processes (workers, simulators, CLI runs), each
# importing Django, Celery and openai: they compile those once into the test home (the xdist
# controller's, shared by its workers) and read the bytecode after, even where
# PYTHONDONTWRITEBYTECODE is set; nothing is written into the source tree or the venv.
os.environ.setdefault("PYTHONPYCACHEPREFIX", str(TEST_HOME / "pycache"))
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

import django  # noqa: E402  (after the environment is set)

from project import embedded  # noqa: E402

SERVICE_URLS = embedded.urls(TEST_HOME)  # where they will listen; started in pytest_configure
django.setup()  # now, so the conftests of sub-folders can import models
# One start at a time on this machine: the first creates PostgreSQL's system user (useradd races).
START_LOCK = Path(tempfile.gettempdir()) / "tollgate-test-services.lock"


def _runs_tests(config: pytest.Config) -> bool:
    """False in an xdist controller, which only hands tests to its worker processes."""
    if hasattr(config, "workerinput"):
        return True
    return config.getoption("dist", "no") == "no" or not config.getoption("tx", None)


def pytest_configure(config: pytest.Config) -> None:
    if not _runs_tests(config):
        # Its workers inherit its environment: without these they set their own on importing this
        # file, before pytest-django in them would load the settings for this process's home.
        for name in ("TOLLGATE_HOME", "TIKTOKEN_CACHE_DIR", "DJANGO_SETTINGS_MODULE"):
            os.environ.pop(name, None)
        return
    with open(START_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        embedded.ensure_running(TEST_HOME)  # the suite is one of the few that start the services (README)


def pytest_unconfigure(config: pytest.Config) -> None:
    embedded.stop(TEST_HOME)
    shutil.rmtree(TEST_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def tollgate_home() -> Path:
    return TEST_HOME


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis of this test process (one per xdist worker); each test should use keys of its own."""
    return SERVICE_URLS.redis_url


@pytest.fixture(scope="session")
def database_url() -> str:
    return SERVICE_URLS.database_url
