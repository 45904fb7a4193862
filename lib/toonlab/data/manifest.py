"""Checksummed manifests: one row per image (path, label, sha256, bytes, attributes).

Every source in ``data/registry.yaml`` has one. Committed manifests (``data/manifests/*.csv``) pin the
exact bytes a ``ci`` source must have, so a changed package is detected instead of silently changing the
book; manifests of materialized folders record what was written. :func:`manifest_digest` hashes the
registry and the committed manifests so the book runner can put the data version into its cache key.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toonlab import atomic
from toonlab.paths import repo_root

FIELDS = ("path", "label", "sha256", "bytes", "attributes")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ManifestEntry:
    """One file: ``path`` relative to the manifest's root, its class label, checksum, size and attributes."""

    path: str
    label: str
    sha256: str
    bytes: int
    attributes: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, str]:
        return {
            "path": self.path,
            "label": self.label,
            "sha256": self.sha256,
            "bytes": str(self.bytes),
            "attributes": json.dumps(self.attributes, sort_keys=True, separators=(",", ":")),
        }


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(path: str | Path, entries: Iterable[ManifestEntry]) -> Path:
    """Write a manifest CSV atomically (a reader never sees half of it)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for entry in entries:
        writer.writerow(entry.row())
    return atomic.write_text(path, buffer.getvalue())


def read_manifest(path: str | Path) -> list[ManifestEntry]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest {path} does not exist")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != FIELDS:
            raise ValueError(f"manifest {path} has columns {reader.fieldnames}; expected {list(FIELDS)}")
        entries = []
        for line, row in enumerate(reader, start=2):
            try:
                entries.append(
                    ManifestEntry(
                        path=row["path"],
                        label=row["label"],
                        sha256=row["sha256"],
                        bytes=int(row["bytes"]),
                        attributes=json.loads(row["attributes"] or "{}"),
                    )
                )
            except (ValueError, TypeError) as error:
                raise ValueError(f"manifest {path}, line {line}: {error}") from error
    return entries


def committed_manifests(root: Path | None = None) -> list[Path]:
    return sorted(((root or repo_root()) / "data" / "manifests").glob("*.csv"))


def manifest_digest(root: Path | None = None) -> str:
    """A short digest of ``data/registry.yaml`` and every committed manifest, for cache keys.

    Cheap: it reads a few small text files and decodes no image.
    """
    root = root or repo_root()
    registry = root / "data" / "registry.yaml"
    if not registry.is_file():
        raise FileNotFoundError(f"{registry} is missing; the data registry ships with the repository")
    digest = hashlib.sha256()
    for path in (registry, *committed_manifests(root)):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def check_unique_paths(entries: Sequence[ManifestEntry], where: str) -> None:
    seen: set[str] = set()
    for entry in entries:
        if entry.path in seen:
            raise ValueError(f"{where}: path {entry.path!r} appears twice in the manifest")
        seen.add(entry.path)
