"""The data registry, manifests and the digest the book runner keys its cache on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from toonlab.data import manifest as mf
from toonlab.data.errors import DataSourceError
from toonlab.data.registry import KINDS, get_spec, load_registry
from toonlab.paths import repo_root


def test_every_source_says_license_origin_and_how_to_obtain():
    registry = load_registry()
    assert {"emoji", "avatars", "photos", "toyhollywood", "funkopop-humans", "comic"} <= set(registry)
    for name, spec in registry.items():
        assert spec.kind in KINDS
        assert spec.license and spec.origin and spec.obtain, name
        if spec.profile == "ci":
            assert spec.manifest is not None and spec.manifest.is_file(), f"{name} needs a committed manifest"


def test_unknown_source_names_the_registered_ones():
    with pytest.raises(DataSourceError, match="registered sources: .*emoji"):
        get_spec("no-such-source")


def _copy_root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "lib" / "toonlab").mkdir(parents=True)
    for marker in ("_toc.yml", "pyproject.toml"):
        (root / marker).write_text("")
    shutil.copytree(repo_root() / "data" / "manifests", root / "data" / "manifests")
    shutil.copy(repo_root() / "data" / "registry.yaml", root / "data" / "registry.yaml")
    return root


def test_bad_registry_entries_fail_with_the_field_named(tmp_path):
    root = _copy_root(tmp_path)
    registry = root / "data" / "registry.yaml"
    registry.write_text("broken:\n  profile: ci\n  kind: emoji\n  license: x\n  origin: y\n")
    with pytest.raises(DataSourceError, match=r"broken.*missing required fields \['obtain'\]"):
        load_registry(root)
    registry.write_text("broken:\n  profile: cpu\n  kind: emoji\n  license: x\n  origin: y\n  obtain: z\n")
    with pytest.raises(DataSourceError, match="profile 'cpu' is not one of"):
        load_registry(root)
    registry.write_text("broken:\n  profile: ci\n  kind: zip\n  license: x\n  origin: y\n  obtain: z\n")
    with pytest.raises(DataSourceError, match="kind 'zip' is not one of"):
        load_registry(root)


def test_manifest_round_trip_and_bad_columns(tmp_path):
    entries = [
        mf.ManifestEntry("a.png", "cat", "0" * 64, 12, {"glasses": "NONE", "n": 1}),
        mf.ManifestEntry("b,c.png", 'say "hi"', "1" * 64, 3, {}),
    ]
    path = mf.write_manifest(tmp_path / "m.csv", entries)
    assert mf.read_manifest(path) == entries
    (tmp_path / "bad.csv").write_text("path,label\nx,y\n")
    with pytest.raises(ValueError, match="expected \\['path', 'label', 'sha256', 'bytes', 'attributes'\\]"):
        mf.read_manifest(tmp_path / "bad.csv")


def test_manifest_digest_is_cheap_stable_and_tracks_changes(tmp_path):
    root = _copy_root(tmp_path)
    first = mf.manifest_digest(root)
    assert len(first) == 16 and int(first, 16) >= 0
    assert mf.manifest_digest(root) == first
    assert mf.manifest_digest(root) == mf.manifest_digest(repo_root())
    manifest = root / "data" / "manifests" / "photos.csv"
    manifest.write_text(manifest.read_text().replace("face", "fase", 1))
    second = mf.manifest_digest(root)
    assert second != first
    registry = root / "data" / "registry.yaml"
    registry.write_text(registry.read_text() + "\n# comment\n")
    assert mf.manifest_digest(root) != second


@pytest.mark.parametrize("name", ["emoji", "photos", "avatars"])
def test_committed_manifests_match_the_installed_packages(name):
    """The pinned packages still ship exactly the bytes the manifests record."""
    spec = get_spec(name)
    entries = mf.read_manifest(spec.manifest)
    mf.check_unique_paths(entries, name)
    if name == "emoji":
        from toonlab.data.sources.emoji import build_manifest
    elif name == "photos":
        from toonlab.data.sources.photos import build_manifest
    else:
        from toonlab.data.sources.avatars import build_manifest
    assert build_manifest() == entries
