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


def cache_root(root: Path | None = None) -> Path:
    """Where the git-ignored cache lives (not created): ``TOONLAB_CACHE``, else ``<root>/.cache``."""
    return Path(os.environ[CACHE_ENV]) if os.environ.get(CACHE_ENV) else (root or repo_root()) / ".cache"


def cache_dir(*parts: str) -> Path:
    """A git-ignored cache folder (downloads, derived files); ``TOONLAB_CACHE`` moves it."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


# A folder or Kaggle source records the sha256 of every file it read here; the book runner's cache key
# hashes the ones a chapter used. One layout for both (toonlab.data.sources.folder, toonlab.book).
SOURCE_MANIFEST = ("data", "{name}", "manifest.csv")
SOURCES_USED_ENV = "TOONLAB_SOURCES_USED"  # set by the book runner: a file a chapter's kernel appends to


def source_manifest_path(name: str, root: Path | None = None) -> Path:
    """``<cache>/data/<name>/manifest.csv`` (nothing created)."""
    return cache_root(root).joinpath(*(part.format(name=name) for part in SOURCE_MANIFEST))


def note_source_used(name: str) -> None:
    """Tell the book runner (when it runs this kernel) that data source ``name`` was loaded, so its manifest
    becomes part of this chapter's cache key - and no other source's manifest does."""
    log = os.environ.get(SOURCES_USED_ENV)
    if log:
        with open(log, "a", encoding="utf-8") as handle:  # one short line per call: appends do not interleave
            handle.write(name + "\n")
