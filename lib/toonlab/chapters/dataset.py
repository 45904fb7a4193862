"""Chapter 01 — the data: the toy shop scrape, and descriptive statistics of every image source.

What the chapter does: lists the registered sources; obtains the toy images (a crawl of the local fixture
shop with its fault matrix in ``ci``, ToyHollyWood from Kaggle in ``full``, or an opt-in polite crawl of the
real shop); describes toys, avatars, photos and the user's comic images per class and overall (counts,
resolution, aspect, file size, mean RGB / HSV, duplicates), with class balance, distributions, HSV
histograms, dominant-colour palettes and sample grids; and puts ToyHollyWood's and the Comics study's
reported numbers beside ours.

The steps the notebook calls, in order:

* :func:`registry_table` — the sources with licence and origin;
* :func:`source_files` — a folder or Kaggle source's original files (checked first: fails fast);
* :func:`crawl_dir`, :func:`shop_products`, :func:`crawl_fixture_shop`, :func:`crawl_real_site`,
  :func:`crawled_images`, :func:`crawl_table`, :func:`stop_table`, :func:`failure_table` — the scrape, what it
  did and why it stopped where it did;
* :func:`rendered_images`, :func:`attribute_table` — the ``ci`` sets as the book uses them;
* :func:`describe`, :func:`class_table`, :func:`summary`, :func:`dominant_colours` — the statistics
  (:mod:`toonlab.data.stats`);
* :func:`class_balance`, :func:`distributions`, :func:`hsv_histograms`, :func:`palettes`,
  :func:`sample_grid` — the figures (:mod:`toonlab.data.figures`).

Statistics describe files as they are: a crawl's downloads, a Kaggle or comic folder's originals. The
``ci`` sets that only exist as renderings (avatars) are described as the book uses them, materialized
at one resolution. Composes :mod:`toonlab.data` only: this chapter has no model.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

from toonlab.data.figures import class_balance, distributions, hsv_histograms, palettes, sample_grid
from toonlab.data.registry import get_spec, load_registry
from toonlab.data.scrape import CrawlSummary, SiteConfig, crawl, read_crawl_manifest
from toonlab.data.scrape.crawler import STOP_REASONS
from toonlab.data.shop import FixtureShop, Product, fixture_site_config
from toonlab.data.shop import emoji_products as shop_products
from toonlab.data.sources import make_source
from toonlab.data.sources.folder import image_files
from toonlab.data.stats import class_table, describe, dominant_colours, summary
from toonlab.paths import cache_dir, repo_root

CHAPTER = "01_data"


def registry_table() -> pd.DataFrame:
    rows = [{"source": name, "profile": spec.profile, "kind": spec.kind, "license": spec.license,
             "origin": spec.origin} for name, spec in load_registry().items()]
    return pd.DataFrame(rows)


def crawl_dir(toys: str, profile: str) -> Path:
    """Where a crawl of the ``toys`` kind (shop, crawl) keeps its images and state, per profile."""
    return cache_dir("data", "crawl", f"{toys}-{profile}")


def crawl_fixture_shop(out: Path, products: list[Product], *, faults: bool = True, timeout: float = 2.0,
                       concurrency: int = 2, per_page: int = 12, fresh: bool = True,
                       progress: bool = True) -> CrawlSummary:
    """Serve ``products`` from a local fixture shop and crawl it with the real scraper into ``out``."""
    if fresh and out.exists():
        shutil.rmtree(out)  # the shop's port changes per run, so an old crawl state cannot be resumed
    with FixtureShop(products, per_page=per_page, faults=faults, slow_seconds=2.5 * timeout) as shop:
        config = fixture_site_config(shop.base_url, delay=0.0, timeout=timeout, concurrency=concurrency,
                                     retries=3, backoff=0.05, max_bytes=2 * 2**20, checkpoint_seconds=5.0)
        return crawl(config, out, progress=progress)


def crawl_real_site(site_yaml: str | Path, out: Path, max_products: int | None = None,
                    progress: bool = True) -> CrawlSummary:
    """Crawl a real shop politely (resumable: run again with the same ``out`` to continue).

    A relative ``site_yaml`` is read from the repository (``data/sites/...``).
    """
    site_yaml = repo_root() / site_yaml  # an absolute path stays as it is
    overrides = {"max_products": max_products} if max_products else {}
    return crawl(SiteConfig.from_yaml(site_yaml, **overrides), out, progress=progress)


def crawled_images(out: Path) -> tuple[list[Path], list[str]]:
    rows = read_crawl_manifest(out)
    return [Path(out) / row["path"] for row in rows], [row["label"] for row in rows]


def source_files(name: str) -> tuple[list[Path], list[str]]:
    """The original files of a folder or Kaggle source (obtaining them first; fails fast with instructions)."""
    source = make_source(get_spec(name))
    root = source.resolve()
    paths = image_files(root)
    labels = ["unlabelled" if p.parent == root else p.parent.name for p in paths]
    return paths, labels


def rendered_images(name: str, resolution: int, limit: int | None = None, seed: int = 0,
                    label: str | None = None) -> tuple[list[Path], list[str], list[dict]]:
    """A registered source as the book uses it: rendered PNGs, labels and attributes."""
    from toonlab.data.dataset import load_images

    dataset = load_images(name, resolution, limit, seed, label=label, preload=False, progress=False)
    return dataset.paths, [dataset.classes[i] for i in dataset.labels], dataset.attributes


def crawl_table(summary: CrawlSummary) -> pd.DataFrame:
    """What the crawl did (no timings: the table must be identical between runs)."""
    rows = [("pages fetched", summary.pages), ("images saved", summary.images), ("classes", len(summary.classes)),
            ("exact duplicates skipped", summary.duplicates), ("near-duplicate pairs", summary.near_duplicates),
            ("retries", summary.retries)]
    rows += [(f"failed: {cause}", n) for cause, n in sorted(summary.failures.items())]
    return pd.DataFrame(rows, columns=["crawl", "count"])


def stop_scope(scope: str) -> str:
    """Where a stop applies, without the host's port: the fixture shop gets a new port every run, and the
    table must be identical between runs. ``crawl`` -> "whole crawl"; a category's first-page URL -> its
    path and query; a host's origin -> "host <name>"."""
    if scope == "crawl":
        return "whole crawl"
    parts = urlsplit(scope)
    if parts.path in ("", "/") and not parts.query:
        return f"host {parts.hostname}"
    return "category " + parts.path + (f"?{parts.query}" if parts.query else "")


def stop_table(summary: CrawlSummary) -> pd.DataFrame:
    """Every stop the crawl recorded (``summary.json``'s ``stops``): its reason, where it applies and what the
    reason means (:data:`~toonlab.data.scrape.crawler.STOP_REASONS`) — the whole crawl's first, then the
    categories and hosts where it stopped following links. Empty while the crawl has not ended."""
    stops = sorted(summary.stops, key=lambda s: (s["scope"] != "crawl", s["reason"], stop_scope(s["scope"])))
    rows = [{"reason": stop["reason"], "scope": stop_scope(stop["scope"]),
             "meaning": STOP_REASONS.get(stop["reason"], "(not a known stop reason)")} for stop in stops]
    return pd.DataFrame(rows, columns=["reason", "scope", "meaning"])


def failure_table(out: Path) -> pd.DataFrame:
    """Failures by cause, with one example URL path each."""
    import csv
    from urllib.parse import urlsplit

    with open(Path(out) / "failures.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    counts = Counter(row["cause"] for row in rows)
    examples = {}
    for row in rows:
        parts = urlsplit(row["url"])
        examples.setdefault(row["cause"], parts.path + (f"?{parts.query}" if parts.query else ""))
    return pd.DataFrame([{"cause": c, "count": n, "example": examples[c]} for c, n in sorted(counts.items())])


AVATAR_ATTRIBUTES = ("glasses", "hair", "mouth", "skin", "clothing")


def attribute_table(attributes: list[dict], names: tuple[str, ...] = AVATAR_ATTRIBUTES) -> pd.DataFrame:
    """How often each value of each attribute occurs (avatars)."""
    rows = []
    for name in names:
        counts = Counter(str(a.get(name)) for a in attributes)
        for value, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            rows.append({"attribute": name, "value": value, "images": n, "share": n / len(attributes)})
    return pd.DataFrame(rows)


__all__ = [
    "AVATAR_ATTRIBUTES", "CHAPTER", "attribute_table", "class_balance", "class_table", "crawl_dir",
    "crawl_fixture_shop", "crawl_real_site", "crawl_table", "crawled_images", "describe", "distributions",
    "dominant_colours", "failure_table", "hsv_histograms", "palettes", "registry_table", "rendered_images",
    "sample_grid", "shop_products", "source_files", "stop_table", "summary",
]
