"""LiteLLM's own virtualenv, outside the project's dependencies, made with uv the first time it is needed.

The version is pinned well before the compromised 1.107.0 release (PyPI, Docker Hub and GHCR,
flagged by the audit tools in the registry's list); the Router's usage-based-routing-v2 is
unchanged in what the bench uses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

LITELLM_VERSION = "1.74.15"
PYTHON = "3.11"
PEERS = Path("/work/peers")  # where the throwaway virtualenvs go: never in the repo


@dataclass(frozen=True)
class PeerVenv:
    python: Path
    version: str
    install_seconds: float | None  # None: it was already there


def ensure_venv(root: Path = PEERS, *, version: str = LITELLM_VERSION) -> PeerVenv:
    """The virtualenv holding ``litellm==version`` (and redis-py, for the Router's shared counters), made if missing."""
    venv = root / f"litellm-{version}"
    python = venv / "bin" / "python"
    took = None
    if not list(venv.glob(f"lib/python*/site-packages/litellm-{version}.dist-info")):
        uv = os.environ.get("UV") or shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
        started = time.monotonic()
        subprocess.run([uv, "venv", "--quiet", "--allow-existing", "--python", PYTHON, str(venv)], check=True)
        subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python), f"litellm=={version}", "redis>=5"],
                       check=True)  # fmt: skip
        took = round(time.monotonic() - started, 1)
    return PeerVenv(python, version, took)
