"""pgai's own virtualenv, outside the project's dependencies, made with uv the first time it is needed."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PGAI_VERSION = "0.12.1"
PYTHON = "3.11"  # pgai 0.12.1 supports 3.10 to 3.13; the project's own interpreter
PEERS = Path("/work/peers")  # where the throwaway virtualenvs go: never in the repo


@dataclass(frozen=True)
class PeerVenv:
    python: Path
    python_version: str  # as the virtualenv's pyvenv.cfg records it
    install_seconds: float | None  # None: it was already there

    @property
    def site_packages(self) -> Path:
        return next(self.python.parent.parent.glob("lib/python*/site-packages"))


def ensure_venv(root: Path = PEERS, *, version: str = PGAI_VERSION) -> PeerVenv:
    """The virtualenv holding ``pgai[vectorizer-worker]==version``, made if missing.

    The worker needs the ``vectorizer-worker`` extra (openai, tiktoken, pgvector, and docling,
    which brings torch: about 6 GB); bare ``pgai`` only installs the catalog.

    Example::

        venv = ensure_venv()
        subprocess.run([venv.python, "-m", "pgai", "--help"])
    """
    venv = root / f"pgai-{version}"
    took = None
    if not list(venv.glob(f"lib/python*/site-packages/pgai-{version}.dist-info")):
        uv = os.environ.get("UV") or shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
        python = venv / "bin" / "python"
        started = time.monotonic()
        subprocess.run([uv, "venv", "--quiet", "--allow-existing", "--python", PYTHON, str(venv)], check=True)
        extra = f"pgai[vectorizer-worker]=={version}"
        subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python), extra], check=True)
        took = round(time.monotonic() - started, 1)
    lines = (venv / "pyvenv.cfg").read_text().splitlines()
    config = dict(line.split(" = ", 1) for line in lines if " = " in line)
    return PeerVenv(venv / "bin" / "python", config.get("version_info", "unknown"), took)
