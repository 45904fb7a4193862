"""The data chapter's one-call steps and figures, on a few emoji sold by the fixture shop."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from toonlab.chapters import dataset as chapter  # noqa: E402
from toonlab.data import figures, stats  # noqa: E402
from toonlab.data.scrape import CrawlSummary, load_summary  # noqa: E402
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
    recorded = load_summary(tmp_path / "crawl")["stops"]  # what summary.json says, row for row
    stops = chapter.stop_table(summary)
    assert sorted(stops["reason"]) == sorted(stop["reason"] for stop in recorded) and len(stops) == len(recorded)
    assert stops.iloc[0].tolist()[:2] == ["frontier_exhausted", "whole crawl"]
    failures = chapter.failure_table(tmp_path / "crawl")
    assert list(failures["cause"]) == ["truncated"] and failures["example"][0].startswith("/image/")

    result = stats.describe(paths, labels, workers=1, progress=False)
    colours = stats.dominant_colours(result, k=3)
    for fig in (figures.class_balance(result), figures.distributions(result), figures.hsv_histograms(result),
                figures.palettes(colours), figures.sample_grid(paths, labels, per_class=3, size=24)):
        assert fig.axes
    grid = figures.sample_grid(paths, labels, per_class=2, size=16, classes=sorted(set(labels))[:2])
    assert len(grid.axes) == 2


def test_the_stop_table_gives_every_stop_its_reason_and_a_port_free_scope():
    """One row per recorded stop, the whole crawl's first; the fixture shop's port (new every run) is not in it."""
    def summary(port: int) -> CrawlSummary:
        shop = f"http://127.0.0.1:{port}"
        return CrawlSummary(pages=9, images=4, duplicates=0, near_duplicates=0, failures={}, requests=12, retries=0,
                            seconds=1.0, resumed=False, stop_reason="max_pages", stops=[
                                {"reason": "stale_pages", "scope": f"{shop}/index.php?path=11&route=product/category",
                                 "detail": f"'next' links not followed from {shop}/index.php?page=5"},
                                {"reason": "robots_unavailable", "scope": "http://cdn.example:8080", "detail": "x"},
                                {"reason": "max_pages", "scope": "crawl", "detail": "9 pages"}])

    table = chapter.stop_table(summary(37989))
    assert table[["reason", "scope"]].values.tolist() == [
        ["max_pages", "whole crawl"], ["robots_unavailable", "host cdn.example"],
        ["stale_pages", "category /index.php?path=11&route=product/category"]]
    assert table["meaning"][0].startswith("limits.max_pages HTML page fetches")
    assert table.equals(chapter.stop_table(summary(41234)))


def test_a_fresh_crawl_replaces_an_old_one(tmp_path):
    products = emoji_products(3, seed=0)
    chapter.crawl_fixture_shop(tmp_path / "crawl", products, faults=False, progress=False)
    (tmp_path / "crawl" / "images" / "stray.png").write_bytes(b"x")
    again = chapter.crawl_fixture_shop(tmp_path / "crawl", products, faults=False, progress=False)
    assert again.images == 3 and not again.resumed
    assert not (tmp_path / "crawl" / "images" / "stray.png").exists()


def test_tables_of_sources_and_avatar_attributes():
    table = chapter.registry_table()
    assert {"emoji", "avatars", "photos", "toyhollywood", "funkopop-humans", "comic", "dreambench"} == set(table["source"])
    paths, labels, attributes = chapter.rendered_images("avatars", 24, limit=10, seed=0)
    assert len(paths) == len(labels) == len(attributes) == 10
    counts = chapter.attribute_table(attributes)
    for name in ("glasses", "hair", "mouth", "skin", "clothing"):
        assert counts[counts["attribute"] == name]["images"].sum() == 10
