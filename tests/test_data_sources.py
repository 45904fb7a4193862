"""Loading the offline sources: shapes, labels, determinism, corrupt files, resume, Kaggle failures."""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from toonlab import data
from toonlab.data import dataset as dataset_module
from toonlab.data.errors import CorruptItemError, DataSourceError
from toonlab.data.images import decode, fit_square, to_rgb_on_white
from toonlab.data.manifest import read_manifest, sha256_file
from toonlab.data.sources import avatars as avatar_module
from toonlab.data.sources import emoji as emoji_module
from toonlab.data.sources.kaggle import KaggleSource


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TOONLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# --- pictures -> standard images ------------------------------------------------------------------


def test_transparent_pixels_become_white_and_colours_survive():
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    rgba.putpixel((1, 1), (255, 0, 0, 255))
    rgb = np.asarray(to_rgb_on_white(rgba))
    assert tuple(rgb[0, 0]) == (255, 255, 255)
    assert tuple(rgb[1, 1]) == (255, 0, 0)


def test_fit_pad_letterboxes_and_crop_takes_the_centre():
    tall = Image.new("RGB", (10, 20), (0, 0, 0))
    padded = np.asarray(fit_square(tall, 8, "pad"))
    assert padded.shape == (8, 8, 3)
    assert padded[:, 0].min() == 255 and padded[:, 4].max() == 0  # white sides, black picture in the middle
    striped = Image.new("RGB", (30, 10), (255, 0, 0))
    striped.paste((0, 0, 255), (10, 0, 20, 10))
    cropped = np.asarray(fit_square(striped, 10, "crop"))
    assert cropped.shape == (10, 10, 3) and (cropped[..., 2] == 255).all()
    with pytest.raises(ValueError, match="fit must be"):
        fit_square(tall, 8, "stretch")


def test_truncated_image_is_reported_by_name():
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(buffer, format="JPEG")
    with pytest.raises(CorruptItemError, match="^broken.jpg: cannot decode"):
        decode(buffer.getvalue()[:300], "broken.jpg")


# --- the ci sources -------------------------------------------------------------------------------


def test_emoji_dataset_shapes_labels_and_white_background():
    ds = data.load_images("emoji", resolution=32, limit=40, seed=3, progress=False)
    assert len(ds) == 40 and ds.resolution == 32
    image, label = ds[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert ds.classes == sorted(ds.classes) and "Component" not in ds.classes
    assert set(ds.classes) <= {"Activities", "Animals & Nature", "Flags", "Food & Drink", "Objects",
                               "People & Body", "Smileys & Emotion", "Symbols", "Travel & Places"}
    recorded = {Path(e.path).stem: e.label for e in read_manifest(data.get_spec("emoji").manifest)}
    for path, index in zip(ds.paths, ds.labels):
        assert recorded[path.stem] == ds.classes[index]
    corners = ds.tensors()[:, :, 0, 0]
    assert (corners > 0.99).float().mean() > 0.5  # transparent corners composited over white
    assert ds.problems == []


def test_emoji_subset_is_deterministic_per_seed():
    first = data.load_images("emoji", 16, limit=10, seed=1, progress=False)
    again = data.load_images("emoji", 16, limit=10, seed=1, progress=False)
    other = data.load_images("emoji", 16, limit=10, seed=2, progress=False)
    assert [p.name for p in first.paths] == [p.name for p in again.paths]
    assert torch.equal(first.tensors(), again.tensors())
    assert [p.name for p in first.paths] != [p.name for p in other.paths]


def test_emoji_above_72px_renders_the_vector_original():
    ds = data.load_images("emoji", resolution=144, limit=2, progress=False)
    assert ds.tensors().shape == (2, 3, 144, 144)
    png = data.load_images("emoji", resolution=72, limit=2, progress=False)
    # the same pictures, drawn crisply at 144 px: downscaled they match the 72 px bitmap closely
    down = torch.nn.functional.avg_pool2d(ds.tensors(), 2)
    assert (down - png.tensors()).abs().mean() < 0.05


def test_avatars_are_deterministic_and_carry_attributes():
    ds = data.load_images("avatars", resolution=48, limit=12, seed=0, progress=False)
    assert len(ds) == 12 and ds.tensors().shape == (12, 3, 48, 48)
    for attributes in ds.attributes:
        assert {"glasses", "hair", "mouth", "skin", "clothing", "has_glasses"} <= set(attributes)
        assert attributes["has_glasses"] == (attributes["glasses"] != "NONE")
    assert [ds.classes[i] for i in ds.labels] == [a["mouth"] for a in ds.attributes]
    assert avatar_module.draw_attributes(5, 7) == avatar_module.draw_attributes(5, 7)
    assert avatar_module.draw_attributes(5, 7) != avatar_module.draw_attributes(6, 7)
    by_skin = data.load_images("avatars", resolution=48, limit=12, seed=0, label="skin", progress=False)
    assert [by_skin.classes[i] for i in by_skin.labels] == [a["skin"] for a in ds.attributes]
    assert torch.equal(by_skin.tensors(), ds.tensors())


def test_avatars_differ_per_seed_but_a_prefix_is_stable():
    few = data.load_images("avatars", 32, limit=4, seed=1, progress=False)
    more = data.load_images("avatars", 32, limit=8, seed=1, progress=False)
    assert torch.equal(few.tensors(), more.tensors()[:4])
    other = data.load_images("avatars", 32, limit=4, seed=2, progress=False)
    assert not torch.equal(few.tensors(), other.tensors())


def test_photos_are_the_astronaut_and_lfw():
    ds = data.load_images("photos", resolution=32, progress=False)
    assert len(ds) == 201 and ds.classes == ["face", "non_face"]
    assert ds.attributes[0]["origin"] == "astronaut"
    assert sum(1 for i in ds.labels if ds.classes[i] == "face") == 101


def test_materialize_gives_a_flat_folder_for_pytorch_fid():
    folder = data.materialize("photos", 16, limit=5, progress=False)
    pngs = sorted(folder.glob("*.png"))
    assert len(pngs) == 5 and {p.parent for p in pngs} == {folder}
    entries = read_manifest(folder / "manifest.csv")
    assert [sha256_file(folder / e.path) for e in entries] == [e.sha256 for e in entries]
    assert data.materialize("photos", 16, limit=5, progress=False) == folder  # cached


def test_bad_arguments_fail_with_a_clear_message():
    with pytest.raises(ValueError, match="resolution must be a positive int"):
        data.load_images("photos", resolution=0)
    with pytest.raises(ValueError, match="fit must be one of"):
        data.load_images("photos", fit="zoom")
    with pytest.raises(DataSourceError, match="cannot label by 'colour'"):
        data.load_images("photos", 16, limit=2, label="colour", progress=False)


# --- faults ---------------------------------------------------------------------------------------


def test_a_changed_emoji_file_is_reported_by_name_not_fatal(tmp_path, monkeypatch):
    assets = tmp_path / "assets"
    shutil.copytree(emoji_module.twemoji_assets() / "72x72", assets / "72x72")
    victim = assets / "72x72" / "1f600.png"
    victim.write_bytes(victim.read_bytes()[:-40])  # truncated on disk
    monkeypatch.setattr(emoji_module, "twemoji_assets", lambda: assets)
    monkeypatch.setattr(emoji_module, "seeded_subset", lambda items, limit, seed: [
        i for i in items if i.key in ("1f600", "1f601", "1f602")])
    ds = data.load_images("emoji", 24, limit=3, progress=False)
    assert [p.name for p in ds.paths] == ["1f601.png", "1f602.png"]
    assert [p.name for p in ds.problems] == ["72x72/1f600.png"]
    assert "differs from the manifest" in ds.problems[0].reason


def _write_png(path: Path, colour: tuple[int, int, int], size=(40, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def test_comic_folder_labels_by_subfolder_and_skips_corrupt_files(tmp_path, monkeypatch):
    root = tmp_path / "comic"
    _write_png(root / "unicorn" / "a.png", (250, 200, 210))
    _write_png(root / "unicorn" / "b.png", (200, 230, 250))
    _write_png(root / "loose.png", (0, 0, 0))
    (root / "unicorn" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    monkeypatch.setenv("TOONLAB_DATA_COMIC", str(root))
    ds = data.load_images("comic", 16, progress=False)
    assert len(ds) == 3 and ds.classes == ["unicorn", "unlabelled"]
    assert [p.name for p in ds.problems] == ["unicorn/broken.png"]
    # A file changed after it was recorded is reported, not silently used.
    _write_png(root / "unicorn" / "a.png", (0, 255, 0))
    _write_png(root / "unicorn" / "c.png", (1, 2, 3))
    again = data.load_images("comic", 16, progress=False)
    assert {p.name: p.reason for p in again.problems}.keys() == {"unicorn/a.png", "unicorn/broken.png"}
    assert len(again) == 3  # b, c and loose


def test_missing_comic_folder_says_where_to_put_the_images(tmp_path, monkeypatch):
    monkeypatch.setenv("TOONLAB_DATA_COMIC", str(tmp_path / "nowhere"))
    with pytest.raises(DataSourceError, match="no images in .*nowhere.*TOONLAB_DATA_COMIC"):
        data.load_images("comic", 16)


def test_kaggle_offline_fails_at_once_with_instructions(monkeypatch):
    monkeypatch.delenv("TOONLAB_DATA_TOYHOLLYWOOD", raising=False)
    monkeypatch.setattr(KaggleSource, "reachable", staticmethod(lambda: False))
    called = []
    monkeypatch.setattr(KaggleSource, "download", staticmethod(lambda *a: called.append(a)))
    start = time.monotonic()
    expected = r"cannot be reached.*kaggle.com/datasets/irotem98/toyhollywood.*TOONLAB_DATA_TOYHOLLYWOOD"
    with pytest.raises(DataSourceError, match=expected):
        data.load_images("toyhollywood", 64)
    assert time.monotonic() - start < 5 and called == []


def test_kaggle_download_failure_explains_credentials_and_never_writes_them(monkeypatch, cache):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "secret-key-123")
    monkeypatch.setattr(KaggleSource, "reachable", staticmethod(lambda: True))

    def refuse(handle, folder):
        raise PermissionError("403 Forbidden")

    monkeypatch.setattr(KaggleSource, "download", staticmethod(refuse))
    with pytest.raises(DataSourceError, match="403 Forbidden.*KAGGLE_USERNAME and KAGGLE_KEY") as caught:
        data.load_images("funkopop-humans", 64)
    assert "secret-key-123" not in str(caught.value)

    def fake_download(handle, folder):  # what kagglehub leaves: class folders of images
        assert handle == "irotem98/toyhollywood"
        for i, cls in enumerate(["funko", "lego", "plush"]):
            _write_png(Path(folder) / "toyhollywood" / cls / f"{i}.jpg", (40 * i, 90, 200))
        return str(folder)

    monkeypatch.setattr(KaggleSource, "download", staticmethod(fake_download))
    from toonlab.data.checks import CountMismatchWarning

    with pytest.warns(CountMismatchWarning, match="on disk"):  # 3 classes and images, not 27 and 15,300
        ds = data.load_images("toyhollywood", 24, progress=False)
    assert ds.classes == ["funko", "lego", "plush"]
    for path in Path(cache).rglob("*"):
        if path.is_file():
            assert b"secret-key-123" not in path.read_bytes(), path


def test_materialize_resumes_after_a_kill_without_duplicates(monkeypatch):
    reference = data.materialize("avatars", 24, limit=10, seed=4, progress=False)
    expected = read_manifest(reference / "manifest.csv")
    shutil.rmtree(reference)

    real_write = dataset_module.atomic.write_bytes
    calls = {"n": 0}

    def dying_write(target, payload):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt("killed")
        return real_write(target, payload)

    monkeypatch.setattr(dataset_module.atomic, "write_bytes", dying_write)
    with pytest.raises(KeyboardInterrupt):
        data.materialize("avatars", 24, limit=10, seed=4, progress=False)
    assert not (reference / "manifest.csv").exists() and len(list(reference.glob("*.png"))) == 5
    (reference / ".leftover.png.x.tmp").write_bytes(b"half")  # what a SIGKILL mid-write leaves
    monkeypatch.setattr(dataset_module.atomic, "write_bytes", real_write)
    folder = data.materialize("avatars", 24, limit=10, seed=4, progress=False)
    assert folder == reference
    assert read_manifest(folder / "manifest.csv") == expected
    bookkeeping = ["manifest.csv", "problems.csv", "recipe.json", "verified.json"]
    assert sorted(os.listdir(folder)) == sorted([e.path for e in expected] + bookkeeping)


def test_a_corrupt_cached_image_is_rendered_again_not_fatal(caplog):
    folder = data.materialize("avatars", 24, limit=6, seed=2, progress=False)
    expected = read_manifest(folder / "manifest.csv")
    victim, gone = folder / expected[1].path, folder / expected[4].path
    victim.write_bytes(victim.read_bytes()[:50])  # truncated on disk after it was cached
    gone.unlink()
    render_calls = []
    real = dataset_module.encode_png
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dataset_module, "encode_png", lambda image: render_calls.append(1) or real(image))
        ds = data.load_images("avatars", 24, limit=6, seed=2, progress=False)
    assert len(render_calls) == 2  # only the two bad files
    assert read_manifest(folder / "manifest.csv") == expected and len(ds) == 6 and ds.problems == []
    assert sha256_file(victim) == expected[1].sha256 and ds.tensors().shape == (6, 3, 24, 24)
    assert "2 cached image(s) missing or corrupt" in caplog.text


def test_a_cached_rendering_is_hashed_again_only_where_a_file_changed(monkeypatch):
    folder = data.materialize("avatars", 24, limit=6, seed=2, progress=False)
    expected = read_manifest(folder / "manifest.csv")
    hashed = []
    real = dataset_module.sha256_file
    monkeypatch.setattr(dataset_module, "sha256_file", lambda path: hashed.append(path.name) or real(path))
    data.load_images("avatars", 24, limit=6, seed=2, progress=False)
    assert hashed == []  # unchanged since its stamp: not read again
    touched = folder / expected[3].path
    os.utime(touched, ns=(time.time_ns(), time.time_ns() + 10**9))  # same bytes, a new mtime: a suspect
    data.load_images("avatars", 24, limit=6, seed=2, progress=False)
    assert hashed == [expected[3].path]
    hashed.clear()
    data.load_images("avatars", 24, limit=6, seed=2, progress=False)
    assert hashed == []  # verified again, stamped again
    flipped = bytearray(touched.read_bytes())
    flipped[-20] ^= 0xFF  # same size, other bytes, new mtime
    touched.write_bytes(bytes(flipped))
    ds = data.load_images("avatars", 24, limit=6, seed=2, progress=False)
    assert hashed == [expected[3].path] and sha256_file(touched) == expected[3].sha256 and len(ds) == 6


def test_a_leftover_corrupt_png_from_an_interrupted_run_is_not_reused(monkeypatch):
    reference = data.materialize("photos", 16, limit=3, progress=False)
    expected = read_manifest(reference / "manifest.csv")
    (reference / "manifest.csv").unlink()  # as if the run had been killed before its manifest
    (reference / expected[0].path).write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    folder = data.materialize("photos", 16, limit=3, progress=False)
    assert read_manifest(folder / "manifest.csv") == expected


def test_count_checks_belong_to_one_source_object():
    from toonlab.data.registry import get_spec
    from toonlab.data.sources.folder import FolderSource

    first, second = FolderSource(get_spec("toyhollywood")), FolderSource(get_spec("toyhollywood"))
    assert first.count_checks == [] and first.count_checks is not second.count_checks
    assert not first.count_checks_done
