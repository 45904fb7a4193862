"""One call from a registered source to images: a cached folder of PNGs, or a torch Dataset.

``materialize`` renders a source at one resolution into ``<cache>/data/<name>/<recipe>/`` (flat PNGs,
so pytorch-fid can read the folder, plus ``manifest.csv`` with labels and checksums). Each PNG is
written atomically and the manifest last, so a killed run resumes where it stopped and a folder with
a manifest is complete. A cached folder is checked against its manifest before it is reused: a PNG
that is missing or whose sha256 differs (disk error, a stray edit) is rendered again, with a warning,
instead of failing the chapter that reads it. ``load_images`` reads such a folder into an
:class:`ImageDataset`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from toonlab import atomic
from toonlab.data.errors import CorruptItemError, DataSourceError
from toonlab.data.images import encode_png, fit_square
from toonlab.data.checks import CountCheck, recorded_checks
from toonlab.data.manifest import ManifestEntry, read_manifest, sha256_bytes, sha256_file, write_manifest
from toonlab.data.registry import FITS, SourceSpec, get_spec
from toonlab.data.sources import Item, make_source
from toonlab.paths import cache_dir

log = logging.getLogger(__name__)
RECIPE_VERSION = 1  # bump when rendering changes, so old cached folders are not reused
PRELOAD_LIMIT_BYTES = 512 * 2**20


@dataclass(frozen=True)
class Problem:
    """An image that could not be used, and why (reported by name, never fatal)."""

    name: str
    reason: str


def _recipe(spec: SourceSpec, fingerprint: str, resolution: int, fit: str, limit: int | None, seed: int,
            label: str | None) -> dict[str, Any]:
    manifest = spec.manifest
    manifest_sha = hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest and manifest.is_file() else ""
    return {
        "source": spec.name,
        "kind": spec.kind,
        "resolution": resolution,
        "fit": fit,
        "limit": limit,
        "seed": seed,
        "label": label,
        "options": spec.options,
        "fingerprint": fingerprint,
        "manifest_sha256": manifest_sha,
        "recipe_version": RECIPE_VERSION,
    }


def _check_args(resolution: int, fit: str, limit: int | None, seed: int) -> None:
    if not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution must be a positive int (pixels), got {resolution!r}")
    if fit not in FITS:
        raise ValueError(f"fit must be one of {list(FITS)}, got {fit!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be None or an int >= 0, got {limit!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")


def _relabel(item: Item, label: str | None) -> str:
    if label is None:
        return item.label
    if label not in item.attributes:
        raise DataSourceError(f"cannot label by {label!r}: items have attributes {sorted(item.attributes)}")
    return str(item.attributes[label])


def materialize(
    name: str,
    resolution: int = 64,
    limit: int | None = None,
    seed: int = 0,
    *,
    fit: str | None = None,
    label: str | None = None,
    progress: bool = True,
) -> Path:
    """Render source ``name`` as ``resolution``-pixel square PNGs in a cached folder and return the folder.

    ``limit`` keeps a seeded random subset (for ``avatars``: how many to draw); ``fit`` overrides the
    registry's pad/crop; ``label`` names an attribute to use as the class label instead of the default.
    The folder holds ``<key>.png`` files, ``manifest.csv`` (path, label, sha256, bytes, attributes),
    ``problems.csv`` (files that could not be used), ``recipe.json`` and ``verified.json`` (when each file
    last matched its checksum, so a later load hashes only files that changed since).
    """
    spec = get_spec(name)
    fit = fit or spec.fit
    _check_args(resolution, fit, limit, seed)
    source = make_source(spec)
    items = source.items(limit, seed)  # first: a folder source records its manifest (the fingerprint) here
    recipe = _recipe(spec, source.fingerprint(), resolution, fit, limit, seed, label)
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:10]
    folder = cache_dir("data", name, f"r{resolution}-{fit}-s{seed}-n{'all' if limit is None else limit}-{digest}")
    recorded = _verified_cache(folder)
    if recorded is None:
        return folder
    for stale in folder.glob(".*.tmp"):  # left by a run killed mid-write
        stale.unlink(missing_ok=True)
    atomic.write_json(folder / "recipe.json", recipe)

    entries: list[ManifestEntry] = []
    problems: list[Problem] = []
    for item in tqdm(items, desc=f"{name} @ {resolution}px", disable=not progress, leave=False, mininterval=5.0):
        target = folder / f"{item.key}.png"
        try:
            item_label = _relabel(item, label)
            data = target.read_bytes() if target.is_file() else None  # written by an earlier, interrupted run
            if data is not None and not _reusable(data, recorded.get(target.name)):
                data = None  # corrupt on disk: render it again
            if data is None:
                image = fit_square(item.render(resolution), resolution, fit)
                data = encode_png(image)
                atomic.write_bytes(target, data)
        except CorruptItemError as error:
            problems.append(Problem(error.name, error.reason))
            continue
        except DataSourceError:
            raise
        except (OSError, ValueError) as error:
            problems.append(Problem(item.origin or item.key, f"{type(error).__name__}: {error}"))
            continue
        entries.append(ManifestEntry(target.name, item_label, sha256_bytes(data), len(data),
                                     {**item.attributes, "source_ref": item.origin}))
    if items and not entries:
        sample = "; ".join(f"{p.name}: {p.reason}" for p in problems[:3])
        raise DataSourceError(f"no image of {name!r} could be used ({len(problems)} problems, e.g. {sample})")
    _write_problems(folder / "problems.csv", problems)
    _write_verified(folder, entries)  # each file was just written or checked against its sha256
    write_manifest(folder / "manifest.csv", entries)  # last: its presence marks the folder complete
    if problems:
        log.warning("%s: %d image(s) skipped: %s", name, len(problems), ", ".join(p.name for p in problems[:10]))
    return folder


VERIFIED = "verified.json"  # {file: [size, mtime_ns]} when its sha256 last matched the manifest


def _stat_key(path: Path) -> list[int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


def _write_verified(folder: Path, entries: Sequence[ManifestEntry]) -> None:
    atomic.write_json(folder / VERIFIED, {e.path: _stat_key(folder / e.path) for e in entries})


def _verified_cache(folder: Path) -> dict[str, str] | None:
    """None when ``folder`` is a complete cached rendering whose files all match its manifest; otherwise the
    sha256 the manifest recorded per file ({} without a manifest), after removing the files that differ and
    the manifest, so that :func:`materialize` renders exactly those again.

    Hashing every PNG on every load is what a large data set cannot afford, so a file is hashed only when it
    is a suspect: its size differs from the manifest's (then it is bad without hashing) or its size and
    modification time differ from ``verified.json``, the stamp written when it last matched. A corruption
    that keeps both size and mtime (bit rot under a file system that hides it) is left to the decoder."""
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        return {}
    try:
        entries = read_manifest(manifest)
    except ValueError as error:
        log.warning("%s is unreadable (%s): rendering the folder again", manifest, error)
        manifest.unlink()
        return {}
    try:
        stamp = json.loads((folder / VERIFIED).read_text())
    except (OSError, ValueError):
        stamp = {}
    stamp = stamp if isinstance(stamp, dict) else {}
    bad, hashed = [], False
    for entry in entries:
        path = folder / entry.path
        key = _stat_key(path)
        if key is None or key[0] != entry.bytes:
            bad.append(entry)
        elif stamp.get(entry.path) != key:
            hashed = True
            if sha256_file(path) != entry.sha256:
                bad.append(entry)
    if not bad:
        if hashed:
            _write_verified(folder, entries)
        return None
    log.warning("%s: %d cached image(s) missing or corrupt (%s): rendering them again", folder, len(bad),
                ", ".join(e.path for e in bad[:5]))
    for entry in bad:
        (folder / entry.path).unlink(missing_ok=True)
    manifest.unlink()
    (folder / VERIFIED).unlink(missing_ok=True)
    return {e.path: e.sha256 for e in entries}


def _reusable(data: bytes, expected_sha256: str | None) -> bool:
    """A PNG left by an earlier run: the recorded bytes if there is a record, else a complete PNG."""
    if expected_sha256 is not None:
        return sha256_bytes(data) == expected_sha256
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        return True
    except Exception:  # noqa: BLE001 - whatever Pillow raises, the file cannot be reused
        return False


def _write_problems(path: Path, problems: Sequence[Problem]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "reason"])
    writer.writerows([p.name, p.reason] for p in problems)
    atomic.write_text(path, buffer.getvalue())


def _read_problems(path: Path) -> list[Problem]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [Problem(row["name"], row["reason"]) for row in csv.DictReader(handle)]


class ImageDataset(torch.utils.data.Dataset):
    """Square RGB images as float tensors CHW in [0, 1] with integer labels.

    ``ds[i]`` is ``(image, label)``. Also: ``classes`` (label names), ``labels`` (ints), ``paths`` (PNG
    files), ``attributes`` (one dict per image, e.g. an avatar's glasses/hair/mouth/skin/clothing),
    ``problems`` (images skipped, by name), ``count_checks`` (differences between the source's files and the
    counts its registry entry reports, see :mod:`toonlab.data.checks`) and ``folder``.
    """

    def __init__(self, folder: Path, name: str = "", preload: bool | None = None) -> None:
        self.folder = Path(folder)
        self.count_checks: list[CountCheck] = []  # set by load_images
        self.name = name or self.folder.parent.name
        entries = read_manifest(self.folder / "manifest.csv")
        self.classes: list[str] = sorted({entry.label for entry in entries})
        index = {label: i for i, label in enumerate(self.classes)}
        self.labels: list[int] = [index[entry.label] for entry in entries]
        self.paths: list[Path] = [self.folder / entry.path for entry in entries]
        self.attributes: list[dict[str, Any]] = [entry.attributes for entry in entries]
        self.sha256: list[str] = [entry.sha256 for entry in entries]
        self.problems: list[Problem] = _read_problems(self.folder / "problems.csv")
        self.resolution = self._read_resolution()
        if preload is None:
            preload = len(entries) * 3 * self.resolution**2 <= PRELOAD_LIMIT_BYTES
        self._uint8: torch.Tensor | None = self._load_all() if preload else None

    def _read_resolution(self) -> int:
        recipe = self.folder / "recipe.json"
        if recipe.is_file():
            return int(json.loads(recipe.read_text())["resolution"])
        if not self.paths:
            raise DataSourceError(f"{self.folder} has no images and no recipe.json")
        with Image.open(self.paths[0]) as image:
            return image.size[0]

    def _read(self, i: int) -> np.ndarray:
        with Image.open(self.paths[i]) as image:
            array = np.asarray(image.convert("RGB"))
        if array.shape != (self.resolution, self.resolution, 3):
            raise DataSourceError(
                f"{self.paths[i]} is {array.shape}, expected {self.resolution}px square; delete {self.folder}")
        return array

    def _load_all(self) -> torch.Tensor:
        stack = np.empty((len(self.paths), self.resolution, self.resolution, 3), dtype=np.uint8)
        for i in range(len(self.paths)):
            stack[i] = self._read(i)
        return torch.from_numpy(stack).permute(0, 3, 1, 2).contiguous()

    def __len__(self) -> int:
        return len(self.paths)

    def uint8(self, i: int) -> torch.Tensor:
        """Image ``i`` as uint8 CHW (no copy when preloaded)."""
        if self._uint8 is not None:
            return self._uint8[i]
        return torch.from_numpy(self._read(i)).permute(2, 0, 1)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} images")
        return self.uint8(i).float().div_(255.0), self.labels[i]

    def tensors(self) -> torch.Tensor:
        """All images as one float tensor N x 3 x R x R in [0, 1]."""
        if self._uint8 is not None:
            return self._uint8.float().div_(255.0)
        return torch.stack([self[i][0] for i in range(len(self))])

    def __repr__(self) -> str:
        return (f"ImageDataset({self.name!r}, {len(self)} images, {len(self.classes)} classes, "
                f"{self.resolution}px, {len(self.problems)} problems)")


def load_images(
    name: str,
    resolution: int = 64,
    limit: int | None = None,
    seed: int = 0,
    *,
    fit: str | None = None,
    label: str | None = None,
    preload: bool | None = None,
    progress: bool = True,
) -> ImageDataset:
    """Registered source ``name`` as an :class:`ImageDataset` (rendered once into the cache, then reused)."""
    folder = materialize(name, resolution, limit, seed, fit=fit, label=label, progress=progress)
    dataset = ImageDataset(folder, name=name, preload=preload)
    dataset.count_checks = recorded_checks(name)  # the registry's reported counts against the files (data.checks)
    return dataset
