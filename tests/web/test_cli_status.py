"""``tollgate status``: a running job in --json, the terminal view, and one line when services are stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from project.cli import main
from project.running import recorded, running_up

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


def test_status_finds_the_simulator_a_running_up_started_and_is_not_cut_at_80_columns(rig, tollgate_home):
    """``up`` records the provider it gave its children; ``status`` in another terminal (no OPENAI_* set) reads it."""
    rig.start(rpm=700, tpm=7_000, window=1.0, workers=0)
    start_long_job(documents=2)  # a row in the jobs table, wider than 80 columns
    limits = {"TOLLGATE_RPM": "700", "TOLLGATE_TPM": "7000", "TOLLGATE_WINDOW_SECONDS": "1.0"}
    recorded_env = {"OPENAI_BASE_URL": rig.simulator.base_url, "OPENAI_API_KEY": "test-key", **limits}
    env = {name: value for name, value in os.environ.items() if not name.startswith("OPENAI_") and name not in limits}
    env["COLUMNS"] = "80"  # as a narrow terminal or a pipe would say
    command = [sys.executable, "-m", "project.cli", "status"]
    alone = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert "no provider configured" in alone.stdout
    with recorded(tollgate_home, recorded_env):
        shown = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        as_json = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "no provider configured" not in shown.stdout, shown.stdout
    assert "0 / 700 per 1 s" in shown.stdout and "0 / 7,000 per 1 s" in shown.stdout
    assert json.loads(as_json.stdout)["limiter"]["tokens"]["limit"] == 7_000
    row = next(line for line in shown.stdout.splitlines() if "running" in line or "queued" in line)
    assert len(row) > 80 and "(limit)" in row  # the whole row on one line, to its ETA, not folded at 80 columns
    assert running_up(tollgate_home) is None  # removed once up stops
