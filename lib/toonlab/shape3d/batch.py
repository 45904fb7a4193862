"""Lift a folder of images with resume: no duplicate or lost outputs after a kill, one failure never stops it.

Layout of a job folder::

    manifest.jsonl            one line per finished (object, seed): status ok|failed, files, cost, error
    <object>/seed<k>.<fmt>    the mesh in every requested format (.ply / .glb / .obj)
    <object>/seed<k>.gif      Shap-E's turntable (20 frames), when the settings ask for it
    <object>/seed<k>_input.png  the preprocessed image that was lifted

Every file is written atomically (temporary name, then rename) before its manifest line is appended, and
output names depend only on (object, seed). A kill before the manifest line leaves complete files that the
resumed run overwrites with identical ones; a kill during the append leaves a torn last line, which is
ignored and redone. So after any kill the finished set is exactly the manifest's keys, each once.
A recorded failure counts as finished (it would fail the same way again); delete its manifest line to retry.
"""

from __future__ import annotations

import hashlib
import json
import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from toonlab import atomic
from toonlab.shape3d.lift import Lifted, LiftSettings
from toonlab.shape3d.meshes import EXPORT_FORMATS, MeshError, export_mesh
from toonlab.shape3d.preprocess import PreprocessError, prepare
from toonlab.shape3d.render import save_gif

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MANIFEST = "manifest.jsonl"
# What a per-object failure is: an unreadable or bad input, or an empty reconstruction. Anything else (a
# bug, a full disk while writing outputs) stops the batch, so it is never recorded as the object's fault.
OBJECT_ERRORS = (PreprocessError, MeshError)
# How a recorded failure is named in the manifest and the book: words, not exception class names (the book's
# browser check reads "...Error" in an output as a crashed cell).
FAILURE_KIND = {PreprocessError: "bad input", MeshError: "empty reconstruction"}


def read_image(path: Path) -> Image.Image:
    try:
        with Image.open(path) as handle:
            handle.load()
            return handle.copy()
    except (UnidentifiedImageError, OSError) as error:
        raise PreprocessError(f"cannot read {path.name} as an image ({error}): replace or remove the file") from error


@dataclass(frozen=True)
class BatchJob:
    model: str  # the zoo's description of the pipeline (part of the fingerprint)
    settings: LiftSettings
    seeds: tuple[int, ...] = (0,)
    formats: tuple[str, ...] = ("ply", "glb")
    background: str = "grabcut"
    size: int = 256
    fill: float = 0.8

    def __post_init__(self) -> None:
        unknown = [f for f in self.formats if f not in EXPORT_FORMATS]
        if unknown:
            raise MeshError(f"unknown mesh format(s) {unknown}; choose from {list(EXPORT_FORMATS)}")
        if not self.seeds:
            raise ValueError("a batch needs at least one seed")

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass
class BatchReport:
    folder: Path
    done: int = 0  # lifted in this call
    skipped: int = 0  # already in the manifest
    failed: int = 0  # recorded failures in this call
    records: list[dict[str, Any]] = field(default_factory=list)  # the whole manifest after the call


def list_images(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"input folder {folder} does not exist")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return images


def read_manifest(folder: str | Path) -> list[dict[str, Any]]:
    """The finished records, one per key (a torn last line from a kill is skipped)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return []
    records: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        records[record["key"]] = record
    return list(records.values())


def _append(folder: Path, record: dict[str, Any]) -> None:
    path = folder / MANIFEST
    # a torn line left by a kill is terminated first, so the new record starts on its own line
    needs_newline = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with open(path, "a") as handle:
        handle.write(("\n" if needs_newline else "") + json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


LiftFn = Callable[[Image.Image, int], tuple[Lifted, dict[str, Any]]]


class BatchError(ValueError):
    """A folder or input list the batch must not run on (another job's folder, colliding object names)."""


def _claim_folder(folder: Path, job: BatchJob) -> None:
    """Write ``job.json``, or check that the folder's is this job's: resuming another job's folder would mix
    two jobs' outputs under one manifest."""
    path = folder / "job.json"
    record = {**json.loads(json.dumps(asdict(job), default=str)), "fingerprint": job.fingerprint()}
    if path.is_file():
        existing = json.loads(path.read_text(encoding="utf-8"))
        if existing.get("fingerprint") != record["fingerprint"]:
            changed = sorted(k for k in set(existing) | set(record)
                             if k != "fingerprint" and existing.get(k) != record.get(k))
            raise BatchError(f"{folder} holds another lifting job (differs in {changed}); resume it with the same "
                             "settings, or lift into a new folder")
        return
    if (folder / MANIFEST).is_file():
        raise BatchError(f"{folder} has a manifest but no job.json, so its job is unknown: lift into a new folder")
    atomic.write_json(path, record)


def _check_unique_stems(images: Sequence[Path]) -> None:
    """Outputs are keyed by the file name without its suffix: a.png and a.jpg would share one key."""
    by_stem: dict[str, list[str]] = {}
    for path in images:
        by_stem.setdefault(path.stem, []).append(path.name)
    clashes = {stem: names for stem, names in by_stem.items() if len(names) > 1}
    if clashes:
        raise BatchError(f"images with the same name but another suffix would share one output: {clashes}; "
                         "rename or remove all but one of each")


def run_batch(images: Sequence[Path], out: str | Path, job: BatchJob, lift_fn: LiftFn, *,
              progress: bool = True) -> BatchReport:
    """Lift every (image, seed) not yet in ``out``'s manifest. ``lift_fn(image, seed)`` returns the lifted
    object and its cost record (seconds, memory); a bad image or an empty mesh is recorded as failed."""
    from tqdm.auto import tqdm

    _check_unique_stems(images)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _claim_folder(out, job)
    finished = {record["key"] for record in read_manifest(out)}
    report = BatchReport(out)
    work = [(path, seed) for path in images for seed in job.seeds]
    for path, seed in tqdm(work, desc="lifting", disable=not progress):
        key = f"{path.stem}/seed{seed}"
        if key in finished:
            report.skipped += 1
            continue
        record: dict[str, Any] = {"key": key, "object": path.stem, "seed": seed, "input": path.name}
        try:
            prepared = prepare(read_image(path), job.background, job.size, job.fill, name=path.name)
            lifted, cost = lift_fn(prepared.image, seed)
            folder = out / path.stem
            files = [export_mesh(lifted.mesh, folder / f"seed{seed}.{fmt}") for fmt in job.formats]
            with atomic.atomic_path(folder / f"seed{seed}_input.png") as tmp:
                prepared.image.save(tmp, format="PNG")
            files.append(folder / f"seed{seed}_input.png")
            if lifted.frames:
                files.append(save_gif(lifted.frames, folder / f"seed{seed}.gif"))
            record.update(status="ok", files=[str(f.relative_to(out)) for f in files], faces=len(lifted.mesh.faces),
                          watertight=bool(lifted.mesh.is_watertight), **cost)
            report.done += 1
        except OBJECT_ERRORS as error:
            record.update(status="failed", failure=FAILURE_KIND[type(error)], error=str(error),
                          where=traceback.extract_tb(error.__traceback__)[-1].name)
            report.failed += 1
        _append(out, record)
    report.records = read_manifest(out)
    return report
