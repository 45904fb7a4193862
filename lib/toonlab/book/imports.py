"""The import graph of a chapter, read from source with :mod:`ast` (nothing is imported).

One walker answers both questions the runner asks about a chapter:

* which ``lib/toonlab`` files it depends on — :func:`toonlab.book.chapters.chapter_lib_files`, hashed into
  the code fingerprint;
* which third-party modules it imports — :func:`toonlab.book.dependencies.third_party_modules`, whose
  installed versions go into the cache key.

:func:`walk` starts from a notebook's import statements (:func:`notebook_imports`) and follows every
``toonlab`` module they reach: all their import statements (function-level lazy imports too), relative
imports, the parent packages a submodule import runs, and the modules a package exports lazily
(``toonlab.data``'s ``_EXPORTS``). That is a superset of what one run executes, which errs towards re-running.
Importing instead would be exact but would import torch to fingerprint a notebook.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "toonlab"


def _parse(source: str) -> ast.AST | None:
    try:
        return ast.parse(source)
    except SyntaxError:  # a broken file still counts as a dependency (its bytes are hashed); it imports nothing
        return None


def imported_names(source: str) -> set[str]:
    """Dotted module names the absolute import statements anywhere in ``source`` name; ``from x import y``
    names both ``x`` and, in case ``y`` is a submodule, ``x.y``."""
    names: set[str] = set()
    for node in ast.walk(_parse(source) or ast.Module(body=[], type_ignores=[])):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def relative_imports(source: str, module: str, is_package: bool) -> set[str]:
    """``from .x import y`` inside ``module``, resolved to absolute names."""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    names = set()
    for node in ast.walk(_parse(source) or ast.Module(body=[], type_ignores=[])):
        if isinstance(node, ast.ImportFrom) and node.level:
            prefix = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
    return names


def lazy_exports(source: str) -> set[str]:
    """Modules a package loads on attribute access (``toonlab.data``'s ``_EXPORTS = {name: module}``)."""
    for node in ast.walk(_parse(source) or ast.Module(body=[], type_ignores=[])):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets):
            try:
                exports = ast.literal_eval(node.value)
            except ValueError:
                return set()
            return {module for module in exports.values() if isinstance(module, str)}
    return set()


def _as_python(source: str) -> list[str]:
    """A code cell as plain Python: IPython syntax (``%magic``, ``x = !ls``, ``obj?``) turned into calls by
    IPython's own transformer, so one such line does not hide the cell's imports from :mod:`ast`. A cell
    magic's body (``%%time``) becomes a string there: it is returned too, as Python of its own."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # no IPython: drop the lines that are plainly not Python
        return ["\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())]
    pieces = [TransformerManager().transform_cell(source)]
    if source.lstrip().startswith("%%"):
        pieces += _as_python(source.lstrip().split("\n", 1)[1] if "\n" in source.lstrip() else "")
    return pieces


def notebook_imports(notebook: Path) -> set[str]:
    """Modules imported by the code cells of a notebook (IPython syntax transformed first, see _as_python)."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8")).get("cells", [])
    names: set[str] = set()
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        for piece in _as_python("".join(cell.get("source", []))):
            names |= imported_names(piece)
    return names


def module_file(module: str, libs: Sequence[Path]) -> tuple[Path | None, bool]:
    """``toonlab.a.b`` -> (``<lib>/toonlab/a/b.py`` or ``.../a/b/__init__.py``, whether it is a package), from
    the first of ``libs`` that has it; (None, False) for a name that is no module file (a function, a class)."""
    for lib in libs:
        base = lib / Path(*module.split("."))
        if (base / "__init__.py").is_file():
            return base / "__init__.py", True
        if base.with_suffix(".py").is_file():
            return base.with_suffix(".py"), False
    return None, False


@dataclass
class ImportGraph:
    files: dict[str, Path] = field(default_factory=dict)  # toonlab module -> its source file
    external: set[str] = field(default_factory=set)  # every other module name imported on the way (stdlib too)


def walk(modules: Iterable[str], libs: Sequence[Path]) -> ImportGraph:
    """Follow ``modules`` through every ``toonlab`` module they reach, looked up in ``libs`` (folders holding a
    ``toonlab`` package, first match wins); collect those modules' files and the other modules named."""
    graph = ImportGraph()
    pending, seen = list(modules), set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        if module.split(".")[0] != PACKAGE:
            graph.external.add(module)
            continue
        parts = module.split(".")
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # importing a.b.c runs a and a.b
        path, is_package = module_file(module, libs)
        if path is None:
            continue
        graph.files[module] = path
        source = path.read_text(encoding="utf-8")
        pending.extend(imported_names(source) | relative_imports(source, module, is_package) | lazy_exports(source))
    return graph
