"""Chapter notebooks and the fingerprint that decides whether one must run again.

A chapter is ``notebooks/NN_name.ipynb``. Its executed copy ``book/chapters/NN_name.ipynb`` records, in
its metadata, a fingerprint of everything the run depended on: the source notebook, the parameters the
profile gives it, the ``lib/`` modules the notebook imports (directly or through other toonlab modules, found
by reading their import statements), the library's data files and the committed data files (registry,
manifests, small weights — less the weights the chapter exports itself) and the other chapters' committed
results it declares reading (:mod:`toonlab.other_chapters`): its *code fingerprint*. The cache key adds the chapter's environment: the versions
of the installed packages it imports and the manifests of the downloaded data sets its last run loaded
(:mod:`toonlab.book.dependencies`). If nothing changed the chapter is skipped — so editing one chapter
re-executes one chapter, and editing a shared module re-executes the chapters that import it.

The code fingerprint is recorded with a chapter's committed results (``metrics.json``, via
:data:`toonlab.results.FINGERPRINT_ENV`), so the book can tell committed reference results whose code or
parameters changed since they were made (stale) from current ones. It leaves the environment out on purpose:
the data cache differs between machines, and the package versions are pinned by requirements.lock.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toonlab.book import imports
from toonlab.other_chapters import DECLARATION_KEY

CHAPTER_PATTERN = re.compile(r"^(\d\d)_[a-z0-9_]+$")
LIB_SUFFIXES = {".py", ".yaml", ".yml", ".json", ".txt"}
DATA_SKIP_DIRS = {"cache"}
REGISTRY_FILE = "registry.yaml"
METADATA_KEY = "toonlab"
PACKAGE = "toonlab"


@dataclass(frozen=True)
class Chapter:
    stem: str  # "01_data"
    source: Path  # notebooks/01_data.ipynb

    @property
    def number(self) -> str:
        return self.stem[:2]

    def executed(self, out_dir: Path) -> Path:
        return out_dir / f"{self.stem}.ipynb"


def discover(notebooks_dir: Path) -> list[Chapter]:
    chapters = [Chapter(p.stem, p) for p in sorted(Path(notebooks_dir).glob("*.ipynb")) if CHAPTER_PATTERN.match(p.stem)]
    numbers = [c.number for c in chapters]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise ValueError(f"two chapter notebooks share the number(s) {duplicates} in {notebooks_dir}")
    return chapters


def select(chapters: Sequence[Chapter], wanted: Iterable[str] | None) -> list[Chapter]:
    """Chapters named by number ("03") or stem ("03_gan"); all when ``wanted`` is empty."""
    wanted = list(wanted or [])
    if not wanted:
        return list(chapters)
    chosen = []
    for name in wanted:
        match = [c for c in chapters if name in (c.number, c.stem)]
        if not match:
            known = ", ".join(c.stem for c in chapters) or "none"
            raise ValueError(f"no chapter {name!r}; chapters: {known}")
        chosen.extend(c for c in match if c not in chosen)
    return sorted(chosen, key=lambda c: c.stem)


def _hash_files(digest: "hashlib._Hash", root: Path, files: Iterable[Path]) -> None:
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())


def lib_files(root: Path) -> list[Path]:
    lib = root / "lib" / PACKAGE
    return [p for p in lib.rglob("*") if p.is_file() and p.suffix in LIB_SUFFIXES and "__pycache__" not in p.parts]


def imported_lib_files(sources: Iterable[str], root: Path) -> list[Path]:
    """The ``lib/toonlab`` modules that code ``sources`` import, transitively, with their parent packages
    (:func:`toonlab.book.imports.walk`, in this checkout's ``lib/`` only: the fingerprint hashes its files).

    Read from the import statements (nothing is imported), including imports inside functions, so it is a
    superset of what one run executes — what the fingerprint needs: a change to any of these files may
    change the chapter's numbers, a change elsewhere cannot.
    """
    modules = set().union(*(imports.imported_names(source) for source in sources))
    return sorted(imports.walk(modules, [root / "lib"]).files.values())


def chapter_lib_files(chapter: Chapter, root: Path) -> list[Path]:
    """What of ``lib/`` a chapter depends on: the modules its notebook imports (transitively) and every
    non-Python file of the library (registries, configs: small, and read by name rather than imported)."""
    modules = imports.walk(imports.notebook_imports(chapter.source), [root / "lib"]).files.values()
    others = [p for p in lib_files(root) if p.suffix != ".py"]
    return sorted(set(modules) | set(others))


def data_files(root: Path) -> list[Path]:
    data = root / "data"
    if not data.is_dir():
        return []
    return [p for p in data.rglob("*")
            if p.is_file() and not p.name.startswith(".") and not DATA_SKIP_DIRS.intersection(p.relative_to(data).parts)]


def _registry(root: Path) -> dict[str, Any]:
    import yaml

    path = root / "data" / REGISTRY_FILE
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}


def published_weights(chapter: str, root: Path) -> dict[str, dict[str, Any]]:
    """The ``weights:`` entries of data/registry.yaml that chapter ``chapter`` (``03_gan``) makes itself
    (``chapter: 03_gan`` in the entry): its exports, which later chapters load."""
    weights = _registry(root).get("weights") or {}
    return {name: entry for name, entry in weights.items()
            if isinstance(entry, dict) and str(entry.get("chapter", "")) == chapter}


def other_chapters_weights(chapter: str, root: Path) -> dict[str, dict[str, Any]]:
    """The ``weights:`` entries that name the chapters loading them (``chapters: [04_diffusion, ...]``) and
    neither make (``chapter:``) nor are loaded by ``chapter``: chapter 03 re-publishing its generators in a
    run of chapters 01-04 must not make the 01 and 02 results of that same run stale. The declaration is
    checked by tests/test_runner.py (every chapter whose code loads committed generators is listed)."""
    weights = _registry(root).get("weights") or {}
    return {name: entry for name, entry in weights.items()
            if isinstance(entry, dict) and "chapters" in entry and str(entry.get("chapter", "")) != chapter
            and chapter not in (entry.get("chapters") or [])}


def other_chapters_sources(chapter: str, root: Path) -> dict[str, dict[str, Any]]:
    """The data sources of data/registry.yaml that declare the chapters loading them (``chapters: [08_fewshot]``)
    and do not name ``chapter``. The book runner checks the declaration: a chapter that loads a source which
    does not name it fails (:func:`check_sources_declared`)."""
    return {name: entry for name, entry in _registry(root).items()
            if name != "weights" and isinstance(entry, dict) and "chapters" in entry
            and chapter not in (entry.get("chapters") or [])}


def check_sources_declared(chapter: str, used: Iterable[str], root: Path) -> None:
    """Refuse a run that loaded a data source whose ``chapters:`` list leaves the chapter out: that list keeps
    the source's files out of the chapter's fingerprint, so its results would not go stale when they change."""
    wrong = sorted(set(used) & set(other_chapters_sources(chapter, root)))
    if wrong:
        raise ValueError(f"{chapter} loaded data source(s) {wrong}, whose `chapters:` list in data/registry.yaml does "
                         f"not name it; add {chapter!r} to that list")


def _hash_data(digest: "hashlib._Hash", chapter: Chapter, root: Path) -> None:
    """The data part of a chapter's code fingerprint: every data file, except

    - the weights the chapter exports itself: re-running a chapter rewrites its exports and their sha256 in
      the registry; were they hashed, the results it just made would read as stale. A chapter that *loads*
      them (05 loads 03's generators) still hashes them, so its results go stale when they change; a
      chapter that does neither leaves them out when the entry lists its users (``chapters:``);
    - the data sources that declare other chapters as their only users (``chapters:``, checked when a chapter
      runs): their registry entries, ``data/<name>/`` and their manifest (``manifest:``, else
      ``data/manifests/<name>.csv``). A data set added for chapter 08
      does not make chapter 03's results stale.
    """
    own = published_weights(chapter.stem, root)
    own |= other_chapters_weights(chapter.stem, root)  # left out alike: neither made nor loaded here
    others = other_chapters_sources(chapter.stem, root)
    skip = {(root / str(entry.get("file", ""))).resolve() for entry in own.values()}
    skip |= {(root / "data" / str(entry.get("manifest") or f"manifests/{name}.csv")).resolve() for name, entry in others.items()}
    skip_dirs = {(root / "data" / name).resolve() for name in others}
    registry = (root / "data" / REGISTRY_FILE).resolve()
    for path in sorted(data_files(root)):
        resolved = path.resolve()
        if resolved in skip or any(folder in resolved.parents for folder in skip_dirs):
            continue
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        if resolved == registry:  # parsed: the entries left out above, and comments, do not count
            content = {name: entry for name, entry in _registry(root).items() if name not in others}
            # who loads a file (`chapters:`) is not what it is: declaring a user stales nothing
            content["weights"] = {name: {k: v for k, v in entry.items() if k != "chapters"} if isinstance(entry, dict)
                                  else entry for name, entry in (content.get("weights") or {}).items() if name not in own}
            digest.update(hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).digest())
        else:
            digest.update(hashlib.sha256(path.read_bytes()).digest())


def declared_results(chapter: Chapter) -> list[str]:
    """The other chapters' committed results files that ``chapter`` reads (:mod:`toonlab.other_chapters`), as
    its notebook declares them (metadata ``toonlab_reads_results``: paths from the repository root)."""
    metadata = json.loads(chapter.source.read_text(encoding="utf-8")).get("metadata", {})
    declared = metadata.get(DECLARATION_KEY) or []
    if not isinstance(declared, list) or not all(isinstance(path, str) for path in declared):
        raise ValueError(f"{chapter.source}: metadata {DECLARATION_KEY!r} must be a list of paths such as "
                         f"'results/cpu/03_gan/cost.csv'")
    own = f"/{chapter.stem}/"
    if any(own in f"/{path}" for path in declared):
        raise ValueError(f"{chapter.source}: metadata {DECLARATION_KEY!r} lists the chapter's own results; "
                         f"declare only other chapters' (its own would make every run of it stale)")
    return sorted(set(declared))


def check_results_declared(chapter: Chapter, read: Iterable[str]) -> None:
    """Refuse a run that read another chapter's results file its notebook does not declare: the file would not
    be in the chapter's fingerprint, so its results would not go stale when that file changes."""
    undeclared = sorted(set(read) - set(declared_results(chapter)))
    if undeclared:
        raise ValueError(f"{chapter.stem} read {undeclared}, which its notebook does not declare; add them to the "
                         f"notebook metadata {DECLARATION_KEY!r} ({chapter.source})")


def code_fingerprint(chapter: Chapter, parameters: dict[str, Any], root: Path) -> str:
    """What the chapter's checkout gives it: notebook, parameters, the lib modules it imports, data files, and
    the other chapters' results files it declares reading. Recorded with committed results to tell stale ones;
    the same on every machine."""
    digest = hashlib.sha256()
    digest.update(b"notebook\0" + hashlib.sha256(chapter.source.read_bytes()).digest())
    digest.update(b"parameters\0" + json.dumps(parameters, sort_keys=True, default=str).encode())
    digest.update(b"lib\0")
    _hash_files(digest, root, chapter_lib_files(chapter, root))
    digest.update(b"data\0")
    _hash_data(digest, chapter, root)
    declared = declared_results(chapter)
    if declared:  # only then: the fingerprints of the chapters that read none stay what they were
        digest.update(b"other chapters' results\0")
        for name in declared:
            path = root / name
            digest.update(name.encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"missing")
    return digest.hexdigest()


def fingerprint(chapter: Chapter, parameters: dict[str, Any], root: Path,
                env: dict[str, Any] | None = None) -> str:
    """The chapter's cache key: its :func:`code_fingerprint` and its :func:`environment` ``env`` (computed
    here, with no data source, if not given)."""
    env = environment(chapter, root) if env is None else env
    digest = hashlib.sha256(code_fingerprint(chapter, parameters, root).encode())
    digest.update(b"environment\0" + json.dumps(env, sort_keys=True).encode())
    return digest.hexdigest()


def environment(chapter: Chapter, root: Path, sources: Iterable[str] = (),
                packages: dict[str, str] | None = None) -> dict[str, Any]:
    """What a chapter depends on outside the checkout: the package versions it imports (``packages`` if
    already computed) and the manifests of the data ``sources`` it loaded (toonlab.book.dependencies)."""
    from toonlab.book.dependencies import chapter_packages, source_manifest_digests

    return {"packages": chapter_packages(chapter.source, root) if packages is None else packages,
            "source_manifests": source_manifest_digests(sources, root)}


def recorded_run(executed: Path) -> dict[str, Any] | None:
    """The toonlab metadata of an executed notebook, or None if absent/unreadable."""
    if not executed.is_file():
        return None
    try:
        notebook = json.loads(executed.read_text())
    except (OSError, ValueError):
        return None
    return notebook.get("metadata", {}).get(METADATA_KEY)


def is_up_to_date(executed: Path, expected_fingerprint: str) -> bool:
    record = recorded_run(executed)
    return bool(record) and record.get("status") == "ok" and record.get("fingerprint") == expected_fingerprint
