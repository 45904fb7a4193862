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
    registry.write_text("broken:\n  profile: fast\n  kind: emoji\n  license: x\n  origin: y\n  obtain: z\n")
    with pytest.raises(DataSourceError, match="profile 'fast' is not one of"):
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


# --- what a source reports against what is on disk ------------------------------------------------------


def _folder_spec(name, **options):
    from toonlab.data.registry import SourceSpec

    return SourceSpec(name=name, profile="full", kind="folder", license="x", origin="y", obtain="z", options=options)


def _class_folders(root: Path, classes: int, per_class: int) -> None:
    from PIL import Image

    for c in range(classes):
        for i in range(per_class):
            (root / f"class{c}").mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8), (30 * c, 20 * i, 90)).save(root / f"class{c}" / f"{i}.png")


def test_reported_counts_that_differ_warn_visibly_and_are_recorded(tmp_path, monkeypatch):
    from toonlab.data.checks import CountMismatchWarning, recorded_checks
    from toonlab.data.sources.folder import FolderSource

    monkeypatch.setenv("TOONLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TOONLAB_DATA_TOYS", str(tmp_path / "toys"))
    _class_folders(tmp_path / "toys", classes=3, per_class=2)  # 29 where 27 are expected, in small
    source = FolderSource(_folder_spec("toys", reported_classes=2, reported_images=6))
    with pytest.warns(CountMismatchWarning, match=r"'toys': 3 classes on disk.*reported_classes.*reports 2"):
        source.resolve()
    assert [(c.what, c.reported, c.found) for c in source.count_checks] == [("classes", 2, 3)]
    assert recorded_checks("toys") == source.count_checks  # recorded, so a dataset can show it later

    matching = FolderSource(_folder_spec("toys", reported_classes=3, reported_images=6))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        matching.resolve()
    assert matching.count_checks == [] and recorded_checks("toys") == []


def test_reported_counts_can_be_made_an_error(tmp_path, monkeypatch):
    from toonlab.data.sources.folder import FolderSource

    monkeypatch.setenv("TOONLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TOONLAB_DATA_TOYS", str(tmp_path / "toys"))
    _class_folders(tmp_path / "toys", classes=2, per_class=2)
    source = FolderSource(_folder_spec("toys", reported_images=5, on_count_mismatch="error"))
    with pytest.raises(DataSourceError, match=r"4 images on disk.*reports 5.*download is complete"):
        source.resolve()


def test_toyhollywood_from_kaggle_reports_its_class_count_difference(tmp_path, monkeypatch):
    """ToyHollyWood's registry entry says 27 classes and 15,300 images; a download with other counts loads,
    with the difference in a warning and on the dataset - never silently."""
    from toonlab import data
    from toonlab.data.checks import CountMismatchWarning
    from toonlab.data.sources.kaggle import KaggleSource

    monkeypatch.setenv("TOONLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TOONLAB_DATA_TOYHOLLYWOOD", raising=False)
    monkeypatch.setattr(KaggleSource, "reachable", staticmethod(lambda: True))

    def fake_download(handle, folder):
        _class_folders(Path(folder), classes=3, per_class=1)
        return str(folder)

    monkeypatch.setattr(KaggleSource, "download", staticmethod(fake_download))
    with pytest.warns(CountMismatchWarning) as caught:
        ds = data.load_images("toyhollywood", 16, progress=False)
    assert {str(w.message).split(": ")[1].split(" on disk")[0] for w in caught} == {"3 images", "3 classes"}
    assert sorted((c.what, c.reported, c.found) for c in ds.count_checks) == [("classes", 27, 3),
                                                                             ("images", 15300, 3)]
    assert get_spec("toyhollywood").options["on_count_mismatch"] == "warn"


def test_bad_reported_counts_fail_when_the_registry_is_read(tmp_path):
    root = _copy_root(tmp_path)
    registry = root / "data" / "registry.yaml"
    base = "broken:\n  profile: full\n  kind: folder\n  license: x\n  origin: y\n  obtain: z\n  options:\n"
    registry.write_text(base + "    reported_classes: many\n")
    with pytest.raises(DataSourceError, match="options.reported_classes must be a positive int, got 'many'"):
        load_registry(root)
    registry.write_text(base + "    on_count_mismatch: ignore\n")
    with pytest.raises(DataSourceError, match=r"on_count_mismatch must be one of \['warn', 'error'\]"):
        load_registry(root)


def test_a_published_weights_sha256_is_set_in_place_and_nothing_else_changes(tmp_path):
    from toonlab.data.registry import set_weights_sha256, weights_spec

    (tmp_path / "data").mkdir()
    registry = tmp_path / "data" / "registry.yaml"
    text = ("emoji:\n  profile: ci  # a source\nweights:\n  # the generator\n  gan_a:\n    file: data/weights/a.safetensors\n"
            "    sha256: {a}  # kept comment\n  gan_b:\n    file: data/weights/b.safetensors\n    sha256: {b}\n")
    old_a, old_b, new = "ab" * 32, "cd" * 32, "ef" * 32
    registry.write_text(text.format(a=old_a, b=old_b))
    assert set_weights_sha256("gan_a", new, tmp_path) is True
    assert registry.read_text() == text.format(a=new, b=old_b)
    assert weights_spec("gan_a", tmp_path).sha256 == new and set_weights_sha256("gan_a", new, tmp_path) is False
    with pytest.raises(DataSourceError, match="no weights entry 'gan_c'"):
        set_weights_sha256("gan_c", new, tmp_path)
    with pytest.raises(ValueError, match="not a sha256"):
        set_weights_sha256("gan_a", "xyz", tmp_path)
    registry.write_text("weights: {gan_a: {file: a.safetensors, sha256: " + old_a + "}}\n")  # flow style: no line of its own
    with pytest.raises(DataSourceError, match="not on a line of its own"):
        set_weights_sha256("gan_a", new, tmp_path)
    assert old_a in registry.read_text()  # refused: the file is as it was
