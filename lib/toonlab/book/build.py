"""Jupyter Book 1.x builds of the repository root: HTML (the main output), LaTeX sources and PDF.

Execution is off in ``_config.yml``: the runner has already executed every chapter with papermill, and
the book is built from ``book/chapters/*.ipynb``. A build first checks that every chapter the table of
contents lists has been executed, so a missing run is reported as such, not as a Sphinx warning.

The LaTeX/PDF builds are the *report*: a thesis reader wants prose, figures and tables, so they run with
``_config.yml`` plus :data:`REPORT_CONFIG` (code cells hidden, output images at the text width, long
output lines wrapped rather than cut off). The code stays one click away in the HTML book and notebooks.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from toonlab import atomic
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


# Sphinx options layered over _config.yml's ``sphinx.config`` for the LaTeX/PDF report.
REPORT_CONFIG = {
    "nb_remove_code_source": True,  # myst-nb: outputs (figures, tables, text) stay, code cells go
    # DataFrames as tables (toonlab.book.report_tables), not as pandas' 80-column text repr.
    "nb_mime_priority_overrides": [["latex", "text/html", 55]],
    "nb_render_image_options": {"width": "100%"},  # output figures span the text width
    "latex_elements": {
        # Long output lines wrap, even inside words, instead of running off the page or being cut.
        "sphinxsetup": "verbatimforcewraps=true, verbatimmaxunderfull=0",
        "figure_align": "htbp",
        "extraclassoptions": "openany,oneside",  # a report: no blank pages before chapters
    },
}
REPORT_EXTENSIONS = ["toonlab.book.report_tables"]
LATEX_BUILDERS = {"latex", "pdflatex"}


def report_config(root: Path, target: Path) -> Path:
    """``_config.yml`` with :data:`REPORT_CONFIG` merged into ``sphinx.config``, written to ``target``."""
    config = yaml.safe_load((root / "_config.yml").read_text()) or {}
    sphinx = config.setdefault("sphinx", {})
    sphinx["extra_extensions"] = [*sphinx.get("extra_extensions", []), *REPORT_EXTENSIONS]
    sphinx_config = sphinx.setdefault("config", {})
    for key, value in REPORT_CONFIG.items():
        merged = {**sphinx_config.get(key, {}), **value} if isinstance(value, dict) else value
        sphinx_config[key] = merged
    atomic.write_text(target, yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return target


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
    if builder in LATEX_BUILDERS:
        config = report_config(root, (path_output or root) / "_build" / "report_config.yml")
        command += ["--config", str(config)]
    if path_output is not None:
        command += ["--path-output", str(path_output)]
    if strict:
        command += ["-W", "-n", "--keep-going"]
    subprocess.run(command, check=True, cwd=root)
    out = (path_output or root) / "_build"
    return out / ("latex" if builder in {"latex", "pdflatex"} else builder)
