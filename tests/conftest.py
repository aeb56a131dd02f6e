"""Every test run gets fresh embedded PostgreSQL+pgvector and Redis in a temporary home.

The environment is set at import time, before pytest-django loads the settings, so the
settings (and every subprocess a test starts: workers, CLI commands) find the same servers.
"""

from __future__ import annotations

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

import django  # noqa: E402  (after the environment is set)

from project import embedded  # noqa: E402

embedded.ensure_running(TEST_HOME)  # the suite is one of the few that start the services (README)
SERVICE_URLS = embedded.urls(TEST_HOME)
django.setup()  # now, so the conftests of sub-folders can import models


def pytest_unconfigure(config: pytest.Config) -> None:
    embedded.stop(TEST_HOME)
    shutil.rmtree(TEST_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def tollgate_home() -> Path:
    return TEST_HOME


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared Redis of this test run; each test should use keys of its own."""
    return SERVICE_URLS.redis_url


@pytest.fixture(scope="session")
def database_url() -> str:
    return SERVICE_URLS.database_url
