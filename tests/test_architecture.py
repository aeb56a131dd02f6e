"""The rooms' arrows run one way: workers → project → providers → ratelimit; simulator/ alone.

Every module of every room is parsed (not imported) and every import it holds is listed, those
inside functions too, so a lazy import cannot hide an arrow that runs the wrong way.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("ratelimit", "providers", "project", "workers", "simulator", "bench")
# What each room may import besides the standard library and itself.
ALLOWED = {
    "ratelimit": {"redis"},
    "providers": {"ratelimit", "openai", "tiktoken", "tiktoken_ext", "numpy"},
    "workers": {"project", "providers", "ratelimit", "celery"},
    "simulator": {"starlette", "uvicorn", "tiktoken", "tiktoken_ext", "numpy"},
}
# Rooms that may import third-party packages freely, but never these rooms.
FORBIDDEN = {
    "project": {"workers", "simulator", "bench", "tests"},
    "bench": {"tests"},
}


def imports_of(path: Path, room: str) -> set[str]:
    """The top-level names of everything ``path`` imports, relative imports resolved to its room."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(room if node.level else (node.module or "").split(".")[0])
    return names


def modules(room: str) -> list[Path]:
    return sorted(p for p in (ROOT / room).rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("room", ROOMS)
def test_each_room_imports_only_what_its_arrows_allow(room: str):
    wrong = {}
    for path in modules(room):
        found = imports_of(path, room) - set(sys.stdlib_module_names) - {room, "__future__"}
        if room in ALLOWED:
            bad = found - ALLOWED[room]
        else:
            bad = found & FORBIDDEN[room]
        if bad:
            wrong[str(path.relative_to(ROOT))] = sorted(bad)
    assert not wrong, f"imports against the arrows: {wrong}"


def test_the_check_sees_lazy_and_relative_imports(tmp_path: Path):
    probe = tmp_path / "probe.py"
    probe.write_text("def later():\n    from workers import tasks\n\nfrom .errors import TollgateError\nimport os.path\n")
    assert imports_of(probe, "project") == {"workers", "project", "os"}
