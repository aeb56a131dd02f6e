"""Settings only read; the commands that need the embedded services start them, and stop them again.

Every process here is a subprocess with its own ``TOLLGATE_HOME``, so what it starts (or fails
to start) is seen from outside, as a user would see it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from project import embedded

NO_URLS = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL")


def run(argv: list[str], home: Path, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name not in NO_URLS}
    env |= {"TOLLGATE_HOME": str(home), "DJANGO_SETTINGS_MODULE": "project.settings", **extra}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def nothing_runs(home: Path) -> bool:
    postgres, redis = embedded.status(home)
    return not postgres.running and not redis.running


def one_line_naming_the_start_command(stderr: str) -> bool:
    lines = stderr.strip().splitlines()
    return len(lines) == 1 and "tollgate services start" in lines[0] and "Traceback" not in stderr


def test_django_setup_with_no_urls_starts_no_process(tmp_path: Path):
    result = run([sys.executable, "-c", "import django; django.setup(); import workers; print('set up')"], tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "set up", result.stderr
    assert nothing_runs(tmp_path)
    assert not list(tmp_path.rglob("*.pid")) and not list(tmp_path.rglob("PG_VERSION"))


def test_loading_settings_writes_nothing_under_tollgate_home(tmp_path: Path):
    home = tmp_path / "home"
    probe = "from django.conf import settings; print(settings.DATABASES['default']['PORT'], settings.REDIS_URL)"
    result = run([sys.executable, "-c", f"import django; django.setup(); import workers; {probe}"], home)
    assert result.returncode == 0, result.stderr
    port, redis_url = result.stdout.split()
    assert int(port) > 0 and redis_url.startswith("redis://:")  # the URLs are there, computed
    assert not home.exists(), sorted(str(path.relative_to(home)) for path in home.rglob("*"))


def test_manage_py_check_needs_no_database(tmp_path: Path):
    home = tmp_path / "home"
    result = run([sys.executable, "manage.py", "check"], home)
    assert result.returncode == 0, result.stderr
    assert nothing_runs(home)
    assert not home.exists(), sorted(str(path.relative_to(home)) for path in home.rglob("*"))


@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "manage.py", "migrate"],
        [sys.executable, "-m", "project.cli", "resume", "1"],
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "--pool", "solo", "--loglevel", "WARNING"],
        [sys.executable, "-m", "celery", "-A", "workers", "beat", "--loglevel", "WARNING"],
    ],
    ids=["manage.py migrate", "tollgate resume", "celery worker", "celery beat"],
)
def test_a_process_that_finds_the_services_stopped_says_so_in_one_line(tmp_path: Path, argv: list[str]):
    result = run(argv, tmp_path, timeout=60)
    assert result.returncode != 0
    assert one_line_naming_the_start_command(result.stderr), result.stderr
    assert nothing_runs(tmp_path)


def test_tollgate_run_stops_the_services_it_started(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("The gate holds the road to its limit. " * 40)
    home = tmp_path / "home"
    result = run([sys.executable, "-m", "project.cli", "run", str(tmp_path / "notes.txt"), "--dry-run", "--json"], home)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"tokens"' in result.stdout.strip().splitlines()[-1]
    assert (home / "postgres" / "data" / "PG_VERSION").exists()  # it did start them
    assert nothing_runs(home)  # and stopped them


def test_tollgate_run_leaves_running_what_it_did_not_start(tmp_path: Path, tollgate_home: Path):
    (tmp_path / "notes.txt").write_text("A short note. " * 40)
    result = run([sys.executable, "-m", "project.cli", "run", str(tmp_path / "notes.txt"), "--dry-run"], tollgate_home)
    assert result.returncode == 0, result.stderr[-2000:]
    postgres, redis = embedded.status(tollgate_home)
    assert postgres.running and redis.running


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["run", "/no/such/path.txt"], "tollgate: no such file or directory: /no/such/path.txt"),
        (["resume", "987654"], "tollgate: there is no job 987654"),
    ],
)
def test_expected_failures_are_one_line_and_exit_2(tollgate_home: Path, argv: list[str], said: str):
    result = run([sys.executable, "-m", "project.cli", *argv], tollgate_home)
    assert result.returncode == 2
    assert result.stderr.strip() == said


def test_a_worker_that_dies_while_the_run_waits_is_one_line(tmp_path: Path, tollgate_home: Path):
    (tmp_path / "notes.txt").write_text("Workers that cannot start. " * 40)
    # A pool Celery does not know: every worker exits at once, as a crashed one would.
    result = run([sys.executable, "-m", "project.cli", "run", str(tmp_path / "notes.txt"), "--workers", "2", "--collection", "dying-workers"],
                 tollgate_home, CELERY_WORKER_POOL="no-such-pool", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tollgate: worker ") and "exited with code" in last and "while starting" in last
    assert "Traceback" not in result.stderr
