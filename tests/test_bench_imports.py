"""bench/'s modules import one another without a cycle, and never import a bench that runs as a script.

Every module is parsed (not imported) and every import it holds is listed, those inside
functions too: a lazy import hides a cycle from Python, not from this check. A bench run as
``python bench/x.py`` is ``__main__``; another module importing ``bench.x`` would load it a
second time under that name, its constants and state apart from the running one's.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "bench"


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def bench_imports(path: Path, known: set[str], root: Path = ROOT) -> set[str]:
    """The modules of ``known`` that ``path`` imports, anywhere in it."""
    here = module_name(path, root).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            candidates = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in candidates:
            while name and name not in known:  # `import bench.a.b` names bench.a.b, or its package
                name = name.rpartition(".")[0]
            if name and name != PACKAGE:
                found.add(name)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    paths = sorted((root / PACKAGE).rglob("*.py"))
    known = {module_name(path, root) for path in paths}
    return {module_name(path, root): bench_imports(path, known, root) - {module_name(path, root)} for path in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected set of two or more modules (Tarjan's algorithm), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            members = []
            while not members or members[-1] != node:
                members.append(stack.pop())
            if len(members) > 1:
                found.append(sorted(members))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def scripts(root: Path = ROOT) -> set[str]:
    """The modules run as ``python bench/x.py``: those with an ``if __name__ == "__main__"`` block."""
    names = set()
    for path in (root / PACKAGE).rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
                names.add(module_name(path, root))
    return names


def test_bench_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_no_bench_module_imports_a_script():
    graph, run = import_graph(), scripts()
    wrong = {name: sorted(imported & run) for name, imported in graph.items() if imported & run}
    assert not wrong, f"modules importing a bench that runs as a script: {wrong}"


def test_the_check_sees_lazy_cycles_and_scripts(tmp_path: Path):
    (tmp_path / PACKAGE / "sub").mkdir(parents=True)
    files = {
        "a.py": "from bench.b import x\n",
        "b.py": "def later():\n    from bench import c\n",
        "c.py": "import bench.a\n\nif __name__ == '__main__':\n    pass\n",
        "d.py": "from .sub.e import y\n",
        "sub/__init__.py": "",
        "sub/e.py": "from .. import d\n",
    }
    for name, text in files.items():
        (tmp_path / PACKAGE / name).write_text(text)
    graph = import_graph(tmp_path)
    assert graph["bench.b"] == {"bench.c"}
    assert graph["bench.d"] == {"bench.sub.e"}
    assert cycles(graph) == [["bench.a", "bench.b", "bench.c"], ["bench.d", "bench.sub.e"]]
    assert scripts(tmp_path) == {"bench.c"}
