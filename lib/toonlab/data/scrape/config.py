"""A site's crawl configuration: where to start, which CSS selectors lead where, how polite to be.

Loaded from YAML (``data/sites/*.yaml``) or a dict::

    name: toyhollywood
    start_urls: [https://www.toyhollywood.com/index.php]
    category_links: "#menu a"               # on start pages: links to category listings
    next_page: "ul.pagination a"            # on listings: links to the other pages of the listing
    product_links: ".product-thumb h4 a"    # on listings: links to product pages
    image_links:                            # on product pages: where the full-size images are
      - {selector: "ul.thumbnails a.thumbnail", attr: href}
    label: {selector: "h2"}                 # on listings: the class label (or {url_param: path})
    politeness: {delay: 1.0, concurrency: 2, timeout: 20, retries: 3}
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from toonlab import __version__

USER_AGENT = (f"toonlab-scraper/{__version__} "
              "(+https://github.com/toonlab/toonlab; research crawler; honours robots.txt)")


class SiteConfigError(ValueError):
    """The site configuration is incomplete or inconsistent."""


@dataclass(frozen=True)
class Politeness:
    """How hard the crawler may hit a site, and what it accepts."""

    delay: float = 1.0  # seconds between two requests to the same host (robots.txt Crawl-delay wins if longer)
    concurrency: int = 2  # parallel image downloads
    timeout: float = 20.0  # seconds per request (connect and each read)
    retries: int = 3  # attempts per URL on timeouts, connection errors, 429 and 5xx
    backoff: float = 1.0  # first retry waits this long, then doubles
    max_redirects: int = 5
    max_bytes: int = 10 * 2**20  # larger files are skipped as oversized
    max_pixels: int = 40_000_000  # decompression-bomb guard
    user_agent: str = USER_AGENT
    formats: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF")
    near_duplicate_distance: int = 6  # perceptual-hash Hamming distance reported as a near-duplicate
    checkpoint_every: int = 50  # save the resumable state after this many handled URLs ...
    checkpoint_seconds: float = 10.0  # ... or this many seconds, whichever comes first

    def __post_init__(self) -> None:
        for name in ("delay", "timeout", "backoff", "checkpoint_seconds"):
            if getattr(self, name) < 0:
                raise SiteConfigError(f"politeness.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("concurrency", "retries", "max_bytes", "max_pixels", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise SiteConfigError(f"politeness.{name} must be >= 1, got {getattr(self, name)}")
        if not self.user_agent.strip():
            raise SiteConfigError("politeness.user_agent must identify the crawler")


@dataclass(frozen=True)
class ImageRule:
    selector: str
    attr: str = "href"


@dataclass(frozen=True)
class SiteConfig:
    name: str
    start_urls: tuple[str, ...]
    category_links: str
    next_page: str
    product_links: str
    image_links: tuple[ImageRule, ...]
    label_selector: str | None = None
    label_url_param: str | None = None
    politeness: Politeness = field(default_factory=Politeness)
    max_products: int | None = None  # stop discovering products after this many (a partial crawl)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], **overrides: Any) -> "SiteConfig":
        raw = {**raw, **overrides}
        required = ("name", "start_urls", "category_links", "next_page", "product_links", "image_links", "label")
        missing = [k for k in required if not raw.get(k)]
        if missing:
            raise SiteConfigError(f"site configuration lacks {missing}; see toonlab.data.scrape.config for the format")
        starts = raw["start_urls"]
        if isinstance(starts, str):
            starts = [starts]
        for url in starts:
            if not str(url).startswith(("http://", "https://")):
                raise SiteConfigError(f"start URL {url!r} must be an http(s) URL")
        rules = raw["image_links"]
        if isinstance(rules, (str, dict)):
            rules = [rules]
        image_rules = tuple(ImageRule(r) if isinstance(r, str) else ImageRule(r["selector"], r.get("attr", "href"))
                            for r in rules)
        label = raw["label"]
        if not isinstance(label, dict) or not ({"selector", "url_param"} & set(label)):
            raise SiteConfigError("label must be {selector: CSS} (text on the listing page) or {url_param: NAME}")
        known = {f.name for f in fields(Politeness)}
        politeness_raw = dict(raw.get("politeness") or {})
        unknown = sorted(set(politeness_raw) - known)
        if unknown:
            raise SiteConfigError(f"unknown politeness settings {unknown}; known: {sorted(known)}")
        if "formats" in politeness_raw:
            politeness_raw["formats"] = tuple(politeness_raw["formats"])
        max_products = raw.get("max_products")
        return cls(
            name=str(raw["name"]),
            start_urls=tuple(str(u) for u in starts),
            category_links=str(raw["category_links"]),
            next_page=str(raw["next_page"]),
            product_links=str(raw["product_links"]),
            image_links=image_rules,
            label_selector=label.get("selector"),
            label_url_param=label.get("url_param"),
            politeness=Politeness(**politeness_raw),
            max_products=int(max_products) if max_products is not None else None,
        )

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> "SiteConfig":
        path = Path(path)
        if not path.is_file():
            raise SiteConfigError(f"site configuration {path} does not exist")
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise SiteConfigError(f"{path} must be a mapping (see toonlab.data.scrape.config)")
        return cls.from_dict(raw, **overrides)
