"""The data chapter's one-call steps and figures, on a few emoji sold by the fixture shop."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from toonlab.chapters import dataset as chapter  # noqa: E402
from toonlab.data import figures, stats  # noqa: E402
from toonlab.data.shop import FAULT_CATEGORY, emoji_products  # noqa: E402


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TOONLAB_CACHE", str(tmp_path / "cache"))


def test_emoji_products_are_checked_twemoji_files_with_categories():
    products = emoji_products(12, seed=1)
    assert len(products) == 12 and products == emoji_products(12, seed=1)
    assert all(p.images[0].startswith(b"\x89PNG") and p.label != "Component" for p in products)
    assert [p.name for p in products] != [p.name for p in emoji_products(12, seed=2)]


def test_crawl_the_shop_then_describe_and_draw(tmp_path):
    products = emoji_products(20, seed=0)
    summary = chapter.crawl_fixture_shop(tmp_path / "crawl", products, faults=["truncated_jpeg", "duplicate"],
                                         timeout=2.0, progress=False)
    assert summary.images == 20 and summary.duplicates == 1 and summary.failures == {"truncated": 1}
    paths, labels = chapter.crawled_images(tmp_path / "crawl")
    assert len(paths) == 20 and FAULT_CATEGORY not in labels
    assert sorted(labels) == sorted(p.label for p in products)
    table = chapter.crawl_table(summary)
    assert dict(zip(table["crawl"], table["count"]))["failed: truncated"] == 1
    failures = chapter.failure_table(tmp_path / "crawl")
    assert list(failures["cause"]) == ["truncated"] and failures["example"][0].startswith("/image/")

    result = stats.describe(paths, labels, workers=1, progress=False)
    colours = stats.dominant_colours(result, k=3)
    for fig in (figures.class_balance(result), figures.distributions(result), figures.hsv_histograms(result),
                figures.palettes(colours), figures.sample_grid(paths, labels, per_class=3, size=24)):
        assert fig.axes
    grid = figures.sample_grid(paths, labels, per_class=2, size=16, classes=sorted(set(labels))[:2])
    assert len(grid.axes) == 2


def test_a_fresh_crawl_replaces_an_old_one(tmp_path):
    products = emoji_products(3, seed=0)
    chapter.crawl_fixture_shop(tmp_path / "crawl", products, faults=False, progress=False)
    (tmp_path / "crawl" / "images" / "stray.png").write_bytes(b"x")
    again = chapter.crawl_fixture_shop(tmp_path / "crawl", products, faults=False, progress=False)
    assert again.images == 3 and not again.resumed
    assert not (tmp_path / "crawl" / "images" / "stray.png").exists()


def test_tables_of_sources_and_avatar_attributes():
    table = chapter.registry_table()
    assert {"emoji", "avatars", "photos", "toyhollywood", "funkopop-humans", "comic"} == set(table["source"])
    paths, labels, attributes = chapter.rendered_images("avatars", 24, limit=10, seed=0)
    assert len(paths) == len(labels) == len(attributes) == 10
    counts = chapter.attribute_table(attributes)
    for name in ("glasses", "hair", "mouth", "skin", "clothing"):
        assert counts[counts["attribute"] == name]["images"].sum() == 10
