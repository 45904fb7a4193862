"""Where things live: the repository root and the folders DESIGN.md fixes.

Notebooks run from ``notebooks/``, from the repository root (papermill via the runner), or from a bare
Colab/Kaggle working directory where toonlab was pip-installed from git. ``repo_root()`` finds the
right anchor in all three cases, and ``TOONLAB_ROOT`` overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_ENV = "TOONLAB_ROOT"
CACHE_ENV = "TOONLAB_CACHE"
_MARKERS = ("_toc.yml", "pyproject.toml")


def _is_root(path: Path) -> bool:
    return all((path / marker).is_file() for marker in _MARKERS) and (path / "lib" / "toonlab").is_dir()


def repo_root(start: Path | None = None) -> Path:
    """The repository root, or the current directory when toonlab runs outside a checkout (Colab)."""
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV]).resolve()
    # An editable install: lib/toonlab/paths.py -> the checkout two levels up.
    here = Path(__file__).resolve().parents[2]
    if _is_root(here):
        return here
    start = (start or Path.cwd()).resolve()
    for candidate in (start, *start.parents):
        if _is_root(candidate):
            return candidate
    return start


def results_dir(profile: str, chapter: str, root: Path | None = None) -> Path:
    return (root or repo_root()) / "results" / profile / chapter


def cache_dir(*parts: str) -> Path:
    """A git-ignored cache folder (downloads, derived files); ``TOONLAB_CACHE`` moves it."""
    base = Path(os.environ[CACHE_ENV]) if os.environ.get(CACHE_ENV) else repo_root() / ".cache"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
