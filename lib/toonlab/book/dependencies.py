"""What a chapter's results depend on outside the repository: installed package versions, downloaded data.

The runner's cache key (:func:`toonlab.book.chapters.fingerprint`) hashes the notebook, its parameters,
``lib/`` and ``data/``. That misses two inputs: an upgraded package (torch 2.15 -> 2.16 changes kernels,
diffusers changes schedulers) and a re-downloaded data set (a Kaggle folder's manifest in the cache).

* :func:`chapter_packages` finds the distributions a chapter imports *without importing anything*: the
  notebook's import statements, followed through every ``toonlab`` module they reach
  (:func:`toonlab.book.imports.walk`, the walker the code fingerprint uses too), give third-party
  top-level modules; those map to distributions (``importlib.metadata.packages_distributions``), and
  each distribution's own requirements are added, transitively (diffusers brings huggingface-hub,
  safetensors ...). The result is a superset of what runs, which errs towards re-running.
* :func:`source_manifest_digests` hashes the manifests the folder and Kaggle sources write into the
  cache when their files are first read (``<cache>/data/<name>/manifest.csv``: one sha256 per file) -
  only those of the sources the chapter loaded. Which those are is known only once it ran: the kernel
  notes each source it loads (:func:`toonlab.paths.note_source_used`) in a file the runner names, the
  runner stores the list and the digests with the executed notebook and recomputes the key after the
  run; the next run hashes the stored sources' manifests as they are now. So a changed download re-runs
  the chapters that use it, and no other. Committed manifests are under ``data/`` and already in the
  fingerprint.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from toonlab.book import imports

PACKAGE = "toonlab"


def _version(distribution: str) -> str | None:
    """The installed version of ``distribution`` (None if it is not installed); patched by tests."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def _installed_lib() -> Path | None:
    """The folder holding the installed ``toonlab`` package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).parent


def third_party_modules(modules: set[str], root: Path) -> set[str]:
    """Top-level non-standard-library modules that ``modules`` import, following ``toonlab`` modules
    (:func:`toonlab.book.imports.walk`: in this checkout's ``lib/`` first, else where it is installed)."""
    libs = [root / "lib"] + ([_installed_lib()] if _installed_lib() is not None else [])
    tops = {module.split(".")[0] for module in imports.walk(modules, libs).external}
    return {top for top in tops if top not in sys.stdlib_module_names and top != "__future__"}


@functools.lru_cache(maxsize=1)
def _distributions_of() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _requirements(distribution: str) -> list[str]:
    """Names of the distributions ``distribution`` requires in this environment (markers evaluated, no extras)."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requires = importlib.metadata.requires(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    names = []
    for line in requires:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.append(requirement.name)
    return names


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def package_versions(modules: set[str]) -> dict[str, str]:
    """``{distribution: version}`` for the distributions providing ``modules`` and everything they require."""
    todo = [dist for module in modules for dist in _distributions_of().get(module, [])]
    versions: dict[str, str] = {}
    missing = sorted(m for m in modules if m not in _distributions_of())
    while todo:
        name = _normalise(todo.pop())
        if name in versions or name == PACKAGE:
            continue
        version = _version(name)
        versions[name] = version or "not installed"
        if version is not None:
            todo.extend(_requirements(name))
    for module in missing:  # imported but not installed (an optional backend): its absence is an input too
        versions[f"module:{module}"] = "not installed"
    return dict(sorted(versions.items()))


def chapter_packages(notebook: Path, root: Path) -> dict[str, str]:
    """The versions of every distribution chapter ``notebook`` imports, directly or through ``toonlab``."""
    versions = package_versions(third_party_modules(imports.notebook_imports(notebook), root))
    versions["python"] = ".".join(map(str, sys.version_info[:3]))
    return versions


def source_manifest_digests(names: Iterable[str], root: Path) -> dict[str, str]:
    """sha256 of the manifest of each data source in ``names`` (``<cache>/data/<name>/manifest.csv``, the cache
    of the checkout at ``root`` unless ``TOONLAB_CACHE`` moves it); ``"missing"`` for one not there. Only the
    sources a chapter loaded: another chapter's download must not invalidate it."""
    from toonlab.paths import source_manifest_path

    digests = {}
    for name in sorted(set(names)):
        path = source_manifest_path(name, root)
        digests[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    return digests


def sources_used(log: Path) -> list[str]:
    """The data sources a chapter's kernel noted it loaded (:func:`toonlab.paths.note_source_used`)."""
    if not log.is_file():
        return []
    return sorted({line.strip() for line in log.read_text(encoding="utf-8").splitlines() if line.strip()})
