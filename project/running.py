"""What ``tollgate up`` started, written under ``TOLLGATE_HOME`` so other commands of that home find it.

``up`` starts the simulator when no provider is configured and points its children at it through
their environment; a ``tollgate status`` in another terminal has no such variables and would say
"no provider configured" while the jobs run. So ``up`` records the provider settings it gave its
children (``up.json``, owner-only, removed when ``up`` stops), and ``status`` takes those it is
not given itself, while the ``up`` that wrote them still runs. The simulator's key is not a
secret (it accepts any); a real provider's key is never written: with one configured, ``up``
records nothing.

Example::

    with recorded(home, {"OPENAI_BASE_URL": url, "OPENAI_API_KEY": "tollgate-simulator"}):
        ...  # up runs
    adopt(home)  # in status: the variables, unless set already
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

__all__ = ["adopt", "recorded", "running_up"]

FILE = "up.json"


@contextmanager
def recorded(home: Path, environment: Mapping[str, str]) -> Iterator[None]:
    """Write ``environment`` (with this process's id) for the other commands of ``home``; remove it after."""
    path = home / FILE
    home.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump({"pid": os.getpid(), "environment": dict(environment)}, file)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def running_up(home: Path) -> dict[str, str] | None:
    """The environment a running ``tollgate up`` of ``home`` recorded, or None (none runs, or it died)."""
    try:
        record = json.loads((home / FILE).read_text())
        os.kill(int(record["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {str(name): str(value) for name, value in record.get("environment", {}).items()}


def adopt(home: Path) -> dict[str, str]:
    """Set in this process the variables a running ``up`` recorded that are not set here; returns them."""
    found = running_up(home) or {}
    if any(os.environ.get(name) for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT")):
        return {}  # a provider of its own: nothing of up's applies
    adopted = {name: value for name, value in found.items() if name not in os.environ}
    os.environ.update(adopted)
    return adopted
