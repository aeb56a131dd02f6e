"""``tollgate run`` as a user types it, in a subprocess: what the adversity tests drive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def write_texts(folder: Path, count: int, *, words: int = 20) -> list[str]:
    """``count`` distinct small files (one chunk each); their texts."""
    vocabulary = "limit window token request worker queue vector search gate road car speed".split()
    texts = []
    for i in range(count):
        text = f"Text {i}. " + " ".join(vocabulary[(i * 7 + j * 3) % len(vocabulary)] for j in range(words)) + "."
        (folder / f"text-{i:04d}.txt").write_text(text)
        texts.append(text)
    return texts


def start_run(folder: Path, *args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """``tollgate run FOLDER --json ARGS`` in the background; its stderr goes to ``log``."""
    command = [sys.executable, "-m", "project.cli", "run", str(folder), "--json", *args]
    with open(log, "wb") as stderr:
        return subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=stderr, text=True)


def summary_of(process: subprocess.Popen, log: Path, *, timeout: float) -> dict[str, Any]:
    """Wait for the run; its JSON summary (the last line it printed)."""
    out, _ = process.communicate(timeout=timeout)
    said = log.read_text(errors="replace")[-3000:]
    assert process.returncode == 0, said
    return json.loads(out.strip().splitlines()[-1])
