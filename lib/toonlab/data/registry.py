"""The data registry: ``data/registry.yaml`` read into :class:`SourceSpec` records.

A spec says what a source is (kind, license, origin, how to obtain it, manifest) and carries the
kind-specific ``options``; :mod:`toonlab.data.sources` turns a spec into images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from toonlab.data.errors import DataSourceError
from toonlab.params import PROFILES
from toonlab.paths import repo_root

KINDS = ("emoji", "avatars", "photos", "kaggle", "folder")
FITS = ("pad", "crop")
_REQUIRED = ("profile", "kind", "license", "origin", "obtain")
WEIGHTS_SECTION = "weights"  # not a source: sha256 of the networks trained here and committed
REPORTED = {"images": "reported_images", "classes": "reported_classes"}  # checked on disk by data.checks
ON_MISMATCH = ("warn", "error")  # what a count that differs from the reported one does


@dataclass(frozen=True)
class SourceSpec:
    """One entry of ``data/registry.yaml``."""

    name: str
    profile: str  # the smallest profile that can use it: ci sources are offline, full ones need downloads
    kind: str
    license: str
    origin: str
    obtain: str
    description: str = ""
    manifest: Path | None = None  # absolute path of the committed manifest, if any
    fit: str = "pad"
    options: dict[str, Any] = field(default_factory=dict)


def registry_path(root: Path | None = None) -> Path:
    return (root or repo_root()) / "data" / "registry.yaml"


def _parse(name: str, entry: Any, data_dir: Path) -> SourceSpec:
    where = f"data/registry.yaml, source {name!r}"
    if not isinstance(entry, dict):
        raise DataSourceError(f"{where}: must be a mapping of fields, got {type(entry).__name__}")
    missing = [key for key in _REQUIRED if not entry.get(key)]
    if missing:
        raise DataSourceError(f"{where}: missing required fields {missing}")
    if entry["profile"] not in PROFILES:
        raise DataSourceError(f"{where}: profile {entry['profile']!r} is not one of {list(PROFILES)}")
    if entry["kind"] not in KINDS:
        raise DataSourceError(f"{where}: kind {entry['kind']!r} is not one of {list(KINDS)}")
    fit = entry.get("fit", "pad")
    if fit not in FITS:
        raise DataSourceError(f"{where}: fit {fit!r} is not one of {list(FITS)}")
    options = dict(entry.get("options") or {})
    for key in REPORTED.values():
        value = options.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise DataSourceError(f"{where}: options.{key} must be a positive int, got {value!r}")
    if options.get("on_count_mismatch", "warn") not in ON_MISMATCH:
        raise DataSourceError(f"{where}: options.on_count_mismatch must be one of {list(ON_MISMATCH)}, "
                              f"got {options['on_count_mismatch']!r}")
    manifest = data_dir / entry["manifest"] if entry.get("manifest") else None
    return SourceSpec(
        name=name,
        profile=entry["profile"],
        kind=entry["kind"],
        license=str(entry["license"]),
        origin=str(entry["origin"]),
        obtain=str(entry["obtain"]),
        description=str(entry.get("description", "")),
        manifest=manifest,
        fit=fit,
        options=options,
    )


@lru_cache(maxsize=4)
def _load(path: Path, mtime_ns: int) -> dict[str, SourceSpec]:
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(document, dict):
        raise DataSourceError(f"{path} must map source names to their descriptions")
    return {name: _parse(name, entry, path.parent) for name, entry in document.items() if name != WEIGHTS_SECTION}


def load_registry(root: Path | None = None) -> dict[str, SourceSpec]:
    """Every registered source by name."""
    path = registry_path(root)
    if not path.is_file():
        raise DataSourceError(f"{path} is missing; it ships with the repository (is TOONLAB_ROOT right?)")
    return dict(_load(path, path.stat().st_mtime_ns))


def get_spec(name: str, root: Path | None = None) -> SourceSpec:
    registry = load_registry(root)
    if name not in registry:
        raise DataSourceError(f"unknown data source {name!r}; registered sources: {sorted(registry)}")
    return registry[name]


@dataclass(frozen=True)
class WeightsSpec:
    """One entry of the registry's ``weights:`` section: a committed network file and its sha256."""

    name: str
    file: Path  # absolute path
    sha256: str
    command: str  # how to rebuild it


def weights_spec(name: str, root: Path | None = None) -> WeightsSpec:
    """The registered file and sha256 of committed weights ``name`` (``toonclip``, ``toon_features``)."""
    path = registry_path(root)
    if not path.is_file():
        raise DataSourceError(f"{path} is missing; it ships with the repository (is TOONLAB_ROOT right?)")
    section = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(WEIGHTS_SECTION) or {}
    entry = section.get(name)
    if not isinstance(entry, dict) or not entry.get("file") or not entry.get("sha256"):
        raise DataSourceError(f"data/registry.yaml has no weights entry {name!r} with file and sha256 "
                              f"(known: {sorted(section)}); add it under `{WEIGHTS_SECTION}:`")
    return WeightsSpec(name=name, file=path.parent.parent / str(entry["file"]), sha256=str(entry["sha256"]),
                       command=str(entry.get("command", "")))


def set_weights_sha256(name: str, sha256: str, root: Path | None = None) -> bool:
    """Record ``sha256`` for the existing weights entry ``name`` in data/registry.yaml, editing that one line
    in place (comments and layout stay; the file is replaced atomically). Returns whether it changed.

    For a chapter that re-makes weights it publishes (``chapter:`` in the entry): the next chapter in the
    same run then loads the new file, sha256-checked, and both are committed together."""
    import re

    from toonlab import atomic

    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    current = weights_spec(name, root)  # the entry must exist, with file and sha256
    if current.sha256 == sha256:
        return False
    path = registry_path(root)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    section = entry = None
    for index, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0:
            section = line.split(":", 1)[0].strip()
        elif indent == 2:
            entry = line.split(":", 1)[0].strip()
        elif section == WEIGHTS_SECTION and entry == name and re.match(r"\s+sha256:", line):
            lines[index] = re.sub(r"(sha256:\s*)[\"']?[0-9a-fA-F]+[\"']?", lambda m: m.group(1) + sha256, line, count=1)
            break
    else:
        raise DataSourceError(f"data/registry.yaml: the sha256 of weights entry {name!r} is not on a line of its own "
                              f"(`    sha256: <hex>`); write it so, then re-run")
    # check before writing: the edited document must parse to the old one with only this sha256 changed
    expected = yaml.safe_load(path.read_text(encoding="utf-8"))
    expected[WEIGHTS_SECTION][name]["sha256"] = sha256
    text = "".join(lines)
    if yaml.safe_load(text) != expected:
        raise DataSourceError(f"data/registry.yaml: could not update the sha256 of {name!r} in place; set it by hand "
                              f"to {sha256}")
    atomic.write_text(path, text)
    return True
