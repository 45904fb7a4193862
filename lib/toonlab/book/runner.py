"""Execute chapter notebooks with papermill for one profile.

For each chapter: merge the profile's parameters (``notebooks/params/<profile>.yaml``), check them against
the notebook's declared parameters, skip the chapter when its cache key (its code fingerprint — notebook,
parameters, the ``lib/`` modules it imports, ``data/`` — plus the versions of the packages it imports and the
manifests of the data sources its last run loaded) matches the last successful run, otherwise pass the kernel
the run's code fingerprint (recorded with its results) and the code fingerprints each reference profile would
have now (to mark committed reference results stale), and execute it into a temporary file and move it into
place only when every cell succeeded.
A failure names the chapter, the cell and the error, and leaves no executed notebook for that chapter
(a stale one would show outdated numbers in the book).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from toonlab import atomic
from toonlab.book.chapters import (METADATA_KEY, Chapter, check_results_declared, check_sources_declared, code_fingerprint, discover,
                                   environment, fingerprint, is_up_to_date, recorded_run, select)
from toonlab.book.dependencies import chapter_packages, sources_used
from toonlab.params import PROFILES, ParameterError, profile_params
from toonlab.paths import ROOT_ENV, SOURCES_USED_ENV, repo_root
from toonlab.other_chapters import RESULTS_READ_ENV
from toonlab.results import FINGERPRINT_ENV, REFERENCE_FINGERPRINTS_ENV, REFERENCE_PROFILES

DEFAULT_CELL_TIMEOUT_S = 1800  # ci: a cell that runs half an hour is a hang
# Reference profiles train for real: one cell (a VAE, a GAN) may take most of a chapter's budget, and more on a
# busy shared machine (chapter 02's features cell took 31 minutes in `cpu` on two cores loaded ~8).
REFERENCE_CELL_TIMEOUT_S = 3 * 3600


def default_cell_timeout(profile: str) -> int:
    return DEFAULT_CELL_TIMEOUT_S if profile == "ci" else REFERENCE_CELL_TIMEOUT_S


class ChapterFailed(RuntimeError):
    """A chapter notebook raised; carries where, so the message can point at the cell."""

    def __init__(self, chapter: str, cell_index: int | None, ename: str, evalue: str, source: str = ""):
        self.chapter, self.cell_index, self.ename, self.evalue, self.source = chapter, cell_index, ename, evalue, source
        where = f"cell {cell_index} of notebooks/{chapter}.ipynb (counting from 0)" if cell_index is not None \
            else "before any cell ran"
        excerpt = "\n".join("    " + line for line in source.strip().splitlines()[:12])
        super().__init__(f"chapter {chapter} failed in {where}: {ename}: {evalue}" + (f"\n{excerpt}" if excerpt else ""))


@dataclass
class ChapterResult:
    chapter: str
    status: str  # "ran" | "cached"
    wall_time_s: float = 0.0


@dataclass
class RunReport:
    profile: str
    results: list[ChapterResult] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"profile {self.profile}:"]
        for r in self.results:
            timing = f"{r.wall_time_s:7.1f} s" if r.status == "ran" else "        —"
            lines.append(f"  {r.chapter:<24} {r.status:<7} {timing}")
        total = sum(r.wall_time_s for r in self.results)
        lines.append(f"  {'total':<24} {'':<7} {total:7.1f} s")
        return "\n".join(lines)


def declared_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    import papermill

    return papermill.inspect_notebook(str(notebook))


def chapter_parameters(chapter: Chapter, profile: str, params_dir: Path) -> dict[str, Any]:
    """The profile's values for this chapter, checked against the notebook's parameters cell."""
    values = profile_params(profile, chapter.stem, params_dir)
    declared = declared_parameters(chapter.source)
    if not declared:
        raise ParameterError(f"{chapter.source} has no cell tagged 'parameters'")
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise ParameterError(
            f"{params_dir / (profile + '.yaml')}: {unknown} given for chapter {chapter.stem} but not declared in "
            f"the parameters cell of {chapter.source.name} (declared: {sorted(declared)})"
        )
    return values


def reference_fingerprints(chapter: Chapter, root: Path, params_dir: Path) -> dict[str, str]:
    """The fingerprint each reference profile's parameters give this chapter now: a committed result whose
    recorded fingerprint differs was made by other code or parameters (stale)."""
    return {profile: code_fingerprint(chapter, profile_params(profile, chapter.stem, params_dir), root)
            for profile in REFERENCE_PROFILES if profile in PROFILES and (params_dir / f"{profile}.yaml").is_file()}


@contextmanager
def _environment(values: dict[str, str]):
    """Set environment variables for the kernels started inside the block, then restore the old values."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def shown_results_digest(chapter: Chapter, profile: str, root: Path) -> str:
    """A digest of the committed reference results a chapter run shows (every reference profile but its own):
    committing new reference results re-runs the chapters that display them, though their code is unchanged."""
    digest = hashlib.sha256()
    for other in REFERENCE_PROFILES:
        folder = root / "results" / other / chapter.stem
        if other == profile or not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _execute(chapter: Chapter, parameters: dict[str, Any], record: dict[str, Any], target: Path, root: Path,
             cell_timeout: int, finish: Callable[[], dict[str, Any]] = dict) -> float:
    """Run one notebook into ``target`` (atomically); return its wall time in seconds. ``finish`` gives the
    record's fields known only after a successful run (the cache key, with the data sources loaded)."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    start = time.perf_counter()
    with atomic.atomic_path(target, suffix=".ipynb") as partial:
        try:
            papermill.execute_notebook(
                str(chapter.source), str(partial), parameters=parameters, kernel_name="python3", cwd=str(root),
                progress_bar={"desc": chapter.stem, "leave": False}, request_save_on_cell_execute=False,
                execution_timeout=cell_timeout,
            )
        except PapermillExecutionError as error:
            cell = _source_cell_index(chapter, error.cell_index)
            raise ChapterFailed(chapter.stem, cell, error.ename, error.evalue, error.source) from None
        except Exception as error:  # kernel died, timeout, unreadable notebook ...
            raise ChapterFailed(chapter.stem, None, type(error).__name__, str(error)) from error
        elapsed = time.perf_counter() - start
        notebook = nbformat.read(str(partial), as_version=4)
        notebook.metadata[METADATA_KEY] = {**record, **finish(), "wall_time_s": round(elapsed, 2)}
        nbformat.write(notebook, str(partial))
    return elapsed


def _source_cell_index(chapter: Chapter, executed_index: int) -> int:
    """papermill counts cells in the executed copy, which has one injected cell after ``parameters``."""
    import nbformat

    cells = nbformat.read(str(chapter.source), as_version=4).cells
    tagged = [i for i, cell in enumerate(cells) if "parameters" in cell.get("metadata", {}).get("tags", [])]
    return executed_index - 1 if tagged and executed_index > tagged[0] else executed_index


def run(profile: str, chapters: Sequence[str] | None = None, root: Path | None = None, out_dir: Path | None = None,
        force: bool = False, cell_timeout: int | None = None, missing_only: bool = False, echo=print) -> RunReport:
    """Execute the chosen chapters (all by default) for ``profile``; return what ran and what was cached.

    ``missing_only``: only the chosen chapters that have no executed copy yet, whatever profile made the
    others (``make book CHAPTERS=...`` fills the rest of the book in ``ci`` this way before building it)."""
    from tqdm import tqdm

    cell_timeout = cell_timeout or default_cell_timeout(profile)
    root = (root or repo_root()).resolve()
    out_dir = (out_dir or root / "book" / "chapters").resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    params_dir = root / "notebooks" / "params"
    chosen = select(discover(root / "notebooks"), chapters)
    if not chosen:
        raise ValueError(f"no chapter notebooks in {root / 'notebooks'}")
    if missing_only:
        chosen = [c for c in chosen if not c.executed(out_dir).is_file()]
    # Check every chapter's parameters before spending minutes on the first one.
    planned = [(c, chapter_parameters(c, profile, params_dir)) for c in chosen]

    os.environ[ROOT_ENV] = str(root)  # the kernels inherit it: results land in this checkout
    report = RunReport(profile)
    for chapter, parameters in tqdm(planned, desc=f"chapters ({profile})", unit="chapter"):
        target = chapter.executed(out_dir)
        packages = chapter_packages(chapter.source, root)  # once per chapter: it reads every module it reaches
        # The data sources the last run loaded (stored with it), their manifests as they are now.
        previous = recorded_run(target) or {}
        used = sorted((previous.get("environment") or {}).get("source_manifests") or {})
        key = fingerprint(chapter, parameters, root, environment(chapter, root, used, packages))
        shown = shown_results_digest(chapter, profile, root)
        if not force and is_up_to_date(target, key) and previous.get("shown_results") == shown:
            report.results.append(ChapterResult(chapter.stem, "cached"))
            echo(f"{chapter.stem}: unchanged since its last run, skipped")
            continue
        target.unlink(missing_ok=True)  # never leave a stale result behind if this run fails
        sources_log = out_dir / f".{chapter.stem}.sources"
        sources_log.unlink(missing_ok=True)
        results_log = out_dir / f".{chapter.stem}.results-read"
        results_log.unlink(missing_ok=True)
        code_key = code_fingerprint(chapter, parameters, root)
        kernel_env = {FINGERPRINT_ENV: code_key,  # the kernel records it with the chapter's results
                      REFERENCE_FINGERPRINTS_ENV: json.dumps(reference_fingerprints(chapter, root, params_dir)),
                      SOURCES_USED_ENV: str(sources_log),  # the kernel notes each data source it loads there
                      RESULTS_READ_ENV: str(results_log)}  # and each other chapter's results file it reads
        record = {"code_fingerprint": code_key, "shown_results": shown, "profile": profile, "parameters": dict(parameters), "status": "ok",
                  "executed_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}

        def finish(chapter: Chapter = chapter, parameters: dict[str, Any] = parameters,
                   packages: dict[str, str] = packages, sources_log: Path = sources_log,
                   results_log: Path = results_log) -> dict[str, Any]:
            # The key of what this run used: its data sources' manifests as it left them (it may have written
            # them), so the next run of an unchanged chapter is cached. The record keeps the inputs readable.
            used = sources_used(sources_log)
            try:
                check_sources_declared(chapter.stem, used, root)
            except ValueError as error:
                raise ChapterFailed(chapter.stem, None, "UndeclaredDataSource", str(error)) from None
            try:
                check_results_declared(chapter, sources_used(results_log))  # the same one-line-per-note log
            except ValueError as error:
                raise ChapterFailed(chapter.stem, None, "UndeclaredResultsRead", str(error)) from None
            env = environment(chapter, root, used, packages)
            return {"fingerprint": fingerprint(chapter, parameters, root, env), "environment": env}

        try:
            with _environment(kernel_env):  # the kernel inherits them; this process is left as it was
                elapsed = _execute(chapter, parameters, record, target, root, cell_timeout, finish)
        finally:
            sources_log.unlink(missing_ok=True)
            results_log.unlink(missing_ok=True)
        report.results.append(ChapterResult(chapter.stem, "ran", elapsed))
        echo(f"{chapter.stem}: executed in {elapsed:.1f} s")
    return report

