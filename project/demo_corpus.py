"""The demo's corpus: real English text from this Python's standard library docstrings.

Made on the fly with ``ast`` (nothing is imported or executed), so no corpus ships with
tollgate and its licence is Python's own (PSF).
"""

from __future__ import annotations

import ast
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from project.embeddings.ingest.documents import TextInput

DEFAULT_MODULES = 300
# The demo's sample search, in plain words: none of its chunks says it this way, and
# argparse's docstring ("Command-line parsing library ... options and arguments") answers it.
SAMPLE_QUERY = "how do I parse the options and arguments given on a command line"
SAMPLE_ANSWER = "stdlib:argparse.py"


def stdlib_docstrings(limit: int = DEFAULT_MODULES) -> Iterator[TextInput]:
    """One text per stdlib module: its docstring and those of its classes and functions."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py") if not p.name.startswith("_"))
    files += sorted(p / "__init__.py" for p in root.iterdir() if (p / "__init__.py").is_file())
    produced = 0
    for path in files:
        text = _module_text(path)
        if text:
            yield TextInput(text, source=f"stdlib:{path.relative_to(root)}", metadata={"corpus": "python-stdlib"})
            produced += 1
            if produced >= limit:
                return


def _module_text(path: Path) -> str:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return ""
    parts = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc and len(doc) > 40:
                title = path.stem if isinstance(node, ast.Module) else f"{path.stem}.{node.name}"
                parts.append(f"{title}\n\n{doc}")
    return "\n\n".join(dict.fromkeys(parts))
