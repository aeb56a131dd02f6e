"""``tollgate status``: a running job in --json, the terminal view, and one line when services are stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from project.cli import main

from .live_job import start_long_job

pytestmark = pytest.mark.django_db


def test_status_json_reports_a_running_job(rig, capsys):
    rig.start(rpm=600, tpm=3_000, window=1.0, workers=1, concurrency=2)
    job = start_long_job()
    assert main(["status", "--json"]) == 0
    snapshot = json.loads(capsys.readouterr().out)
    shown = next(j for j in snapshot["jobs"] if j["id"] == job.pk)
    assert shown["status"] == "running" and shown["chunks"]["total"] == job.total_chunks > 0
    assert shown["eta_seconds"] is not None
    limiter = snapshot["limiter"]
    assert (limiter["requests"]["limit"], limiter["tokens"]["limit"], limiter["window_seconds"]) == (600, 3_000, 1.0)
    assert snapshot["workers"]["online"] == 1 and set(snapshot["queues"]) == {"bulk", "interactive"}

    assert main(["status"]) == 0  # the terminal view of the same snapshot
    screen = capsys.readouterr().out
    assert "jobs" in screen and "running" in screen and "shared limit" in screen and "workers: " in screen


def test_status_with_the_services_stopped_is_one_line(tmp_path):
    env = {**os.environ, "TOLLGATE_HOME": str(tmp_path)}
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    command = [sys.executable, "-m", "project.cli", "status", "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "tollgate services start" in done.stderr
