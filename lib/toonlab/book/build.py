"""Jupyter Book 1.x builds of the repository root: HTML (the main output), LaTeX sources and PDF.

Execution is off in ``_config.yml``: the runner has already executed every chapter with papermill, and
the book is built from ``book/chapters/*.ipynb``. A build first checks that every chapter the table of
contents lists has been executed, so a missing run is reported as such, not as a Sphinx warning.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from toonlab.book import overview
from toonlab.paths import repo_root


def toc_files(root: Path) -> list[str]:
    """Every ``file:`` entry of ``_toc.yml``, in order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(str(node["file"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return found


def missing_pages(root: Path) -> list[str]:
    missing = []
    for entry in toc_files(root):
        candidates = [root / f"{entry}{suffix}" for suffix in ("", ".md", ".ipynb")]
        if not any(c.is_file() for c in candidates):
            missing.append(entry)
    return missing


def jupyter_book_executable() -> str:
    local = Path(sys.executable).with_name("jupyter-book")
    found = str(local) if local.exists() else shutil.which("jupyter-book")
    if not found:
        raise FileNotFoundError("jupyter-book is not installed; run `make book` (it installs the locked dependencies)")
    return found


def build(builder: str = "html", strict: bool = False, root: Path | None = None, path_output: Path | None = None) -> Path:
    """Build the book; return the output folder (``_build/html``, ``_build/latex``)."""
    root = (root or repo_root()).resolve()
    overview.write(root)
    missing = missing_pages(root)
    if missing:
        raise FileNotFoundError(
            f"_toc.yml lists pages that do not exist: {missing}. Chapters are executed into book/chapters/ by "
            f"`python -m toonlab.book run --profile ci` (or `make book`)."
        )
    command = [jupyter_book_executable(), "build", str(root), "--builder", builder]
    if path_output is not None:
        command += ["--path-output", str(path_output)]
    if strict:
        command += ["-W", "-n", "--keep-going"]
    subprocess.run(command, check=True, cwd=root)
    out = (path_output or root) / "_build"
    return out / ("latex" if builder in {"latex", "pdflatex"} else builder)
