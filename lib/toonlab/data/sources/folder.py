"""``folder`` sources: images in a local folder; the parent folder of each file is its class.

Used for the user's own comic images and, once downloaded, for the Kaggle data sets. The first time a
folder is read its manifest (sha256 of every file) is written into the cache; later reads compare
against it and report files that changed or vanished by name.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import partial
from pathlib import Path

from PIL import Image

from toonlab.data.checks import CountCheck, check_reported_counts
from toonlab.data.errors import DataSourceError
from toonlab.data.images import decode
from toonlab.data.manifest import ManifestEntry, read_manifest, sha256_bytes, write_manifest
from toonlab.data.registry import SourceSpec
from toonlab.data.sources.base import ImageSource, Item, read_checked, seeded_subset
from toonlab.paths import cache_dir, note_source_used, source_manifest_path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
UNLABELLED = "unlabelled"


def env_var(name: str) -> str:
    """``comic`` -> ``TOONLAB_DATA_COMIC``, ``funkopop-humans`` -> ``TOONLAB_DATA_FUNKOPOP_HUMANS``."""
    return "TOONLAB_DATA_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def default_folder(name: str) -> Path:
    """Where a source's files are expected: ``$TOONLAB_DATA_<NAME>`` or ``<cache>/data/<name>/files``."""
    override = os.environ.get(env_var(name))
    if override:
        return Path(override).expanduser()
    return cache_dir("data", name) / "files"


def image_files(root: Path) -> list[Path]:
    """Image files under ``root`` in a stable order; hidden files and folders are skipped."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for file in sorted(files):
            if not file.startswith(".") and Path(file).suffix.lower() in IMAGE_SUFFIXES:
                found.append(Path(folder) / file)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _label(root: Path, path: Path) -> str:
    parent = path.parent
    return UNLABELLED if parent == root else parent.name


def _key(relative: str) -> str:
    # Unique and file-name safe: a readable stem plus a hash of the full relative path.
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(relative).stem)[:48] or "image"
    return f"{stem}-{hashlib.sha256(relative.encode()).hexdigest()[:8]}"


def _render(path: Path, expected_sha256: str | None, name: str, resolution: int) -> Image.Image:
    return decode(read_checked(path, expected_sha256, name), name)


class FolderSource(ImageSource):
    def __init__(self, spec: SourceSpec) -> None:
        super().__init__(spec)
        self.count_checks: list[CountCheck] = []  # differences from the registry's reported counts, once resolved
        self.count_checks_done = False  # resolved once per source object: one warning, not one per call

    def folder(self) -> Path:
        return default_folder(self.spec.name)

    def missing_message(self, folder: Path) -> str:
        return (
            f"data source {self.spec.name!r} has no images in {folder}. {self.spec.obtain}. "
            f"(Origin: {self.spec.origin}.)"
        )

    def resolve(self) -> Path:
        folder = self.folder()
        files = image_files(folder) if folder.is_dir() else []
        if not files:
            raise DataSourceError(self.missing_message(folder))
        return self.checked(folder, files)

    def checked(self, root: Path, files: list[Path] | None = None) -> Path:
        """``root`` after comparing its image and class counts with the registry's (data.checks)."""
        files = image_files(root) if files is None else files
        if not self.count_checks_done:
            classes = {_label(root, path) for path in files}
            self.count_checks = check_reported_counts(self.spec, len(files), len(classes))
            self.count_checks_done = True
        return root

    def manifest_path(self) -> Path:
        path = source_manifest_path(self.spec.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def manifest(self, root: Path) -> dict[str, ManifestEntry]:
        """The recorded manifest, extended with files seen for the first time (checksummed now)."""
        note_source_used(self.spec.name)  # the book runner's cache key then follows this manifest
        path = self.manifest_path()
        recorded = {e.path: e for e in read_manifest(path)} if path.is_file() else {}
        if recorded and next(iter(recorded.values())).attributes.get("root") != str(root):
            recorded = {}  # another folder: start a new record
        changed = False
        for file in image_files(root):
            relative = file.relative_to(root).as_posix()
            if relative not in recorded:
                data = file.read_bytes()
                recorded[relative] = ManifestEntry(relative, _label(root, file), sha256_bytes(data), len(data),
                                                   {"root": str(root)})
                changed = True
        if changed:
            write_manifest(path, [recorded[k] for k in sorted(recorded)])
        return recorded

    def items(self, limit: int | None, seed: int) -> list[Item]:
        root = self.resolve()
        items = []
        for relative, entry in sorted(self.manifest(root).items()):
            # A file that vanished since it was recorded is still listed: reading it reports it by name.
            items.append(
                Item(
                    key=_key(relative),
                    label=entry.label,
                    render=partial(_render, root / relative, entry.sha256, relative),
                    attributes={"file": relative},
                    origin=str(root / relative),
                )
            )
        return seeded_subset(items, limit, seed)

    def fingerprint(self) -> str:
        path = self.manifest_path()
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else ""
