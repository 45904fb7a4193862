"""Descriptive statistics checked against brute-force numpy / matplotlib computations."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import rgb_to_hsv
from PIL import Image

from toonlab.data import stats
from toonlab.data.hashing import near_duplicate_pairs


def _noise_image(path, seed, size=(40, 30)):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)


@pytest.fixture
def collection(tmp_path):
    """Two classes of small PNGs: noise pictures, a transparent drawing, an exact copy, a near copy, a bad file."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    paths, labels = [], []
    for i in range(4):
        path = tmp_path / "a" / f"{i}.png"
        _noise_image(path, i, size=(40 + 8 * i, 30))
        paths.append(path)
        labels.append("a")
    drawing = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    drawing.paste((255, 0, 0, 255), (0, 0, 10, 20))
    drawing.save(tmp_path / "b" / "half-red.png")
    shutil.copy(paths[0], tmp_path / "b" / "copy.png")
    near = np.asarray(Image.open(paths[1]), dtype=np.int16) + 3
    Image.fromarray(np.clip(near, 0, 255).astype(np.uint8)).save(tmp_path / "b" / "near.png")
    (tmp_path / "b" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    for name in ("half-red.png", "copy.png", "near.png", "bad.png"):
        paths.append(tmp_path / "b" / name)
        labels.append("b")
    return paths, labels


def test_per_image_numbers_match_brute_force(collection):
    paths, labels = collection
    result = stats.describe(paths, labels, workers=1, progress=False)
    assert [p for p, _ in result.unreadable] == [str(paths[-1])]
    assert len(result.images) == 7
    for row in result.images.itertuples():
        image = Image.open(row.path)
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba, dtype=np.float64)[..., 3:] / 255.0
        rgb = np.asarray(rgba, dtype=np.float64)[..., :3] * alpha + 255.0 * (1 - alpha)  # over white
        assert (row.width, row.height) == image.size and row.aspect == pytest.approx(image.size[0] / image.size[1])
        assert row.bytes == len(open(row.path, "rb").read())
        np.testing.assert_allclose([row.mean_r, row.mean_g, row.mean_b], rgb.reshape(-1, 3).mean(0), atol=0.51)
        hsv = rgb_to_hsv(np.round(rgb) / 255.0).reshape(-1, 3).mean(0)
        # Pillow's 8-bit HSV vs matplotlib's float HSV: quantisation error only
        np.testing.assert_allclose([row.mean_h, row.mean_s, row.mean_v], hsv, atol=4 / 255)
    half_red = result.images.set_index(result.images["path"].str.rsplit("/", n=1).str[-1]).loc["half-red.png"]
    assert (half_red.mean_r, half_red.mean_g, half_red.mean_b) == (255.0, 127.5, 127.5)


def test_histograms_count_every_pixel_per_class(collection):
    paths, labels = collection
    result = stats.describe(paths, labels, workers=1, progress=False)
    for label, hist in result.hsv_hist.items():
        frame = result.images[result.images["label"] == label]
        pixels = int((frame["width"] * frame["height"]).sum())
        assert hist.shape == (3, 256) and (hist.sum(axis=1) == pixels).all()


def test_class_table_counts_shares_and_duplicates(collection):
    paths, labels = collection
    result = stats.describe(paths, labels, workers=1, progress=False)
    table = stats.class_table(result)
    assert list(table.index) == ["a", "b", "all"]
    assert table.loc["a", "images"] == 4 and table.loc["b", "images"] == 3 and table.loc["all", "images"] == 7
    assert table.loc[["a", "b"], "share"].sum() == pytest.approx(1.0)
    assert table.loc["b", "exact_duplicates"] == 1 and table.loc["all", "exact_duplicates"] == 1
    assert table.loc["all", "near_duplicates"] == 2  # the brightened copy and its original
    assert table.loc["all", "mean_r"] == pytest.approx(result.images["mean_r"].mean())
    headline = stats.summary(result)
    assert headline["images"] == 7 and headline["classes"] == 2 and headline["unreadable"] == 1


def test_worker_processes_give_the_same_numbers(collection, monkeypatch):
    paths, labels = collection
    inline = stats.describe(paths, labels, workers=1, progress=False)
    monkeypatch.setattr(stats, "INLINE_BELOW", 0)
    pooled = stats.describe(paths, labels, workers=2, progress=False)
    pd.testing.assert_frame_equal(inline.images, pooled.images)
    assert np.array_equal(inline.pixels, pooled.pixels)
    assert all(np.array_equal(inline.hsv_hist[k], pooled.hsv_hist[k]) for k in inline.hsv_hist)


def test_dominant_colours_recover_a_two_colour_palette(tmp_path):
    paths = []
    for i in range(6):
        image = Image.new("RGB", (20, 20), (20, 60, 200))
        image.paste((250, 200, 30), (0, 0, 10, 20))
        paths.append(tmp_path / f"{i}.png")
        image.save(paths[-1])
    result = stats.describe(paths, ["x"] * 6, workers=1, pixel_samples=400, progress=False)
    palette = stats.dominant_colours(result, k=2, by_class=False)
    assert list(palette["class"]) == ["all", "all"]
    colours = {(r.r, r.g, r.b) for r in palette.itertuples()}
    for expected in [(20, 60, 200), (250, 200, 30)]:
        assert min(sum(abs(a - b) for a, b in zip(expected, c)) for c in colours) <= 3
    assert palette["share"].sum() == pytest.approx(1.0) and palette["share"].min() > 0.4


def test_near_duplicate_pairs_match_brute_force():
    rng = random.Random(0)
    base = [rng.getrandbits(64) for _ in range(40)]
    values = base + [b ^ (1 << rng.randrange(64)) for b in base[:10]]
    hashes = [f"{v:016x}" for v in values]
    expected = sorted((i, j, bin(values[i] ^ values[j]).count("1")) for i in range(len(values))
                      for j in range(i + 1, len(values)) if bin(values[i] ^ values[j]).count("1") <= 6)
    assert sorted(near_duplicate_pairs(hashes, 6, block=7)) == expected
    assert len(expected) >= 10


def test_describe_is_deterministic_and_rejects_bad_input(collection):
    paths, labels = collection
    first = stats.describe(paths, labels, workers=1, progress=False)
    second = stats.describe(paths, labels, workers=1, progress=False)
    pd.testing.assert_frame_equal(first.images, second.images)
    assert np.array_equal(first.pixels, second.pixels)
    with pytest.raises(ValueError, match="give one label per image"):
        stats.describe(paths, labels[:-1])
